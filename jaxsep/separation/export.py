"""Separated stems as audio files: ``OUT/LABEL/SONG/{mixture,bass,drums,other,vocals}.wav``, and
``OUT/manifest.csv`` listing them with their labels (and artists, when the songs have any).

The output is itself a data set with true stems, so ``--separator given`` reads it back: as class folders (a label
that cannot be a folder name, such as GiantSteps+'s ``Indie Dance / Nu Disco``, is written as
``Indie Dance - Nu Disco``; no artists), or through the manifest, which keeps every label as it was and each
song's artists in its ``artist`` column.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..atomic import write_text_atomic
from ..audio.files import write_audio
from ..audio.segments import load_segment, song_start
from ..audio.songs import ARTIST_SEPARATOR, Progress, Song, SongRun, for_each_song
from ..cache import Cache
from ..constants import MIXTURE, STEMS
from ..errors import DatasetError
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
    """Writes each song's segment and its stems as ``OUT/LABEL/SONG/{mixture,bass,drums,other,vocals}.wav``
    (``LABEL``: :func:`label_folder`), then ``OUT/manifest.csv`` with a row per song written (with an ``artist``
    column when some song has artists).

    The stems keep the separator's native rate and channels (32-bit float wav, so they add up to the mixture).
    A song whose five files all exist is skipped unless ``force``, so an interrupted run resumes.

    Returns:
      A :class:`~jaxsep.audio.songs.SongRun` with ``path = out`` and the problems of skipped songs.

    Raises:
      DatasetError: two labels would share a class folder.
    """
    out = Path(out)
    progress = progress or Progress()
    cache.ensure_folder()
    folders = {label: label_folder(label) for label in sorted({song.label for song in songs})}
    for folder, count in Counter(folders.values()).items():
        if count > 1:
            sharing = [label for label, name in folders.items() if name == folder]
            raise DatasetError(out, f"labels {sharing} would share the class folder {folder!r}; rename one")

    def song_files(song: Song) -> dict[str, Path]:
        folder = out / folders[song.label] / _folder_name(song)
        return {name: folder / f"{name}.wav" for name in (MIXTURE, *STEMS)}

    def export(song: Song) -> None:
        files = song_files(song)
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
    if done:
        _write_manifest(out, [(song, song_files(song)) for song, _ in done])
    return SongRun(path=out, song_ids=[song.song_id for song, _ in done], problems=problems)


def label_folder(label: str) -> str:
    """The class folder of ``label``: path separators as ``-``, and a leading ``_`` where the name would be empty
    or start with a dot (hidden, or ``..``)."""
    name = label.replace("/", "-").replace("\\", "-")
    return name if name and not name.startswith(".") else f"_{name}"


def _write_manifest(out: Path, rows: Sequence[tuple[Song, dict[str, Path]]]) -> None:
    """``out/manifest.csv``: ``path,label,bass,drums,other,vocals`` with paths relative to ``out``, and
    ``artist`` after ``label`` (names joined by ``;``) when some song has artists."""
    named = any(song.artists for song, _ in rows)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["path", "label", *(["artist"] if named else []), *STEMS])
    for song, files in rows:
        writer.writerow([files[MIXTURE].relative_to(out).as_posix(), song.label,
                         *([ARTIST_SEPARATOR.join(song.artists)] if named else []),
                         *(files[stem].relative_to(out).as_posix() for stem in STEMS)])
    write_text_atomic(out / "manifest.csv", stream.getvalue())


def _folder_name(song: Song) -> str:
    """The song's folder under its label: its id without a leading ``label/``, slashes as ``__``."""
    name = song.song_id.removeprefix(f"{song.label}/")
    return name.replace("/", "__").replace("\\", "__") or "song"
