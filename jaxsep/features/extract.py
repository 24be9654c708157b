"""Songs in, feature file out: segment -> separate -> ``{stem: audio}`` -> log-mel maps -> ``.npz``.

For every song: pick the segment (:mod:`jaxsep.audio.segments`), split it into :data:`~jaxsep.constants.STEMS`
with a separator at its native rate and channels or load the user's true stems (``given``; both in
:mod:`jaxsep.separation.stems`), bring the mix and each stem to 22,050 Hz mono, and compute the log-mel maps
of :data:`~jaxsep.constants.MAPS`: ``mix`` (the segment itself), ``novox`` (bass + drums + other, summed as
audio), and one per stem.

Results are cached per song (:mod:`jaxsep.cache`) in three layers - the automatically picked start, the stems
at 22,050 Hz mono, the maps - each keyed by exactly what it depends on, so a changed mel parameter reuses the
stems and a killed run, restarted, redoes only the songs it had not finished.

A song that cannot be used (any :class:`~jaxsep.errors.JaxsepError` it raises) becomes a
:class:`~jaxsep.audio.songs.Problem` and the run goes on; ``strict`` re-raises the first instead. Other
exceptions (a bug, Ctrl-C) stop the run; what was cached stays.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from ..audio.segments import DROP_RULE, song_start, song_starts
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
from ..errors import ConfigError, DatasetError
from ..options import FeatureDtype, choose

# The separation package imports torch only when demucs runs, so the front end stays torch-free.
from ..separation.base import Separator
from ..separation.stems import GIVEN, given_stems, separated_stems, separator_identity
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

    Returns:
      A :class:`~jaxsep.audio.songs.SongRun`; the file holds ``mels`` of shape ``(songs · segments, n_mels,
      frames, 6)`` with maps in :data:`~jaxsep.constants.MAPS` order, ``frames = 458`` for the default hop,
      and, when some song has artists, their ``artists`` (each song's on every one of its rows).

    Raises:
      JaxsepError: the first problem when ``options.strict``; DatasetError when no class keeps two songs;
        FeatureFileError or CacheError, before any work, when ``out`` cannot be written or the cache folder made.
    """
    check_out_file(out)
    cache.ensure_folder()
    problems = list(problems)
    if options.strict and problems:
        raise DatasetError(problems[0].file, problems[0].problem)

    def maps_of(song: Song) -> tuple[list[np.ndarray], list[float]]:
        return song_segment_maps(song, separator=separator, cache=cache, options=options, progress=progress)

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
    song: Song, *, separator: Separator | str, cache: Cache, options: FeatureOptions, progress: Progress | None = None
) -> tuple[list[np.ndarray], list[float]]:
    """The maps of each of a song's ``options.segments_per_song`` segments (:func:`song_maps` each) and their
    starts (s), the drop first."""
    starts = song_starts(song, cache=cache, start=options.start, pad=options.pad, count=options.segments_per_song)
    maps = [song_maps(song, separator=separator, cache=cache, options=options, progress=progress, start=start)[0]
            for start in starts]
    return maps, starts


def song_maps(
    song: Song, *, separator: Separator | str, cache: Cache, options: FeatureOptions, progress: Progress | None = None,
    start: float | None = None,
) -> tuple[np.ndarray, float]:
    """One song's maps, from the cache when possible.

    Args:
      start: the segment's start (s); default: the song's own, ``options.start``, or the drop.

    Returns:
      ``(maps, start)``: float32 maps of shape ``(n_mels, frames, len(MAPS))`` and the segment's start (s).

    Raises:
      JaxsepError: the song cannot be used (AudioError naming the file and the problem).
    """
    progress = progress or Progress()
    if start is None:
        start = song_start(song, cache=cache, start=options.start, pad=options.pad)
    identity = separator_identity(song, separator, cache.file_digest, options.stem_tolerance_db)
    stems_key = cache_key(
        kind="stems", audio=cache.file_digest(song.path), start=round(start, 6), segment_samples=SEGMENT_SAMPLES,
        pad=options.pad, separator=identity, sample_rate=SAMPLE_RATE,
    )
    maps_key = cache_key(
        kind="maps", stems=stems_key, n_fft=options.n_fft, hop_length=options.hop_length, n_mels=options.n_mels,
        framing=FRAMING, db=(REF_POWER, AMIN),
    )
    cached = cache.load("maps", maps_key)
    if cached is not None:
        return cached["maps"], start
    audio = cache.load("stems", stems_key)
    if audio is None:
        if separator == GIVEN:
            audio = given_stems(song, start=start, pad=options.pad, tolerance_db=options.stem_tolerance_db)
        else:
            audio = separated_stems(song, separator, start=start, pad=options.pad, progress=progress.separation)
        cache.save("stems", stems_key, audio)
    maps = np.stack([log_mel(m, sample_rate=SAMPLE_RATE, n_fft=options.n_fft, hop_length=options.hop_length,
                             n_mels=options.n_mels) for m in _map_audio(audio)], axis=-1)
    cache.save("maps", maps_key, {"maps": maps})
    return maps, start


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
