"""``jaxsep evaluate-separation``: a separator's SDR per stem against a folder of true stems."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .common import console, fail_cleanly, out


class SeparatorName(str, Enum):
    """Choices of ``--separator``."""

    dsp = "dsp"
    demucs = "demucs"


def evaluate_separation_command(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False,
                                           help="Folder of aligned true stems (+ optional 'mixture' file).")],
    separator: Annotated[Optional[SeparatorName], typer.Option(
        help="Backend; default: demucs when htdemucs weights are found, else dsp.")] = None,
    model_repo: Annotated[Optional[Path], typer.Option(
        file_okay=False, help="Local demucs model repository (demucs' own format).")] = None,
    offset: Annotated[Optional[float], typer.Option(min=0.0, help="Excerpt start, seconds.")] = None,
    duration: Annotated[Optional[float], typer.Option(min=0.0, help="Excerpt length, seconds.")] = None,
    device: Annotated[Optional[str], typer.Option(help="Torch device for demucs (default: GPU if any).")] = None,
) -> None:
    """Separate the folder's mixture and print the plain SDR (dB) of every stem with a non-silent truth."""
    from ..separation import default_separator_name, get_separator
    from ..separation.evaluation import evaluate_separation, stem_targets

    name = separator.value if separator is not None else default_separator_name(model_repo)
    backend = get_separator(name, model_repo=model_repo, device=device)
    files = stem_targets(folder)
    start = time.perf_counter()
    columns = (TextColumn(f"separating with {name}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("separate", total=1.0)
        scores = evaluate_separation(folder, backend, offset=offset, duration=duration,
                                     progress=lambda fraction: bar.update(task, completed=fraction))
    elapsed = time.perf_counter() - start

    window = f"{offset or 0.0:g} s" + (f" + {duration:g} s" if duration is not None else " to the end")
    table = Table(title=f"SDR of {name} on {folder.name} ({window})", caption=backend.signature)
    table.add_column("stem")
    table.add_column("SDR (dB)", justify="right")
    table.add_column("true stem files")
    for target, paths in files.targets.items():
        shown = f"{scores[target]:.2f}" if target in scores else "silent: no SDR"
        table.add_row(target, shown, ", ".join(path.name for path in paths))
    out.print(table)
    out.print(f"{elapsed:.1f} s (read, resample, separate, score)")


def register(app: typer.Typer) -> None:
    """Adds the ``evaluate-separation`` command to ``app``."""
    app.command("evaluate-separation")(fail_cleanly(evaluate_separation_command))
