"""The ``jaxsep`` command line: a thin typer layer over :mod:`jaxsep.experiment` and friends."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from .config import RunConfig, TrainConfig
from .errors import JaxsepError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Source-separated spectrogram stacks for genre "
                  "classification, with a vectorized JAX trial engine.")
console = Console(stderr=True)
out = Console()


def fail_cleanly(command):
    """Turns project errors into one clear line on stderr and exit status 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except JaxsepError as error:
            console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def parse_names(text: str) -> tuple[str, ...]:
    """``"a, b,c"`` → ``("a", "b", "c")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_filters(text: str) -> tuple[int, int]:
    try:
        values = tuple(int(v) for v in parse_names(text))
    except ValueError:
        raise JaxsepError(f"--filters must be two integers like 16,32, got {text!r}") from None
    if len(values) != 2:
        raise JaxsepError(f"--filters must be two integers like 16,32, got {text!r}")
    return values


Models = Annotated[str, typer.Option(help="Comma-separated models: full, novox, stems3, stems3_dw.")]
Trials = Annotated[int, typer.Option(help="Trials (random 80/20 splits); the paper ran 50.")]
Epochs = Annotated[int, typer.Option(help="Epochs per trial (paper: 6).")]
Seed = Annotated[int, typer.Option(help="Trial t uses seed + t for its split, init, shuffling and dropout.")]
BatchSize = Annotated[int, typer.Option(help="Clips per training step.")]
Filters = Annotated[str, typer.Option(help="Filters of the two conv blocks.")]
SelectOn = Annotated[str, typer.Option(help="Pick each trial's epoch on the 'test' (paper) or 'validation' loss.")]
Strategy = Annotated[str, typer.Option(help="Engine lowering: auto, vmap or map (same numbers).")]
Chunk = Annotated[Optional[int], typer.Option(help="Trials per compiled call (default: from a memory estimate).")]
Overwrite = Annotated[bool, typer.Option(help="Replace an output folder that already holds a run.")]


def build_run_config(models, trials, epochs, seed, batch_size, filters, select_on, strategy, trials_per_chunk,
                     *, learning_rate=1e-3, kernel_size=3, l1=1e-4, l2=1e-4, dropout=0.5) -> RunConfig:
    """Maps CLI options onto :class:`RunConfig` (which validates them)."""
    train = TrainConfig(epochs=epochs, batch_size=batch_size, filters=parse_filters(filters), select_on=select_on,
                        learning_rate=learning_rate, kernel_size=kernel_size, l1=l1, l2=l2, dropout=dropout)
    return RunConfig(models=parse_names(models), trials=trials, seed=seed, train=train,
                     trials_per_chunk=trials_per_chunk, strategy=strategy)


@contextlib.contextmanager
def train_bars(config: RunConfig):
    """Rich progress bars, one per model; yields the ``progress(model, done, total)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {}

        def progress(model, done, total):
            if model not in tasks:
                tasks[model] = bar.add_task(model, total=total)
            bar.update(tasks[model], completed=done, total=total)

        yield progress


def run_and_write(features, config: RunConfig, out_dir: Path, *, overwrite: bool) -> dict:
    """Runs the experiment with progress bars, writes the run folder, prints Table 1; returns results."""
    from .experiment import run_experiment
    from .runfolder import check_out_dir, write_run

    check_out_dir(out_dir, overwrite=overwrite)
    console.print(f"training {', '.join(config.models)} over {config.trials} trials (each model compiles first)")
    with train_bars(config) as progress:
        results = run_experiment(features, config, progress=progress)
    write_run(out_dir, results, overwrite=overwrite)
    show_table(out_dir)
    return results


def show_table(run_dir: Path) -> None:
    out.print((run_dir / "table.md").read_text(), highlight=False, soft_wrap=True)
    out.print(f"Run folder: {run_dir} (results.json, table.md, table.csv, f1_distributions.png)", highlight=False)


@app.command()
@fail_cleanly
def run(
    features: Annotated[Path, typer.Argument(help="Feature file (.npz) from `jaxsep features`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")] = Path("runs/latest"),
    models: Models = "full,novox,stems3,stems3_dw",
    trials: Trials = 50,
    epochs: Epochs = 6,
    seed: Seed = 0,
    batch_size: BatchSize = 32,
    filters: Filters = "16,32",
    kernel_size: Annotated[int, typer.Option(help="Conv window side.")] = 3,
    learning_rate: Annotated[float, typer.Option(help="Adam step size.")] = 1e-3,
    l1: Annotated[float, typer.Option(help="L1 penalty on kernels.")] = 1e-4,
    l2: Annotated[float, typer.Option(help="L2 penalty on kernels.")] = 1e-4,
    dropout: Annotated[float, typer.Option(help="Dropout before the dense layer.")] = 0.5,
    select_on: SelectOn = "test",
    strategy: Strategy = "auto",
    trials_per_chunk: Chunk = None,
    classes: Annotated[Optional[str], typer.Option(help="Comma-separated classes to keep (default: all).")] = None,
    overwrite: Overwrite = False,
):
    """Train the models over many random splits and write Table 1, Figure 1 and p-values."""
    from .experiment import required_maps
    from .featurefile import load_features

    config = build_run_config(models, trials, epochs, seed, batch_size, filters, select_on, strategy,
                              trials_per_chunk, learning_rate=learning_rate, kernel_size=kernel_size, l1=l1, l2=l2,
                              dropout=dropout)
    loaded = load_features(features, required_maps(config.models))  # required_maps checks model names
    if classes:
        loaded = loaded.subset_classes(parse_names(classes))
    run_and_write(loaded, config, out_dir, overwrite=overwrite)


@app.command()
@fail_cleanly
def report(run_dir: Annotated[Path, typer.Argument(help="A run folder holding results.json.")]):
    """Rebuild table.md, table.csv and f1_distributions.png from a run's results.json."""
    from .runfolder import rebuild_report

    rebuild_report(run_dir)
    show_table(run_dir)


@app.command()
@fail_cleanly
def params(
    n_classes: Annotated[int, typer.Option(help="Classes of the dense layer.")] = 6,
    mels: Annotated[int, typer.Option(help="Mel bands of the input.")] = 128,
    frames: Annotated[int, typer.Option(help="Frames of the input.")] = 458,
    filters: Filters = "16,32",
    kernel_size: Annotated[int, typer.Option(help="Conv window side.")] = 3,
):
    """Print each model's parameter count, split by layer."""
    from .models import MODELS, parameter_table

    config = TrainConfig(filters=parse_filters(filters), kernel_size=kernel_size)
    for name in MODELS:
        rows = parameter_table(name, n_classes, (mels, frames), config)
        table = Table(title=f"{name}: {sum(r[3] for r in rows):,} parameters ({MODELS[name].description})")
        for column in ("layer", "parameter", "shape", "count"):
            table.add_column(column, justify="right" if column == "count" else "left")
        for layer, parameter, shape, count in rows:
            table.add_row(layer, parameter, str(shape), f"{count:,}")
        out.print(table)


# The other command groups live in their own modules and register themselves here (they import this one).
from . import cli_audio, cli_demo, cli_separation, cli_synth  # noqa: E402

for _module in (cli_audio, cli_separation, cli_synth, cli_demo):
    _module.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
