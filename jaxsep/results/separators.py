"""How much separation quality moves the result: the same models and trials on stems from several separators.

Each separator's run trains the same models on the same songs with the same seeds, so trial ``t`` has the same
split in every run and the metrics pair by trial. Per model, each separator is compared with the first one
(the reference, e.g. ``dsp``) by the corrected resampled t-test (:mod:`jaxsep.results.statistics`): the mean
paired difference with its corrected 95 % interval, the p-value and the Bayesian P(better). A model reading
only the mix (``full``) gets the same numbers from every separator: a check of determinism.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import RunFolderError
from .statistics import compare
from .tables import holdout_ratio, metric_values, paired_values, rope_of


def separator_comparison(runs: dict[str, dict], *, metric: str = "f1", kind: str = "separator",
                         models: list[str] | None = None) -> str:
    """Markdown: per model, the mean ``metric`` under each separator, and each separator against the first.

    Args:
      runs: ``{separator: results}``, the reference separator first.
      metric: ``"f1"`` or ``"accuracy"``.
      kind: what tells the runs apart, for the table's text (any runs of the same models, songs and seeds pair
        the same way, e.g. feature files with different segments per song).
      models: the models to compare (default: the first run's).
    """
    names = list(runs)
    reference = names[0]
    first = runs[reference]
    same_songs = all(r["data"]["song_ids"] == first["data"]["song_ids"] for r in runs.values())
    models = list(first["models"]) if models is None else models
    ratio = holdout_ratio(first)
    rope = rope_of(first)
    lines = [
        f"Mean test {metric} over {first['config']['trials']} trials per {kind}; each {kind} against "
        f"`{reference}`, paired by trial, corrected for the overlap of training sets (Δ [95% CI], p, P(better "
        f"by more than {rope})).",
        "",
        "| model | " + " | ".join(f"{n}: {metric}" for n in names) + " | "
        + " | ".join(f"{n} − {reference}: Δ [95% CI], p, P(better)" for n in names[1:]) + " |",
        "|---|" + "---|" * (2 * len(names) - 1),
    ]
    for model in models:
        means = [np.mean(list(metric_values(runs[n]["models"][model], metric).values())) for n in names]
        cells = [f"{m:.3f}" if math.isfinite(m) else "–" for m in means]
        for name in names[1:]:
            if not same_songs:
                cells.append("– (different songs)")
                continue
            values, base = paired_values(runs[name]["models"][model], first["models"][model], metric)
            c = compare(values, base, test_train_ratio=ratio, rope=rope)
            cells.append(f"{c.mean_difference:+.3f} [{c.ci_low:+.3f}, {c.ci_high:+.3f}], p {c.p:.3f}, "
                         f"{c.p_better:.2f}" if c.n >= 2 else "–")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if not same_songs:
        lines += ["", f"The {kind}s' runs kept different songs (some failed for one of them): they cannot be "
                  "paired."]
    return "\n".join(lines) + "\n"


def check_paired(runs: dict[str, dict]) -> list[str]:
    """The models every run of ``runs`` trained, after checking that the runs can be paired trial by trial: the
    same songs, classes and trials, and every shared model's trial ``t`` tested on the same songs.

    Raises:
      RunFolderError: naming the runs and what differs (songs, classes, trials, or the splits: another seed,
        test fraction, grouping or curve size).
    """
    names = list(runs)
    first = runs[names[0]]
    for name in names[1:]:
        other = runs[name]
        for key, what in (("song_ids", "songs"), ("classes", "classes")):
            if other["data"][key] != first["data"][key]:
                raise RunFolderError(f"runs {names[0]!r} and {name!r} hold different {what}: they cannot be paired")
        if other["config"]["trials"] != first["config"]["trials"]:
            raise RunFolderError(f"runs {names[0]!r} and {name!r} ran {first['config']['trials']} and "
                                 f"{other['config']['trials']} trials: they cannot be paired")
    models = [m for m in first["models"] if all(m in r["models"] for r in runs.values())]
    if not models:
        raise RunFolderError(f"runs {names} share no model")
    for name in names[1:]:
        for model in models:
            mine = [t["test_songs"] for t in first["models"][model]["trials"]]
            theirs = [t["test_songs"] for t in runs[name]["models"][model]["trials"]]
            if mine != theirs:
                trial = next(i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b) if len(mine) == len(
                    theirs) else 0
                raise RunFolderError(f"runs {names[0]!r} and {name!r} split differently (trial {trial} of {model!r} "
                                     "tests on other songs: another seed, test fraction, grouping or curve size): "
                                     "they cannot be paired")
    return models
