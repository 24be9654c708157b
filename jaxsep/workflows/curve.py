"""The data-size curve: the same models and test songs, trained on more and more songs per class.

The paper's claim is about *limited* data, so the question is how the stems-against-baseline difference changes
with the number of training songs. For each trial the curve keeps one stratified test split — every song of a
class beyond the largest size (all but one, for a class with fewer) — and trains each size on the first ``k``
songs per class of that trial's random order of the rest (:func:`jaxsep.training.splits.curve_split`), so a
trial's training songs grow by inclusion. Each size is an ordinary run folder ``size-KKK/`` (Table 1, figures)
inside the curve folder, trained unit by unit, so a killed curve continues where it stopped and several
processes share the trials (:func:`jaxsep.workflows.runs.run_into_folders`); ``curve.md``, ``curve.json``,
``curve.png`` and ``report.html`` read the sizes side by side (:mod:`jaxsep.results.curve`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Sequence

from ..atomic import write_text_atomic
from ..config import TRIALS_PER_UNIT, RunConfig
from ..constants import MAP_JOIN
from ..errors import ConfigError
from ..features.file import FeatureSet
from ..nn.models import get_spec
from ..results.curve import CURVE, CURVE_FIGURE, CURVE_JSON, curve_markdown, curve_rows, plot_curve
from ..results.html import curve_report_html
from ..results.run_folder import REPORT, json_safe, save_figure
from .runs import Job, run_into_folders


def size_name(songs_per_class: int) -> str:
    """The sub-folder of one size: ``size-005``."""
    return f"size-{songs_per_class:03d}"


def curve_config(config: RunConfig, songs_per_class: int, largest: int) -> RunConfig:
    """``config`` at one size of a curve whose largest size is ``largest``; the reference rows read the models'
    map sets (so the reference asks the stems question at every size too).

    Raises:
      ConfigError: a model name that describes no model, or sizes out of order.
    """
    maps = tuple(dict.fromkeys(MAP_JOIN.join(get_spec(name).maps) for name in config.models))
    references = tuple(dict.fromkeys((*config.reference_maps, *maps)))
    return dataclasses.replace(config, train_songs_per_class=songs_per_class, curve_songs_per_class=largest,
                               reference_maps=references)


def check_sizes(sizes: Sequence[int], features: FeatureSet | None = None) -> tuple[int, ...]:
    """``sizes`` sorted, checked against the songs of ``features``' smallest class: every class must keep at least
    one test song beyond the largest size, else larger sizes would train on the same songs as smaller ones.

    Raises:
      ConfigError: no size, one below 1 or given twice, or a largest size the smallest class cannot give.
    """
    if not sizes:
        raise ConfigError("a curve needs at least one size (--songs-per-class 5,10,20)")
    if min(sizes) < 1 or len(set(sizes)) != len(sizes):
        raise ConfigError(f"--songs-per-class takes distinct sizes >= 1, got {list(sizes)}")
    if features is not None:
        counts = features.class_counts()
        smallest = int(counts.argmin())
        if max(sizes) >= counts[smallest]:
            raise ConfigError(f"the largest size, {max(sizes)} training songs per class, leaves class "
                              f"{features.classes[smallest]!r} ({counts[smallest]} songs) no test song: choose "
                              f"sizes up to {counts[smallest] - 1}")
    return tuple(sorted(sizes))


def write_curve(folder: Path, runs: dict[str, dict], *, name: str | None = None) -> list[dict]:
    """Writes ``curve.md``, ``curve.json``, ``curve.png`` and ``report.html`` of the sizes' ``runs`` into
    ``folder``; returns the curve's rows."""
    rows = curve_rows(runs)
    write_text_atomic(folder / CURVE, curve_markdown(rows))
    write_text_atomic(folder / CURVE_JSON, json.dumps(json_safe(rows), indent=1))
    save_figure(plot_curve(rows), folder / CURVE_FIGURE)
    write_text_atomic(folder / REPORT, curve_report_html(folder, runs, name=name or folder.name))
    return rows


def run_curve(
    features: FeatureSet,
    config: RunConfig,
    sizes: Sequence[int],
    out: Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    trials_per_unit: int = TRIALS_PER_UNIT,
    progress: Callable[[str, int, int], None] | None = None,
    say: Callable[[str], None] = print,
    extra: dict | None = None,
) -> dict[str, dict]:
    """Runs every size of the curve into ``out/size-KKK/`` and writes the curve's summary files (``extra`` is added
    to every size's results).

    Returns:
      ``{size folder name: results}``.

    Raises:
      ConfigError, FeatureFileError, RunFolderError: bad sizes (:func:`check_sizes`), a baseline not among the
        models, a validation part, bad models, data or output folder, before any trial trains; an unfinished curve
        of other sizes or configuration beside ``out``.
      RunInterrupted: SIGTERM or SIGINT; what finished is kept.
    """
    sizes = check_sizes(sizes, features)
    if config.baseline not in config.models:
        raise ConfigError(f"the baseline {config.baseline!r} is not among the curve's models {list(config.models)}: "
                          "name it in --models or choose one with --baseline")
    if config.train.uses_validation:
        raise ConfigError("a curve chooses each trial's epoch on the test loss or reports the last epoch: "
                          "--select-on validation would carve each size's validation songs from different "
                          "training songs (not nested); not supported")
    largest = sizes[-1]
    jobs = [Job(size_name(k), features, curve_config(config, k, largest),
                {"curve": {"sizes": list(sizes)}, **(extra or {})}) for k in sizes]
    say(f"curve: {', '.join(config.models)} at {', '.join(map(str, sizes))} training songs per class, "
        f"{config.trials} trials each, the same test songs at every size")

    def summary(folder: Path, runs: dict[str, dict]) -> None:
        write_curve(folder, runs, name=Path(out).name)

    return run_into_folders(jobs, out, summary=summary, overwrite=overwrite, resume=resume,
                            trials_per_unit=trials_per_unit, progress=progress, say=say)
