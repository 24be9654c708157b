"""The feature file: the one contract between the audio front end and the trial engine.

A feature file is a single ``.npz`` archive holding

=========  ==========================================  ==============================================
key        shape / type                                meaning
=========  ==========================================  ==============================================
mels       float16|float32 ``(songs, n_mels, frames,   log-mel spectrograms, one map per channel
           maps)``
maps       str ``(maps,)``                             names of the channels, each one of
                                                       :data:`jaxsep.constants.MAPS`
labels     int ``(songs,)``                            class index of each song
classes    str ``(n_classes,)``                        class names, indexed by ``labels``
song_ids   str ``(songs,)``                            one identifier per row (unique)
meta       str ``()`` (JSON)                           at least sample_rate, n_fft, hop_length,
                                                       n_mels, separator, format_version
artists    str ``(songs,)``, optional                  each row's song's artists joined by
                                                       :data:`~jaxsep.audio.songs.ARTIST_SEPARATOR`
                                                       (``""``: none known); present only when some
                                                       song has artists (artist-grouped splits)
=========  ==========================================  ==============================================

With several segments per song (``jaxsep features --segments-per-song K``) each row is one segment, the ids
are ``<song>@<k>``, and the optional key ``segment_song`` (int ``(rows,)``) gives the song of each row:
every song has ``K`` rows, all with its label (and its artists). Trials split songs, never segments
(:mod:`jaxsep.training`).

:func:`load_features` validates all of it and raises :class:`~jaxsep.errors.FeatureFileError` naming the
file and the problem; :func:`save_features` writes atomically (temporary file, then rename).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..atomic import atomic_path
from ..audio.songs import parse_artists
from ..constants import FEATURE_FORMAT_VERSION, MAPS
from ..errors import FeatureFileError

REQUIRED_META = ("sample_rate", "n_fft", "hop_length", "n_mels", "separator", "format_version")
#: The ``meta`` entries that are counts (checked to be positive integers).
_COUNT_META = ("sample_rate", "n_fft", "hop_length", "n_mels")
#: The smallest maps the models take: two 2x2 max-pools leave at least one cell.
MIN_MAP_SIZE = 4
_KEYS = ("mels", "maps", "labels", "classes", "song_ids", "meta")
#: The optional key of files with several segments per song.
SEGMENT_SONG = "segment_song"
#: The optional key of files whose songs have artists.
ARTISTS = "artists"


@dataclass(frozen=True)
class FeatureSet:
    """Validated contents of a feature file.

    Attributes:
      mels: log-mel spectrograms, shape ``(rows, n_mels, frames, maps)``, float16 or float32; a row is a song,
        or one of its segments.
      maps: channel names, ``len(maps) == mels.shape[-1]``.
      labels: int32 class indices, shape ``(rows,)``.
      classes: class names.
      song_ids: one identifier per row.
      meta: feature parameters and provenance (see :data:`REQUIRED_META`).
      path: where it was loaded from (``None`` for an in-memory set).
      segment_song: the song of each row, int ``(rows,)``, when songs have several segments; ``None``: one row
        per song.
      artists: one string per row, its song's artists joined by :data:`~jaxsep.audio.songs.ARTIST_SEPARATOR`
        (``""``: none known); ``None`` when the file names no artists.
    """

    mels: np.ndarray
    maps: tuple[str, ...]
    labels: np.ndarray
    classes: tuple[str, ...]
    song_ids: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    segment_song: np.ndarray | None = None
    artists: tuple[str, ...] | None = None

    @property
    def n_rows(self) -> int:
        return int(self.mels.shape[0])

    @property
    def n_songs(self) -> int:
        return self.n_rows if self.segment_song is None else int(self.segment_song.max()) + 1

    @property
    def segments_per_song(self) -> int:
        return self.n_rows // self.n_songs

    @property
    def song_rows(self) -> np.ndarray:
        """The rows of each song, int ``(songs, segments_per_song)`` (``[[0], [1], ...]`` for one per song)."""
        if self.segment_song is None:
            return np.arange(self.n_rows)[:, None]
        return np.argsort(self.segment_song, kind="stable").reshape(self.n_songs, self.segments_per_song)

    @property
    def song_labels(self) -> np.ndarray:
        """The label of each song, ``(songs,)``."""
        return self.labels[self.song_rows[:, 0]]

    @property
    def song_names(self) -> tuple[str, ...]:
        """One id per song: the row ids without their ``@k`` segment suffix."""
        first = [self.song_ids[row] for row in self.song_rows[:, 0]]
        return tuple(first if self.segment_song is None else (name.rsplit("@", 1)[0] for name in first))

    @property
    def song_artists(self) -> tuple[tuple[str, ...], ...] | None:
        """The artists of each song (in song order, like :attr:`song_names`), ``()`` for a song without;
        ``None`` when the file names no artists. Input of :func:`jaxsep.training.groups.artist_groups`."""
        if self.artists is None:
            return None
        return tuple(parse_artists(self.artists[row]) for row in self.song_rows[:, 0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def check_maps(self, names: Iterable[str]) -> tuple[str, ...]:
        """``names`` as a tuple, when the set has every one of those maps.

        Raises:
          FeatureFileError: naming the maps the set lacks.
        """
        names = tuple(names)
        missing = [n for n in names if n not in self.maps]
        if missing:
            raise FeatureFileError(self.path or "<features>", f"missing map(s) {missing}; file has {list(self.maps)}")
        return names

    def select_maps(self, names: Iterable[str]) -> np.ndarray:
        """Returns the named maps stacked as channels, shape ``(songs, n_mels, frames, len(names))``."""
        index = [self.maps.index(n) for n in self.check_maps(names)]
        return self.mels[..., index]

    def subset_classes(self, names: Iterable[str]) -> "FeatureSet":
        """The songs of the named classes only, relabelled ``0..len(names)-1`` in the given order.

        Raises:
          FeatureFileError: a class the file does not have, or one named twice.
        """
        names = tuple(names)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise FeatureFileError(self.path or "<features>", f"class(es) {twice} named more than once")
        unknown = [n for n in names if n not in self.classes]
        if unknown:
            raise FeatureFileError(self.path or "<features>", f"unknown class(es) {unknown}; file has {list(self.classes)}")
        old = [self.classes.index(n) for n in names]
        keep = np.isin(self.labels, old)
        relabel = np.full(self.n_classes, -1, np.int32)
        relabel[old] = np.arange(len(old))
        segment_song = None
        if self.segment_song is not None:  # renumber the kept songs 0, 1, ...
            segment_song = np.unique(self.segment_song[keep], return_inverse=True)[1].astype(np.int32)
        return FeatureSet(
            mels=self.mels[keep],
            maps=self.maps,
            labels=relabel[self.labels[keep]],
            classes=names,
            song_ids=tuple(s for s, k in zip(self.song_ids, keep) if k),
            meta={**self.meta, "classes_selected": list(names)},
            path=self.path,
            segment_song=segment_song,
            artists=None if self.artists is None else tuple(a for a, k in zip(self.artists, keep) if k),
        )

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 of everything in the set that shapes a result: maps, labels, names, meta, and the segments'
        songs and the artists where the file has them (computed once)."""
        digest = hashlib.sha256()
        arrays = [self.mels, self.labels] + ([self.segment_song] if self.segment_song is not None else [])
        for array in arrays:
            digest.update(str(array.dtype).encode())
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array))  # its buffer, not a copy of it
        record = [self.maps, self.classes, self.song_ids, self.meta] + ([self.artists] if self.artists else [])
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        return digest.hexdigest()

    def class_counts(self) -> np.ndarray:
        """Songs per class, shape ``(n_classes,)``."""
        return np.bincount(self.song_labels, minlength=self.n_classes)


