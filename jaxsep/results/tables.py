"""Table 1 from a results dict (see :mod:`jaxsep.training.experiment`): the numbers, as markdown and CSV.

Per model: mean, sd, IQM and a bootstrap interval of accuracy and macro-F1 at the chosen epoch. Per
comparison with the baseline (paired over the trials both finished): the mean difference with its corrected
95 % interval, the corrected resampled t-test, Holm's adjustment over the run's comparisons (one family per
metric), the Bayesian correlated t-test and the win rate (:mod:`jaxsep.results.statistics`). The naive
paired t-test and Wilcoxon, which assume independent trials, are kept in the CSV only. Beside them, every
epoch-selection rule (:mod:`jaxsep.training.outcomes`) and the optimism of the paper's rule.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import fields

import numpy as np

from ..config import TrainConfig
from ..constants import ROPE
from .statistics import Comparison, Summary, compare, holm, summarize

REPORTED = ("accuracy", "f1")
#: Bootstrap resamples where only the comparisons are read (figures, the curve): the bootstrap interval of a
#: model's mean is not shown there, and 10,000 resamples per row cost seconds.
FEW_RESAMPLES = 200
#: Epoch-selection rules in the order the tables show them, with their column titles.
RULES = {"test": "min test loss (paper)", "last": "last epoch", "validation": "min validation loss"}

_SUMMARY = tuple(f.name for f in fields(Summary))
_COMPARISON = tuple(f.name for f in fields(Comparison)) + ("p_holm",)
COLUMNS = (
    "model", "description", "kind", "trials", "failed", "diverged",
    *(f"{m}_{s}" for m in REPORTED for s in _SUMMARY),
    *(f"{m}_vs_baseline_{c}" for m in REPORTED for c in _COMPARISON),
    *(f"{m}_{rule}_mean" for m in REPORTED for rule in RULES),
    *(f"{m}_optimism" for m in REPORTED),
)


def metric_values(entry: dict, metric: str, which: str = "chosen") -> dict[int, float]:
    """``{trial: value}`` of ``metric`` over an entry's successful trials; ``which`` is ``"chosen"``,
    ``"last"`` or a selection rule of :data:`RULES` (absent rules give ``{}``)."""
    values = {}
    for record in entry["trials"]:
        if record["failed"]:
            continue
        if which in ("chosen", "last"):
            values[record["trial"]] = record[which][metric]
        elif which in record.get("selections", {}):
            values[record["trial"]] = record["selections"][which][metric]
    return values


def holdout_ratio(results: dict) -> float:
    """``n_test / n_train`` songs of one trial (validation songs in neither) for the corrected test."""
    split = results["split"]
    return split["test"] / split["train"]


def rope_of(results: dict) -> float:
    """The run's region of practical equivalence (:data:`jaxsep.constants.ROPE` for runs that predate it)."""
    return results["config"].get("rope", ROPE)


def _entries(results: dict) -> list[tuple[str, str, dict]]:
    """``(name, kind, entry)`` of every model (kind ``"baseline"`` or ``"model"``) and reference row."""
    baseline = results["config"].get("baseline")
    rows = [(name, "baseline" if name == baseline else "model", entry) for name, entry in results["models"].items()]
    rows += [(name, "reference", entry) for name, entry in results.get("reference", {}).items()]
    return rows


