"""Table 1 and Figure 1 from a results dict (see :mod:`jaxsep.training.experiment`)."""

from __future__ import annotations

import csv
import io
import math

import numpy as np

from .statistics import compare, summarize

#: The paper's Table 1 (mean test metrics over 50 trials), for side-by-side printing.
PAPER_TABLE = {
    "full": (0.380, 0.350),
    "novox": (0.384, 0.371),
    "stems3": (0.456, 0.435),
    "stems3_dw": (0.451, 0.419),
}

COLUMNS = (
    "model", "description", "trials", "failed",
    "accuracy_mean", "accuracy_std", "accuracy_ci_low", "accuracy_ci_high",
    "f1_mean", "f1_std", "f1_ci_low", "f1_ci_high", "f1_skewness",
    "f1_p_paired_t", "f1_p_welch_t", "f1_p_wilcoxon",
    "accuracy_p_paired_t", "accuracy_p_welch_t", "accuracy_p_wilcoxon",
    "last_epoch_accuracy_mean", "last_epoch_f1_mean",
)


def metric_values(model: dict, metric: str, which: str = "chosen") -> dict[int, float]:
    """``{trial: value}`` of ``metric`` over the model's successful trials (``which``: chosen or last)."""
    return {r["trial"]: r[which][metric] for r in model["trials"] if not r["failed"]}


def table_rows(results: dict, *, seed: int = 0, n_resamples: int = 10_000) -> list[dict]:
    """One row per model with the :data:`COLUMNS`; p-values against ``config.baseline`` on the trials where
    both succeeded (NaN for the baseline itself or when it was not run)."""
    baseline_name = results["config"].get("baseline", "novox")
    baseline = results["models"].get(baseline_name)
    rows = []
    for name, model in results["models"].items():
        rng = np.random.default_rng(seed)
        row = {"model": name, "description": model.get("description", name), "trials": len(model["trials"])}
        row["failed"] = sum(r["failed"] for r in model["trials"])
        for metric in ("accuracy", "f1"):
            values = np.array(list(metric_values(model, metric).values()))
            summary = summarize(values, rng=rng, n_resamples=n_resamples)
            row |= {f"{metric}_mean": summary.mean, f"{metric}_std": summary.std,
                    f"{metric}_ci_low": summary.ci_low, f"{metric}_ci_high": summary.ci_high}
            if metric == "f1":
                row["f1_skewness"] = summary.skewness
            last = list(metric_values(model, metric, "last").values())
            row[f"last_epoch_{metric}_mean"] = float(np.mean(last)) if last else math.nan
            tests = {"paired_t": math.nan, "welch_t": math.nan, "wilcoxon": math.nan}
            if baseline is not None and name != baseline_name:
                mine, theirs = metric_values(model, metric), metric_values(baseline, metric)
                shared = sorted(set(mine) & set(theirs))
                tests = compare([mine[t] for t in shared], [theirs[t] for t in shared])
            for test in ("paired_t", "welch_t", "wilcoxon"):
                row[f"{metric}_p_{test}"] = tests[test]
        rows.append(row)
    return rows


def _fmt(value, digits=3) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.1e}"
    return str(value)


def table_markdown(results: dict, rows: list[dict]) -> str:
    """Table 1 as markdown, with the selection rule, trial count and the paper's numbers beside ours."""
    baseline = results["config"].get("baseline", "novox")
    lines = [
        f"Mean test metrics over {results['config']['trials']} trials "
        f"(epoch chosen on minimum {results['select_on']} loss; p-values of F1 against `{baseline}`).",
        "",
        "| model | accuracy (± sd) [95% CI] | F1 (± sd) [95% CI] | F1 skew | p paired t | p Welch | p Wilcoxon "
        "| failed | paper acc / F1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        paper = PAPER_TABLE.get(r["model"])
        lines.append(
            f"| {r['model']} ({r['description']}) "
            f"| {_fmt(r['accuracy_mean'])} ± {_fmt(r['accuracy_std'])} [{_fmt(r['accuracy_ci_low'])}, "
            f"{_fmt(r['accuracy_ci_high'])}] "
            f"| {_fmt(r['f1_mean'])} ± {_fmt(r['f1_std'])} [{_fmt(r['f1_ci_low'])}, {_fmt(r['f1_ci_high'])}] "
            f"| {_fmt(r['f1_skewness'], 2)} | {_fmt(r['f1_p_paired_t'])} | {_fmt(r['f1_p_welch_t'])} "
            f"| {_fmt(r['f1_p_wilcoxon'])} | {r['failed']} "
            f"| {'–' if paper is None else f'{paper[0]:.3f} / {paper[1]:.3f}'} |"
        )
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict]) -> str:
    """Table 1 as CSV with :data:`COLUMNS`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in COLUMNS})
    return buffer.getvalue()
