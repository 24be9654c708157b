"""``jaxsep run`` (the paper's protocol on a feature file), ``jaxsep report`` and ``jaxsep params``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..config import TRIALS_PER_UNIT, RunConfig, TrainConfig
from ..constants import N_FRAMES, N_MELS, PAPER_CLASSES
from ..errors import ConfigError
from .common import (
    L1,
    L2,
    RUN,
    TRAIN,
    BatchSize,
    Chunk,
    Concurrent,
    Dropout,
    Epochs,
    Filters,
    KernelSize,
    LearningRate,
    Models,
    Overwrite,
    Precision,
    SaveModels,
    Seed,
    SelectOn,
    Strategy,
    Trials,
    TrialsPerUnit,
    build_run_config,
    console,
    fail_cleanly,
    join,
    out,
    parse_filters,
    parse_names,
    parse_numbers,
    say,
    show_run,
    train_bars,
)


def run(
    features: Annotated[Path, typer.Argument(help="Feature file (.npz) from `jaxsep features`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")] = Path("runs/latest"),
    models: Models = join(RUN.models),
    trials: Trials = RUN.trials,
    epochs: Epochs = TRAIN.epochs,
    seed: Seed = RUN.seed,
    batch_size: BatchSize = TRAIN.batch_size,
    filters: Filters = join(TRAIN.filters),
    kernel_size: KernelSize = TRAIN.kernel_size,
    learning_rate: LearningRate = TRAIN.learning_rate,
    l1: L1 = TRAIN.l1,
    l2: L2 = TRAIN.l2,
    dropout: Dropout = TRAIN.dropout,
    select_on: SelectOn = TRAIN.select_on,
    precision: Precision = TRAIN.precision,
    strategy: Strategy = RUN.strategy,
    trials_per_chunk: Chunk = RUN.trials_per_chunk,
    concurrent_trials: Concurrent = RUN.concurrent_trials,
    classes: Annotated[Optional[str], typer.Option(help="Comma-separated classes to keep (default: all).")] = None,
    rope: Annotated[float, typer.Option(help="Half-width of the region of practical equivalence of the Bayesian "
                                             "comparison.")] = RUN.rope,
    reference: Annotated[bool, typer.Option(help="Also score the logistic-regression reference row.")] = RUN.reference,
    save_models: SaveModels = False,
    trials_per_unit: TrialsPerUnit = TRIALS_PER_UNIT,
    coordinator: Annotated[Optional[str], typer.Option(help="HOST:PORT of process 0, to share the trials over "
                                                           "several processes (jax.distributed).")] = None,
    num_processes: Annotated[Optional[int], typer.Option(help="How many processes share the trials.")] = None,
    process_id: Annotated[Optional[int], typer.Option(help="This process's number, 0 to num-processes − 1; "
                                                          "process 0 writes the run folder.")] = None,
    overwrite: Overwrite = False,
):
    """Train the models over many random splits and write Table 1, the figures and report.html. A killed run
    keeps its finished trials; the same command continues it. With --coordinator (or under SLURM / Open MPI)
    several processes share the trials."""
    from ..features.file import load_features
    from ..nn.models import required_maps
    from ..workflows.runs import run_into_folder
    from ..training import distributed

    joined = distributed.initialize(coordinator, num_processes, process_id)
    if joined is not None:
        say(f"jax.distributed: {joined}")

    config = build_run_config(models=models, trials=trials, seed=seed, strategy=strategy,
                              trials_per_chunk=trials_per_chunk, concurrent_trials=concurrent_trials, filters=filters,
                              epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                              kernel_size=kernel_size, l1=l1, l2=l2, dropout=dropout, select_on=select_on,
                              precision=precision, rope=rope, reference=reference)
    loaded = load_features(features, required_maps(config.models))  # required_maps checks model names
    if classes:
        loaded = loaded.subset_classes(parse_names(classes))
    if config.baseline not in config.models:
        say(f"note: the baseline {config.baseline!r} is not among --models: Table 1 will compare no model against it")
    console.print(f"training {', '.join(config.models)} over {config.trials} trials (each model compiles first)")
    with train_bars() as progress:
        run_into_folder(loaded, config, out_dir, overwrite=overwrite, save_models=save_models,
                        trials_per_unit=trials_per_unit, progress=progress, say=say)
    if distributed.is_writer():
        show_run(out_dir)
    else:
        say(f"done: process 0 writes {out_dir}")


def report(run_dir: Annotated[Path, typer.Argument(help="A run folder holding results.json.")]):
    """Rebuild the tables, figures and report.html of a run folder from its results.json (any version)."""
    from ..results.run_folder import rebuild_report

    rebuild_report(run_dir)
    show_run(run_dir)


def params(
    n_classes: Annotated[int, typer.Option(help="Classes of the dense layer.")] = PAPER_CLASSES,
    mels: Annotated[int, typer.Option(help="Mel bands of the input.")] = N_MELS,
    frames: Annotated[int, typer.Option(help="Frames of the input.")] = N_FRAMES,
    filters: Filters = join(TRAIN.filters),
    kernel_size: KernelSize = TRAIN.kernel_size,
):
    """Print each model's parameter count, split by layer."""
    from ..features.file import MIN_MAP_SIZE
    from ..nn.models import MODELS, parameter_table

    if n_classes < 2:
        raise ConfigError(f"--n-classes must be >= 2, got {n_classes}")
    if min(mels, frames) < MIN_MAP_SIZE:
        raise ConfigError(f"--mels and --frames must be >= {MIN_MAP_SIZE} (the models' two 2x2 pools), got "
                          f"{mels} and {frames}")

    config = TrainConfig(filters=parse_filters(filters), kernel_size=kernel_size)
    for name in MODELS:
        rows = parameter_table(name, n_classes, (mels, frames), config)
        table = Table(title=f"{name}: {sum(r[3] for r in rows):,} parameters ({MODELS[name].description})")
        for column in ("layer", "parameter", "shape", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for layer, parameter, shape, count in rows:
            table.add_row(layer, parameter, str(shape), f"{count:,}")
        out.print(table)


def sweep(
    features: Annotated[Path, typer.Argument(help="Feature file (.npz) from `jaxsep features`.")],
    model: Annotated[str, typer.Option(help="The model to sweep.")] = "stems3",
    learning_rate: Annotated[str, typer.Option(help="Comma-separated Adam step sizes.")] = "1e-4,3e-4,1e-3",
    batch_size: Annotated[str, typer.Option(help="Comma-separated batch sizes.")] = "8,16,32",
    l1: Annotated[str, typer.Option(help="Comma-separated L1 penalties.")] = str(TRAIN.l1),
    l2: Annotated[str, typer.Option(help="Comma-separated L2 penalties.")] = str(TRAIN.l2),
    dropout: Annotated[str, typer.Option(help="Comma-separated dropout rates.")] = str(TRAIN.dropout),
    trials: Annotated[int, typer.Option(help="Trials per combination (the same splits in each).")] = 10,
    epochs: Epochs = TRAIN.epochs,
    seed: Seed = RUN.seed,
    filters: Filters = join(TRAIN.filters),
    precision: Precision = TRAIN.precision,
    strategy: Strategy = RUN.strategy,
    classes: Annotated[Optional[str], typer.Option(help="Comma-separated classes to keep (default: all).")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="JSON file to write (a .md table is written beside "
                                                        "it).")] = Path("sweep.json"),
):
    """Train one model with every combination of the given hyperparameters, the scalars vmapped with the
    trials, and print mean accuracy by epoch and the stability of each combination."""
    from ..atomic import write_text_atomic
    from ..features.file import load_features
    from ..nn.models import get_spec
    from ..results.sweeps import sweep_markdown
    from ..training.sweep import SweepGrid, run_sweep

    grid = SweepGrid(batch_size=tuple(int(v) for v in parse_numbers(batch_size)),
                     learning_rate=parse_numbers(learning_rate), l1=parse_numbers(l1), l2=parse_numbers(l2),
                     dropout=parse_numbers(dropout))
    for point in grid.scalar_points():  # validates every combination before any training
        TrainConfig(**point)
    for size in grid.batch_size:
        TrainConfig(batch_size=size)
    RunConfig(models=(model,), trials=trials, seed=seed)  # trials and seed checked as a run checks them
    for path in (out_file, out_file.with_suffix(".md")):
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder; --out names the JSON file to write (its .md table goes beside "
                              "it)")
    loaded = load_features(features, get_spec(model).maps)
    if classes:
        loaded = loaded.subset_classes(parse_names(classes))
    config = TrainConfig(epochs=epochs, filters=parse_filters(filters), precision=precision)
    console.print(f"sweeping {model}: {len(grid.scalar_points()) * len(grid.batch_size)} combinations × {trials} "
                  "trials")
    with train_bars() as progress:
        result = run_sweep(loaded, model, grid, config, trials=trials, seed=seed, strategy=strategy,
                           progress=progress)
    table = sweep_markdown(result)
    out.print(table, highlight=False, soft_wrap=True)
    write_text_atomic(out_file, json.dumps(result, indent=1))
    write_text_atomic(out_file.with_suffix(".md"), table)
    out.print(f"Wrote {out_file} and {out_file.with_suffix('.md')}", highlight=False)


