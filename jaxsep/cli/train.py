"""``jaxsep run`` (the paper's protocol on a feature file), ``jaxsep report`` and ``jaxsep params``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..config import TrainConfig
from .common import (
    L1,
    L2,
    RUN,
    TRAIN,
    BatchSize,
    Chunk,
    Dropout,
    Epochs,
    Filters,
    KernelSize,
    LearningRate,
    Models,
    Overwrite,
    Seed,
    SelectOn,
    Strategy,
    Trials,
    build_run_config,
    console,
    fail_cleanly,
    join,
    out,
    parse_filters,
    parse_names,
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
    strategy: Strategy = RUN.strategy,
    trials_per_chunk: Chunk = RUN.trials_per_chunk,
    classes: Annotated[Optional[str], typer.Option(help="Comma-separated classes to keep (default: all).")] = None,
    overwrite: Overwrite = False,
):
    """Train the models over many random splits and write Table 1, Figure 1 and p-values."""
    from ..features.file import load_features
    from ..nn.models import required_maps
    from ..results.run_folder import check_out_dir, write_run
    from ..training.experiment import run_experiment

    config = build_run_config(models=models, trials=trials, seed=seed, strategy=strategy,
                              trials_per_chunk=trials_per_chunk, filters=filters, epochs=epochs,
                              batch_size=batch_size, learning_rate=learning_rate, kernel_size=kernel_size, l1=l1,
                              l2=l2, dropout=dropout, select_on=select_on)
    loaded = load_features(features, required_maps(config.models))  # required_maps checks model names
    if classes:
        loaded = loaded.subset_classes(parse_names(classes))
    check_out_dir(out_dir, overwrite=overwrite)
    console.print(f"training {', '.join(config.models)} over {config.trials} trials (each model compiles first)")
    with train_bars() as progress:
        results = run_experiment(loaded, config, progress=progress)
    write_run(out_dir, results, overwrite=overwrite)
    show_run(out_dir)


def report(run_dir: Annotated[Path, typer.Argument(help="A run folder holding results.json.")]):
    """Rebuild table.md, table.csv and f1_distributions.png from a run's results.json."""
    from ..results.run_folder import rebuild_report

    rebuild_report(run_dir)
    show_run(run_dir)


def params(
    n_classes: Annotated[int, typer.Option(help="Classes of the dense layer.")] = 6,
    mels: Annotated[int, typer.Option(help="Mel bands of the input.")] = 128,
    frames: Annotated[int, typer.Option(help="Frames of the input.")] = 458,
    filters: Filters = join(TRAIN.filters),
    kernel_size: KernelSize = TRAIN.kernel_size,
):
    """Print each model's parameter count, split by layer."""
    from ..nn.models import MODELS, parameter_table

    config = TrainConfig(filters=parse_filters(filters), kernel_size=kernel_size)
    for name in MODELS:
        rows = parameter_table(name, n_classes, (mels, frames), config)
        table = Table(title=f"{name}: {sum(r[3] for r in rows):,} parameters ({MODELS[name].description})")
        for column in ("layer", "parameter", "shape", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for layer, parameter, shape, count in rows:
            table.add_row(layer, parameter, str(shape), f"{count:,}")
        out.print(table)


def register(app: typer.Typer) -> None:
    """Adds ``run``, ``report`` and ``params`` to ``app``."""
    for command in (run, report, params):
        app.command()(fail_cleanly(command))
