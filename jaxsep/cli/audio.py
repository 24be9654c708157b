"""The audio front end's commands, ``jaxsep features`` and ``jaxsep separate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar

from ..audio.layouts import discover
from ..audio.songs import Problem, Progress
from ..cache import Cache, default_cache_dir
from ..features.extract import FeatureOptions, featurize
from ..options import FeatureDtype, GenreLabel
from ..separation.export import separate_to_folder
from ..separation.stems import GIVEN, open_separator
from .common import CacheDir, ModelRepo, choices, console, fail_cleanly, parse_repeated, say

Data = Annotated[Path, typer.Argument(exists=True, help="Class folders, a GiantSteps folder or a .csv manifest.")]
Classes = Annotated[Optional[list[str]], typer.Option(help="Keep only these classes (repeat, or comma-separated).")]
Label = Annotated[str, typer.Option(help=f"({choices(GenreLabel)}) GiantSteps+ only: label each track by Beatport's "
                                         "genre or its first sub-genre.")]
Start = Annotated[Optional[float], typer.Option(min=0.0, help="Segment start (s) for songs without their own; "
                                                              "default: the drop.")]
Pad = Annotated[bool, typer.Option(help="Pad songs shorter than a segment (10.63 s) with silence instead of "
                                        "skipping them.")]
Strict = Annotated[bool, typer.Option(help="Stop at the first bad file instead of skipping it.")]
Force = Annotated[bool, typer.Option(help="Recompute instead of using cached results.")]
Device = Annotated[Optional[str], typer.Option(help="Torch device for demucs (cpu, cuda); default: cuda when "
                                                    "available.")]
SeparatorChoice = Annotated[Optional[str], typer.Option(help="dsp, demucs or given (default: demucs if its "
                                                             "weights are found, else dsp).")]


class _Bars(Progress):
    """Rich progress bars: one for songs, one for the separation of the current song."""

    def __init__(self, bar: RichBar):
        self.bar = bar
        self.songs = bar.add_task("songs", total=None)
        self.within = bar.add_task("separating", total=1.0, visible=False)

    def begin(self, total: int) -> None:
        self.bar.update(self.songs, total=total)

    def song(self, song_id: str) -> None:
        self.bar.update(self.songs, description=f"songs ({song_id})")
        self.bar.update(self.within, completed=0.0, visible=False)

    def separation(self, fraction: float) -> None:
        self.bar.update(self.within, completed=fraction, visible=True)

    def advance(self) -> None:
        self.bar.update(self.within, visible=False)
        self.bar.advance(self.songs)


def features_command(
    data: Data,
    out: Annotated[Path, typer.Option(help="Feature file to write (.npz).")] = Path("features.npz"),
    separator: SeparatorChoice = None,
    classes: Classes = None,
    label: Label = GenreLabel.GENRE.value,
    start: Start = None,
    pad: Pad = False,
    strict: Strict = False,
    force: Force = False,
    cache: CacheDir = None,
    model_repo: ModelRepo = None,
    device: Device = None,
    float32: Annotated[bool, typer.Option(help="Store maps as float32 (default float16, 0.03 dB steps).")] = False,
    segments_per_song: Annotated[int, typer.Option(help="Non-overlapping segments per song (the drop first, then "
                                                        "the next best); 1 is the paper's protocol.")] = 1,
    separation_batch: Annotated[int, typer.Option(min=1, help="Segments per htdemucs call (this song's and the "
                                                              "next songs'); more keep a GPU busier. The stems are "
                                                              "those of 1 to float rounding; dsp and given ignore "
                                                              "it.")] = 1,
) -> None:
    """Separate every song's segment and write its log-mel maps (mix, novox, bass, drums, other, vocals)."""
    songs, problems = discover(data, classes=parse_repeated(classes), label=label, say=say)
    chosen = open_separator(separator, model_repo=model_repo, device=device)
    name = chosen if chosen == GIVEN else chosen.name
    say(f"{len(songs)} songs, separator {name}")
    dtype = FeatureDtype.FLOAT32 if float32 else FeatureDtype.FLOAT16
    options = FeatureOptions(start=start, pad=pad, strict=strict, dtype=dtype,
                             segments_per_song=segments_per_song)
    with _bar() as bar:
        run = featurize(songs, out=out, separator=chosen, cache=Cache(cache or default_cache_dir(), force=force),
                        options=options, problems=problems, progress=_Bars(bar), separation_batch=separation_batch)
    _report(run.problems)
    say(f"wrote {run.path}: {len(run.song_ids)} songs")


def separate_command(
    data: Data,
    out: Annotated[Path, typer.Option(file_okay=False, help="Folder for LABEL/SONG/{mixture,bass,drums,other,"
                                                             "vocals}.wav.")],
    separator: Annotated[Optional[str], typer.Option(help="dsp or demucs (default: demucs if its weights are "
                                                          "found, else dsp).")] = None,
    classes: Classes = None,
    label: Label = GenreLabel.GENRE.value,
    start: Start = None,
    pad: Pad = False,
    strict: Strict = False,
    force: Force = False,
    cache: CacheDir = None,
    model_repo: ModelRepo = None,
    device: Device = None,
) -> None:
    """Write each song's segment and its separated stems as audio files."""
    if separator == GIVEN:
        raise typer.BadParameter("'given' stems need no separating; choose dsp or demucs", param_hint="--separator")
    songs, problems = discover(data, classes=parse_repeated(classes), label=label, say=say)
    chosen = open_separator(separator, model_repo=model_repo, device=device)
    with _bar() as bar:
        run = separate_to_folder(songs, out=out, separator=chosen, cache=Cache(cache or default_cache_dir()),
                                 start=start, pad=pad, strict=strict, force=force, progress=_Bars(bar))
    _report(problems + run.problems)
    say(f"wrote {len(run.song_ids)} songs under {out}")


def _bar() -> RichBar:
    return RichBar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=console, transient=True)


def _report(problems: list[Problem]) -> None:
    """One line per skipped file (plain lines, not a table: long paths stay whole and greppable)."""
    if problems:
        say(f"skipped {len(problems)}:", style="yellow")
    for problem in problems:
        say(f"  {problem.file}: {problem.problem}")


def register(app: typer.Typer) -> None:
    """Adds ``features`` and ``separate`` to ``app``."""
    app.command("features")(fail_cleanly(features_command))
    app.command("separate")(fail_cleanly(separate_command))
