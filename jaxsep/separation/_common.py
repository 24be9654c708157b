"""Input checks shared by the separation backends (no torch here)."""

from __future__ import annotations

import numpy as np

from ..audio import check_samples
from ..errors import AudioError

#: What a separator's input is called in error messages (it is an array, not a file).
INPUT_NAME = "<audio passed to separate()>"


def check_input(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Checks a separator's input and returns it as float32 ``(channels, samples)``.

    Silence is accepted (a silent segment separates into silent stems); NaN/inf, a wrong rank, no samples and
    a non-positive rate are not.

    Raises:
      AudioError: naming the bad value.
    """
    audio = np.asarray(audio)
    if audio.ndim != 2 or audio.shape[0] < 1:
        raise AudioError(INPUT_NAME, f"expected shape (channels, samples), got {audio.shape}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise AudioError(INPUT_NAME, f"invalid sample rate {sample_rate!r}")
    check_samples(audio, where=INPUT_NAME, allow_silent=True)
    return np.ascontiguousarray(audio, dtype=np.float32)
