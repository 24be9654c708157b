"""``jaxsep rerun`` (repeat a run from its folder) and ``jaxsep compare`` (finished runs, paired by trial)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import (
    Overwrite,
    command_line,
    fail_cleanly,
    finished,
    out,
    say,
    show_folder,
    train_bars,
)

RunFolder = Annotated[Path, typer.Argument(help="A finished run folder (holding results.json), or a curve folder.")]


def rerun(
    ctx: typer.Context,
    run_dir: RunFolder,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the repeated run into.")],
    data: Annotated[Optional[Path], typer.Option(help="The run's feature file where it is now, if it moved (it "
                                                      "must be the same file: checked by digest).")] = None,
    overwrite: Overwrite = False,
):
    """Repeat a run from its folder: the same configuration on the same feature file (checked by digest), the same
    numbers; a curve folder repeats every size."""
    from ..workflows.rerun import rerun as rerun_folder

    with train_bars() as progress:
        rerun_folder(run_dir, out_dir, data=data, overwrite=overwrite, progress=progress, say=say,
                     extra={"command": command_line(ctx)})
    finished(out_dir, show_folder)


def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run folders of the same songs, trials and splits; "
                                                    "the first is the one the others are compared with.")],
    metric: Annotated[str, typer.Option(help="f1 or accuracy.")] = "f1",
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Also write the table to this markdown file.")
                        ] = None,
):
    """Compare finished runs paired by trial with the corrected interval and test (e.g. one and two segments per
    song, dsp and demucs stems, two recipes); runs with other songs or splits are refused, saying why."""
    from ..atomic import write_text_atomic
    from ..errors import ConfigError
    from ..results.tables import REPORTED
    from ..workflows.rerun import compare_runs

    if metric not in REPORTED:
        raise ConfigError(f"--metric must be one of {list(REPORTED)}, got {metric!r}")
    table = compare_runs(list(runs), metric=metric)
    out.print(table, highlight=False, soft_wrap=True)
    if out_file is not None:
        write_text_atomic(out_file, table)
        say(f"wrote {out_file}")


def register(app: typer.Typer) -> None:
    """Adds ``rerun`` and ``compare`` to ``app``."""
    for command in (rerun, compare):
        app.command()(fail_cleanly(command))
