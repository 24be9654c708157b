"""Reading, checking, resampling and writing audio: the one place jaxsep touches audio files.

Every array here is float32 of shape ``(channels, samples)``; mono is ``(1, samples)``.

Decoding: libsndfile (through soundfile) reads wav, flac, ogg (vorbis, opus), aiff and - with libsndfile >= 1.1 -
mp3, seeking straight to the requested window so a long file is never decoded whole. What libsndfile cannot
read falls back to librosa/audioread. m4a/aac/mp4/wma go through the ``ffmpeg`` program when it is on ``PATH``
(an :class:`~jaxsep.errors.AudioError` says it is needed otherwise).

Channels: 1 to 5 channels load as they are. Where stereo is needed, mono is duplicated and 3-5 channels keep
their first two (front left/right in every common layout - demucs' own rule); mono is the mean of all channels.
Files with 6 or more channels (5.1, 7.1 surround) raise :class:`~jaxsep.errors.AudioError`: their correct
downmix depends on a channel layout (LFE, a centre channel holding the vocals) that soundfile does not report,
and a wrong fold would silently change the stems' balance. Downmix them first, e.g. ``ffmpeg -i in -ac 2 out.wav``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..atomic import atomic_path
from ..errors import AudioError

#: Suffixes treated as audio when scanning folders (lower case, with the dot).
AUDIO_SUFFIXES = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".m4a", ".aac", ".mp4", ".wma"}
)
#: Suffixes libsndfile cannot read; decoded by the ``ffmpeg`` program.
FFMPEG_SUFFIXES = frozenset({".m4a", ".aac", ".mp4", ".wma"})
#: Files with more channels than this are rejected (see the module docstring).
MAX_CHANNELS = 5
#: A window whose peak is at or below this (-100 dBFS, under one 16-bit step) counts as silent.
SILENCE_PEAK = 1e-5
#: Resampler: librosa's default, soxr's high-quality mode (linear, so resampled stems still add up).
RES_TYPE = "soxr_hq"


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds, read from its header (``frames`` may be an estimate for mp3)."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def is_audio_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` has an audio suffix (see :data:`AUDIO_SUFFIXES`); the contents are not checked."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Reads an audio file's rate, channel count and length without decoding its samples.

    Raises:
      AudioError: missing or unreadable file, no samples, no channels or more than :data:`MAX_CHANNELS`.
    """
    path = Path(path)
    _check_exists(path)
    if path.suffix.lower() in FFMPEG_SUFFIXES:
        # No header reader for these without ffprobe; decoding once is the simple, dependable way.
        audio, rate = _decode_ffmpeg(path, 0.0, None)
        info = AudioInfo(sample_rate=rate, channels=audio.shape[0], frames=audio.shape[1])
    else:
        try:
            raw = sf.info(str(path))
            info = AudioInfo(sample_rate=int(raw.samplerate), channels=int(raw.channels), frames=int(raw.frames))
        except (RuntimeError, OSError, ValueError) as sf_error:
            audio, rate = _decode_fallback(path, 0.0, None, sf_error)
            info = AudioInfo(sample_rate=rate, channels=audio.shape[0], frames=audio.shape[1])
    _check_layout(path, info.channels, info.frames, info.sample_rate)
    return info


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
    allow_silent: bool = False,
) -> tuple[np.ndarray, int]:
    """Decodes the window ``[offset, offset + duration)`` seconds of an audio file and checks it.

    Args:
      path: any file of :data:`AUDIO_SUFFIXES`.
      sample_rate: resample to this rate (Hz); ``None`` keeps the file's rate.
      mono: average the channels into one.
      offset: start of the window, seconds from the beginning of the file.
      duration: length of the window in seconds; ``None`` reads to the end. A window running past the end
        is cut short (the caller pads or rejects it).
      allow_silent: accept an all-silent window (a true stem, e.g. the vocals of an instrumental).

    Returns:
      ``(audio, rate)``: float32 audio of shape ``(channels, samples)`` (``(1, samples)`` when ``mono``) and its
      sample rate.

    Raises:
      AudioError: naming the file, for a missing, unreadable or corrupt file, m4a/aac without ffmpeg, no
        samples, 0 or 6+ channels, an offset past the end, NaN/infinite samples, or a silent window.
    """
    path = Path(path)
    _check_exists(path)
    if offset < 0 or (duration is not None and duration <= 0):
        raise AudioError(path, f"invalid window: offset {offset} s, duration {duration} s")
    if path.suffix.lower() in FFMPEG_SUFFIXES:
        audio, rate = _decode_ffmpeg(path, offset, duration)
    else:
        try:
            audio, rate = _decode_soundfile(path, offset, duration)
        except (RuntimeError, OSError, ValueError) as sf_error:
            audio, rate = _decode_fallback(path, offset, duration, sf_error)
    _check_layout(path, audio.shape[0], audio.shape[1], rate)
    check_samples(audio, where=path, allow_silent=allow_silent)
    if mono:
        audio = match_channels(audio, 1)
    if sample_rate is not None and sample_rate != rate:
        audio = resample(audio, orig_sr=rate, target_sr=sample_rate)
        rate = sample_rate
    return np.ascontiguousarray(audio, dtype=np.float32), int(rate)


