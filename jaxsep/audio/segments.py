"""Picking and cutting each song's segment: 234,496 samples at 22,050 Hz (458 hops of 512, 10.63 s).

Where a segment starts, first rule that applies:

1. the song's own start (a manifest's ``start`` column - the paper picked its segments by hand);
2. one start for every song (``--start``);
3. automatically, the "drop": the hop-aligned window with the highest score
   ``mean(onset[w]) / mean(onset) + mean(rms[w]) / mean(rms)``, where ``onset`` is librosa's onset strength
   and ``rms`` the RMS energy per 512-sample frame of the whole song (mono, 22,050 Hz, centred frames as in
   :mod:`jaxsep.features.logmel`), ``w`` the 458 frames under the window and the means over the song normalise the
   two terms so each counts equally. Rhythm (onsets) and loudness (energy) peak together in the drop of
   dance music. The earliest window wins a tie; a window never runs past the end.

A song shorter than a segment, or a start too late for a whole segment, is an error for that song unless
``pad`` is set: then the segment is the rest of the song followed by silence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cache import Cache, cache_key
from ..constants import HOP_LENGTH, N_FFT, SAMPLE_RATE, SEGMENT_SAMPLES, SEGMENT_SECONDS
from ..errors import AudioError
from .files import AudioInfo, audio_info, fit_length, load_audio, match_channels
from .songs import Song

#: Version of the automatic start rule, part of every cache key that depends on it.
DROP_RULE = "onset+rms-v1"
#: A window this much shorter than asked (rounding, an mp3 header's estimate) is padded without complaint.
_SLACK_SECONDS = 0.01


@dataclass(frozen=True)
class Segment:
    """One song's segment.

    Attributes:
      audio: float32, shape ``(channels, samples)`` with ``samples = segment_length(sample_rate)``.
      sample_rate: its rate in Hz.
      start: where it starts in the song, seconds.
      padded: whether silence was appended because the song ended first.
    """

    audio: np.ndarray
    sample_rate: int
    start: float
    padded: bool


def segment_length(sample_rate: int) -> int:
    """Samples in one segment at ``sample_rate`` (exactly :data:`SEGMENT_SAMPLES` at 22,050 Hz)."""
    return int(round(SEGMENT_SAMPLES * sample_rate / SAMPLE_RATE))


def drop_scores(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    segment_samples: int = SEGMENT_SAMPLES,
    hop_length: int = HOP_LENGTH,
) -> np.ndarray:
    """Score of every hop-aligned window (see the module docstring).

    Args:
      audio: mono audio, shape ``(samples,)``, at least ``segment_samples`` long.

    Returns:
      float64 scores, shape ``(samples // hop_length - segment_samples // hop_length + 1,)``; entry ``s`` scores
      the window starting at sample ``s * hop_length``.
    """
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    frames = audio.shape[-1] // hop_length
    width = segment_samples // hop_length
    if audio.ndim != 1 or frames < width:
        raise ValueError(f"need mono audio of at least {segment_samples} samples, got shape {audio.shape}")
    onset = librosa.onset.onset_strength(y=audio, sr=sample_rate, hop_length=hop_length)[:frames]
    rms = librosa.feature.rms(y=audio, frame_length=N_FFT, hop_length=hop_length)[0, :frames]
    return _window_mean_ratio(onset, width) + _window_mean_ratio(rms, width)


def pick_start(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    segment_samples: int = SEGMENT_SAMPLES,
    hop_length: int = HOP_LENGTH,
) -> int:
    """First sample of the best-scoring window of mono ``(samples,)`` audio (the earliest on a tie)."""
    scores = drop_scores(audio, sample_rate=sample_rate, segment_samples=segment_samples, hop_length=hop_length)
    return int(np.argmax(scores)) * hop_length


def resolve_start(
    path: str | os.PathLike, *, start: float | None, pad: bool = False, info: AudioInfo | None = None
) -> float:
    """Where the song's segment starts, in seconds: ``start`` when given, else the drop (decodes the song).

    Raises:
      AudioError: the file cannot be used, is shorter than a segment or ``start`` leaves less than a segment
        (both unless ``pad``), or ``start`` is negative or past the end.
    """
    path = Path(path)
    info = info or audio_info(path)
    short = info.duration + _SLACK_SECONDS < SEGMENT_SECONDS
    if start is not None:
        if start < 0 or start >= info.duration:
            raise AudioError(path, f"start {start:.2f} s is outside the song (0 to {info.duration:.2f} s)")
        if not pad and start + SEGMENT_SECONDS > info.duration + _SLACK_SECONDS:
            raise AudioError(
                path,
                f"a {SEGMENT_SECONDS:.2f} s segment from {start:.2f} s runs past the end ({info.duration:.2f} s); "
                "pick an earlier start or pad",
            )
        return float(start)
    if short:
        if not pad:
            raise AudioError(
                path, f"too short: {info.duration:.2f} s, a segment needs {SEGMENT_SECONDS:.2f} s (use --pad)"
            )
        return 0.0
    song, _ = load_audio(path, sample_rate=SAMPLE_RATE, mono=True)
    if song.shape[1] < SEGMENT_SAMPLES:  # the header overstated the length by a little
        return 0.0
    return pick_start(song[0]) / SAMPLE_RATE


def song_start(song: Song, *, cache: Cache, start: float | None, pad: bool) -> float:
    """The song's segment start: its own, else ``start``, else the drop (cached by audio content)."""
    info = audio_info(song.path)
    chosen = song.start if song.start is not None else start
    if chosen is not None:
        return resolve_start(song.path, start=chosen, pad=pad, info=info)
    key = cache_key(kind="start", audio=cache.file_digest(song.path), rule=DROP_RULE, segment=SEGMENT_SAMPLES, pad=pad)
    cached = cache.load("start", key)
    if cached is not None:
        return float(cached["start"])
    picked = resolve_start(song.path, start=None, pad=pad, info=info)
    cache.save("start", key, {"start": np.float64(picked)})
    return picked


def pick_starts(scores: np.ndarray, count: int, width: int) -> list[int]:
    """``count`` non-overlapping windows, best first: each time the highest-scoring window (earliest on a tie)
    that overlaps none chosen and still leaves room for the windows yet to choose; fewer when the scores'
    span cannot hold ``count``.

    Args:
      scores: one score per window start, ``(starts,)`` (:func:`drop_scores`); the span is ``starts - 1 + width``.
      count: windows wanted.
      width: a window's length in score entries.
    """
    span = len(scores) - 1 + width

    def room(starts: list[int]) -> int:
        """Windows that still fit in the gaps around ``starts``."""
        edges = [0] + [e for s in sorted(starts) for e in (s, s + width)] + [span]
        return sum((end - begin) // width for begin, end in zip(edges[::2], edges[1::2]))

    chosen: list[int] = []
    for left in range(min(count, span // width) - 1, -1, -1):
        for start in np.argsort(-scores, kind="stable"):
            start = int(start)
            if all(abs(start - c) >= width for c in chosen) and room(chosen + [start]) >= left:
                chosen.append(start)
                break
        else:
            break
    return chosen


def song_starts(song: Song, *, cache: Cache, start: float | None, pad: bool, count: int) -> list[float]:
    """``count`` non-overlapping segment starts of a song (seconds), the best first.

    With a start of its own (or ``start``), the segments follow each other from there; else the drop and then
    the next best windows by the same score (cached by audio content). One segment is :func:`song_start`.

    Raises:
      AudioError: the song is too short for ``count`` segments (padding is only for one).
    """
    if count == 1:
        return [song_start(song, cache=cache, start=start, pad=pad)]
    info = audio_info(song.path)
    fits = int((info.duration + _SLACK_SECONDS) // SEGMENT_SECONDS)
    chosen = song.start if song.start is not None else start
    if chosen is not None:
        starts = [float(chosen) + k * SEGMENT_SECONDS for k in range(count)]
        for begin in starts:
            resolve_start(song.path, start=begin, pad=False, info=info)
        return starts
    if fits < count:
        raise AudioError(song.path, f"too short for {count} segments of {SEGMENT_SECONDS:.2f} s "
                                    f"({info.duration:.2f} s)")
    key = cache_key(kind="starts", audio=cache.file_digest(song.path), rule=DROP_RULE, segment=SEGMENT_SAMPLES,
                    count=count)
    cached = cache.load("start", key)
    if cached is not None:
        return [float(s) for s in cached["starts"]]
    audio, _ = load_audio(song.path, sample_rate=SAMPLE_RATE, mono=True)
    if audio.shape[1] < count * SEGMENT_SAMPLES:  # the header overstated the length (a truncated file)
        raise AudioError(song.path, f"too short for {count} segments of {SEGMENT_SECONDS:.2f} s: decodes to "
                                    f"{audio.shape[1] / SAMPLE_RATE:.2f} s (its header says {info.duration:.2f} s)")
    scores = drop_scores(audio[0])
    picked = pick_starts(scores, count, SEGMENT_SAMPLES // HOP_LENGTH)
    if len(picked) < count:
        raise AudioError(song.path, f"too short for {count} non-overlapping segments ({info.duration:.2f} s)")
    starts = [s * HOP_LENGTH / SAMPLE_RATE for s in picked]
    cache.save("start", key, {"starts": np.array(starts, np.float64)})
    return starts


def load_segment(
    path: str | os.PathLike,
    *,
    start: float,
    sample_rate: int,
    channels: int,
    pad: bool = False,
    allow_silent: bool = False,
) -> Segment:
    """Decodes the segment starting at ``start`` seconds, resampled and converted to ``channels``.

    Returns:
      A :class:`Segment` with audio of shape ``(channels, segment_length(sample_rate))``.

    Raises:
      AudioError: the window cannot be decoded, is not finite, is silent (unless ``allow_silent``: a true
        stem), or ends early and ``pad`` is off.
    """
    length = segment_length(sample_rate)
    audio, _ = load_audio(
        path, sample_rate=sample_rate, mono=channels == 1, offset=start, duration=SEGMENT_SECONDS,
        allow_silent=allow_silent,
    )
    try:
        audio = match_channels(audio, channels)
    except ValueError as error:
        raise AudioError(path, str(error)) from None
    short = length - audio.shape[1]
    if short > _SLACK_SECONDS * sample_rate and not pad:
        raise AudioError(path, f"segment from {start:.2f} s ends {short / sample_rate:.2f} s early (use --pad)")
    return Segment(audio=fit_length(audio, length), sample_rate=sample_rate, start=start, padded=short > 0)


def _window_mean_ratio(values: np.ndarray, width: int) -> np.ndarray:
    """Mean of every ``width``-long window divided by the overall mean (zeros for an all-zero input)."""
    values = values.astype(np.float64)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    means = (sums[width:] - sums[:-width]) / width
    overall = values.mean()
    return means / overall if overall > 0 else np.zeros_like(means)
