"""What every command group shares: the consoles, the one error-to-exit wrapper, option types and parsers.

Option defaults come from the configuration dataclasses (:class:`~jaxsep.config.TrainConfig`,
:class:`~jaxsep.config.RunConfig`), so the CLI never restates them. Help texts are sentences.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import shlex
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .. import options
from ..config import TRIALS_PER_UNIT, RunConfig, TrainConfig
from ..errors import ConfigError, JaxsepError, RunInterrupted

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


def choices(kind) -> str:
    """``"a|b|c"``: an option's closed set of values (:mod:`jaxsep.options`), for its help text."""
    return "|".join(options.names(kind))


# Closed sets stay strings here and are checked by the configuration, so a bad value is one line naming the
# choices (exit status 1) like every other bad input.
SelectOn = Annotated[str, typer.Option(help=f"({choices(options.SelectOn)}) Pick each trial's epoch on the test "
                                            "loss (the paper's rule) or on a validation part's.")]
Strategy = Annotated[str, typer.Option(help=f"({choices(options.Strategy)}) Engine lowering (same numbers).")]
Precision = Annotated[str, typer.Option(help=f"({choices(options.Precision)}) Arithmetic: tf32 is JAX's default "
                                             "(exactly float32 on a CPU; TensorFloat-32 convolutions on recent "
                                             "GPUs), f32 full float32 everywhere, bf16 bfloat16 activations with "
                                             "float32 weights and statistics.")]

Models = Annotated[str, typer.Option(help="Comma-separated models: the paper's full, novox, stems3, stems3_dw, or "
                                          "maps joined by '+' (drums, bass+drums, mix+bass+drums+other), each "
                                          "optionally followed by ':dw' (depthwise-separable convs) and a head, "
                                          "':pool' (mean and max over time) or ':rhythm' (and rhythm).")]
Baseline = Annotated[str, typer.Option(help="The model every other is compared with (any model of the run).")]
RunClasses = Annotated[Optional[str], typer.Option("--classes", help="Comma-separated classes to keep (default: "
                                                                     "all).")]
Rope = Annotated[float, typer.Option(help="Half-width of the region of practical equivalence of the Bayesian "
                                          "comparison.")]
Reference = Annotated[bool, typer.Option(help="Also score the logistic-regression reference rows.")]
ReferenceMaps = Annotated[str, typer.Option(help="Comma-separated map sets the reference rows read, one row each "
                                                 "(mix, novox, bass+drums+other, ...); with the baseline's maps among "
                                                 "them the rows are also compared with that one.")]
GroupByOption = Annotated[Optional[str], typer.Option("--group-by", help=f"({choices(options.GroupBy)}) Keep every "
                                                                         "song of a group (its artists, from the "
                                                                         "feature file) on one side of each split.")]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", exists=True, dir_okay=False,
                                                   help="A TOML file of configuration fields (the README's "
                                                        "'Reproducible runs'); options given here override it.")]
Coordinator = Annotated[Optional[str], typer.Option(help="HOST:PORT of process 0, to share the trials over several "
                                                         "processes (jax.distributed).")]
NumProcesses = Annotated[Optional[int], typer.Option(help="How many processes share the trials.")]
ProcessId = Annotated[Optional[int], typer.Option(help="This process's number, 0 to num-processes − 1; process 0 "
                                                      "writes the output folder.")]
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

#: Options several commands share, declared once: ``{parameter: (type, default)}`` (:func:`with_options`).
RECIPE = {
    "epochs": (Epochs, TRAIN.epochs),
    "seed": (Seed, RUN.seed),
    "batch_size": (BatchSize, TRAIN.batch_size),
    "learning_rate": (LearningRate, TRAIN.learning_rate),
    "filters": (Filters, join(TRAIN.filters)),
    "select_on": (SelectOn, TRAIN.select_on.value),
    "precision": (Precision, TRAIN.precision.value),
    "strategy": (Strategy, RUN.strategy.value),
    "concurrent_trials": (Concurrent, RUN.concurrent_trials),
}
#: What the commands that train on a feature file share beside the recipe.
TRAINING = {
    "classes": (RunClasses, None),
    "reference": (Reference, RUN.reference),
    "trials_per_unit": (TrialsPerUnit, TRIALS_PER_UNIT),
    "coordinator": (Coordinator, None),
    "num_processes": (NumProcesses, None),
    "process_id": (ProcessId, None),
    "config_file": (ConfigFile, None),
    "overwrite": (Overwrite, False),
}


