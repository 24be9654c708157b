"""``jaxsep run`` (the paper's protocol on a feature file), ``jaxsep report`` and ``jaxsep params``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..config import RunConfig, TrainConfig
from ..constants import N_FRAMES, N_MELS, PAPER_CLASSES
from ..errors import ConfigError
from .common import (
    L1,
    L2,
    RECIPE,
    RUN,
    TRAIN,
    TRAINING,
    Baseline,
    Chunk,
    ConfigFile,
    Dropout,
    Epochs,
    Filters,
    GroupByOption,
    KernelSize,
    Models,
    Precision,
    ReferenceMaps,
    Rope,
    RunClasses,
    SaveModels,
    Seed,
    Strategy,
    Trials,
    command_config,
    command_line,
    console,
    fail_cleanly,
    finished,
    join,
    load_run_features,
    out,
    parse_filters,
    parse_names,
    parse_numbers,
    say,
    show_run,
    start_run,
    train_bars,
    with_options,
)


@with_options(RECIPE, TRAINING)
def run(
    ctx: typer.Context,
    features: Annotated[Path, typer.Argument(help="Feature file (.npz) from `jaxsep features`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")] = Path("runs/latest"),
    models: Models = join(RUN.models),
    trials: Trials = RUN.trials,
    baseline: Baseline = RUN.baseline,
    kernel_size: KernelSize = TRAIN.kernel_size,
    l1: L1 = TRAIN.l1,
    l2: L2 = TRAIN.l2,
    dropout: Dropout = TRAIN.dropout,
    trials_per_chunk: Chunk = RUN.trials_per_chunk,
    rope: Rope = RUN.rope,
    reference_maps: ReferenceMaps = join(RUN.reference_maps),
    group_by: GroupByOption = None,
    save_models: SaveModels = False,
    options: dict | None = None,
):
    """Train the models over many random splits and write Table 1, the figures and report.html. A killed run
    keeps its finished trials; the same command continues it. With --coordinator (or under SLURM / Open MPI)
    several processes share the trials."""
    from ..workflows.runs import run_into_folder

    config, loaded = start_run(ctx, options, features, models=models, trials=trials,
                               trials_per_chunk=trials_per_chunk, kernel_size=kernel_size, l1=l1, l2=l2,
                               dropout=dropout, rope=rope, baseline=baseline, reference_maps=reference_maps,
                               group_by=group_by)
    if config.baseline not in config.models:
        say(f"note: the baseline {config.baseline!r} is not among --models: Table 1 will compare no model against it")
    console.print(f"training {', '.join(config.models)} over {config.trials} trials (each model compiles first)")
    with train_bars() as progress:
        run_into_folder(loaded, config, out_dir, overwrite=options["overwrite"], save_models=save_models,
                        trials_per_unit=options["trials_per_unit"], progress=progress, say=say,
                        extra={"command": command_line(ctx)})
    finished(out_dir, show_run)


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
    models: Models = join(RUN.models),
):
    """Print each model's parameter count, split by layer."""
    from ..features.file import MIN_MAP_SIZE
    from ..nn.models import get_spec, parameter_table

    if n_classes < 2:
        raise ConfigError(f"--n-classes must be >= 2, got {n_classes}")
    if min(mels, frames) < MIN_MAP_SIZE:
        raise ConfigError(f"--mels and --frames must be >= {MIN_MAP_SIZE} (the models' two 2x2 pools), got "
                          f"{mels} and {frames}")

    config = TrainConfig(filters=parse_filters(filters), kernel_size=kernel_size)
    for name in parse_names(models):
        rows = parameter_table(name, n_classes, (mels, frames), config)
        table = Table(title=f"{name}: {sum(r[3] for r in rows):,} parameters ({get_spec(name).description})")
        for column in ("layer", "parameter", "shape", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for layer, parameter, shape, count in rows:
            table.add_row(layer, parameter, str(shape), f"{count:,}")
        out.print(table)


def sweep(
    ctx: typer.Context,
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
    classes: RunClasses = None,
    config_file: ConfigFile = None,
    out_file: Annotated[Path, typer.Option("--out", help="JSON file to write (a .md table is written beside "
                                                        "it).")] = Path("sweep.json"),
):
    """Train one model with every combination of the given hyperparameters, the scalars vmapped with the
    trials, and print mean accuracy by epoch and the stability of each combination. With --config, the file's
    trials, seed, strategy and [train] fields apply (the grid's options replace its learning rate, batch size and
    penalties)."""
    from ..atomic import write_text_atomic
    from ..results.sweeps import sweep_markdown
    from ..training.sweep import SweepGrid, run_sweep

    grid = SweepGrid(batch_size=tuple(int(v) for v in parse_numbers(batch_size)),
                     learning_rate=parse_numbers(learning_rate), l1=parse_numbers(l1), l2=parse_numbers(l2),
                     dropout=parse_numbers(dropout))
    for point in grid.scalar_points():  # validates every combination before any training
        TrainConfig(**point)
    for size in grid.batch_size:
        TrainConfig(batch_size=size)
    base = RunConfig(models=(model,), trials=trials, seed=seed, strategy=strategy,  # checked as a run checks them
                     train=TrainConfig(epochs=epochs, filters=parse_filters(filters), precision=precision))
    run = command_config(ctx, config_file, base)
    for path in (out_file, out_file.with_suffix(".md")):
        if path.is_dir():
            raise ConfigError(f"{path}: is a folder; --out names the JSON file to write (its .md table goes beside "
                              "it)")
    loaded = load_run_features(features, base, classes)  # base: a --config file may name other models
    console.print(f"sweeping {model}: {len(grid.scalar_points()) * len(grid.batch_size)} combinations × "
                  f"{run.trials} trials")
    with train_bars() as progress:
        result = run_sweep(loaded, model, grid, run.train, trials=run.trials, seed=run.seed, strategy=run.strategy,
                           progress=progress)
    result["command"] = command_line(ctx)
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
