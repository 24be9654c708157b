"""A song's stems at the feature rate: separated by a backend, or the user's true stems (``given``).

Both paths return ``{"mix", *STEMS}`` as float32 mono ``(SEGMENT_SAMPLES,)`` arrays at 22,050 Hz: the
separator runs at its native rate and channels, then every signal is brought to the features' rate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..audio.files import audio_info, fit_length, match_channels, resample
from ..audio.segments import load_segment
from ..audio.songs import Song
from ..constants import SAMPLE_RATE, SEGMENT_SAMPLES, STEMS
from ..errors import AudioError
from .backends import default_separator_name, get_separator
from .base import Separator

#: The ``--separator`` value that reads the user's true stems instead of separating.
GIVEN = "given"


def open_separator(name: str | None, *, model_repo: Path | None = None,
                   device: str | None = None) -> Separator | str:
    """The separator called ``name`` (``dsp``, ``demucs``), :data:`GIVEN`, or the default one for ``None``."""
    if name == GIVEN:
        return GIVEN
    return get_separator(name or default_separator_name(model_repo), model_repo=model_repo, device=device)


def separated_stems(song: Song, separator: Separator, *, start: float, pad: bool,
                    progress=None) -> dict[str, np.ndarray]:
    """Separates the song's segment; returns ``mix`` and each stem, float32 ``(SEGMENT_SAMPLES,)`` at 22,050 Hz."""
    segment = load_segment(song.path, start=start, sample_rate=separator.sample_rate, channels=separator.channels,
                           pad=pad)
    stems = separator.separate(segment.audio, segment.sample_rate, progress=progress)
    return stems_at_feature_rate(separator, segment.audio, stems)


def stems_at_feature_rate(separator: Separator, audio: np.ndarray, stems: dict[str, np.ndarray]
                          ) -> dict[str, np.ndarray]:
    """A segment ``audio`` separated into ``stems`` (at the separator's rate): ``mix`` and each stem, float32
    ``(SEGMENT_SAMPLES,)`` at 22,050 Hz, after checking the separator's output.

    Raises:
      ValueError: a stem missing or of another shape than ``audio``.
    """
    wrong = [s for s in STEMS if s not in stems or np.shape(stems[s]) != audio.shape]
    if wrong:
        raise ValueError(f"separator {separator.name!r} returned bad stem(s) {wrong} for shape {audio.shape}")
    return {name: to_feature_rate(signal, separator.sample_rate) for name, signal in {"mix": audio, **stems}.items()}


def given_stems(song: Song, *, start: float, pad: bool, tolerance_db: float) -> dict[str, np.ndarray]:
    """Loads the song's true stems (like :func:`separated_stems`) after checking them against the mix.

    Raises:
      AudioError: a stem is missing, differs from the mix in length or rate, or the stems do not add up to
        the mix within ``tolerance_db``.
    """
    missing = [s for s in STEMS if s not in song.stems]
    if missing:
        raise AudioError(song.path, f"no true stem(s) {missing} for --separator given")
    mix_info = audio_info(song.path)
    for name in STEMS:
        info = audio_info(song.stems[name])
        if 1 < info.channels < mix_info.channels:
            raise AudioError(song.stems[name], f"{name} stem has {info.channels} channels but the mix has "
                                               f"{mix_info.channels} (a stem needs as many, or one)")
        if (info.frames, info.sample_rate) != (mix_info.frames, mix_info.sample_rate):
            raise AudioError(
                song.stems[name],
                f"{name} stem has {info.frames} samples at {info.sample_rate} Hz but the mix has "
                f"{mix_info.frames} at {mix_info.sample_rate} Hz",
            )
    rate, channels = mix_info.sample_rate, mix_info.channels
    mix = load_segment(song.path, start=start, sample_rate=rate, channels=channels, pad=pad).audio
    stems = {
        name: load_segment(song.stems[name], start=start, sample_rate=rate, channels=channels, pad=True,
                           allow_silent=True).audio
        for name in STEMS
    }
    residual = mix - sum(stems.values())
    ratio_db = 10 * np.log10(np.sum(mix.astype(np.float64) ** 2) / max(np.sum(residual.astype(np.float64) ** 2), 1e-30))
    if ratio_db < tolerance_db:
        raise AudioError(
            song.path,
            f"true stems do not add up to the mix: residual only {ratio_db:.1f} dB below it (need {tolerance_db:g} dB)",
        )
    return {name: to_feature_rate(audio, rate) for name, audio in {"mix": mix, **stems}.items()}


def to_feature_rate(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(channels, samples)`` at ``sample_rate`` -> float32 ``(SEGMENT_SAMPLES,)`` mono at 22,050 Hz."""
    mono = resample(match_channels(np.asarray(audio, dtype=np.float32), 1), orig_sr=sample_rate, target_sr=SAMPLE_RATE)
    return fit_length(mono[0], SEGMENT_SAMPLES).astype(np.float32)


def separator_identity(song: Song, separator: Separator | str, file_digest, tolerance_db: float) -> dict:
    """What determines a song's stems besides its audio, for cache keys: the backend's name and signature,
    or for :data:`GIVEN` the content hashes of the true-stem files (``file_digest(path)``)."""
    if separator == GIVEN:
        stems = {name: file_digest(path) for name, path in sorted(song.stems.items())}
        return {"name": GIVEN, "stems": stems, "tolerance_db": tolerance_db}
    return {"name": separator.name, "signature": separator.signature,
            "rate": separator.sample_rate, "channels": separator.channels}
