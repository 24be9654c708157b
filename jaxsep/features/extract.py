"""Songs in, feature file out: segment -> separate -> ``{stem: audio}`` -> log-mel maps -> ``.npz``.

For every song: pick the segment (:mod:`jaxsep.audio.segments`), split it into :data:`~jaxsep.constants.STEMS`
with a separator at its native rate and channels or load the user's true stems (``given``; both in
:mod:`jaxsep.separation.stems`), bring the mix and each stem to 22,050 Hz mono, and compute the log-mel maps
of :data:`~jaxsep.constants.MAPS`: ``mix`` (the segment itself), ``novox`` (bass + drums + other, summed as
audio), and one per stem.

Results are cached per song (:mod:`jaxsep.cache`) in three layers - the automatically picked start, the stems
at 22,050 Hz mono, the maps - each keyed by exactly what it depends on, so a changed mel parameter reuses the
stems and a killed run, restarted, redoes only the songs it had not finished.

Separators that take batches (htdemucs, :class:`~jaxsep.separation.base.BatchSeparator`) can separate several
segments per model call (``separation_batch``, ``jaxsep features --separation-batch N``): when a song's segment
needs separating, it is separated together with the next segments that need it - the song's own, then the
following songs' - up to N, and the others' stems wait in memory until their song's turn (:class:`_Batches`).
Songs are still finished, cached and reported one by one, in order; a later song whose segment cannot be
loaded is left out of the batch and reports its own problem at its turn.

The batch size is no part of any cache key, and a stems entry made at one batch size serves every other:
batched stems equal one-at-a-time stems only to float rounding (different summation orders inside torch; the
differences measured are in tests/test_separation_batch.py), the same latitude the keys already give torch's
thread count and device, which they do not record either (a CPU-made entry serves a GPU run). A feature file
made from a mix of entries differs from a fresh one by that rounding, far below the float16 maps' 0.03 dB
step. For the same reason the feature file does not record the batch size.

A song that cannot be used (any :class:`~jaxsep.errors.JaxsepError` it raises) becomes a
:class:`~jaxsep.audio.songs.Problem` and the run goes on; ``strict`` re-raises the first instead. Other
exceptions (a bug, Ctrl-C) stop the run; what was cached stays.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..audio.segments import DROP_RULE, load_segment, song_start, song_starts
from ..audio.songs import (
    ARTIST_SEPARATOR,
    Problem,
    Progress,
    Song,
    SongRun,
    drop_small_classes,
    for_each_song,
    summarize,
)
from ..cache import Cache, cache_key
from ..constants import (
    HOP_LENGTH,
    MAPS,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    SEGMENT_SAMPLES,
    SEGMENT_SECONDS,
)
from ..errors import ConfigError, DatasetError, JaxsepError
from ..options import FeatureDtype, choose

# The separation package imports torch only when demucs runs, so the front end stays torch-free.
from ..separation.base import BatchSeparator, Separator, check_batch_size, check_input
from ..separation.stems import GIVEN, given_stems, separated_stems, separator_identity, stems_at_feature_rate
from .file import check_out_file, save_features
from .logmel import AMIN, REF_POWER, log_mel

FRAMING = "centred frames (librosa center=True, zero padding), trailing frame at the segment's end dropped"


@dataclass(frozen=True)
class FeatureOptions:
    """How songs become maps; every field that changes a result is part of the cache keys.

    Attributes:
      start: segment start (seconds) for songs without their own; ``None`` picks the drop.
      pad: pad songs shorter than a segment with silence instead of skipping them.
      strict: stop at the first problem instead of skipping the song.
      n_fft, hop_length, n_mels: mel parameters (the paper's by default).
      dtype: a :class:`~jaxsep.options.FeatureDtype`, the storage type of the maps in the feature file.
      stem_tolerance_db: given stems must add up to the mix with a residual this many dB below the mix.
      segments_per_song: non-overlapping segments taken from each song (the drop first, then the next best);
        1 is the paper's protocol. A song too short for them is skipped.
    """

    start: float | None = None
    pad: bool = False
    strict: bool = False
    n_fft: int = N_FFT
    hop_length: int = HOP_LENGTH
    n_mels: int = N_MELS
    dtype: FeatureDtype = FeatureDtype.FLOAT16
    stem_tolerance_db: float = 20.0
    segments_per_song: int = 1

    def __post_init__(self):
        object.__setattr__(self, "dtype", choose(FeatureDtype, self.dtype, "dtype"))
        if self.segments_per_song < 1:
            raise ConfigError(f"segments per song must be >= 1, got {self.segments_per_song}")


def featurize(
    songs: Sequence[Song],
    *,
    out: str | os.PathLike,
    separator: Separator | str,
    cache: Cache,
    options: FeatureOptions = FeatureOptions(),
    problems: Sequence[Problem] = (),
    progress: Progress | None = None,
    workers: int | None = None,
    separation_batch: int = 1,
) -> SongRun:
    """Computes the maps of every song and writes the feature file (see the module docstring).

    Args:
      songs: from :func:`jaxsep.audio.layouts.discover`.
      out: the ``.npz`` feature file to write.
      separator: a :class:`Separator` or :data:`GIVEN`.
      cache: where per-song results are kept.
      options: segment and feature parameters.
      problems: problems found before (by discovery), carried into the report and the file's meta.
      progress: callbacks; ``None`` for none.
      workers: songs processed at once on threads; ``None``: :func:`song_workers` of the separator. The file
        is the same for any number.
      separation_batch: segments per separator call, >= 1, for separators that take batches (htdemucs); 1
        separates one at a time. ``dsp`` and ``given`` stems ignore it. The file is the same for any number to
        float rounding, and the cache does not tell them apart (see the module docstring).

    Returns:
      A :class:`~jaxsep.audio.songs.SongRun`; the file holds ``mels`` of shape ``(songs · segments, n_mels,
      frames, 6)`` with maps in :data:`~jaxsep.constants.MAPS` order, ``frames = 458`` for the default hop,
      and, when some song has artists, their ``artists`` (each song's on every one of its rows).

    Raises:
      JaxsepError: the first problem when ``options.strict``; DatasetError when no class keeps two songs;
        FeatureFileError or CacheError, before any work, when ``out`` cannot be written or the cache folder made;
        ConfigError, before any work, when ``separation_batch`` is not an integer >= 1.
    """
    separation_batch = check_batch_size(separation_batch)
    check_out_file(out)
    cache.ensure_folder()
    problems = list(problems)
    if options.strict and problems:
        raise DatasetError(problems[0].file, problems[0].problem)
    batches = None
    if separation_batch > 1 and isinstance(separator, BatchSeparator):
        batches = _Batches(songs, separator=separator, cache=cache, options=options, size=separation_batch)

    def maps_of(song: Song) -> tuple[list[np.ndarray], list[float]]:
        return song_segment_maps(song, separator=separator, cache=cache, options=options, progress=progress,
                                 batches=batches)

    workers = song_workers(separator) if workers is None else workers
    finished, failed = for_each_song(songs, maps_of, strict=options.strict, progress=progress, workers=workers)
    problems += failed
    done = [(song, maps, starts) for song, (maps, starts) in finished]
    kept, small = drop_small_classes([song for song, _, _ in done], where=out)
    problems += small
    if not kept:
        raise DatasetError(out, "no class has two usable songs; nothing to write" + summarize(problems))
    kept_ids = {song.song_id for song in kept}
    done = [entry for entry in done if entry[0].song_id in kept_ids]
    classes = sorted({song.label for song, _, _ in done})
    k = options.segments_per_song
    named = any(song.artists for song, _, _ in done)
    path = save_features(
        out,
        mels=np.stack([segment for _, maps, _ in done for segment in maps]).astype(options.dtype),
        maps=MAPS,
        labels=np.repeat([classes.index(song.label) for song, _, _ in done], k).astype(np.int32),
        classes=classes,
        song_ids=[song.song_id if k == 1 else f"{song.song_id}@{i}" for song, _, _ in done for i in range(k)],
        meta=_meta(separator, options, done, problems),
        segment_song=None if k == 1 else np.repeat(np.arange(len(done)), k),
        artists=[ARTIST_SEPARATOR.join(song.artists) for song, _, _ in done for _ in range(k)] if named else None,
    )
    return SongRun(path=path, song_ids=[song.song_id for song, _, _ in done], problems=problems)


def song_workers(separator: Separator | str) -> int:
    """How many songs to work on at once: up to 4 threads (one per core) for the DSP separator and true stems,
    whose numpy/librosa work releases the GIL for much of the time; one for htdemucs, whose torch
    already uses every core."""
    if not isinstance(separator, str) and separator.name == "demucs":
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def song_segment_maps(
    song: Song, *, separator: Separator | str, cache: Cache, options: FeatureOptions, progress: Progress | None = None,
    batches: _Batches | None = None,
) -> tuple[list[np.ndarray], list[float]]:
    """The maps of each of a song's ``options.segments_per_song`` segments (:func:`song_maps` each) and their
    starts (s), the drop first."""
    starts = song_starts(song, cache=cache, start=options.start, pad=options.pad, count=options.segments_per_song)
    maps = [song_maps(song, separator=separator, cache=cache, options=options, progress=progress, start=start,
                      batches=batches)[0]
            for start in starts]
    return maps, starts


def song_maps(
    song: Song, *, separator: Separator | str, cache: Cache, options: FeatureOptions, progress: Progress | None = None,
    start: float | None = None, batches: _Batches | None = None,
) -> tuple[np.ndarray, float]:
    """One song's maps, from the cache when possible.

    Args:
      start: the segment's start (s); default: the song's own, ``options.start``, or the drop.
      batches: separates the segment together with the next songs' (featurize's ``separation_batch``);
        ``None``: alone.

    Returns:
      ``(maps, start)``: float32 maps of shape ``(n_mels, frames, len(MAPS))`` and the segment's start (s).

    Raises:
      JaxsepError: the song cannot be used (AudioError naming the file and the problem).
    """
    progress = progress or Progress()
    if start is None:
        start = song_start(song, cache=cache, start=options.start, pad=options.pad)
    stems_key, maps_key = _cache_keys(song, start, separator=separator, cache=cache, options=options)
    cached = cache.load("maps", maps_key)
    if cached is not None:
        return cached["maps"], start
    audio = cache.load("stems", stems_key)
    if audio is None:
        if separator == GIVEN:
            audio = given_stems(song, start=start, pad=options.pad, tolerance_db=options.stem_tolerance_db)
        elif batches is not None:
            audio = batches.stems(song, start, progress=progress.separation)
        else:
            audio = separated_stems(song, separator, start=start, pad=options.pad, progress=progress.separation)
        cache.save("stems", stems_key, audio)
    maps = np.stack([log_mel(m, sample_rate=SAMPLE_RATE, n_fft=options.n_fft, hop_length=options.hop_length,
                             n_mels=options.n_mels) for m in _map_audio(audio)], axis=-1)
    cache.save("maps", maps_key, {"maps": maps})
    return maps, start


def _cache_keys(song: Song, start: float, *, separator: Separator | str, cache: Cache,
                options: FeatureOptions) -> tuple[str, str]:
    """``(stems key, maps key)`` of a song's segment: everything each depends on (not the separation batch)."""
    identity = separator_identity(song, separator, cache.file_digest, options.stem_tolerance_db)
    stems_key = cache_key(
        kind="stems", audio=cache.file_digest(song.path), start=round(start, 6), segment_samples=SEGMENT_SAMPLES,
        pad=options.pad, separator=identity, sample_rate=SAMPLE_RATE,
    )
    maps_key = cache_key(
        kind="maps", stems=stems_key, n_fft=options.n_fft, hop_length=options.hop_length, n_mels=options.n_mels,
        framing=FRAMING, db=(REF_POWER, AMIN),
    )
    return stems_key, maps_key


class _Batches:
    """Separates songs' segments several per call, for :func:`song_maps`.

    Asked for a segment's stems, it separates that segment together with the next segments that still need
    separating (the rest of its song's, then the following songs', in ``songs`` order), up to ``size``, and
    keeps the others' stems until their song asks for them. A later segment that cannot be loaded is left out:
    its song reports the problem at its own turn. A lock lets songs run on threads.
    """

    def __init__(self, songs: Sequence[Song], *, separator: BatchSeparator, cache: Cache, options: FeatureOptions,
                 size: int):
        self.songs, self.separator, self.cache, self.options, self.size = list(songs), separator, cache, options, size
        self._position = {song.song_id: index for index, song in enumerate(self.songs)}
        self._ready: dict[tuple[str, float], dict[str, np.ndarray]] = {}
        # Segments already handed to their song: on threads a later song may ask before an earlier one, which
        # must then not separate it again.
        self._taken: set[tuple[str, float]] = set()
        self._lock = threading.Lock()

    def stems(self, song: Song, start: float, *,
              progress: Callable[[float], None] | None = None) -> dict[str, np.ndarray]:
        """The segment's ``mix`` and stems, float32 ``(SEGMENT_SAMPLES,)`` at 22,050 Hz (as
        :func:`~jaxsep.separation.stems.separated_stems`).

        Raises:
          AudioError: the segment cannot be loaded or separated.
        """
        wanted = (song.song_id, round(start, 6))
        with self._lock:
            if wanted not in self._ready:
                segments = self._gather(song, start)
                clips = self.separator.separate_batch([audio for _, audio in segments], self.separator.sample_rate,
                                                      batch_size=self.size, progress=progress)
                for (key, audio), stems in zip(segments, clips):
                    self._ready[key] = stems_at_feature_rate(self.separator, audio, stems)
            self._taken.add(wanted)
            return self._ready.pop(wanted)

    def _gather(self, song: Song, start: float) -> list[tuple[tuple[str, float], np.ndarray]]:
        """This segment and up to ``size - 1`` next ones needing separation, each ``(key, (channels, samples))``
        at the separator's rate. Raises only for this segment."""
        segments = [((song.song_id, round(start, 6)), self._load(song, start))]
        for later, later_start in self._following(song, start):
            if len(segments) == self.size:
                break
            key = (later.song_id, round(later_start, 6))
            try:
                if key in self._ready or key in self._taken or self._cached(later, later_start):
                    continue
                segments.append((key, self._load(later, later_start)))
            except JaxsepError:
                continue  # its song reports it at its own turn
        return segments

    def _following(self, song: Song, start: float) -> Iterator[tuple[Song, float]]:
        """The segments after this one: the rest of this song's starts, then every later song's."""
        for index in range(self._position[song.song_id], len(self.songs)):
            later = self.songs[index]
            try:
                starts = song_starts(later, cache=self.cache, start=self.options.start, pad=self.options.pad,
                                     count=self.options.segments_per_song)
            except JaxsepError:
                continue  # its song reports it at its own turn
            if later.song_id == song.song_id:
                rounded = [round(s, 6) for s in starts]
                starts = starts[rounded.index(round(start, 6)) + 1:] if round(start, 6) in rounded else []
            yield from ((later, s) for s in starts)

    def _cached(self, song: Song, start: float) -> bool:
        """Whether the segment's maps or stems are in the cache already (their song will not separate it)."""
        stems_key, maps_key = _cache_keys(song, start, separator=self.separator, cache=self.cache,
                                          options=self.options)
        return not self.cache.force and any(self.cache.path(kind, key).is_file()
                                            for kind, key in (("maps", maps_key), ("stems", stems_key)))

    def _load(self, song: Song, start: float) -> np.ndarray:
        segment = load_segment(song.path, start=start, sample_rate=self.separator.sample_rate,
                               channels=self.separator.channels, pad=self.options.pad)
        return check_input(segment.audio, segment.sample_rate)


def _map_audio(audio: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The audio behind each map of :data:`MAPS`, in order (``novox`` = bass + drums + other)."""
    sources = {**audio, "novox": audio["bass"] + audio["drums"] + audio["other"]}
    return [sources[name] for name in MAPS]


def _meta(separator: Separator | str, options: FeatureOptions, done: list, problems: list[Problem]) -> dict[str, Any]:
    named = separator if isinstance(separator, str) else separator.name
    return {
        "sample_rate": SAMPLE_RATE, "n_fft": options.n_fft, "hop_length": options.hop_length,
        "n_mels": options.n_mels, "n_frames": SEGMENT_SAMPLES // options.hop_length,
        "separator": named, "separator_signature": getattr(separator, "signature", GIVEN),
        "separator_sample_rate": getattr(separator, "sample_rate", None),
        "separator_channels": getattr(separator, "channels", None),
        "segment_samples": SEGMENT_SAMPLES, "segment_seconds": SEGMENT_SECONDS, "start_rule": DROP_RULE,
        "options": asdict(options), "framing": FRAMING,
        "db": {"ref_power": REF_POWER, "amin": AMIN, "top_db": None},
        "segments_per_song": options.segments_per_song,
        "starts": {song.song_id: [round(s, 6) for s in starts] if len(starts) > 1 else round(starts[0], 6)
                   for song, _, starts in done},
        "skipped": [[p.file, p.problem] for p in problems],
    }
