"""``jaxsep ablate`` (which stems carry the genre) and ``jaxsep curve`` (the stems question by amount of data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ..options import Head, choose
from .common import (
    RECIPE,
    RUN,
    TRAINING,
    Baseline,
    GroupByOption,
    Models,
    choices,
    command_line,
    fail_cleanly,
    finished,
    parse_names,
    say,
    show_folder,
    start_run,
    train_bars,
    with_options,
)

#: Trials of an ablation or a curve by default: past ~20 the corrected interval hardly narrows (README,
#: "Statistics"), and each has many models or sizes to train.
EXPERIMENT_TRIALS = 20

ExperimentTrials = Annotated[int, typer.Option("--trials", help="Trials (random splits, the same for every model "
                                                                "and size).")]
Resume = Annotated[bool, typer.Option(help="With --overwrite: continue an unfinished output of the same "
                                           "configuration instead of starting afresh.")]


@with_options(RECIPE, TRAINING)
def ablate(
    ctx: typer.Context,
    features: Annotated[Path, typer.Argument(help="Feature file (.npz) holding novox and the stems.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run folder to write.")] = Path("runs/ablation"),
    head: Annotated[str, typer.Option(help=f"({choices(Head)}) The networks' head: the paper's dense layer, the "
                                           "time-pooling or the rhythm head.")] = Head.DENSE.value,
    separable: Annotated[bool, typer.Option("--dw", help="Depthwise-separable convolutions in every network.")
                         ] = False,
    trials: ExperimentTrials = EXPERIMENT_TRIALS,
    group_by: GroupByOption = None,
    resume: Resume = False,
    options: dict | None = None,
):
    """Which stems carry the genre: every stem alone, each leave-one-out of bass/drums/other, all three, all four,
    novox and mix, as CNNs and as reference rows, on the same splits; each against novox with the corrected
    interval and Holm; the ablation table and a forest plot in the run folder and report.html."""
    from ..workflows.ablation import run_ablation

    chosen_head = choose(Head, head, "head")
    modifiers = (":dw" if separable else "") + ("" if chosen_head == Head.DENSE else f":{chosen_head}")
    config, loaded = start_run(ctx, options, features, models="novox", trials=trials, group_by=group_by)
    with train_bars() as progress:
        run_ablation(loaded, config, out_dir, modifiers=modifiers, overwrite=options["overwrite"], resume=resume,
                     trials_per_unit=options["trials_per_unit"], progress=progress, say=say,
                     extra={"command": command_line(ctx)})
    finished(out_dir, show_folder)


@with_options(RECIPE, TRAINING)
def curve(
    ctx: typer.Context,
    features: Annotated[Path, typer.Argument(help="Feature file (.npz).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write (one run folder per size inside).")
                       ] = Path("runs/curve"),
    songs_per_class: Annotated[str, typer.Option(help="Comma-separated training songs per class, one size each; "
                                                      "the largest fixes the test songs.")] = "5,10,20,40,80",
    models: Models = "novox,stems3",
    baseline: Baseline = RUN.baseline,
    trials: ExperimentTrials = EXPERIMENT_TRIALS,
    resume: Resume = False,
    options: dict | None = None,
):
    """The data-size curve: the models (and the reference on their maps) trained on more and more songs per class,
    tested on the same songs; per size the scores and the difference from the baseline with the corrected
    interval; curve.md, curve.png and report.html beside one run folder per size."""
    from ..workflows.curve import run_curve

    sizes = _sizes(songs_per_class)
    config, loaded = start_run(ctx, options, features, models=models, trials=trials, baseline=baseline)
    with train_bars() as progress:
        run_curve(loaded, config, sizes, out_dir, overwrite=options["overwrite"], resume=resume,
                  trials_per_unit=options["trials_per_unit"], progress=progress, say=say,
                  extra={"command": command_line(ctx)})
    finished(out_dir, show_folder)


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in parse_names(text))
    except ValueError:
        raise ConfigError(f"--songs-per-class takes whole numbers like 5,10,20, got {text!r}") from None


def register(app: typer.Typer) -> None:
    """Adds ``ablate`` and ``curve`` to ``app``."""
    for command in (ablate, curve):
        app.command()(fail_cleanly(command))
