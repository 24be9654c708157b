"""Which stems carry the genre: one run of every informative map set, the same splits for all.

Every stem alone, every leave-one-out of bass / drums / other, the three together, all four (when the file has
vocals), ``novox`` (the baseline) and ``mix``: as CNNs and, with the reference on, as logistic-regression rows on
the same maps' summary features. It is an ordinary run (:func:`jaxsep.workflows.runs.run_into_folder`: resumable,
several processes) whose folder also holds the ablation table (:mod:`jaxsep.results.ablation`) and a forest plot.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Callable, Sequence

from ..config import TRIALS_PER_UNIT, RunConfig
from ..constants import MAP_JOIN, STEMS
from ..errors import FeatureFileError
from ..features.file import FeatureSet
from .runs import run_into_folder

#: The stems whose leave-one-out subsets the ablation runs (vocals only alone and in the set of all four).
ACCOMPANIMENT = ("bass", "drums", "other")
#: The baseline's map set (the paper's).
BASELINE = ("novox",)


def ablation_map_sets(maps: Sequence[str]) -> list[tuple[str, ...]]:
    """The map sets of an ablation over a feature file holding ``maps``: each stem alone, each leave-one-out of
    :data:`ACCOMPANIMENT`, all three, all four stems, ``novox``, ``mix`` (those the file can give).

    Raises:
      FeatureFileError: the file lacks a stem of :data:`ACCOMPANIMENT` or ``novox``.
    """
    missing = [m for m in (*ACCOMPANIMENT, *BASELINE) if m not in maps]
    if missing:
        raise FeatureFileError("<features>", f"an ablation needs the maps {[*ACCOMPANIMENT, *BASELINE]}; missing "
                               f"{missing}")
    singles = [(stem,) for stem in STEMS if stem in maps]
    leave_one_out = list(itertools.combinations(ACCOMPANIMENT, len(ACCOMPANIMENT) - 1))
    sets = [*singles, *leave_one_out, ACCOMPANIMENT]
    if "vocals" in maps:
        sets.append(STEMS)
    sets.append(BASELINE)
    if "mix" in maps:
        sets.append(("mix",))
    return sets


def ablation_config(features: FeatureSet, config: RunConfig, *, modifiers: str = "") -> RunConfig:
    """``config`` with the ablation's models (each map set, ``modifiers`` appended, e.g. ``":pool"``), the
    baseline on ``novox`` and, when the reference is on, one reference row per map set.

    Raises:
      FeatureFileError: naming the file, when it lacks a map the ablation needs.
    """
    try:
        sets = ablation_map_sets(features.maps)
    except FeatureFileError as error:
        raise FeatureFileError(features.path or "<features>", error.problem) from None
    models = tuple(MAP_JOIN.join(maps) + modifiers for maps in sets)
    return dataclasses.replace(config, models=models, baseline=MAP_JOIN.join(BASELINE) + modifiers,
                               reference_maps=tuple(MAP_JOIN.join(maps) for maps in sets))


def run_ablation(
    features: FeatureSet,
    config: RunConfig,
    out: Path,
    *,
    modifiers: str = "",
    overwrite: bool = False,
    resume: bool = False,
    trials_per_unit: int = TRIALS_PER_UNIT,
    progress: Callable[[str, int, int], None] | None = None,
    say: Callable[[str], None] = print,
    extra: dict | None = None,
) -> dict:
    """Runs the ablation of ``features`` under ``config`` (its models and baseline replaced: :func:`ablation_config`)
    into the run folder ``out`` (``extra`` added to its results); returns the results.

    Raises:
      FeatureFileError, ConfigError, RunFolderError: before any trial trains (see
        :func:`jaxsep.workflows.runs.run_into_folder`).
      RunInterrupted: SIGTERM or SIGINT; the finished units are kept.
    """
    chosen = ablation_config(features, config, modifiers=modifiers)
    say(f"ablation: {len(chosen.models)} map sets ({', '.join(chosen.models)}) over {chosen.trials} trials, "
        f"baseline {chosen.baseline}")
    return run_into_folder(features, chosen, out, overwrite=overwrite, resume=resume, trials_per_unit=trials_per_unit,
                           progress=progress, say=say, extra={"ablation": True, **(extra or {})})
