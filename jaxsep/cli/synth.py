"""``jaxsep synth``: write a synthetic EDM set with true stems (a thin layer over generate_dataset)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..constants import SAMPLE_RATE, SEGMENT_SECONDS
from ..synth.dataset import generate_dataset
from ..synth.genres import GENRE_NAMES
from ..synth.render import DEFAULT_DIFFICULTY
from .common import fail_cleanly, say


def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write (must be empty unless --overwrite).")],
    songs_per_class: Annotated[Optional[int], typer.Option(
        help="Songs in every class (>= 2). Default: an unbalanced draw of 8-14 per class, "
             "66 songs for the six genres (the paper's size).")] = None,
    seed: Annotated[int, typer.Option(help="Non-negative seed; the same seed writes the same audio.")] = 0,
    difficulty: Annotated[float, typer.Option(
        help="0 = textbook genres .. 1 = heavily blurred: style borrowing between genres, more "
             "breakdowns/builds, wider level/EQ/loudness spread, more noise.")] = DEFAULT_DIFFICULTY,
    seconds: Annotated[float, typer.Option(help="Excerpt length (default: the paper's 10.63 s segment).")] = SEGMENT_SECONDS,
    genres: Annotated[Optional[str], typer.Option(
        help=f"Comma-separated subset of: {', '.join(GENRE_NAMES)} (default: all).")] = None,
    sample_rate: Annotated[int, typer.Option(help="Hz; 44100 with --stereo for demucs.")] = SAMPLE_RATE,
    stereo: Annotated[bool, typer.Option("--stereo", help="Write two-channel files.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a set already in OUT.")] = False,
) -> None:
    """Render songs of six EDM subgenres with their bass/drums/other/vocals stems and a CSV manifest."""
    started = time.perf_counter()
    manifest = generate_dataset(out, seed=seed, songs_per_class=songs_per_class, genres=genres,
                                difficulty=difficulty, seconds=seconds, sample_rate=sample_rate,
                                stereo=stereo, overwrite=overwrite)
    songs = sum(1 for _ in manifest.open(encoding="utf-8")) - 1
    say(f"wrote {songs} songs with stems in {time.perf_counter() - started:.1f} s; manifest: {manifest}")


def register(app: typer.Typer) -> None:
    """Adds ``synth`` to ``app``."""
    app.command("synth")(fail_cleanly(synth))
