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

#: The paper's Table 1 (mean test metrics over 50 trials), for side-by-side printing.
PAPER_TABLE = {
    "full": (0.380, 0.350),
    "novox": (0.384, 0.371),
    "stems3": (0.456, 0.435),
    "stems3_dw": (0.451, 0.419),
}
REPORTED = ("accuracy", "f1")
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


def table_rows(results: dict, *, seed: int = 0, n_resamples: int = 10_000) -> list[dict]:
    """One row per model and reference row with the :data:`COLUMNS` (NaN where a value does not apply)."""
    baseline = results["models"].get(results["config"].get("baseline"))
    ratio = holdout_ratio(results)
    rope = rope_of(results)
    rows = []
    for name, kind, entry in _entries(results):
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
    # Holm over the run's comparisons of models with the baseline, one family per metric (reference rows are
    # context, not part of the family).
    family = [row for row in rows if row["kind"] == "model"]
    for metric in REPORTED:
        adjusted = holm([row[f"{metric}_vs_baseline_p"] for row in family])
        for row, value in zip(family, adjusted):
            row[f"{metric}_vs_baseline_p_holm"] = float(value)
    return rows


def _fmt(value, digits: int = 3) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.1e}"
    return str(value)


def _signed(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:+.3f}"


def table_markdown(results: dict, rows: list[dict]) -> str:
    """Table 1 as markdown: the corrected comparison as the headline, the epoch-selection table beneath."""
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
        "| P(F1 worse / ≈ / better) | wins | diverged / failed | paper acc / F1 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = PAPER_TABLE.get(r["model"])
        comparison = "–"
        if not math.isnan(r["f1_vs_baseline_mean_difference"]):
            comparison = (f"{_signed(r['f1_vs_baseline_mean_difference'])} [{_signed(r['f1_vs_baseline_ci_low'])}, "
                          f"{_signed(r['f1_vs_baseline_ci_high'])}]")
        bayes = "–" if math.isnan(r["f1_vs_baseline_p_better"]) else (
            f"{r['f1_vs_baseline_p_worse']:.2f} / {r['f1_vs_baseline_p_equivalent']:.2f} / "
            f"{r['f1_vs_baseline_p_better']:.2f}")
        diverged = "–" if math.isnan(r["diverged"]) else str(r["diverged"])
        label = {"baseline": " (baseline)", "reference": " (reference)"}.get(r["kind"], "")
        lines.append(
            f"| {r['model']}{label} "
            f"| {_fmt(r['accuracy_mean'])} ± {_fmt(r['accuracy_std'])} ({_fmt(r['accuracy_iqm'])}) "
            f"| {_fmt(r['f1_mean'])} ± {_fmt(r['f1_std'])} ({_fmt(r['f1_iqm'])}) "
            f"| {comparison} | {_fmt(r['f1_vs_baseline_p'])} | {_fmt(r['f1_vs_baseline_p_holm'])} | {bayes} "
            f"| {_fmt(r['f1_vs_baseline_win_rate'], 2)} | {diverged} / {r['failed']} "
            f"| {'–' if paper is None else f'{paper[0]:.3f} / {paper[1]:.3f}'} |"
        )
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
        cells = [f"{_fmt(r[f'accuracy_{rule}_mean'])} / {_fmt(r[f'f1_{rule}_mean'])}"
                 if not math.isnan(r[f"f1_{rule}_mean"]) else "–" for rule in RULES]
        optimism = f"{_signed(r['accuracy_optimism'])} / {_signed(r['f1_optimism'])}"
        lines.append(f"| {r['model']} | " + " | ".join(cells) + f" | {optimism} |")
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict]) -> str:
    """Table 1 as CSV with :data:`COLUMNS`, full precision (``p_naive_t`` and ``p_wilcoxon`` assume
    independent trials)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in COLUMNS})
    return buffer.getvalue()