def paired_values(entry: dict, baseline: dict, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``metric`` of ``entry`` and of ``baseline`` over the trials both finished, in trial order."""
    mine, theirs = metric_values(entry, metric), metric_values(baseline, metric)
    shared = sorted(set(mine) & set(theirs))
    return np.array([mine[t] for t in shared]), np.array([theirs[t] for t in shared])


def reference_baseline(results: dict) -> str | None:
    """The reference row that reads the CNN baseline's maps (``logreg:novox`` for ``novox``), when the run scored
    one beside other reference rows: the baseline of the reference rows' own comparisons (a classifier that
    learns from few songs, asked the same question as the CNNs)."""
    baseline = results["models"].get(results["config"].get("baseline"))
    references = results.get("reference", {})
    if baseline is None or len(references) < 2:
        return None
    return next((name for name, entry in references.items() if entry.get("maps") == baseline["maps"]), None)


def table_rows(results: dict, *, seed: int = 0, n_resamples: int = 10_000) -> list[dict]:
    """One row per model and reference row with the :data:`COLUMNS` (NaN where a value does not apply); Δ
    against the CNN baseline, Holm over the models compared with it (reference rows are context)."""
    baseline = results["models"].get(results["config"].get("baseline"))
    return _comparison_rows(results, _entries(results), baseline, family=("model",), seed=seed,
                            n_resamples=n_resamples)


def reference_rows(results: dict, *, seed: int = 0, n_resamples: int = 10_000) -> list[dict]:
    """The reference rows against the reference on the baseline's maps (:func:`reference_baseline`), Holm over
    them (their own family); ``[]`` when the run has no such baseline row."""
    name = reference_baseline(results)
    if name is None:
        return []
    references = results["reference"]
    entries = [(row, "baseline" if row == name else "reference", entry) for row, entry in references.items()]
    return _comparison_rows(results, entries, references[name], family=("reference",), seed=seed,
                            n_resamples=n_resamples)


def _comparison_rows(results: dict, entries: list[tuple[str, str, dict]], baseline: dict | None, *,
                     family: tuple[str, ...], seed: int, n_resamples: int) -> list[dict]:
    """Rows with the :data:`COLUMNS` for ``entries`` (``(name, kind, entry)``), each compared with ``baseline``
    (none for the baseline itself); Holm over the rows whose kind is in ``family``, one family per metric."""
    ratio = holdout_ratio(results)
    rope = rope_of(results)
    rows = []
    for name, kind, entry in entries:
        trials = entry["trials"]
        row = dict.fromkeys(COLUMNS, math.nan)
        row |= {"model": name, "description": entry.get("description", name), "kind": kind, "trials": len(trials),
                "failed": sum(r["failed"] for r in trials)}
        flags = [r.get("diverged") for r in trials if not r["failed"]]
        row["diverged"] = sum(bool(f) for f in flags) if None not in flags else math.nan
        for metric in REPORTED:
            summary = summarize(list(metric_values(entry, metric).values()), rng=np.random.default_rng(seed),
                                n_resamples=n_resamples)
            row |= {f"{metric}_{k}": v for k, v in summary.asdict().items()}
            if baseline is not None and kind != "baseline":
                mine, theirs = paired_values(entry, baseline, metric)
                comparison = compare(mine, theirs, test_train_ratio=ratio, rope=rope)
                row |= {f"{metric}_vs_baseline_{k}": v for k, v in comparison.asdict().items()}
            by_rule = {rule: metric_values(entry, metric, rule) for rule in RULES}
            for rule, values in by_rule.items():
                row[f"{metric}_{rule}_mean"] = float(np.mean(list(values.values()))) if values else math.nan
            shared = sorted(set(by_rule["test"]) & set(by_rule["last"]))
            if shared:
                row[f"{metric}_optimism"] = float(np.mean([by_rule["test"][t] - by_rule["last"][t] for t in shared]))
        rows.append(row)
    members = [row for row in rows if row["kind"] in family]
    for metric in REPORTED:
        adjusted = holm([row[f"{metric}_vs_baseline_p"] for row in members])
        for row, value in zip(members, adjusted):
            row[f"{metric}_vs_baseline_p_holm"] = float(value)
    return rows


def fmt_number(value, digits: int = 3) -> str:
    """A table cell: ``digits`` decimals (scientific below ``10**-digits``), "–" for NaN."""
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.1e}"
    return str(value)


def fmt_signed(value: float) -> str:
    """A signed difference with three decimals, "–" for NaN."""
    return "–" if math.isnan(value) else f"{value:+.3f}"


def fmt_difference(row: dict, metric: str = "f1") -> str:
    """A row's mean difference from its baseline with the corrected 95 % interval, ``+0.012 [−0.1, +0.2]``."""
    if math.isnan(row[f"{metric}_vs_baseline_mean_difference"]):
        return "–"
    return (f"{fmt_signed(row[f'{metric}_vs_baseline_mean_difference'])} "
            f"[{fmt_signed(row[f'{metric}_vs_baseline_ci_low'])}, {fmt_signed(row[f'{metric}_vs_baseline_ci_high'])}]")


