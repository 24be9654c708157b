"""Log-mel spectrograms on one fixed dB scale, framed so a segment of 458 hops gives exactly 458 frames.

Framing: librosa's centred framing (``center=True``, zero padding of ``n_fft // 2`` at both ends) puts frame
``t`` at samples ``[t * hop - n_fft / 2, t * hop + n_fft / 2)``, ``t = 0 .. samples // hop``: 459 frames for the
234,496-sample segment. The last one is centred on the first sample *after* the segment (half of it is
padding), so it is dropped: frames ``0 .. samples // hop - 1`` remain, one per hop, 458 for
:data:`~jaxsep.constants.SEGMENT_SAMPLES`.

Scale: power mel spectrogram (librosa defaults: Hann window, Slaney mel scale and norm, 0 Hz to Nyquist) in
decibels against a *fixed* reference, ``10 * log10(max(power, 1e-10) / 1.0)``: 0 dB is a mel band of power 1,
the floor is -100 dB and nothing is clipped relative to a map's own maximum (no ``top_db``). So the maps of the
mix and of each stem share one scale - a quiet stem is darker, as it should be - and a silent stem (an
instrumental's vocals) is a finite map at -100 dB.
"""

from __future__ import annotations

import numpy as np

from ..constants import HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE

#: The dB scale's reference power (0 dB) and floor (power below ``AMIN`` reads as ``10 log10 AMIN`` dB).
REF_POWER = 1.0
AMIN = 1e-10
FLOOR_DB = 10.0 * np.log10(AMIN / REF_POWER)


def log_mel(
    audio: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    n_mels: int = N_MELS,
) -> np.ndarray:
    """Log-power mel spectrogram of mono audio (see the module docstring for framing and scale).

    Args:
      audio: mono audio, shape ``(samples,)`` or ``(1, samples)``, at least ``hop_length`` samples.
      sample_rate, n_fft, hop_length, n_mels: the spectrogram parameters (the paper's by default).

    Returns:
      float32 dB values in ``[FLOOR_DB, inf)``, shape ``(n_mels, samples // hop_length)``:
      ``(128, 458)`` for a :data:`~jaxsep.constants.SEGMENT_SAMPLES` segment.

    Raises:
      ValueError: for audio of another shape, too short or not finite.
    """
    import librosa  # slow to import; only callers that compute mels pay for it

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.ndim != 1:
        raise ValueError(f"log_mel takes mono audio of shape (samples,) or (1, samples), got {audio.shape}")
    frames = audio.shape[0] // hop_length
    if frames < 1:
        raise ValueError(f"audio of {audio.shape[0]} samples is shorter than one hop ({hop_length})")
    if not np.isfinite(audio).all():
        raise ValueError("audio is not finite everywhere")
    power = librosa.feature.melspectrogram(
        y=audio, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, center=True, power=2.0
    )
    # Drop the trailing frame(s) centred at or past the end of the audio (see the module docstring).
    power = power[:, :frames]
    return librosa.power_to_db(power, ref=REF_POWER, amin=AMIN, top_db=None).astype(np.float32)
