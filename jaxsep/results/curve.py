"""The data-size curve: how each model's score, and the stems-against-baseline difference, change with the number
of training songs (:mod:`jaxsep.workflows.curve` runs it).

Each size is an ordinary run (its own Table 1); here the sizes are read side by side. Every size has the same test
songs in a trial, so ``r = n_test / n_train`` of the corrected variance is that size's own. A model's interval is
its mean over trials ± t × the corrected standard error (:func:`jaxsep.results.statistics.corrected_interval`);
a difference's is Table 1's. Holm adjusts p over every CNN comparison of the curve (all sizes), and separately
over the reference rows' comparisons.
"""

from __future__ import annotations

import math


from .figures import axes_grid
from .statistics import corrected_interval, holm
from .tables import (
    FEW_RESAMPLES,
    fmt_difference,
    fmt_number,
    holdout_ratio,
    metric_values,
    reference_rows,
    table_rows,
)

#: The files a curve folder holds beside one run folder per size.
CURVE, CURVE_JSON, CURVE_FIGURE = "curve.md", "curve.json", "curve.png"
#: The families of a curve's rows: the CNNs (Table 1's rows) and the reference rows' own comparisons.
FAMILIES = ("cnn", "reference")


def curve_rows(runs: dict[str, dict]) -> list[dict]:
    """One row per size and model (CNNs, then the reference rows), sizes in increasing order.

    Args:
      runs: ``{job name: results}`` of the sizes (each with ``config.train_songs_per_class``).

    Returns:
      dicts with ``songs_per_class``, ``train``, ``test`` (songs), ``family``, ``model``, ``kind``, ``trials``,
      ``accuracy_mean``, ``f1_mean`` and their corrected intervals (``*_low``, ``*_high``), and the comparison with
      the family's baseline (``f1_vs_baseline_*`` as in Table 1, ``p_holm`` over the curve's family).
    """
    rows = []
    for results in sorted(runs.values(), key=lambda r: r["config"]["train_songs_per_class"]):
        split, ratio = results["split"], holdout_ratio(results)
        entries = {**results["models"], **results.get("reference", {})}
        for family, table in (("cnn", [r for r in table_rows(results, n_resamples=FEW_RESAMPLES) if r["kind"] != "reference"]),
                              ("reference", reference_rows(results, n_resamples=FEW_RESAMPLES))):
            for row in table:
                out = {"songs_per_class": results["config"]["train_songs_per_class"], "train": split["train"],
                       "test": split["test"], "family": family, "model": row["model"], "kind": row["kind"],
                       "trials": row["trials"] - row["failed"]}
                for metric in ("accuracy", "f1"):
                    values = list(metric_values(entries[row["model"]], metric).values())
                    low, high = corrected_interval(values, ratio)
                    out |= {f"{metric}_mean": row[f"{metric}_mean"], f"{metric}_low": low, f"{metric}_high": high}
                out |= {k: row[k] for k in row if k.startswith("f1_vs_baseline_")}
                rows.append(out)
    for family in FAMILIES:
        members = [r for r in rows if r["family"] == family and r["kind"] != "baseline"]
        for row, p in zip(members, holm([r["f1_vs_baseline_p"] for r in members])):
            row["f1_vs_baseline_p_holm"] = float(p)
    return rows


def curve_markdown(rows: list[dict]) -> str:
    """The curve as a markdown table, one line per size and model."""
    if not rows:
        return "No sizes.\n"
    baselines = {r["family"]: r["model"] for r in rows if r["kind"] == "baseline"}
    lines = [
        "Test scores by the number of training songs (the same test songs at every size of a trial). Intervals: "
        "95 %, corrected for the overlap of the trials' training sets with that size's n_test / n_train. ΔF1: "
        f"against `{baselines.get('cnn', '–')}` (CNNs) and `{baselines.get('reference', '–')}` (reference rows), "
        "paired by trial; Holm over each family's comparisons at every size.",
        "",
        "| songs per class | train / test songs | model | accuracy [95% CI] | F1 [95% CI] | ΔF1 [95% CI] | p | p Holm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        label = " (baseline)" if r["kind"] == "baseline" else ""
        cells = [f"{fmt_number(r[f'{m}_mean'])} [{fmt_number(r[f'{m}_low'])}, {fmt_number(r[f'{m}_high'])}]"
                 for m in ("accuracy", "f1")]
        lines.append(f"| {r['songs_per_class']} | {r['train']} / {r['test']} | {r['model']}{label} | "
                     + " | ".join(cells) + f" | {fmt_difference(r)} | {fmt_number(r['f1_vs_baseline_p'])} "
                     f"| {fmt_number(r['f1_vs_baseline_p_holm'])} |")
    return "\n".join(lines) + "\n"


def plot_curve(rows: list[dict], ax=None):
    """Left: mean test F1 against training songs, one line per model (reference rows dashed) with its corrected
    95 % band. Right: each compared model's F1 difference from its family's baseline with its band, zero marked.

    Returns:
      the two axes.
    """
    axes = axes_grid(ax, 1, 2, (5.6, 3.8))[0]
    models = list(dict.fromkeys(r["model"] for r in rows))
    colours = {m: f"C{i % 10}" for i, m in enumerate(models)}
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        train = [r["train"] for r in mine]
        style = "--" if mine[0]["family"] == "reference" else "-"
        axes[0].plot(train, [r["f1_mean"] for r in mine], style, marker="o", color=colours[model], label=model)
        axes[0].fill_between(train, [r["f1_low"] for r in mine], [r["f1_high"] for r in mine], alpha=0.15,
                             color=colours[model], linewidth=0)
        if mine[0]["kind"] == "baseline":
            continue
        deltas = [r for r in mine if not math.isnan(r["f1_vs_baseline_mean_difference"])]
        axes[1].plot([r["train"] for r in deltas], [r["f1_vs_baseline_mean_difference"] for r in deltas], style,
                     marker="o", color=colours[model], label=model)
        axes[1].fill_between([r["train"] for r in deltas], [r["f1_vs_baseline_ci_low"] for r in deltas],
                             [r["f1_vs_baseline_ci_high"] for r in deltas], alpha=0.15, color=colours[model],
                             linewidth=0)
    axes[0].set_ylim(0, 1)
    axes[1].axhline(0.0, color="#888", linestyle="--", linewidth=1)
    for axis, label in zip(axes, ("test F1", "ΔF1 against the family's baseline")):
        axis.set_xlabel("training songs")
        axis.set_ylabel(label)
        axis.set_xscale("log")
        ticks = sorted({r["train"] for r in rows})
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.minorticks_off()
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    return axes
