"""Repeating a run from its folder, and comparing finished runs.

``results.json`` records everything a run's numbers depend on: the configuration, the feature file's path and
digest, the classes kept, whether models were saved, and what kind of run it was (an ablation, a size of a
data-size curve). :func:`rerun` reads it back and runs the same configuration on the same feature file (checked
by digest) into a new folder — the same numbers, since trial ``t`` depends only on its seed.
:func:`compare_runs` pairs finished runs of the same songs and splits by trial.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from ..config import RunConfig
from ..config_file import config_from_results
from ..errors import ConfigError, FeatureFileError, RunFolderError
from ..features.file import FeatureSet, load_features
from ..results.curve import CURVE
from ..results.run_folder import COMPARISON, PAIRS, RESULTS, load_results
from ..results.separators import check_paired, separator_comparison
from .curve import run_curve
from .runs import run_into_folder


def recorded_features(results: dict, where: Path, data: Path | None = None) -> FeatureSet:
    """The feature file a run read (or ``data``, where it has moved), its classes kept as the run kept them,
    checked against the digest the run recorded.

    Raises:
      RunFolderError: the run recorded no digest (a jaxsep before reruns existed), or the file differs.
      FeatureFileError: the file cannot be read.
    """
    recorded = results["data"]
    digest = recorded.get("digest")
    if digest is None:
        raise RunFolderError(f"{where}: records no feature-file digest (written by an earlier jaxsep): run it again "
                             "with `jaxsep run` and the configuration in its results.json")
    path = Path(data or recorded.get("path") or "")
    if not path.is_file():
        raise FeatureFileError(path, "no such feature file (the run's; pass --data where it is now)")
    features = load_features(path)
    kept = recorded.get("meta", {}).get("classes_selected")
    if kept:
        features = features.subset_classes(kept)
    if features.digest != digest:
        raise RunFolderError(f"{where}: the run read another feature file than {path} holds now (digest "
                             f"{digest[:12]}… recorded, {features.digest[:12]}… found)")
    return features


def rerun(
    run: Path,
    out: Path,
    *,
    data: Path | None = None,
    overwrite: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    say: Callable[[str], None] = print,
    extra: dict | None = None,
) -> dict:
    """Runs again what the run folder ``run`` holds (a run, an ablation, or a whole data-size curve) into ``out``.

    Returns:
      the new results (for a curve, ``{size: results}``).

    Raises:
      RunFolderError: ``run`` is not a finished jaxsep run, or its feature file changed; ``out`` in use.
      ConfigError: a recorded configuration this jaxsep cannot rebuild.
    """
    run = Path(run)
    if not (run / RESULTS).is_file() and any((run / name).is_file() for name in (PAIRS, COMPARISON)):
        raise RunFolderError(f"{run}: holds one run per class pair or separator; rerun one of its sub-folders")
    if (run / CURVE).is_file():
        return _rerun_curve(run, out, data=data, overwrite=overwrite, progress=progress, say=say, extra=extra)
    results = load_results(run)
    config = config_from_results(results["config"], str(run / RESULTS))
    features = recorded_features(results, run / RESULTS, data)
    kept = {key: results[key] for key in ("ablation", "demo", "curve") if key in results}
    say(f"running {run} again into {out}: {', '.join(config.models)} over {config.trials} trials")
    return run_into_folder(features, config, out, overwrite=overwrite, save_models=bool(results.get("saved_models")),
                           progress=progress, say=say, extra={**kept, "rerun_of": str(run), **(extra or {})})


def _rerun_curve(run: Path, out: Path, *, data, overwrite, progress, say, extra) -> dict:
    sizes = sorted(p for p in run.glob("size-*") if (p / RESULTS).is_file())
    if not sizes:
        raise RunFolderError(f"{run}: a curve folder without finished sizes")
    first = load_results(sizes[0])
    recorded = first.get("curve", {}).get("sizes")
    if not recorded:
        raise RunFolderError(f"{sizes[0] / RESULTS}: does not record the curve's sizes")
    config: RunConfig = config_from_results(first["config"], str(sizes[0] / RESULTS))
    features = recorded_features(first, sizes[0] / RESULTS, data)
    base = dataclasses.replace(config, train_songs_per_class=None, curve_songs_per_class=None)
    return run_curve(features, base, recorded, out, overwrite=overwrite, progress=progress, say=say,
                     extra={"rerun_of": str(run), **(extra or {})})


def compare_runs(folders: list[Path], *, metric: str = "f1") -> str:
    """The paired comparison of finished runs of the same songs, trials and splits (each against the first), as
    markdown (the table of ``demo --compare-separators``).

    Raises:
      RunFolderError: a folder without a finished run, or runs that cannot be paired (naming why).
      ConfigError: fewer than two runs, or one named twice.
    """
    if len(folders) < 2:
        raise ConfigError("compare needs at least two run folders")
    names = [Path(folder).name or str(folder) for folder in folders]
    if len(set(names)) != len(names):
        names = [str(folder) for folder in folders]
    if len(set(names)) != len(names):
        raise ConfigError(f"a run folder named twice: {[str(f) for f in folders]}")
    runs = {name: load_results(Path(folder)) for name, folder in zip(names, folders)}
    models = check_paired(runs)
    return separator_comparison(runs, metric=metric, kind="run", models=models)
