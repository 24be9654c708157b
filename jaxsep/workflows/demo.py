"""The main job on the built-in default: synthetic EDM set → separation → features → Table 1, Figure 1.

Also the paper's introductory experiment (binary tasks on class pairs) and the separator comparison.
Everything here orchestrates modules below it; the run folders are written atomically by
:mod:`jaxsep.results.run_folder`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..atomic import write_text_atomic
from ..audio.layouts import discover
from ..audio.songs import Progress
from ..cache import Cache
from ..config import RunConfig
from ..constants import SEGMENT_SECONDS, SYNTH_MAX_SECONDS
from ..errors import ConfigError
from ..features.extract import FeatureOptions, featurize
from ..features.file import FeatureSet, load_features
from ..results.run_folder import COMPARISON, PAIRS, check_out_dir
from ..results.separators import separator_comparison
from ..results.tables import table_rows
from .runs import Job, run_into_folder, run_into_folders
from ..separation import default_separator_name
from ..separation.stems import GIVEN, open_separator

#: Trials `jaxsep demo` runs by default: past ~20 the corrected standard error hardly shrinks (it tends to
#: s·sqrt(n_test/n_train)); `make demo` then fits its time budget (measured: README). The paper ran 50.
DEMO_TRIALS = 20
#: The synthetic set's difficulty in the demo (:mod:`jaxsep.synth.plan`), calibrated from the baseline alone
#: (benchmarks/RESULTS.md, "Calibrating the demo").
DEMO_DIFFICULTY = 0.0
#: Segments per song in the demo (1: the paper's protocol).
DEMO_SEGMENTS = 1
#: Cached synthetic sets are keyed by this version, so a changed generator never reuses old audio.
SYNTH_VERSION = 2


@dataclass(frozen=True)
class DemoData:
    """Where the demo's songs come from: a manifest/folder, and whether it was generated."""

    path: Path
    generated: bool


def demo_data(data: Path | None, *, cache: Cache, seed: int, difficulty: float = DEMO_DIFFICULTY,
              segments_per_song: int = DEMO_SEGMENTS, say: Callable[[str], None] = print) -> DemoData:
    """The user's ``data`` if given, else the paper-sized synthetic set for ``seed`` and ``difficulty``, its
    songs ``segments_per_song`` segments long (generated once into the cache folder and reused: it is a pure
    function of those)."""
    if data is not None:
        return DemoData(Path(data), generated=False)
    if not 1 <= segments_per_song <= MAX_SYNTH_SEGMENTS:
        raise ConfigError(f"--segments-per-song must be 1 to {MAX_SYNTH_SEGMENTS} for the synthetic set (songs of "
                          f"at most {MAX_SYNTH_SEGMENTS * SEGMENT_SECONDS:.0f} s), got {segments_per_song}")
    from ..synth import (
        generate_dataset,  # on use: only the default data needs the generator
    )

    folder = cache.root / "synth" / f"v{SYNTH_VERSION}-seed{seed}-difficulty{difficulty:g}-x{segments_per_song}"
    manifest = folder / "manifest.csv"
    if manifest.exists():
        say(f"synthetic set (seed {seed}, difficulty {difficulty:g}) from the cache: {folder}")
    else:
        say(f"rendering the synthetic EDM set (66 songs, 6 genres, seed {seed}, difficulty {difficulty:g}) into "
            f"{folder} ...")
        # A folder without a manifest is a killed rendering of this set; it lies in the cache, so it is jaxsep's own.
        shutil.rmtree(folder, ignore_errors=True)
        manifest = generate_dataset(folder, seed=seed, difficulty=difficulty,
                                    seconds=segments_per_song * SEGMENT_SECONDS)
    return DemoData(manifest, generated=True)