def check_out_file(path: str | os.PathLike) -> None:
    """Checks, before any work, that a feature file can be written at ``path`` (its folder is created).

    Raises:
      FeatureFileError: the name does not end in ``.npz``, it is a folder, or its folder cannot be made or written.
    """
    path = Path(path)
    if path.is_dir():
        raise FeatureFileError(path, "is a folder; --out names the feature file to write")
    if path.suffix.lower() != ".npz":
        raise FeatureFileError(path, "a feature file's name ends in .npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FeatureFileError(path, f"cannot create its folder ({error.strerror or error})") from None
    if not os.access(path.parent, os.W_OK):
        raise FeatureFileError(path, "cannot write into its folder")


def _is_count(value) -> bool:
    """A positive integer, as an int, an integer-valued float or a numpy integer (not a bool or a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    return math.isfinite(value) and value == int(value) and value > 0


def validate_features(features: FeatureSet, required_maps: Iterable[str] = ()) -> FeatureSet:
    """Checks shapes, dtypes, values and names; returns ``features`` unchanged or raises.

    Raises:
      FeatureFileError: naming ``features.path`` and the first problem found.
    """
    where = features.path or "<features>"

    def fail(problem: str):
        raise FeatureFileError(where, problem)

    mels = features.mels
    if not isinstance(mels, np.ndarray) or mels.ndim != 4:
        fail(f"'mels' must be a 4-d array (songs, n_mels, frames, maps), got shape {getattr(mels, 'shape', None)}")
    if mels.dtype not in (np.float16, np.float32):
        fail(f"'mels' must be float16 or float32, got {mels.dtype}")
    n_songs, n_mels, n_frames, n_maps = mels.shape
    if n_songs == 0 or n_mels == 0 or n_frames == 0:
        fail(f"'mels' is empty: shape {mels.shape}")
    if min(n_mels, n_frames) < MIN_MAP_SIZE:
        fail(f"maps of {n_mels} x {n_frames} are too small: the models' two 2x2 pools need at least "
             f"{MIN_MAP_SIZE} x {MIN_MAP_SIZE}")
    if len(features.maps) != n_maps:
        fail(f"'maps' names {len(features.maps)} maps but 'mels' has {n_maps} channels")
    unknown = [m for m in features.maps if m not in MAPS]
    if unknown:
        fail(f"unknown map name(s) {unknown}; allowed: {list(MAPS)}")
    if len(set(features.maps)) != len(features.maps):
        fail(f"duplicate map names in {list(features.maps)}")
    missing = [m for m in required_maps if m not in features.maps]
    if missing:
        fail(f"missing map(s) {missing} needed by the chosen models; file has {list(features.maps)}")
    labels = features.labels
    if labels.shape != (n_songs,):
        fail(f"'labels' has shape {labels.shape}, expected ({n_songs},) to match 'mels'")
    if not np.issubdtype(labels.dtype, np.integer):
        fail(f"'labels' must be integers, got {labels.dtype}")
    if len(features.classes) == 0:
        fail("'classes' is empty")
    twice = sorted({c for c in features.classes if features.classes.count(c) > 1})
    if twice:
        fail(f"'classes' names {twice[0]!r} more than once (classes {list(features.classes)})")
    bad = labels[(labels < 0) | (labels >= len(features.classes))]
    if bad.size:
        fail(f"label {int(bad[0])} out of range for {len(features.classes)} classes")
    if len(features.song_ids) != n_songs:
        fail(f"'song_ids' has {len(features.song_ids)} entries, expected {n_songs}")
    if len(set(features.song_ids)) != n_songs:
        fail("'song_ids' are not unique")
    missing_meta = [k for k in REQUIRED_META if k not in features.meta]
    if missing_meta:
        fail(f"'meta' lacks {missing_meta}")
    not_counts = [k for k in _COUNT_META if not _is_count(features.meta[k])]
    if not_counts:
        fail(f"'meta' {not_counts} must be positive integers, got {[features.meta[k] for k in not_counts]}")
    if int(features.meta["n_mels"]) != n_mels:
        fail(f"'meta' says n_mels={features.meta['n_mels']} but 'mels' has {n_mels}")
    if features.segment_song is not None:
        _validate_segments(features, fail)
    if features.artists is not None:
        _validate_artists(features, fail)
    if not np.isfinite(mels).all():
        song = int(np.nonzero(~np.isfinite(mels).reshape(n_songs, -1).all(axis=1))[0][0])
        fail(f"'mels' holds NaN or infinite values (first in song {song}, id {features.song_ids[song]!r})")
    return features


def _validate_segments(features: FeatureSet, fail) -> None:
    """``segment_song``: ints ``(rows,)``, songs numbered ``0..n-1``, each with the same number of rows, all of
    one label."""
    segment_song = features.segment_song
    if not isinstance(segment_song, np.ndarray) or segment_song.shape != features.labels.shape:
        fail(f"'segment_song' must have shape {features.labels.shape}, got {getattr(segment_song, 'shape', None)}")
    if not np.issubdtype(segment_song.dtype, np.integer) or segment_song.min() < 0:
        fail("'segment_song' must hold song numbers 0, 1, ...")
    counts = np.bincount(segment_song)
    if counts.min() == 0 or len(set(counts.tolist())) != 1:
        fail(f"every song needs the same number of segments; counts range {counts.min()} to {counts.max()}")
    rows = np.argsort(segment_song, kind="stable").reshape(len(counts), -1)
    if np.any(features.labels[rows] != features.labels[rows[:, :1]]):
        fail("the segments of a song carry different labels")


def _validate_artists(features: FeatureSet, fail) -> None:
    """``artists``: one string per row; with segments, the rows of a song name the same artists."""
    artists = features.artists
    if len(artists) != features.n_rows:
        fail(f"'artists' has {len(artists)} entries, expected one per row ({features.n_rows})")
    not_text = [a for a in artists if not isinstance(a, str)]
    if not_text:
        fail(f"'artists' must be strings, got {not_text[0]!r}")
    if features.segment_song is None:
        return
    for song, rows in enumerate(features.song_rows):
        named = list(dict.fromkeys(artists[row] for row in rows))  # as written, in row order
        if len({parse_artists(text) for text in named}) > 1:
            fail(f"the segments of song {features.song_names[song]!r} carry different artists ({named})")


def load_features(path: str | os.PathLike, required_maps: Iterable[str] = ()) -> FeatureSet:
    """Loads and validates a feature file.

    Args:
      path: the ``.npz`` file.
      required_maps: map names the caller needs (e.g. those of the chosen models).

    Returns:
      A validated :class:`FeatureSet`; ``mels`` keeps the file's dtype.

    Raises:
      FeatureFileError: missing, truncated or non-npz file, missing keys, wrong shapes or dtypes,
        non-finite values, labels out of range, missing maps.
    """
    path = Path(path)
    if not path.is_file():
        raise FeatureFileError(path, "no such feature file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in _KEYS if k not in archive.files]
            if missing:
                raise FeatureFileError(path, f"not a jaxsep feature file: missing key(s) {missing}")
            arrays = {k: archive[k] for k in _KEYS}
            segment_song = archive[SEGMENT_SONG] if SEGMENT_SONG in archive.files else None
            artists = archive[ARTISTS] if ARTISTS in archive.files else None
    except FeatureFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise FeatureFileError(path, f"cannot read as .npz ({type(error).__name__}: {error})") from error
    try:
        meta = json.loads(str(arrays["meta"]))
    except json.JSONDecodeError as error:
        raise FeatureFileError(path, f"'meta' is not valid JSON ({error})") from error
    if not isinstance(meta, dict):
        raise FeatureFileError(path, "'meta' must be a JSON object")
    if artists is not None and (artists.ndim != 1 or artists.dtype.kind != "U"):
        raise FeatureFileError(path, f"'artists' must be strings of shape (rows,), got {artists.dtype} "
                                     f"of shape {artists.shape}")
    features = FeatureSet(
        mels=arrays["mels"],
        maps=tuple(str(m) for m in np.atleast_1d(arrays["maps"])),
        labels=arrays["labels"],
        classes=tuple(str(c) for c in np.atleast_1d(arrays["classes"])),
        song_ids=tuple(str(s) for s in np.atleast_1d(arrays["song_ids"])),
        meta=meta,
        path=str(path),
        segment_song=segment_song,
        artists=None if artists is None else tuple(str(a) for a in artists),
    )
    validate_features(features, required_maps)
    return dataclasses.replace(features, labels=features.labels.astype(np.int32),
                               segment_song=None if segment_song is None else segment_song.astype(np.int32))


def save_features(
    path: str | os.PathLike,
    *,
    mels: np.ndarray,
    maps: Iterable[str],
    labels: np.ndarray,
    classes: Iterable[str],
    song_ids: Iterable[str],
    meta: dict[str, Any],
    segment_song: np.ndarray | None = None,
    artists: Iterable[str] | None = None,
) -> Path:
    """Validates and writes a feature file atomically (temporary file in the same folder, then rename).

    Args:
      mels: shape ``(rows, n_mels, frames, maps)``, float16 or float32.
      maps, labels, classes, song_ids, meta, segment_song: see the module docstring; ``format_version`` is
        added to ``meta`` when absent.
      artists: one string per row, its song's artists joined by :data:`~jaxsep.audio.songs.ARTIST_SEPARATOR`
        (``""``: none); written only when some row names an artist.

    Returns:
      The written path.

    Raises:
      FeatureFileError: the contents fail :func:`validate_features`.
    """
    path = Path(path)
    meta = {"format_version": FEATURE_FORMAT_VERSION, **meta}
    features = FeatureSet(
        mels=np.asarray(mels),
        maps=tuple(maps),
        labels=np.asarray(labels),
        classes=tuple(classes),
        song_ids=tuple(song_ids),
        meta=meta,
        path=str(path),
        segment_song=None if segment_song is None else np.asarray(segment_song),
        artists=None if artists is None else tuple(artists),
    )
    validate_features(features)
    named = features.artists is not None and any(parse_artists(a) for a in features.artists)
    with atomic_path(path, suffix=".tmp.npz") as temporary, temporary.open("wb") as stream:
        np.savez(
            stream,
            mels=features.mels,
            maps=np.array(features.maps, dtype=str),
            labels=features.labels.astype(np.int32),
            classes=np.array(features.classes, dtype=str),
            song_ids=np.array(features.song_ids, dtype=str),
            meta=np.array(json.dumps(meta, sort_keys=True)),
            **({} if features.segment_song is None else {SEGMENT_SONG: features.segment_song.astype(np.int32)}),
            **({ARTISTS: np.array(features.artists, dtype=str)} if named else {}),
        )
    return path