def show(
    features: Annotated[Path, typer.Argument(help="Feature file (.npz) holding mix, bass, drums and other maps.")],
    songs: Annotated[Optional[str], typer.Option(help="Comma-separated song ids (default: the first song of each "
                                                      "class, at most 6).")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="PNG file to write.")] = Path("feature_stacks.png"),
):
    """Draw the feature stacks: each song's bass, drums and other maps as the R, G, B channels of one image,
    beside its mix."""
    from ..atomic import atomic_path
    from ..errors import FeatureFileError
    from ..features.file import load_features
    from ..results.figures import STACK_MAPS, plot_feature_stacks

    loaded = load_features(features, ("mix", *STACK_MAPS))
    chosen = None
    if songs is not None:
        if not parse_names(songs):
            raise ConfigError(f"--songs {songs!r} names no song")
        unknown = [s for s in parse_names(songs) if s not in loaded.song_ids]
        if unknown:
            raise FeatureFileError(features, f"no song(s) {unknown}; ids look like {list(loaded.song_ids[:3])}")
        chosen = [loaded.song_ids.index(s) for s in parse_names(songs)]
    axes = plot_feature_stacks(loaded, chosen)
    figure = axes[0, 0].figure
    figure.tight_layout()
    with atomic_path(out_file, suffix=".tmp.png") as temporary:
        figure.savefig(temporary, dpi=120, format="png")
    out.print(f"Wrote {out_file}", highlight=False)


def register(app: typer.Typer) -> None:
    """Adds ``run``, ``report``, ``sweep``, ``show`` and ``params`` to ``app``."""
    for command in (run, report, sweep, show, params):
        app.command()(fail_cleanly(command))
