"""Songs and what goes wrong with them: the records every layout reader returns and the per-song loop.

A :class:`Song` is one labelled audio file (with its true stems and its artists, if known); a :class:`Problem`
says why a file, a manifest row or a class was skipped. :func:`for_each_song` runs one piece of work per song,
turning each song's :class:`~jaxsep.errors.JaxsepError` into a :class:`Problem` so the others go on, and reports
:class:`Progress`. :func:`parse_artists` reads the one-string spelling of a song's artists (``"A; B"``).
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from ..errors import JaxsepError

#: Fewest songs per class the trial engine accepts.
MIN_SONGS_PER_CLASS = 2

ARTIST_SEPARATOR = ";"
"""How several artists of one song are written in one string (manifest ``artist`` column, feature file)."""

T = TypeVar("T")


@dataclass(frozen=True)
class Song:
    """One labelled song.

    Attributes:
      song_id: unique within the data set (a relative path without suffix, or the GiantSteps file name).
      path: the mix's audio file.
      label: class name.
      start: the segment's start in seconds when the data set fixes it, else ``None`` (automatic).
      stems: true-stem files keyed by names from :data:`~jaxsep.constants.STEMS`; may be partial or empty.
      artists: the artists credited, in the data set's order; ``()`` when the layout names none (for
        artist-grouped splits, :mod:`jaxsep.training.groups`).
    """

    song_id: str
    path: Path
    label: str
    start: float | None = None
    stems: dict[str, Path] = field(default_factory=dict)
    artists: tuple[str, ...] = ()


def parse_artists(text: str) -> tuple[str, ...]:
    """The artists of one song from their one-string spelling.

    Args:
      text: artist names joined by :data:`ARTIST_SEPARATOR`, e.g. ``"Bob Marley; The Wailers"``.

    Returns:
      the names, stripped, empty ones dropped (``""`` and ``" ; "`` give ``()``).
    """
    return tuple(name.strip() for name in text.split(ARTIST_SEPARATOR) if name.strip())


@dataclass(frozen=True)
class Problem:
    """Why a file (or a class, or a manifest row) was skipped."""

    file: str
    problem: str

    @classmethod
    def from_error(cls, error: JaxsepError, where: str | os.PathLike) -> Problem:
        """The problem an error reports: its own path and problem when it names a file, else ``where``."""
        return cls(getattr(error, "path", str(where)), getattr(error, "problem", str(error)))


class Progress:
    """Progress callbacks of a per-song run (features, separation); this base class ignores them."""

    def begin(self, total: int) -> None:
        """The run will process ``total`` songs."""

    def song(self, song_id: str) -> None:
        """Work on ``song_id`` starts."""

    def separation(self, fraction: float) -> None:
        """The current song's separation is ``fraction`` (0 to 1) done."""

    def advance(self) -> None:
        """The current song is finished (done, taken from the cache, or skipped)."""


@dataclass
class SongRun:
    """What a per-song run did: what it wrote, the songs it finished and the problems it skipped."""

    path: Path | None
    song_ids: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def for_each_song(
    songs: Sequence[Song],
    work: Callable[[Song], T],
    *,
    strict: bool = False,
    progress: Progress | None = None,
    workers: int = 1,
) -> tuple[list[tuple[Song, T]], list[Problem]]:
    """Runs ``work(song)`` for every song, in order, or on ``workers`` threads at once (results still in order).

    Threads pay off where ``work`` spends its time in code that releases the GIL (numpy's FFTs, librosa, torch);
    ``work`` must then be safe to run on two songs at once (the cache's writes are atomic).

    Returns:
      ``(done, problems)``: ``(song, result)`` for each song that worked, and one :class:`Problem` per song
      whose work raised a :class:`~jaxsep.errors.JaxsepError`.

    Raises:
      JaxsepError: the first one (in song order), when ``strict``. Other exceptions (a bug, Ctrl-C) stop the
        loop as they are; with threads, the songs already started finish first and none is started after.
    """
    progress = progress or Progress()
    progress.begin(len(songs))

    def attempt(song: Song) -> tuple[bool, T | Problem]:
        progress.song(song.song_id)
        try:
            return True, work(song)
        except JaxsepError as error:
            if strict:
                raise
            return False, Problem.from_error(error, song.path)
        finally:
            progress.advance()

    if workers <= 1 or len(songs) <= 1:
        outcomes = [attempt(song) for song in songs]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jaxsep-song") as pool:
            futures = [pool.submit(attempt, song) for song in songs]
            try:
                outcomes = [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    done = [(song, result) for song, (ok, result) in zip(songs, outcomes) if ok]
    problems = [result for ok, result in outcomes if not ok]
    return done, problems


def drop_small_classes(songs: Sequence[Song], *, where: str | os.PathLike) -> tuple[list[Song], list[Problem]]:
    """Removes the songs of classes with fewer than :data:`MIN_SONGS_PER_CLASS` songs, with one problem per class."""
    counts = Counter(song.label for song in songs)
    small = sorted(label for label, count in counts.items() if count < MIN_SONGS_PER_CLASS)
    problems = [
        Problem(str(where), f"class {label!r} has {counts[label]} usable song(s), the trial engine needs "
                f"{MIN_SONGS_PER_CLASS} (class skipped)")
        for label in small
    ]
    return [song for song in songs if song.label not in small], problems


def summarize(problems: Sequence[Problem], shown: int = 3) -> str:
    """`` (file: problem; ...)`` for the first ``shown`` problems, ``""`` for none (for error messages)."""
    if not problems:
        return ""
    listed = "; ".join(f"{p.file}: {p.problem}" for p in problems[:shown])
    more = f" (+{len(problems) - shown} more)" if len(problems) > shown else ""
    return f" ({listed}{more})"
