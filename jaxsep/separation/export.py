"""Separated stems as audio files: ``OUT/LABEL/SONG/{mixture,bass,drums,other,vocals}.wav``.

The output is itself a class-folder data set with true stems, so ``--separator given`` reads it back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from ..audio.files import write_audio
from ..audio.segments import load_segment, song_start
from ..audio.songs import Progress, Song, SongRun, for_each_song
from ..cache import Cache
from ..constants import MIXTURE, STEMS
from .base import Separator


def separate_to_folder(
    songs: Sequence[Song],
    *,
    out: str | os.PathLike,
    separator: Separator,
    cache: Cache,
    start: float | None = None,
    pad: bool = False,
    strict: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> SongRun:
    """Writes each song's segment and its stems as ``OUT/LABEL/SONG/{mixture,bass,drums,other,vocals}.wav``.

    The stems keep the separator's native rate and channels (32-bit float wav, so they add up to the mixture).
    A song whose five files all exist is skipped unless ``force``, so an interrupted run resumes.

    Returns:
      A :class:`~jaxsep.audio.songs.SongRun` with ``path = out`` and the problems of skipped songs.
    """
    out = Path(out)
    progress = progress or Progress()

    def export(song: Song) -> None:
        folder = out / song.label / _folder_name(song)
        files = {name: folder / f"{name}.wav" for name in (MIXTURE, *STEMS)}
        if not force and all(p.is_file() for p in files.values()):
            return
        chosen = song_start(song, cache=cache, start=start, pad=pad)
        segment = load_segment(song.path, start=chosen, sample_rate=separator.sample_rate,
                               channels=separator.channels, pad=pad)
        stems = separator.separate(segment.audio, segment.sample_rate, progress=progress.separation)
        for name in STEMS:
            write_audio(files[name], stems[name], segment.sample_rate)
        write_audio(files[MIXTURE], segment.audio, segment.sample_rate)  # last: marks the song done

    done, problems = for_each_song(songs, export, strict=strict, progress=progress)
    return SongRun(path=out, song_ids=[song.song_id for song, _ in done], problems=problems)


def _folder_name(song: Song) -> str:
    """The song's folder under its label: its id without a leading ``label/``, slashes as ``__``."""
    name = song.song_id.removeprefix(f"{song.label}/")
    return name.replace("/", "__").replace("\\", "__") or "song"