#: The most segments per song of the generated set (its songs are at most SYNTH_MAX_SECONDS long).
MAX_SYNTH_SEGMENTS = int(SYNTH_MAX_SECONDS // SEGMENT_SECONDS)


def separator_choices(compare: bool, separator: str | None, model_repo: Path | None) -> list[str]:
    """The separators to run: the chosen one (default ``dsp``), or for a comparison ``given`` (true stems),
    ``dsp`` and ``demucs`` when its weights are found."""
    if not compare:
        return [separator or "dsp"]
    return [GIVEN, "dsp"] + (["demucs"] if default_separator_name(model_repo) == "demucs" else [])


def build_features(
    data: Path,
    separator: str,
    *,
    cache: Cache,
    out: Path,
    model_repo: Path | None = None,
    progress: Progress | None = None,
    strict: bool = False,
    segments_per_song: int = 1,
    say: Callable[[str], None] = print,
) -> tuple[FeatureSet, list]:
    """Discovers the songs under ``data``, separates them with ``separator`` and writes ``out``.

    Returns:
      the loaded feature set and the list of skipped-file problems.
    """
    songs, problems = discover(data, say=say)
    if not songs:
        raise ConfigError(f"{data}: no songs found")
    chosen = open_separator(separator, model_repo=model_repo)
    options = FeatureOptions(strict=strict, segments_per_song=segments_per_song)
    run = featurize(songs, out=out, separator=chosen, cache=cache, options=options, problems=problems,
                    progress=progress)
    return load_features(run.path), run.problems


def run_demo(
    out: Path,
    config: RunConfig,
    *,
    data: Path | None,
    cache: Cache,
    separator: str | None = None,
    compare_separators: bool = False,
    model_repo: Path | None = None,
    overwrite: bool = False,
    resume: bool = False,
    difficulty: float = DEMO_DIFFICULTY,
    segments_per_song: int = DEMO_SEGMENTS,
    say: Callable[[str], None] = print,
    feature_progress: Callable[[str], Progress] | None = None,
    train_progress: Callable[[str, int, int], None] | None = None,
    extra: dict | None = None,
) -> dict[str, dict]:
    """Runs the whole job and writes ``out`` atomically (``difficulty`` shapes the synthetic set when no
    ``data`` is given; ``segments_per_song`` segments are taken from every song; ``extra`` is added to the
    results).

    With one separator ``out`` is an ordinary run folder, trained unit by unit so that a killed demo continues
    where it stopped (:mod:`jaxsep.workflows.runs`); with ``compare_separators`` it holds one run folder per separator and
    ``comparison.md``, and a killed comparison keeps its finished separators (:func:`jaxsep.workflows.runs.run_into_folders`).
    ``overwrite`` starts afresh, unless ``resume`` and an unfinished demo of the same configuration waits: that
    one is continued (what ``make demo`` asks for).

    Returns:
      ``{separator: results}``.
    """
    check_out_dir(out, overwrite=overwrite)
    cache.ensure_folder()
    source = demo_data(data, cache=cache, seed=config.seed, difficulty=difficulty,
                       segments_per_song=segments_per_song, say=say)
    names = separator_choices(compare_separators, separator, model_repo)
    feature_sets = {}
    for name in names:
        say(f"features with separator '{name}' ...")
        features, problems = build_features(
            source.path, name, cache=cache,
            out=cache.root / "features" / f"{_slug(source.path)}-{name}-x{segments_per_song}.npz",
            model_repo=model_repo, progress=None if feature_progress is None else feature_progress(name),
            segments_per_song=segments_per_song, say=say)
        for problem in problems:
            say(f"  skipped {problem.file}: {problem.problem}")
        feature_sets[name] = features
    origin = {"data": str(source.path), "generated": source.generated}

    def announce(name: str, features: FeatureSet) -> None:
        say(f"training {', '.join(config.models)} over {config.trials} trials on '{name}' stems "
            f"({features.n_songs} songs, {features.n_classes} classes) ...")

    if not compare_separators:
        name, features = next(iter(feature_sets.items()))
        announce(name, features)
        return {name: run_into_folder(features, config, out, overwrite=overwrite, resume=resume,
                                      progress=train_progress, say=say,
                                      extra={"demo": origin | {"separator": name}, **(extra or {})})}
    for name, features in feature_sets.items():
        announce(name, features)

    def comparison(folder: Path, runs: dict[str, dict]) -> None:
        write_text_atomic(folder / COMPARISON, "Separators compared (`given` = the true stems); each separator's "
                          "folder holds its Table 1.\n\n" + separator_comparison(runs))

    jobs = [Job(name, features, config, {"demo": origin | {"separator": name}, **(extra or {})})
            for name, features in feature_sets.items()]
    return run_into_folders(jobs, out, summary=comparison, overwrite=overwrite, resume=resume,
                            progress=train_progress, say=say)


def run_pairs(
    features: FeatureSet,
    pairs: Sequence[tuple[str, str]],
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    train_progress: Callable[[str, int, int], None] | None = None,
    say: Callable[[str], None] = print,
) -> dict[str, dict]:
    """The paper's introductory experiment: one binary task per class pair, same trial protocol.

    Writes ``out/<a>-vs-<b>/`` run folders and ``out/pairs.md``; returns ``{"a-vs-b": results}``. A killed
    command, run again, keeps the finished pairs (:func:`jaxsep.workflows.runs.run_into_folders`).

    Raises:
      ConfigError, FeatureFileError, RunFolderError: a bad pair, class or output folder, before any pair trains;
        or an unfinished set of pairs of another configuration, feature file or list of pairs.
      RunInterrupted: SIGTERM or SIGINT; what finished is kept.
    """
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ConfigError(f"a pair names two different classes, got {list(pair)}")
    config = dataclasses.replace(config, baseline=config.models[0])
    jobs = [Job(f"{a}-vs-{b}", features.subset_classes((a, b)), config) for a, b in pairs]

    def summary(folder: Path, runs: dict[str, dict]) -> None:
        write_text_atomic(folder / PAIRS, pairs_markdown(runs))

    return run_into_folders(jobs, out, summary=summary, overwrite=overwrite, progress=train_progress,
                            say=say)


def pairs_markdown(runs: dict[str, dict]) -> str:
    """Mean accuracy and F1 (± sd) per pair and model."""
    lines = ["| pair | model | songs | accuracy (± sd) | F1 (± sd) |", "|---|---|---|---|---|"]
    for name, results in runs.items():
        for row in table_rows(results):
            lines.append(f"| {name} | {row['model']} | {results['data']['songs']} "
                         f"| {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} "
                         f"| {row['f1_mean']:.3f} ± {row['f1_std']:.3f} |")
    return "\n".join(lines) + "\n"


def _slug(path: Path) -> str:
    """A short, file-name-safe tag for a data path (its resolved path's hash)."""
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:12]
