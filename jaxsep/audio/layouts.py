"""Finding labelled songs: the layouts people hold their music in, one list of :class:`~jaxsep.audio.songs.Song` out.

``discover(DATA)`` tells the layouts apart:

* **CSV manifest** (``DATA`` is a ``.csv`` file): a header row, then one row per song with the columns
  ``path,label`` and optionally ``start`` (seconds; empty = automatic), ``artist`` (several separated by
  ``;``, e.g. ``Bob Marley; The Wailers``; empty = unknown) and the true-stem paths ``bass,drums,other,vocals``.
  Relative paths resolve against the manifest's folder.
* **GiantSteps+ EDM key data set** (``DATA`` holds ``audio/`` and ``meta/``; Zenodo record 1095691, the paper's
  data set, mirdata's ``giantsteps_key``): ``audio/<id> <Artist> - <Title>.mp3`` labelled by the Beatport JSON
  ``meta/<same name>.json`` — its ``genres[0].name`` exactly as written ("Drum & Bass"), or with
  ``label="sub-genre"`` its first ``sub_genres`` name (falling back to the genre), with every name of its
  ``artists`` as the song's artists (none when the entry is missing or malformed). Audio and meta are matched
  by file stem, else by the leading numeric id; a track without meta or without a genre is reported and skipped.
* **GiantSteps key / tempo data sets** (``DATA`` holds ``audio/`` and ``annotations/genre/``): every
  ``audio/NAME.mp3`` labelled by the genre written in ``annotations/genre/NAME.genre`` (the key set keeps
  spaces in multi-word labels, the tempo set hyphenates them; both are read as written).
* **class folders** (any other folder, GTZAN's layout among them): one sub-folder per class. A song is either an
  audio file directly in its class folder, or a song folder holding ``mixture.<ext>`` and, as true stems,
  ``bass.<ext>``, ``drums.<ext>``, ``other.<ext>``, ``vocals.<ext>`` (the MUSDB18/demucs layout, also what
  ``jaxsep separate`` writes). A root holding a single folder of class folders (GTZAN's ``genres/``) is read as
  that folder, with a note.

In both GiantSteps layouts an annotation (or meta file) labels one track: when several audio files match it
(``x.mp3`` beside ``x.wav``), the first in name order is the song and each other is reported as a problem
naming both files and skipped - at discovery, so song ids stay unique and no file is worked on twice.
Class folders and manifests have no such shared annotation: there a repeated id gets ``#2``, ``#3``...

Only GiantSteps+ and a manifest's ``artist`` column give songs their artists (:attr:`Song.artists`); the other
layouts have none.

Per-file problems (a non-audio file in a class folder, a manifest row naming a missing file, a track without
its annotation, an empty class, a class with a single song - the trial engine needs two per class) come back as
:class:`Problem` records next to the usable songs; hidden files (``.DS_Store``...) are skipped silently. Only a
data set that cannot be read at all raises :class:`~jaxsep.errors.DatasetError`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from ..constants import MIXTURE, STEMS
from ..errors import ConfigError, DatasetError
from ..options import GenreLabel, choose
from .files import is_audio_file
from .songs import Problem, Song, drop_small_classes, parse_artists, summarize

#: The columns a CSV manifest may have (``path`` and ``label`` are required).
_MANIFEST_COLUMNS = ("path", "label", "start", "artist", *STEMS)


def discover(
    data: str | os.PathLike,
    *,
    classes: Iterable[str] | None = None,
    label: GenreLabel = GenreLabel.GENRE,
    say: Callable[[str], None] | None = None,
) -> tuple[list[Song], list[Problem]]:
    """Finds the songs of a data set in any of its layouts (see the module docstring).

    Args:
      data: a class-folder tree, a GiantSteps(+) folder, or a ``.csv`` manifest.
      classes: keep only these class names (case-insensitive); ``None`` keeps all.
      label: GiantSteps+ only: a :class:`~jaxsep.options.GenreLabel` (Beatport's genre or first sub-genre).
      say: receives notes on how the data was read (a root descended into); ``None`` drops them.

    Returns:
      ``(songs, problems)``: songs sorted by ``(label, song_id)``, only of classes with at least
      :data:`~jaxsep.audio.songs.MIN_SONGS_PER_CLASS` songs; one :class:`Problem` per skipped file, row or class.

    Raises:
      DatasetError: ``data`` does not exist, has no recognisable layout or no songs at all, a manifest lacks
        its columns, or a requested class has no songs.
    """
    try:
        label = choose(GenreLabel, label, "label", message="unknown label {value!r}; choose from {choices}")
    except ConfigError as error:
        raise DatasetError(data, str(error)) from None
    data = Path(data)
    if data.is_file() and data.suffix.lower() == ".csv":
        songs, problems = read_manifest(data)
    elif data.is_dir() and (data / "audio").is_dir() and (data / "meta").is_dir():
        songs, problems = read_giantsteps_plus(data, label=label)
    elif data.is_dir() and (data / "audio").is_dir() and (data / "annotations" / "genre").is_dir():
        songs, problems = read_giantsteps(data)
    elif data.is_dir():
        inner = _single_class_root(data)
        if inner is not None and say is not None:
            say(f"{data}: holds only {inner.name}/, a folder of class folders; reading that")
        songs, problems = read_class_folders(inner or data)
    elif data.exists():
        raise DatasetError(data, "not a folder or a .csv manifest")
    else:
        raise DatasetError(data, "no such file or folder")
    songs = _select_classes(data, songs, classes)
    songs, small = drop_small_classes(songs, where=data)
    if not songs:
        raise DatasetError(data, "no usable songs" + summarize(problems + small))
    return sorted(songs, key=lambda s: (s.label, s.song_id)), problems + small


def read_class_folders(root: Path) -> tuple[list[Song], list[Problem]]:
    """Songs of a folder with one sub-folder per class (see the module docstring)."""
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        loose = any(is_audio_file(p) for p in root.iterdir())
        hint = " (audio files must sit in one sub-folder per class)" if loose else ""
        raise DatasetError(root, f"no class folders{hint}")
    songs: list[Song] = []
    problems: list[Problem] = []
    for class_dir in class_dirs:
        found = 0
        for entry in sorted(class_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            song_id = f"{class_dir.name}/{entry.stem if entry.is_file() else entry.name}"
            if entry.is_dir():
                song, problem = _song_folder(entry, song_id, class_dir.name)
            elif is_audio_file(entry):
                song, problem = Song(song_id=song_id, path=entry, label=class_dir.name), None
            else:
                song, problem = None, Problem(str(entry), "not an audio file (skipped)")
            if problem is not None:
                problems.append(problem)
            if song is not None:
                songs.append(song)
                found += 1
        if found == 0:
            problems.append(Problem(str(class_dir), f"class {class_dir.name!r} holds no songs"))
    return _unique_ids(songs), problems


def read_manifest(manifest: Path) -> tuple[list[Song], list[Problem]]:
    """Songs listed in a CSV manifest (see the module docstring); rows naming missing files become problems."""
    base = manifest.parent
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            header = [name.strip().lower() for name in (reader.fieldnames or [])]
            rows = [{k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DatasetError(manifest, f"cannot read the manifest ({error})") from error
    missing = [c for c in ("path", "label") if c not in header]
    if missing:
        raise DatasetError(manifest, f"manifest lacks column(s) {missing}; header is {header}")
    unknown = [c for c in header if c not in _MANIFEST_COLUMNS]
    if unknown:
        raise DatasetError(manifest, f"unknown manifest column(s) {unknown}; allowed: {', '.join(_MANIFEST_COLUMNS)}")
    songs: list[Song] = []
    problems: list[Problem] = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"{manifest}:{line}"
        song, problem = _manifest_song(row, base, where)
        if problem is not None:
            problems.append(problem)
        else:
            songs.append(song)
    return _unique_ids(songs), problems


def read_giantsteps(root: Path) -> tuple[list[Song], list[Problem]]:
    """Songs of the GiantSteps key data set: ``audio/NAME.mp3`` labelled by ``annotations/genre/NAME.genre``."""
    genre_dir = root / "annotations" / "genre"
    songs: list[Song] = []
    problems: list[Problem] = []
    claimed: dict[Path, Path] = {}
    for entry in _audio_files(root / "audio", problems):
        name = entry.name[: -len(entry.suffix)]
        genre_file = genre_dir / f"{name}.genre"
        if not genre_file.is_file():
            problems.append(Problem(str(entry), f"no genre annotation ({genre_file} is missing)"))
            continue
        if _claimed_twice(entry, genre_file, claimed, problems):
            continue
        genre = genre_file.read_text(encoding="utf-8", errors="replace").strip()
        if not genre:
            problems.append(Problem(str(genre_file), "empty genre annotation"))
            continue
        songs.append(Song(song_id=name, path=entry, label=genre))
    return songs, problems


def read_giantsteps_plus(root: Path, *, label: GenreLabel = GenreLabel.GENRE) -> tuple[list[Song], list[Problem]]:
    """Songs of the GiantSteps+ EDM key data set: ``audio/NAME.mp3`` labelled by ``meta/NAME.json`` (Beatport's
    ``genres`` / ``sub_genres``), matched by stem, else by the leading numeric id (see the module docstring)."""
    metas = {p.stem: p for p in sorted((root / "meta").glob("*.json")) if not p.name.startswith(".")}
    by_id: dict[str, Path] = {}
    for stem, path in metas.items():
        by_id.setdefault(_leading_id(stem), path)
    songs: list[Song] = []
    problems: list[Problem] = []
    claimed: dict[Path, Path] = {}
    for entry in _audio_files(root / "audio", problems):
        meta = metas.get(entry.stem) or by_id.get(_leading_id(entry.stem))
        if meta is None:
            problems.append(Problem(str(entry), f"no Beatport meta file (meta/{entry.stem}.json or one with its "
                                                "numeric id)"))
            continue
        if _claimed_twice(entry, meta, claimed, problems):
            continue
        genre, artists, problem = _beatport_record(meta, label)
        if problem is not None:
            problems.append(Problem(str(meta), problem))
            continue
        songs.append(Song(song_id=entry.stem, path=entry, label=genre, artists=artists))
    return songs, problems


def _audio_files(folder: Path, problems: list[Problem]) -> list[Path]:
    """The audio files of a GiantSteps ``audio/`` folder, sorted; other files become problems, hidden ones are
    skipped silently."""
    files = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not entry.is_file():
            continue
        if is_audio_file(entry):
            files.append(entry)
        else:
            problems.append(Problem(str(entry), "not an audio file (skipped)"))
    return files


def _claimed_twice(entry: Path, annotation: Path, claimed: dict[Path, Path], problems: list[Problem]) -> bool:
    """Whether an earlier audio file already took ``annotation`` (then a problem naming both is added);
    otherwise ``entry`` takes it. One annotation labels one track: a second file is a copy of it (``x.wav``
    beside ``x.mp3``), kept out so that ids stay unique and the track cannot sit on both sides of a split."""
    first = claimed.setdefault(annotation, entry)
    if first == entry:
        return False
    problems.append(Problem(str(entry), f"same track as {first.name!r} (both labelled by {annotation.name}); "
                                        "only the first file by name is read (skipped)"))
    return True


def _leading_id(stem: str) -> str:
    """The numeric id a GiantSteps file name starts with (``"10089 Jason Sparks - ..."`` → ``"10089"``)."""
    match = re.match(r"\s*(\d+)", stem)
    return match.group(1) if match else stem


def _beatport_record(meta: Path, label: GenreLabel) -> tuple[str | None, tuple[str, ...], str | None]:
    """``(label, artists, None)`` from a Beatport JSON file, or ``(None, (), problem)``."""
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, (), f"cannot read the Beatport meta ({error})"

    def first_name(key: str) -> str | None:
        entries = record.get(key) if isinstance(record, dict) else None
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            name = str(entries[0].get("name") or "").strip()
            return name or None
        return None

    genre = first_name("genres")
    if label == GenreLabel.SUB_GENRE:
        genre = first_name("sub_genres") or genre
    if genre is None:
        return None, (), "no genre in the Beatport meta (track skipped)"
    return genre, _beatport_artists(record), None


def _beatport_artists(record) -> tuple[str, ...]:
    """Every artist name of a Beatport record's ``artists`` (``[{"id", "name"}]``), in order, each once;
    ``()`` when the entry is missing or not a list. Artists are optional: entries without a name are
    passed over, never a problem."""
    entries = record.get("artists") if isinstance(record, dict) else None
    if not isinstance(entries, list):
        return ()
    names = (e.get("name") for e in entries if isinstance(e, dict))
    return tuple(dict.fromkeys(n.strip() for n in names if isinstance(n, str) and n.strip()))


def _single_class_root(root: Path) -> Path | None:
    """The only sub-folder of ``root`` when it holds class folders rather than songs (GTZAN's ``genres/``):
    ``root`` has no audio of its own and one folder, whose sub-folders hold audio files and none of which looks
    like a song folder (a mixture or stem file)."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    folders = [p for p in entries if p.is_dir()]
    if len(folders) != 1 or any(is_audio_file(p) for p in entries if p.is_file()):
        return None
    song_names = {MIXTURE, *STEMS}
    holding_audio = 0
    for folder in (p for p in folders[0].iterdir() if p.is_dir() and not p.name.startswith(".")):
        stems = {p.stem.lower() for p in folder.iterdir() if p.is_file() and is_audio_file(p)}
        if stems & song_names:
            return None
        holding_audio += bool(stems)
    return folders[0] if holding_audio else None


def _song_folder(folder: Path, song_id: str, label: str) -> tuple[Song | None, Problem | None]:
    """A song folder: ``mixture.<ext>`` plus any of the stems ``bass.<ext>`` ..."""
    audio = {p.stem.lower(): p for p in sorted(folder.iterdir()) if p.is_file() and is_audio_file(p)}
    if MIXTURE not in audio:
        return None, Problem(str(folder), f"song folder without a {MIXTURE}.<audio> file (skipped)")
    stems = {stem: audio[stem] for stem in STEMS if stem in audio}
    return Song(song_id=song_id, path=audio[MIXTURE], label=label, stems=stems), None


def _manifest_song(row: dict[str, str], base: Path, where: str) -> tuple[Song | None, Problem | None]:
    if not row.get("path") or not row.get("label"):
        return None, Problem(where, "empty path or label")
    try:
        path = _resolve(base, row["path"])
        stems = {stem: _resolve(base, row[stem]) for stem in STEMS if row.get(stem)}
    except ValueError as error:
        return None, Problem(where, str(error))
    if not path.is_file():
        return None, Problem(where, f"no such file: {path}")
    start = None
    if row.get("start"):
        try:
            start = float(row["start"])
        except ValueError:
            return None, Problem(where, f"start {row['start']!r} is not a number of seconds")
        if not math.isfinite(start):
            return None, Problem(where, f"start {row['start']!r} is not a finite number of seconds")
        if start < 0:
            return None, Problem(where, f"negative start {start}")
    missing = [str(p) for p in stems.values() if not p.is_file()]
    if missing:
        return None, Problem(where, f"no such stem file(s): {', '.join(missing)}")
    song_id = _relative_to(path, base).with_suffix("").as_posix()
    return Song(song_id=song_id, path=path, label=row["label"], start=start, stems=stems,
                artists=parse_artists(row.get("artist", ""))), None


def _resolve(base: Path, name: str) -> Path:
    """``name`` with ``~`` expanded, relative to ``base`` unless absolute.

    Raises:
      ValueError: ``name`` starts with ``~user`` of a user this machine does not know.
    """
    try:
        path = Path(name).expanduser()
    except RuntimeError as error:
        raise ValueError(f"cannot expand {name!r}: {error}") from None
    return path if path.is_absolute() else base / path


def _relative_to(path: Path, base: Path) -> Path:
    """``path`` relative to ``base`` when it lies below it (short, movable song ids), else as it is."""
    try:
        return path.resolve().relative_to(base.resolve())
    except ValueError:
        return path


def _unique_ids(songs: list[Song]) -> list[Song]:
    """Appends ``#2``, ``#3``... to repeated ids (one file listed twice, ``a.wav`` beside ``a.mp3``)."""
    seen: Counter[str] = Counter()
    unique = []
    for song in songs:
        seen[song.song_id] += 1
        if seen[song.song_id] > 1:
            song = dataclasses.replace(song, song_id=f"{song.song_id}#{seen[song.song_id]}")
        unique.append(song)
    return unique


def _select_classes(data: Path, songs: list[Song], classes: Iterable[str] | None) -> list[Song]:
    if classes is None:
        return songs
    wanted = {c.strip().lower() for c in classes if c.strip()}
    have = {song.label.lower() for song in songs}
    unknown = sorted(wanted - have)
    if unknown:
        raise DatasetError(data, f"no songs of class(es) {unknown}; found {sorted({s.label for s in songs})}")
    return [song for song in songs if song.label.lower() in wanted]


