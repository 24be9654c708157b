"""Running the experiment into a run folder: unit by unit, so that a killed run loses little and continues.

A run trains its models in units of a few trials each (and each reference row as one unit). Every finished unit
is written, atomically, into the staging folder ``.NAME.partial`` beside the run folder ``NAME``, with its
trained models when they are kept. SIGTERM or SIGINT stops the run between two dispatches: what finished is
kept, and :class:`RunInterrupted` says how to go on. Running the same command again continues: only the
missing trials are trained, and because trial ``t`` depends only on its seed, the numbers are the same as an
uninterrupted run's (bit for bit with the per-trial lowerings CPU runs use). A different configuration or
feature file is refused; ``overwrite`` starts afresh. The finished folder replaces ``NAME`` in one rename.

Saved models (``save_models``): each trial's trained variables after its last epoch (parameters, batch
statistics, the standardization of its training songs) as ``models/<model>/trial-NNN.msgpack``
(``flax.serialization``, no pickle); ``results.json`` holds the model's configuration and the feature file's
meta, which is all :mod:`jaxsep.workflows.predict` needs beside them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

import numpy as np

from ..atomic import atomic_path, swap_folder, write_text_atomic
from ..config import TRIALS_PER_UNIT, RunConfig
from ..errors import RunFolderError, RunInterrupted
from ..features.file import FeatureSet
from ..nn.models import get_spec
from ..results.run_folder import RESULTS, check_out_dir, json_safe, load_results, write_run_files
from ..training import classical, distributed
from ..training.experiment import (
    RESULTS_FORMAT_VERSION,
    assemble_results,
    reference_map_sets,
    train_model,
    trial_plan,
)

PLAN = "plan.json"
UNITS = "units"
#: The sub-folder of a run folder holding its saved models (``--save-models``).
SAVED_MODELS = "models"


class _Stop(BaseException):
    """Raised by the signal handlers; a BaseException so no ``except Exception`` swallows it."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGINT raise :class:`_Stop` in the main thread for the block's duration."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number, _frame):
        raise _Stop(number)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def partial_folder(out: Path) -> Path:
    """Where the run folder ``out`` is built, and where an unfinished run is kept: ``.NAME.partial``."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def run_fingerprint(features: FeatureSet, config: RunConfig, save_models: bool = False) -> dict:
    """What a continued run must share with the unfinished one: everything that changes a number (not the
    engine's lowering options, which do not)."""
    settings = dataclasses.asdict(config)
    for key in ("strategy", "trials_per_chunk", "concurrent_trials"):
        settings.pop(key)
    return {"format_version": RESULTS_FORMAT_VERSION, "config": json.loads(json.dumps(settings)),
            "features": features.digest, "save_models": save_models}


def _holds_plan(staging: Path, plan: dict) -> bool:
    """Whether ``staging`` is an unfinished run (or set of runs) of ``plan``."""
    return (staging / PLAN).is_file() and json.loads((staging / PLAN).read_text()) == json.loads(json.dumps(plan))


def _open_staging(staging: Path, plan: dict, *, overwrite: bool, resume: bool, what: str) -> bool:
    """Readies the staging folder of ``plan``: an unfinished one is discarded under ``overwrite`` (unless
    ``resume`` and it is of this plan), else kept; a new one gets the plan. Process 0 alone changes the folder;
    with several processes the others look at it only after it is done (a barrier), so they see what it kept.

    Returns:
      whether an unfinished run of this plan is continued.

    Raises:
      RunFolderError: the staging folder holds ``what`` (another plan), and ``overwrite`` is off (in every process).
    """
    writer = distributed.is_writer()
    fresh = False
    if writer:
        if overwrite and staging.exists() and not (resume and _holds_plan(staging, plan)):
            shutil.rmtree(staging)
        if not (staging / PLAN).is_file():
            staging.mkdir(parents=True, exist_ok=True)
            write_text_atomic(staging / PLAN, json.dumps(plan, indent=1))
            fresh = True
    distributed.barrier(f"jaxsep: {staging} ready")
    if fresh or not (staging / PLAN).is_file():  # (a process that cannot see process 0's folder starts afresh)
        return False
    if not _holds_plan(staging, plan):
        raise RunFolderError(f"{staging}: holds {what}; run that command again to finish it, or pass --overwrite "
                             "to start afresh")
    # process 0 knows it kept an unfinished run; the others see whether anything finished in it
    return writer or any(path.name != PLAN for path in staging.iterdir())


def _save_models(folder: Path, name: str, variables: dict, trial_indices) -> None:
    """Writes each trial's variables (a nested dict of arrays with a leading trial axis) as
    ``folder/models/<name>/trial-NNN.msgpack``."""
    import jax
    from flax import serialization

    for row, trial in enumerate(trial_indices):
        state = jax.tree.map(lambda leaf, row=row: np.asarray(leaf)[row], variables)
        with atomic_path(folder / SAVED_MODELS / name / f"trial-{trial:03d}.msgpack") as temporary:
            temporary.write_bytes(serialization.msgpack_serialize(state))


def _unit_name(model: str, trials) -> str:
    return f"{model}-{int(trials[0]):04d}-{int(trials[-1]):04d}.json"


def _add_timing(total: dict, unit: dict) -> dict:
    """A model's timing after one more unit: compile and run seconds summed, the rest the unit's."""
    return {**unit, **{key: total[key] + unit[key] for key in ("compile_seconds", "run_seconds")}}


def _done_trials(staging: Path, model: str) -> tuple[dict[int, dict], dict]:
    """``({trial: record}, timing)`` of a model's finished units."""
    done: dict[int, dict] = {}
    timing: dict = {"compile_seconds": 0.0, "run_seconds": 0.0}
    for path in sorted((staging / UNITS).glob(f"{model}-*.json")):
        unit = json.loads(path.read_text())
        done |= {record["trial"]: record for record in unit["trials"]}
        timing = _add_timing(timing, unit["timing"])
    return done, timing


def run_into_folder(
    features: FeatureSet,
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    save_models: bool = False,
    trials_per_unit: int = TRIALS_PER_UNIT,
    devices=None,
    progress: Callable[[str, int, int], None] | None = None,
    say: Callable[[str], None] = print,
    extra: dict | None = None,
) -> dict:
    """Runs ``config`` on ``features`` into the run folder ``out`` (see the module docstring); ``extra`` is
    added to the results (the demo says where its data came from). ``overwrite`` starts afresh, unless ``resume``
    and the unfinished run kept beside ``out`` has this configuration and feature file: that one is continued.

    Returns:
      the results dict written to ``out/results.json``.

    Raises:
      RunFolderError: ``out`` holds a finished run (without ``overwrite``), or the unfinished run kept beside it
        has another configuration or feature file.
      RunInterrupted: SIGTERM or SIGINT; the finished units are kept.
    """
    out = Path(out)
    if trials_per_unit < 1:
        raise RunFolderError(f"trials per unit must be >= 1, got {trials_per_unit}")
    check_out_dir(out, overwrite=overwrite)
    plan = trial_plan(features, config)  # checks models and data before anything is written
    staging = partial_folder(out)
    fingerprint = run_fingerprint(features, config, save_models)
    writer = distributed.is_writer()  # with several processes only process 0 writes
    if _open_staging(staging, fingerprint, overwrite=overwrite, resume=resume,
                     what="an unfinished run of another configuration or feature file"):
        units = sorted(p.name for p in (staging / UNITS).glob("*.json"))
        say(f"continuing the unfinished run in {staging} ({len(units)} unit(s) done)")
    started = time.perf_counter()
    try:
        with _stop_on_signals():
            models = {name: _train_units(name, features, config, plan, staging, save_models, trials_per_unit,
                                         devices, progress, writer) for name in config.models}
            reference = _reference_units(features, config, plan, staging, writer)
    except (_Stop, KeyboardInterrupt) as stop:
        number = getattr(stop, "signal_number", signal.SIGINT)
        units = len(list((staging / UNITS).glob("*.json")))
        raise RunInterrupted(f"{signal.Signals(number).name}: stopped; {units} finished unit(s) kept in {staging}; "
                             "run the same command again to continue", number) from None
    results = assemble_results(features, config, plan, models, reference, seconds=time.perf_counter() - started,
                               devices=devices)
    results["saved_models"] = save_models
    results |= extra or {}
    if writer:
        _finish(staging, out, results, features)
    return results


def _train_units(name, features, config, plan, staging, save_models, trials_per_unit, devices, progress,
                 writer) -> dict:
    """One model's entry, training only the trials no finished unit holds, a unit at a time (the writer saves
    each; every process keeps them in memory too, so none reads what another is writing)."""
    trials = len(plan.seeds)
    done, timing = _done_trials(staging, name)
    missing = [t for t in range(trials) if t not in done]
    for first in range(0, len(missing), trials_per_unit):
        unit = np.array(missing[first:first + trials_per_unit])
        base = trials - len(missing) + first
        report = None if progress is None else (
            lambda model, finished, _total, base=base: progress(model, base + finished, trials))
        trained = train_model(name, features, config, plan, trials=unit, keep_state=save_models, devices=devices,
                              progress=report)
        entry = json.loads(json.dumps(json_safe(trained.entry)))  # as a unit read back from disk would be
        if writer:
            if save_models:
                _save_models(staging, name, trained.variables, unit)  # before the unit: a unit on disk has its models
            write_text_atomic(staging / UNITS / _unit_name(name, unit), json.dumps(entry))
        done |= {record["trial"]: record for record in entry["trials"]}
        timing = _add_timing(timing, entry["timing"])
    spec = get_spec(name)
    return {"maps": list(spec.maps), "description": spec.description, "timing": timing,
            "trials": [done[t] for t in range(trials)]}


def _reference_units(features, config, plan, staging, writer) -> dict | None:
    """The reference rows, one unit each (no training; each map's summary features computed once)."""
    if not config.reference:
        return None
    map_sets = reference_map_sets(config)
    paths = {maps: staging / UNITS / f"reference-{classical.reference_name(maps).replace(':', '-')}.json"
             for maps in map_sets}
    missing = [maps for maps, path in paths.items() if not path.is_file()]
    summaries = classical.map_summaries(features, [m for maps in missing for m in maps])
    rows = {}
    for maps, path in paths.items():
        if path.is_file():
            rows[classical.reference_name(maps)] = json.loads(path.read_text())
            continue
        row = classical.run_reference(features, plan, classical.side_by_side(summaries, maps), maps)
        row = json.loads(json.dumps(json_safe(row)))
        if writer:
            write_text_atomic(path, json.dumps(row))
        rows[classical.reference_name(maps)] = row
    return rows


def _finish(staging: Path, out: Path, results: dict, features: FeatureSet) -> None:
    """Writes the report into the staging folder, drops the units, and renames it to ``out``."""
    write_run_files(staging, results, features, name=out.name)
    shutil.rmtree(staging / UNITS, ignore_errors=True)
    (staging / PLAN).unlink(missing_ok=True)
    swap_folder(staging, out)


class Job(NamedTuple):
    """One run of several written side by side (:func:`run_into_folders`): its sub-folder name, its data and
    configuration, and what to add to its results."""

    name: str
    features: FeatureSet
    config: RunConfig
    extra: dict | None = None


def run_into_folders(
    jobs: Sequence[Job],
    out: Path,
    *,
    summary: Callable[[Path, dict[str, dict]], None],
    overwrite: bool = False,
    resume: bool = False,
    trials_per_unit: int = TRIALS_PER_UNIT,
    progress: Callable[[str, int, int], None] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Runs every job into ``out/<job.name>/``, each an ordinary run folder (:func:`run_into_folder`), then
    ``summary(folder, {name: results})`` writes the files that sum them up into the folder. With several processes
    (``jax.distributed``) every process trains its share of each job's trials and process 0 writes.

    Everything is built in the hidden folder ``.NAME.partial`` beside ``out``: a killed command, run again, keeps
    the finished jobs and the finished units of the job it was in; ``out`` appears only when all are done.
    ``overwrite``, ``resume`` and ``trials_per_unit``: as for :func:`run_into_folder`.

    Returns:
      ``{job.name: results}``.

    Raises:
      RunFolderError: ``out`` holds files jaxsep did not write, or holds a finished output (without
        ``overwrite``), or the unfinished one beside it has other jobs, configurations or feature files.
      RunInterrupted: SIGTERM or SIGINT; what finished is kept.
    """
    out = Path(out)
    check_out_dir(out, overwrite=overwrite)
    for job in jobs:  # every job's models, maps and splits checked before the first trains: an error loses no work
        trial_plan(job.features, job.config)
    staging = partial_folder(out)
    plan = {job.name: run_fingerprint(job.features, job.config) for job in jobs}
    writer = distributed.is_writer()
    if _open_staging(staging, plan, overwrite=overwrite, resume=resume,
                     what="unfinished runs of other jobs, configurations or feature files"):
        say(f"continuing the unfinished runs in {staging}")
    runs = {}
    for job in jobs:
        folder = staging / job.name
        if (folder / RESULTS).is_file():  # finished before the command was killed
            runs[job.name] = load_results(folder)
            continue
        labelled = None if progress is None else (
            lambda model, done, total, job=job.name: progress(f"{job} {model}", done, total))
        runs[job.name] = run_into_folder(job.features, job.config, folder, trials_per_unit=trials_per_unit,
                                         progress=labelled, say=say, extra=job.extra)
    if writer:
        summary(staging, runs)
        swap_folder(staging, out)
        (out / PLAN).unlink()  # after the rename: a staging folder never holds finished runs without their plan
    return runs
