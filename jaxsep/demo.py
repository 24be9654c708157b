"""The main job on the built-in default: synthetic EDM set → separation → features → Table 1, Figure 1.

Also the paper's introductory experiment (binary tasks on class pairs) and the separator comparison.
Everything here orchestrates modules below it; the run folders are written atomically by
:mod:`jaxsep.results.run_folder`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .audio.layouts import discover
from .audio.songs import Progress
from .cache import Cache
from .config import RunConfig
from .errors import ConfigError
from .features.extract import FeatureOptions, featurize
from .features.file import FeatureSet, load_features
from .results.run_folder import staged_folder, write_run_files
from .results.tables import table_rows
from .separation import default_separator_name
from .separation.stems import GIVEN, open_separator
from .training.experiment import run_experiment

#: Trials `jaxsep demo` runs by default, sized so `make demo` fits a few minutes on a 2-core CPU (its measured
#: time is in the README). The paper ran 50 (`--trials 50`).
DEMO_TRIALS = 6
#: Cached synthetic sets are keyed by this version, so a changed generator never reuses old audio.
SYNTH_VERSION = 1


@dataclass(frozen=True)
class DemoData:
    """Where the demo's songs come from: a manifest/folder, and whether it was generated."""

    path: Path
    generated: bool


def demo_data(data: Path | None, *, cache: Cache, seed: int, say: Callable[[str], None] = print) -> DemoData:
    """The user's ``data`` if given, else the paper-sized synthetic set for ``seed`` (generated once into the
    cache folder and reused: it is a pure function of the seed)."""
    if data is not None:
        return DemoData(Path(data), generated=False)
    from .synth import (
        generate_dataset,  # on use: only the default data needs the generator
    )

    folder = cache.root / "synth" / f"v{SYNTH_VERSION}-seed{seed}"
    manifest = folder / "manifest.csv"
    if manifest.exists():
        say(f"synthetic set (seed {seed}) from the cache: {folder}")
    else:
        say(f"rendering the synthetic EDM set (66 songs, 6 genres, seed {seed}) into {folder} ...")
        manifest = generate_dataset(folder, seed=seed, overwrite=True)
    return DemoData(manifest, generated=True)


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
) -> tuple[FeatureSet, list]:
    """Discovers the songs under ``data``, separates them with ``separator`` and writes ``out``.

    Returns:
      the loaded feature set and the list of skipped-file problems.
    """
    songs, problems = discover(data)
    if not songs:
        raise ConfigError(f"{data}: no songs found")
    chosen = open_separator(separator, model_repo=model_repo)
    run = featurize(songs, out=out, separator=chosen, cache=cache, options=FeatureOptions(strict=strict),
                    problems=problems, progress=progress)
    return load_features(run.path), run.problems


def comparison_markdown(runs: dict[str, dict]) -> str:
    """Mean accuracy / F1 per model (rows) and separator (columns): how separation quality moves the result."""
    names = list(runs)
    models = list(next(iter(runs.values()))["models"])
    rows = {sep: {r["model"]: r for r in table_rows(results)} for sep, results in runs.items()}
    lines = ["| model | " + " | ".join(f"{n}: acc / F1" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for model in models:
        cells = [f"{rows[n][model]['accuracy_mean']:.3f} / {rows[n][model]['f1_mean']:.3f}" for n in names]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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
    say: Callable[[str], None] = print,
    feature_progress: Callable[[str], Progress] | None = None,
    train_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict]:
    """Runs the whole job and writes ``out`` atomically.

    With one separator ``out`` is an ordinary run folder; with ``compare_separators`` it holds one run
    folder per separator and ``comparison.md``.

    Returns:
      ``{separator: results}``.
    """
    with staged_folder(out, overwrite=overwrite) as staging:
        source = demo_data(data, cache=cache, seed=config.seed, say=say)
        runs = {}
        for name in separator_choices(compare_separators, separator, model_repo):
            say(f"features with separator '{name}' ...")
            features, problems = build_features(
                source.path, name, cache=cache, out=cache.root / "features" / f"{_slug(source.path)}-{name}.npz",
                model_repo=model_repo, progress=None if feature_progress is None else feature_progress(name))
            for problem in problems:
                say(f"  skipped {problem.file}: {problem.problem}")
            say(f"training {', '.join(config.models)} over {config.trials} trials ({features.n_songs} songs, "
                f"{features.n_classes} classes) ...")
            results = run_experiment(features, config, progress=train_progress)
            results["demo"] = {"data": str(source.path), "generated": source.generated, "separator": name}
            runs[name] = results
            write_run_files(staging / name if compare_separators else staging, results)
        if compare_separators:
            (staging / "comparison.md").write_text(
                f"Mean test accuracy / F1 over {config.trials} trials by separator (`given` = the true stems); "
                "each separator's folder holds its Table 1 with p-values.\n\n" + comparison_markdown(runs))
    return runs


def run_pairs(
    features: FeatureSet,
    pairs: Sequence[tuple[str, str]],
    config: RunConfig,
    out: Path,
    *,
    overwrite: bool = False,
    train_progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, dict]:
    """The paper's introductory experiment: one binary task per class pair, same trial protocol.

    Writes ``out/<a>-vs-<b>/`` run folders and ``out/pairs.md``; returns ``{"a-vs-b": results}``.
    """
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ConfigError(f"a pair names two different classes, got {list(pair)}")
    config = dataclasses.replace(config, baseline=config.models[0])
    runs = {}
    with staged_folder(out, overwrite=overwrite) as staging:
        for a, b in pairs:
            name = f"{a}-vs-{b}"
            results = run_experiment(features.subset_classes((a, b)), config, progress=train_progress)
            runs[name] = results
            write_run_files(staging / name, results)
        (staging / "pairs.md").write_text(pairs_markdown(runs))
    return runs


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