def with_options(*groups: dict[str, tuple[Any, Any]]) -> Callable[[Callable], Callable]:
    """Adds the options of ``groups`` to a command's signature, after its own; the command receives their values
    as one dict, ``options`` (the options many commands share are declared once: :data:`RECIPE`,
    :data:`TRAINING`)."""
    added = {name: spec for group in groups for name, spec in group.items()}

    def decorate(command: Callable) -> Callable:
        hints = typing.get_type_hints(command, include_extras=True)
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(command).parameters.values() if p.name != "options"]
        params = own + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=kind, default=default)
                        for name, (kind, default) in added.items()]

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            return command(*args, options={name: kwargs.pop(name) for name in added}, **kwargs)

        del wrapper.__wrapped__  # typer reads the signature below, not the command's
        wrapper.__signature__ = inspect.Signature(params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate



def build_run_config(*, models: str, trials: int, seed: int, strategy: str, trials_per_chunk: int | None = None,
                     concurrent_trials: int | None = None, filters: str = join(TRAIN.filters), rope: float = RUN.rope,
                     reference: bool = RUN.reference, baseline: str = RUN.baseline,
                     reference_maps: str = join(RUN.reference_maps), group_by: str | None = None,
                     **train_options) -> RunConfig:
    """Maps CLI options onto :class:`RunConfig` (which validates them); ``train_options`` are
    :class:`TrainConfig` fields, ``filters``, ``models`` and ``reference_maps`` their text forms."""
    train = TrainConfig(filters=parse_filters(filters), **train_options)
    return RunConfig(models=parse_names(models), trials=trials, seed=seed, train=train,
                     trials_per_chunk=trials_per_chunk, concurrent_trials=concurrent_trials, strategy=strategy,
                     rope=rope, reference=reference, baseline=baseline, reference_maps=parse_names(reference_maps),
                     group_by=group_by)


def command_config(ctx: typer.Context, config_file: Path | None, base: RunConfig) -> RunConfig:
    """``base`` (from the command's options) under a ``--config`` file: the file's fields replace every value the
    command line did not give explicitly.

    Raises:
      ConfigError: the file cannot be read, holds an unknown key or a value of the wrong type or range.
    """
    from ..config_file import merge, read_config_file

    if config_file is None:
        return base
    fields = read_config_file(config_file)
    try:  # the values' own checks, on the merged configuration: an error here is the file's with these options
        return merge(base, fields, {name for name in ctx.params if _typed(ctx, name)})
    except ConfigError as error:
        raise ConfigError(f"{config_file}: {error}") from None


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given on the command line (not a default or the environment). By the
    source's name: typer carries its own copy of click, whose enum is not ``click``'s."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def command_line(ctx: typer.Context) -> str:
    """The command as typed, rebuilt from what the command line gave (``jaxsep run FEATURES --trials 20 ...``;
    defaults left out), for ``results.json``."""
    words = ["jaxsep", ctx.info_name or ""]
    for param in ctx.command.params:
        if not _typed(ctx, param.name):
            continue
        value = ctx.params[param.name]
        values = value if isinstance(value, (list, tuple)) else [value]
        if param.param_type_name == "argument":
            words += [str(v) for v in values]
        elif getattr(param, "is_flag", False) and isinstance(value, bool):
            words.append(param.opts[0] if value else (param.secondary_opts or param.opts)[0])
        else:
            words += [part for v in values for part in (param.opts[0], str(v))]
    return shlex.join(words)


def config_of(options: dict[str, Any], *, models: str, trials: int, **more) -> RunConfig:
    """The :class:`RunConfig` of a command's :data:`RECIPE` options (and ``reference`` when it has
    :data:`TRAINING`'s), ``models``, ``trials`` and any other :func:`build_run_config` argument."""
    chosen = {name: options[name] for name in (*RECIPE, "reference") if name in options}
    return build_run_config(models=models, trials=trials, **chosen, **more)


def start_run(ctx: typer.Context, options: dict[str, Any], features: Path, *, models: str, trials: int, **more):
    """What ``run``, ``ablate`` and ``curve`` do before training: join the processes (:data:`TRAINING`'s options),
    build the configuration (:func:`config_of`) under a ``--config`` file, load the feature file
    (:func:`load_run_features`). Returns ``(config, features)``."""
    join_processes(options["coordinator"], options["num_processes"], options["process_id"])
    config = command_config(ctx, options["config_file"], config_of(options, models=models, trials=trials, **more))
    return config, load_run_features(features, config, options["classes"])


def join_processes(coordinator: str | None, num_processes: int | None, process_id: int | None) -> None:
    """Joins JAX's multi-controller runtime when asked to (or under a launcher), saying how."""
    from ..training import distributed

    joined = distributed.initialize(coordinator, num_processes, process_id)
    if joined is not None:
        say(f"jax.distributed: {joined}")


def load_run_features(path: Path, config: RunConfig, classes: str | None):
    """The feature file a run reads, checked for the maps its models need (the names checked first), keeping only
    ``classes`` when given."""
    from ..features.file import load_features
    from ..nn.models import required_maps

    loaded = load_features(path, required_maps(config.models))
    return loaded.subset_classes(parse_names(classes)) if classes else loaded


def finished(folder: Path, show: Callable[[Path], None]) -> None:
    """Shows a finished output folder (process 0), or says which process writes it."""
    from ..training import distributed

    if distributed.is_writer():
        show(folder)
    else:
        say(f"done: process 0 writes {folder}")


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


def show_folder(folder: Path) -> None:
    """Prints what a finished folder answers: a curve's table, an ablation's table and Table 1, or Table 1."""
    curve, ablation = folder / "curve.md", folder / "ablation.md"  # results.curve.CURVE, results.ablation.ABLATION
    if curve.is_file():
        out.print(curve.read_text(), highlight=False, soft_wrap=True)
        console.print(f"Folder: {folder} (curve.md, curve.json, curve.png, report.html; one run folder per size)",
                      highlight=False)
        return
    if ablation.is_file():
        out.print(ablation.read_text(), highlight=False, soft_wrap=True)
    show_run(folder)