def check_samples(audio: np.ndarray, *, where: str | os.PathLike, allow_silent: bool = False) -> None:
    """Raises :class:`AudioError` naming ``where`` if ``audio`` (any shape) is empty, not finite or silent."""
    if audio.size == 0:
        raise AudioError(where, "no samples (zero-length audio)")
    finite = np.isfinite(audio)
    if not finite.all():
        raise AudioError(where, f"audio is not finite everywhere ({int((~finite).sum())} NaN or infinite samples)")
    if not allow_silent and float(np.max(np.abs(audio))) <= SILENCE_PEAK:
        raise AudioError(where, f"audio is silent (peak at or below {SILENCE_PEAK:g}, -100 dBFS)")


def match_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """Converts ``(c, samples)`` audio to ``(channels, samples)``.

    One channel is the mean of all; more channels than there are copy a mono signal; fewer keep the first
    ``channels`` (front left/right first in every common layout, as demucs does).

    Raises:
      ValueError: ``audio`` has more than one channel but fewer than ``channels``.
    """
    have = audio.shape[0]
    if have == channels:
        return audio
    if channels == 1:
        return audio.mean(axis=0, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(audio, channels, axis=0)
    if have > channels:
        return audio[:channels]
    raise ValueError(f"cannot make {channels} channels out of {have}")


def fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """Cuts or zero-pads the last axis to ``length`` samples; shape ``(..., samples)`` -> ``(..., length)``."""
    have = audio.shape[-1]
    if have >= length:
        return audio[..., :length]
    padding = [(0, 0)] * (audio.ndim - 1) + [(0, length - have)]
    return np.pad(audio, padding)


def resample(audio: np.ndarray, *, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resamples along the last axis with soxr (high quality); shape ``(..., samples)`` in and out.

    The output has ``ceil(samples * target_sr / orig_sr)`` samples, as librosa computes it.
    """
    if orig_sr == target_sr:
        return audio
    import librosa  # librosa takes ~1 s to import; keep it off the path of callers that never resample

    return librosa.resample(audio, orig_sr=orig_sr, target_sr=target_sr, res_type=RES_TYPE).astype(np.float32)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Writes ``(channels, samples)`` audio atomically (temporary file in the same folder, then rename).

    The format follows the suffix (``.wav`` is written as 32-bit float so separated stems keep summing to the
    mix exactly; ``.flac`` as 24-bit). A run killed mid-write leaves no half-written file under ``path``.

    Returns:
      The written path.
    """
    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise ValueError(f"audio must have shape (channels, samples), got {audio.shape}")
    suffix = path.suffix.lower()
    container = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3", ".aiff": "AIFF"}.get(suffix)
    if container is None:
        raise ValueError(f"cannot write audio as {suffix!r}; use .wav, .flac, .ogg, .mp3 or .aiff")
    subtype = {"WAV": "FLOAT", "FLAC": "PCM_24"}.get(container)
    with atomic_path(path) as temporary:
        sf.write(temporary, audio.T, int(sample_rate), format=container, subtype=subtype)
    return path


def _check_exists(path: Path) -> None:
    if not path.is_file():
        raise AudioError(path, "no such file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (zero bytes)")


def _check_layout(path: Path, channels: int, frames: int, rate: int) -> None:
    if channels < 1:
        raise AudioError(path, "no audio channels")
    if channels > MAX_CHANNELS:
        raise AudioError(
            path,
            f"{channels} channels: surround/multichannel files are not supported (at most {MAX_CHANNELS}); "
            "downmix to stereo first, e.g. `ffmpeg -i IN -ac 2 OUT.wav`",
        )
    if frames < 1:
        raise AudioError(path, "no samples (zero-length audio)")
    if rate < 1:
        raise AudioError(path, f"invalid sample rate {rate}")


def _window_frames(path: Path, rate: int, frames: int, offset: float, duration: float | None) -> tuple[int, int]:
    """(first frame, frame count) of the window, cut at the end of the file."""
    start = int(round(offset * rate))
    if frames > 0 and start >= frames:
        raise AudioError(path, f"offset {offset:.2f} s is past the end of the audio ({frames / rate:.2f} s)")
    count = frames - start if duration is None else min(int(round(duration * rate)), frames - start)
    return start, count


def _decode_soundfile(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(str(path)) as stream:
        rate, channels, frames = int(stream.samplerate), int(stream.channels), int(stream.frames)
        _check_layout(path, channels, frames, rate)
        start, count = _window_frames(path, rate, frames, offset, duration)
        if start:
            stream.seek(start)
        data = stream.read(count, dtype="float32", always_2d=True)
    return data.T, rate


def _decode_fallback(path: Path, offset: float, duration: float | None, sf_error: Exception) -> tuple[np.ndarray, int]:
    """librosa/audioread for what libsndfile cannot read; the error names both decoders' complaints."""
    import librosa

    try:
        with warnings.catch_warnings():
            # librosa warns "PySoundFile failed. Trying audioread instead." - we already know.
            warnings.simplefilter("ignore")
            audio, rate = librosa.load(str(path), sr=None, mono=False, offset=offset, duration=duration)
    except Exception as error:  # audioread raises a zoo of backend-specific errors; all mean "cannot decode"
        fallback = f"{type(error).__name__}: {error}" if str(error) else "no audioread backend can read it"
        raise AudioError(path, f"cannot decode ({sf_error}; audioread: {fallback})") from error
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float32))
    if audio.shape[1] == 0 and offset > 0:
        raise AudioError(path, f"offset {offset:.2f} s is past the end of the audio")
    return audio, int(rate)


def _decode_ffmpeg(path: Path, offset: float, duration: float | None) -> tuple[np.ndarray, int]:
    """Decodes through the ffmpeg program into a temporary 32-bit float wav, then reads that."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(
            path, f"{path.suffix} files need the ffmpeg program, which is not installed (e.g. `apt install ffmpeg`)"
        )
    with tempfile.TemporaryDirectory(prefix="jaxsep-ffmpeg-") as folder:
        wav = Path(folder) / "decoded.wav"
        window = ["-ss", f"{offset:.6f}"] + ([] if duration is None else ["-t", f"{duration:.6f}"])
        command = [ffmpeg, "-nostdin", "-v", "error", "-y", *window, "-i", str(path), "-vn", "-c:a", "pcm_f32le", str(wav)]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        except subprocess.TimeoutExpired as error:
            raise AudioError(path, "ffmpeg took more than 10 minutes to decode it") from error
        if result.returncode != 0 or not wav.is_file():
            detail = (result.stderr or "").strip().splitlines()
            raise AudioError(path, f"ffmpeg cannot decode it ({detail[-1] if detail else f'exit {result.returncode}'})")
        data, rate = sf.read(str(wav), dtype="float32", always_2d=True)
    if data.shape[0] == 0 and offset > 0:
        raise AudioError(path, f"offset {offset:.2f} s is past the end of the audio")
    return data.T, int(rate)
