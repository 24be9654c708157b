"""The paper's experiment: every chosen model over the same trial splits, scored per the protocol.

Returns plain JSON-ready dicts; :mod:`jaxsep.results.run_folder` writes them. Each trial's record holds its
per-epoch history and what :mod:`jaxsep.training.outcomes` reads from it: the epoch of every selection rule
(minimum test loss, the paper's; the last epoch; minimum validation loss when a validation part is held out),
the one reported as ``chosen`` (``select_on``), divergence, and failure (a NaN or infinite loss: left out of
the statistics). With ``reference`` on, the classical reference classifier runs on the same splits.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from importlib import metadata
from typing import Callable, NamedTuple

import jax
import numpy as np

from ..config import RunConfig
from ..errors import ConfigError, FeatureFileError
from ..features.file import FeatureSet
from ..nn.models import check_distinct, get_spec, parse_maps, required_maps
from ..options import GroupBy
from . import classical, distributed
from .engine import run_trials
from .outcomes import trial_entry
from .groups import artist_groups
from .splits import check_splittable, make_splits, rows_of
from .trainer import TrialOutput

#: Version of the results.json layout (2: corrected statistics, every epoch-selection rule, divergence,
#: probabilities, split sizes, the reference row).
RESULTS_FORMAT_VERSION = 2


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a result."""
    out = {"python": platform.python_version()}
    for name in ("jaxsep", "jax", "jaxlib", "flax", "optax", "numpy", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _trial_records(history: dict[str, np.ndarray], splits: dict, labels: np.ndarray, seeds, select_on: str,
                   n_classes: int, trial_indices) -> list[dict]:
    """Per-trial JSON records from the engine's ``(trials, epochs, ...)`` history (``trial_indices``: each
    row's trial number in the run)."""
    return [trial_entry({k: v[t] for k, v in history.items()}, trial=trial_indices[t], seed=seed,
                        test_songs=splits["test"][t], true_labels=labels[splits["test"][t]], n_classes=n_classes,
                        select_on=select_on, validation_songs=splits["validation"][t])
            for t, seed in enumerate(seeds)]


class ModelRun(NamedTuple):
    """One model's trials: its ``results.json`` entry and, when asked for, every trial's trained variables
    (:attr:`jaxsep.training.trainer.TrialOutput.variables` with a leading trial axis)."""

    entry: dict
    variables: dict | None = None


class TrialPlan(NamedTuple):
    """The trials of a run, shared by every model.

    Attributes:
      seeds: ``(trials,)``, trial ``t`` uses ``seed + t``.
      songs: song-level splits from :func:`jaxsep.training.splits.make_splits` (what the records and the
        statistics see).
      rows: the same splits as row indices of the feature set (:func:`jaxsep.training.splits.rows_of`: every
        segment of a song on its song's side), what the engine trains and tests on.
      segments_per_song: rows per song (1 unless the features hold several segments per song).
    """

    seeds: np.ndarray
    songs: dict[str, np.ndarray]
    rows: dict[str, np.ndarray]
    segments_per_song: int


def reference_map_sets(config: RunConfig) -> list[tuple[str, ...]]:
    """The map set of each reference row the run scores (none without ``config.reference``).

    Raises:
      ConfigError: a map set naming an unknown map.
    """
    return [parse_maps(text) for text in config.reference_maps] if config.reference else []


def song_groups(features: FeatureSet, config: RunConfig) -> np.ndarray | None:
    """The group of every song, ``(songs,)`` int, when the run splits by groups (``config.group_by``); else None.

    Raises:
      FeatureFileError: the feature file does not say who the songs' artists are.
    """
    if config.group_by is None:
        return None
    artists = features.song_artists if config.group_by == GroupBy.ARTIST else None
    if artists is None or not any(artists):
        raise FeatureFileError(features.path or "<features>", "names no artists, which --group-by artist needs "
                               "(GiantSteps+ meta, or an 'artist' column in the manifest read by `jaxsep features`)")
    return artist_groups(artists)


def trial_plan(features: FeatureSet, config: RunConfig) -> TrialPlan:
    """The run's :class:`TrialPlan`; checks the models and the feature set first (the maps the models and the
    reference need, that every class can be split, the groups), so that nothing fails after training has begun.

    Raises:
      ConfigError: an unknown model, two names of one model, a bad reference map set, groups that cannot make
        a split.
      FeatureFileError: a map the run needs is missing, a class has fewer than two songs, or the groups asked
        for are not in the file.
    """
    check_distinct(config.models)  # every name's spec, unknown ones refused
    references = [m for maps in reference_map_sets(config) for m in maps]
    features.check_maps(dict.fromkeys(required_maps(config.models) + tuple(references)))
    try:
        check_splittable(features.song_labels, features.n_classes, features.classes)
    except ConfigError as error:
        raise FeatureFileError(features.path or "<features>", str(error)) from None
    train = config.train
    seeds = np.arange(config.seed, config.seed + config.trials)
    curve = (config.train_songs_per_class, config.curve_songs_per_class) if config.subsampled else None
    songs = make_splits(
        features.song_labels,
        seeds,
        n_classes=features.n_classes,
        test_fraction=train.test_fraction,
        validation_fraction=train.validation_fraction if train.uses_validation else None,
        groups=song_groups(features, config),
        curve=curve,
    )
    return TrialPlan(seeds, songs, rows_of(songs, features.song_rows), features.segments_per_song)


def train_model(
    name: str,
    features: FeatureSet,
    config: RunConfig,
    plan: TrialPlan,
    *,
    trials=None,
    keep_state: bool = False,
    devices=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ModelRun:
    """Trials of one model: its entry of ``results["models"]`` and, with ``keep_state``, its trained variables.

    Args:
      plan: the run's :class:`TrialPlan`.
      trials: the trial numbers to train (default: all); a run trains its trials in units and the records keep
        their numbers.
      keep_state: also return the trained variables of every trial (:func:`jaxsep.training.trainer.final_state`
        with a leading trial axis), for saved models.
      progress: called as ``progress(model, trials_done, trials)`` for these trials.
    """
    spec = get_spec(name)
    trials = np.arange(len(plan.seeds)) if trials is None else np.asarray(trials)
    seeds = plan.seeds[trials]
    # With several processes each trains its share (at least one trial, a spare when it has none).
    mine = distributed.my_trials(len(trials)) if jax.process_count() > 1 else np.arange(len(trials))
    local = trials[mine] if len(mine) else trials[:1]
    if progress is not None:
        progress(name, 0, len(local))  # before compiling: a progress bar's clock starts with the model
    report = run_trials(
        name,
        features.select_maps(spec.maps),
        features.labels,
        {k: v[local] for k, v in plan.rows.items()},
        plan.seeds[local],
        config.train,
        n_classes=features.n_classes,
        strategy=config.strategy,
        trials_per_chunk=config.trials_per_chunk,
        concurrent_trials=config.concurrent_trials,
        devices=devices,
        keep_state=keep_state,
        segments_per_song=plan.segments_per_song,
        progress=None if progress is None else (lambda done: progress(name, done, len(local))),
    )
    output = TrialOutput(report.history, report.variables)
    if jax.process_count() > 1:
        output = distributed.gather(output, len(trials))
    entry = {
        "maps": list(spec.maps),
        "description": spec.description,
        "timing": {
            "compile_seconds": report.compile_seconds,
            "run_seconds": report.run_seconds,
            "strategy": report.strategy,
            "trials_per_chunk": report.chunk,
            "devices": report.devices,
            "concurrent_trials": report.concurrent_trials,
        },
        "trials": _trial_records(output.history, {k: v[trials] for k, v in plan.songs.items()},
                                 features.song_labels, seeds, config.train.select_on, features.n_classes, trials),
    }
    return ModelRun(entry, output.variables)


def results_header(features: FeatureSet, config: RunConfig, plan: TrialPlan, devices=None) -> dict:
    """Everything in ``results.json`` but the models: configuration, versions, device, data, split sizes (in
    songs)."""
    return {
        "format_version": RESULTS_FORMAT_VERSION,
        "config": {
            "models": list(config.models),
            "trials": config.trials,
            "seed": config.seed,
            "baseline": config.baseline,
            "strategy": config.strategy,
            "trials_per_chunk": config.trials_per_chunk,
            "concurrent_trials": config.concurrent_trials,
            "reference": config.reference,
            "reference_maps": list(config.reference_maps),
            "rope": config.rope,
            "group_by": config.group_by,
            "train_songs_per_class": config.train_songs_per_class,
            "curve_songs_per_class": config.curve_songs_per_class,
            "train": dataclasses.asdict(config.train),
        },
        "select_on": config.train.select_on,
        # Every trial has the same split sizes: the corrected test's n_test / n_train.
        "split": {part: int(plan.songs[part].shape[1]) for part in ("train", "test", "validation")},
        "versions": package_versions(),
        "device": {"backend": jax.default_backend(), "devices": [str(d) for d in (devices or jax.local_devices())],
                   "kind": jax.local_devices()[0].device_kind, "host": platform.node()},
        "data": {
            "path": features.path,
            "songs": features.n_songs,
            "segments_per_song": features.segments_per_song,
            "classes": list(features.classes),
            "class_counts": features.class_counts().tolist(),
            "song_ids": list(features.song_names),
            "digest": features.digest,
            "shape": list(features.mels.shape[1:3]),
            "meta": features.meta,
        },
    }


def run_experiment(
    features: FeatureSet,
    config: RunConfig,
    *,
    devices=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Trains every model of ``config`` over ``config.trials`` shared splits of ``features``.

    Args:
      features: a validated feature set holding every map the models need.
      config: models, trials, seed, protocol and engine options.
      devices: devices to shard the trials over (default: all local devices).
      progress: called as ``progress(model, trials_done, trials)``.

    Returns:
      the results dict written to ``results.json``: :func:`results_header`, ``timing``, ``models -> {name:
      {"trials": [...], "timing": {...}}}`` and, with ``config.reference``, ``reference -> {"logreg": ...}`` (one
      row per reference map set).
    """
    plan = trial_plan(features, config)
    started = time.perf_counter()
    models = {name: train_model(name, features, config, plan, devices=devices, progress=progress).entry
              for name in config.models}
    references = classical.run_references(features, plan, reference_map_sets(config)) if config.reference else None
    return assemble_results(features, config, plan, models, references, seconds=time.perf_counter() - started,
                            devices=devices)


def assemble_results(features: FeatureSet, config: RunConfig, plan: TrialPlan, models: dict,
                     references: dict | None, *, seconds: float, devices=None) -> dict:
    """The results dict of a run: :func:`results_header`, the reference rows ``{name: entry}`` (or none), the run's
    ``timing`` (``seconds`` in all; compile and run seconds summed over ``models``) and the ``models``' entries."""
    results = results_header(features, config, plan, devices)
    if references:
        results["reference"] = references
    results["timing"] = {
        "total_seconds": seconds,
        "compile_seconds": sum(m["timing"]["compile_seconds"] for m in models.values()),
        "run_seconds": sum(m["timing"]["run_seconds"] for m in models.values()),
    }
    results["models"] = models
    return results
