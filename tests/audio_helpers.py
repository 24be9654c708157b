"""Small generated audio for the front-end tests (written to pytest's tmp_path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

#: ../shared beside the repository (real recordings, weights); tests that need it skip when it is absent.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def tone(seconds: float, *, sample_rate: int = 22_050, channels: int = 1, freq: float = 440.0, amp: float = 0.3,
         seed: int = 0) -> np.ndarray:
    """A sine plus a little noise, float32 ``(channels, samples)``; each channel a slightly different level."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    mono = amp * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)
    return np.stack([mono * (1.0 - 0.1 * c) for c in range(channels)]).astype(np.float32)


def write(path: Path, audio: np.ndarray, sample_rate: int = 22_050, **kwargs) -> Path:
    """Writes ``(channels, samples)`` audio (float wav unless ``subtype``/``format`` say otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".wav" and "subtype" not in kwargs:
        kwargs["subtype"] = "FLOAT"
    sf.write(path, np.asarray(audio).T, sample_rate, **kwargs)
    return path
