"""The ablation table: which stems carry the genre, asked of the CNNs and of the reference classifier at once.

One row per map set of an ablation run (:mod:`jaxsep.workflows.ablation`): the CNN reading those maps and the
logistic-regression reference reading their summary features, each against its own baseline on the baseline's
maps (``novox``, ``logreg:novox``), paired by trial with the corrected interval; Holm within each family
(:func:`jaxsep.results.tables.table_rows`, :func:`jaxsep.results.tables.reference_rows`).
"""

from __future__ import annotations

from ..constants import MAP_JOIN
from .tables import fmt_difference, fmt_number, reference_baseline, reference_rows, table_rows

#: The file an ablation run folder holds beside Table 1.
ABLATION = "ablation.md"


def _cells(row: dict | None) -> list[str]:
    """``accuracy | F1 | ΔF1 [CI] | p Holm`` of a table row (dashes for none)."""
    if row is None:
        return ["–"] * 4
    label = " (baseline)" if row["kind"] == "baseline" else ""
    return [f"{fmt_number(row['accuracy_mean'])} ± {fmt_number(row['accuracy_std'])}",
            f"{fmt_number(row['f1_mean'])} ± {fmt_number(row['f1_std'])}{label}", fmt_difference(row),
            fmt_number(row["f1_vs_baseline_p_holm"])]


def map_set(entry: dict) -> str:
    """A model's or reference row's maps joined by ``+`` (the key the ablation table pairs them by)."""
    return MAP_JOIN.join(entry["maps"])


def ablation_markdown(results: dict, rows: list[dict] | None = None, references: list[dict] | None = None) -> str:
    """The ablation table of a run's results (any run: rows without a counterpart get dashes); ``rows`` and
    ``references`` are the run's :func:`table_rows` and :func:`reference_rows`, computed when not given."""
    rows = table_rows(results) if rows is None else rows
    references = reference_rows(results) if references is None else references
    cnn = {map_set(results["models"][r["model"]]): r for r in rows if r["kind"] != "reference"}
    entries = results.get("reference", {})
    logreg = {map_set(entries[r["model"]]): r for r in references}
    keys = list(dict.fromkeys([*cnn, *logreg]))
    baseline = results["config"].get("baseline")
    lines = [
        f"Which maps carry the genre: test scores over {results['config']['trials']} trials (the same splits in every "
        f"row); each CNN against `{baseline}`, each reference row against "
        f"`{reference_baseline(results) or '–'}` (the same classifier on the baseline's maps), paired by trial, "
        "corrected for the overlap of the training sets (95 % intervals); Holm over each column's rows.",
        "",
        "| maps | CNN accuracy | CNN F1 | CNN ΔF1 [95% CI] | p Holm | reference accuracy | reference F1 "
        "| reference ΔF1 [95% CI] | p Holm |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(_cells(cnn.get(key)) + _cells(logreg.get(key))) + " |")
    return "\n".join(lines) + "\n"
