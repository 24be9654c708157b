"""What every separation backend is: the :class:`Separator` protocol, :class:`BatchSeparator` for backends that
also take several clips per call, and the checks of their input (no torch)."""

from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from ..audio.files import check_samples
from ..errors import AudioError, ConfigError

#: What a separator's input is called in error messages (it is an array, not a file).
INPUT_NAME = "<audio passed to separate()>"


@runtime_checkable
class Separator(Protocol):
    """What every backend provides.

    Attributes:
      name: the backend's name (``"dsp"``, ``"demucs"``).
      signature: package version plus weights hash / parameters: equal signatures give equal stems, so it keys
        caches and is written into feature files.
      sample_rate: the backend's native rate in Hz (44,100 for demucs, 22,050 for dsp).
      channels: the backend's native channel count (2 for demucs, 1 for dsp).
    """

    name: str
    sample_rate: int
    channels: int

    @property
    def signature(self) -> str: ...

    def separate(
        self, audio: np.ndarray, sample_rate: int, *, progress: Callable[[float], None] | None = None
    ) -> dict[str, np.ndarray]:
        """``audio`` ``(channels, samples)`` at any rate -> ``{stem: (channels, samples)}`` at the same rate."""
        ...


@runtime_checkable
class BatchSeparator(Separator, Protocol):
    """A :class:`Separator` that can also separate several clips per model call (demucs): one more method."""

    def separate_batch(
        self, clips: Sequence[np.ndarray], sample_rate: int, *, batch_size: int = 1,
        progress: Callable[[float], None] | None = None,
    ) -> list[dict[str, np.ndarray]]:
        """Clips ``(channels, samples)`` at ``sample_rate`` -> one ``{stem: (channels, samples)}`` each, up to
        ``batch_size`` at a time; the stems equal :meth:`~Separator.separate`'s to float rounding."""
        ...


def check_batch_size(batch_size: int) -> int:
    """Checks a separation batch size (clips per separator call) and returns it.

    Raises:
      ConfigError: it is not an integer >= 1; the message names the value.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"separation batch must be an integer >= 1, got {batch_size!r}")
    return int(batch_size)


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
