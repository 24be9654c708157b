"""What every command group shares: the consoles, the one error-to-exit wrapper, option types and parsers.

Option defaults come from the configuration dataclasses (:class:`~jaxsep.config.TrainConfig`,
:class:`~jaxsep.config.RunConfig`), so the CLI never restates them. Help texts are sentences.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Annotated, Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..config import RunConfig, TrainConfig
from ..errors import JaxsepError, RunInterrupted
from .. import options

#: Progress, notes and errors (stderr); tables and results go to :data:`out` (stdout).
console = Console(stderr=True)
out = Console()

TRAIN = TrainConfig()
RUN = RunConfig()


def say(text: str, style: str | None = None) -> None:
    """One plain line on stderr (no markup, no wrapping: long paths stay whole and greppable)."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


def fail_cleanly(command: Callable) -> Callable:
    """Turns project errors into one clear line on stderr and exit status 1 (no traceback)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RunInterrupted as stop:  # what finished is kept; the usual exit status of a signalled program
            console.print(f"[yellow]interrupted:[/yellow] {escape(str(stop))}", highlight=False, soft_wrap=True)
            raise typer.Exit(128 + stop.signal_number) from None
        except JaxsepError as error:
            console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper


def parse_names(text: str | None) -> tuple[str, ...]:
    """``"a, b,c"`` → ``("a", "b", "c")``; ``None`` → ``()``."""
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def parse_repeated(values: list[str] | None) -> list[str] | None:
    """``--classes a,b --classes c`` → ``[a, b, c]``; ``None`` when the option was not given."""
    if not values:
        return None
    return [name for value in values for name in parse_names(value)]


def parse_numbers(text: str) -> tuple[float, ...]:
    """``"1e-4, 3e-4"`` → ``(0.0001, 0.0003)``; JaxsepError naming the text for anything else."""
    try:
        values = tuple(float(v) for v in parse_names(text))
    except ValueError:
        raise JaxsepError(f"expected comma-separated numbers like 1e-4,3e-4, got {text!r}") from None
    if not values:
        raise JaxsepError(f"expected at least one number, got {text!r}")
    return values


def parse_filters(text: str) -> tuple[int, int]:
    """``"16,32"`` → ``(16, 32)``; JaxsepError for anything but two integers."""
    try:
        values = tuple(int(v) for v in parse_names(text))
    except ValueError:
        raise JaxsepError(f"--filters must be two integers like 16,32, got {text!r}") from None
    if len(values) != 2:
        raise JaxsepError(f"--filters must be two integers like 16,32, got {text!r}")
    return values


def join(values) -> str:
    """``("a", "b")`` → ``"a,b"`` (a tuple default shown as the option's text)."""
    return ",".join(str(v) for v in values)


Models = Annotated[str, typer.Option(help="Comma-separated models: full, novox, stems3, stems3_dw.")]
Trials = Annotated[int, typer.Option(help="Trials (random 80/20 splits); the paper ran 50.")]
Epochs = Annotated[int, typer.Option(help="Epochs per trial (paper: 6).")]
Seed = Annotated[int, typer.Option(help="Trial t uses seed + t for its split, init, shuffling and dropout.")]
BatchSize = Annotated[int, typer.Option(help="Clips per training step.")]
LearningRate = Annotated[float, typer.Option(help="Adam step size.")]
Filters = Annotated[str, typer.Option(help="Filters of the two conv blocks.")]
KernelSize = Annotated[int, typer.Option(help="Conv window side.")]
L1 = Annotated[float, typer.Option(help="L1 penalty on kernels.")]
L2 = Annotated[float, typer.Option(help="L2 penalty on kernels.")]
Dropout = Annotated[float, typer.Option(help="Dropout before the dense layer.")]


def choices(kind) -> str:
    """``"a|b|c"``: an option's closed set of values (:mod:`jaxsep.options`), for its help text."""
    return "|".join(options.names(kind))


# Closed sets stay strings here and are checked by the configuration, so a bad value is one line naming the
# choices (exit status 1) like every other bad input.
SelectOn = Annotated[str, typer.Option(help=f"[{choices(options.SelectOn)}] Pick each trial's epoch on the test "
                                            "loss (the paper's rule) or on a validation part's.")]
Strategy = Annotated[str, typer.Option(help=f"[{choices(options.Strategy)}] Engine lowering (same numbers).")]
Precision = Annotated[str, typer.Option(help=f"[{choices(options.Precision)}] Arithmetic: tf32 is JAX's default "
                                             "(exactly float32 on a CPU; TensorFloat-32 convolutions on recent "
                                             "GPUs), f32 full float32 everywhere, bf16 bfloat16 activations with "
                                             "float32 weights and statistics.")]
Chunk = Annotated[Optional[int], typer.Option(help="Trials per compiled call (default: from a memory estimate).")]
Concurrent = Annotated[Optional[int], typer.Option(help="Trials run at once by the sequential and stepped "
                                                        "lowerings (default: 2 on CPU, 1 elsewhere; same numbers).")]
Overwrite = Annotated[bool, typer.Option(help="Replace an output folder that already holds a run, and drop an "
                                                 "unfinished one kept beside it.")]
SaveModels = Annotated[bool, typer.Option(help="Keep every trial's trained model in the run folder (for "
                                                "`jaxsep predict`).")]
TrialsPerUnit = Annotated[int, typer.Option(help="Trials trained between two saves of the unfinished run (what an "
                                                 "interruption can lose).")]
CacheDir = Annotated[Optional[Path], typer.Option("--cache", help="Cache folder (default: $JAXSEP_CACHE or "
                                                                  ".jaxsep-cache).")]
ModelRepo = Annotated[Optional[Path], typer.Option(exists=True, file_okay=False,
                                                   help="Local demucs model repository (demucs' own format).")]


def build_run_config(*, models: str, trials: int, seed: int, strategy: str, trials_per_chunk: int | None = None,
                     concurrent_trials: int | None = None, filters: str = join(TRAIN.filters), rope: float = RUN.rope,
                     reference: bool = RUN.reference, **train_options) -> RunConfig:
    """Maps CLI options onto :class:`RunConfig` (which validates them); ``train_options`` are
    :class:`TrainConfig` fields, ``filters`` its text form."""
    train = TrainConfig(filters=parse_filters(filters), **train_options)
    return RunConfig(models=parse_names(models), trials=trials, seed=seed, train=train,
                     trials_per_chunk=trials_per_chunk, concurrent_trials=concurrent_trials, strategy=strategy,
                     rope=rope, reference=reference)


@contextlib.contextmanager
def train_bars() -> Iterator[Callable[[str, int, int], None]]:
    """Rich progress bars, one per model; yields the ``progress(model, done, total)`` callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {}

        def progress(model, done, total):
            if model not in tasks:
                tasks[model] = bar.add_task(model, total=total)
            bar.update(tasks[model], completed=done, total=total)

        yield progress


def show_run(run_dir: Path) -> None:
    """Prints a run folder's Table 1 and what the folder holds."""
    out.print((run_dir / "table.md").read_text(), highlight=False, soft_wrap=True)
    out.print(f"Run folder: {run_dir} (report.html, results.json, table.md, table.csv, figures)", highlight=False)