def table_markdown(results: dict, rows: list[dict], references: list[dict] | None = None) -> str:
    """Table 1 as markdown: the corrected comparison as the headline (``rows``: :func:`table_rows`), the
    reference rows' own comparisons (``references``: :func:`reference_rows`, computed when not given) and the
    epoch-selection table beneath."""
    baseline = results["config"].get("baseline", "novox")
    split = results["split"]
    trials = results["config"]["trials"]
    rule = RULES.get(results["select_on"], results["select_on"])
    held_out = f", {split['validation']} validation" if split.get("validation") else ""
    precision = results["config"].get("train", {}).get("precision", TrainConfig.precision)
    arithmetic = "" if precision == TrainConfig.precision else f" Arithmetic: `{precision}`."
    if baseline in results["models"]:
        compared = (f"Δ, p and P are F1 against `{baseline}`, paired by trial and corrected for the overlap of the "
                    "trials' training sets (Nadeau & Bengio 2003: variance × (1/J + n_test/n_train)); Holm adjusts p "
                    "over the models compared.")
    else:
        compared = (f"No Δ, p or P: the baseline `{baseline}` is not among this run's models (add it to `--models` "
                    "to compare against it).")
    lines = [
        f"Test metrics over {trials} trials (random {split['train']}/{split['test']} train/test splits of the same "
        f"songs{held_out}); epoch chosen by {rule}. {compared}{arithmetic}",
        "",
        "| model | accuracy mean ± sd (IQM) | F1 mean ± sd (IQM) | ΔF1 [95% CI] | p | p Holm "
        "| P(F1 worse / ≈ / better) | wins | diverged / failed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diverged = "–" if math.isnan(r["diverged"]) else str(r["diverged"])
        label = {"baseline": " (baseline)", "reference": " (reference)"}.get(r["kind"], "")
        lines.append(f"| {r['model']}{label} | {_row_cells(r)} | {diverged} / {r['failed']} |")
    detectable = [f"`{r['model']}` ±{r['f1_vs_baseline_detectable']:.3f}" for r in rows
                  if r["kind"] != "baseline" and not math.isnan(r["f1_vs_baseline_detectable"])]
    if detectable:
        lines += ["", "Smallest F1 difference from the baseline this run could call significant at 5 % (corrected "
                  "SE × t₀.₉₇₅, J−1): " + ", ".join(detectable) + ". "
                  f"P: the Bayesian correlated t-test's posterior mass below −{rope_of(results)}, "
                  "within, and above. The naive paired t and Wilcoxon p-values (they assume independent trials) "
                  "are in table.csv."]
    lines += ["", "Epoch selection (mean accuracy / F1 by rule; optimism = the paper's rule minus the last epoch):",
              "", "| model | " + " | ".join(RULES.values()) + " | optimism |",
              "|---|" + "---|" * (len(RULES) + 1)]
    for r in rows:
        cells = [f"{fmt_number(r[f'accuracy_{rule}_mean'])} / {fmt_number(r[f'f1_{rule}_mean'])}"
                 if not math.isnan(r[f"f1_{rule}_mean"]) else "–" for rule in RULES]
        optimism = f"{fmt_signed(r['accuracy_optimism'])} / {fmt_signed(r['f1_optimism'])}"
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {optimism} |")
    if references is None:
        references = reference_rows(results)
    return "\n".join(lines + _reference_markdown(results, references)) + "\n"


def _row_cells(r: dict) -> str:
    """A row's accuracy, F1 and comparison cells: ``acc | F1 | Δ [CI] | p | p Holm | P | wins``."""
    comparison = fmt_difference(r)
    bayes = "–" if math.isnan(r["f1_vs_baseline_p_better"]) else (
        f"{r['f1_vs_baseline_p_worse']:.2f} / {r['f1_vs_baseline_p_equivalent']:.2f} / "
        f"{r['f1_vs_baseline_p_better']:.2f}")
    return (f"{fmt_number(r['accuracy_mean'])} ± {fmt_number(r['accuracy_std'])} ({fmt_number(r['accuracy_iqm'])}) "
            f"| {fmt_number(r['f1_mean'])} ± {fmt_number(r['f1_std'])} ({fmt_number(r['f1_iqm'])}) "
            f"| {comparison} | {fmt_number(r['f1_vs_baseline_p'])} | {fmt_number(r['f1_vs_baseline_p_holm'])} | {bayes} "
            f"| {fmt_number(r['f1_vs_baseline_win_rate'], 2)}")


def _reference_markdown(results: dict, rows: list[dict]) -> list[str]:
    """The reference rows against the reference on the baseline's maps (``rows``: :func:`reference_rows`), as
    lines of markdown; none when the run has no such comparison."""
    if not rows:
        return []
    baseline = reference_baseline(results)
    lines = ["", f"Reference rows against `{baseline}` (the same classifier on the CNN baseline's maps), paired by "
             "trial and corrected as above; Holm adjusts p over these rows (a family of their own):", "",
             "| reference | accuracy mean ± sd (IQM) | F1 mean ± sd (IQM) | ΔF1 [95% CI] | p | p Holm "
             "| P(F1 worse / ≈ / better) | wins |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        label = " (baseline)" if r["kind"] == "baseline" else ""
        lines.append(f"| {r['model']}{label} | {_row_cells(r)} |")
    return lines


def table_csv(rows: list[dict]) -> str:
    """Table 1 as CSV with :data:`COLUMNS`, full precision (``p_naive_t`` and ``p_wilcoxon`` assume
    independent trials)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in COLUMNS})
    return buffer.getvalue()
