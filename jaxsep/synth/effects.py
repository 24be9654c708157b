"""Bus effects (reverb, echo, sidechain pump, panning) and the master stage.

The master stage keeps the stems summing exactly to the mix: it is linear in the stems. EQ is one
set of fixed biquads run over every stem (a linear time-invariant filter commutes with the sum), and
the limiter computes ONE gain curve from the mix and multiplies every stem by it, exactly as a bus
limiter multiplies the mix (``sum_i g(t) s_i(t) = g(t) * mix(t)``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import fftconvolve, lfilter

from . import dsp


def reverb(x: np.ndarray, sr: int, rng: np.random.Generator, rt60: float) -> np.ndarray:
    """Wet signal of a noise-tail reverb; ``x`` has shape ``(channels, samples)``, and so does the result.

    Each channel gets its own impulse response (decorrelated tails = width in stereo).
    """
    m = int(min(rt60, 3.0) * sr)
    pre = int(rng.uniform(0.008, 0.03) * sr)
    damp = rng.uniform(2500, 7000)
    decay = dsp.exp_decay(m, sr, rt60 / 6.91)  # -60 dB at rt60
    irs = []
    for _ in range(x.shape[0]):
        ir = np.concatenate([np.zeros(pre), dsp.filt(rng.standard_normal(m), "lowpass", damp, sr) * decay])
        irs.append(ir / np.sqrt(np.sum(ir ** 2)))
    return np.stack([fftconvolve(c, ir)[: x.shape[1]] for c, ir in zip(x, irs)])


def echo(x: np.ndarray, sr: int, delay_s: float, feedback: float, taps: int = 4) -> np.ndarray:
    """Feedback delay as ``taps`` decaying copies, darker each repeat; shape in = shape out ``(ch, n)``."""
    out = np.zeros_like(x)
    d = int(delay_s * sr)
    y = x
    for k in range(1, taps + 1):
        y = dsp.filt(y, "lowpass", 4000.0, sr)
        if k * d >= x.shape[1]:
            break
        out[:, k * d:] += feedback ** k * y[:, : x.shape[1] - k * d]
    return out


def pump(n: int, sr: int, kick_times: np.ndarray, depth: float, release: float) -> np.ndarray:
    """Sidechain gain curve of shape ``(samples,)``: dips by ``depth`` at each kick, recovers in ``release`` s."""
    if depth <= 0 or kick_times.size == 0:
        return np.ones(n)
    imp = np.zeros(n)
    idx = (kick_times * sr).astype(np.int64)
    imp[idx[(idx >= 0) & (idx < n)]] = 1.0
    env = lfilter([1.0], [1.0, -np.exp(-1.0 / (release * sr))], imp)
    env = dsp.one_pole(np.clip(env, 0, 1), np.exp(-1.0 / (0.002 * sr)))  # 2 ms attack, no click
    return 1.0 - depth * env


def pan(x: np.ndarray, position: float, channels: int) -> np.ndarray:
    """Constant-power pan of a mono ``(samples,)`` buffer to ``(channels, samples)``; position in [-1, 1]."""
    if channels == 1:
        return x[None, :]
    th = (position + 1.0) * np.pi / 4.0
    return np.stack([np.cos(th) * x, np.sin(th) * x]) * np.sqrt(2.0)


def master(stems: dict[str, np.ndarray], sr: int, params: dict[str, float]) -> dict[str, np.ndarray]:
    """Master EQ, bus limiter and output trim, applied identically to every stem.

    Args:
      stems: name -> ``(channels, samples)`` buffers.
      params: ``low_db, low_hz, mid_db, mid_hz, high_db, high_hz`` (EQ), ``drive_db`` (push into the
        limiter: louder, denser masters), ``ceiling_db`` (limiter ceiling, dBFS) and ``trim_db``.
    Returns:
      The processed stems, same shapes; their sum is the processed mix.
    """
    eq = [("lowshelf", params["low_hz"], 0.7, params["low_db"]), ("peak", params["mid_hz"], 0.8, params["mid_db"]),
          ("highshelf", params["high_hz"], 0.7, params["high_db"]), ("highpass", 28.0, 0.7, 0.0)]
    out = {}
    for name, x in stems.items():
        for kind, f, q, g in eq:
            x = dsp.filt(x, kind, f, sr, q, g)
        out[name] = x
    mix = sum(out.values())
    peak = np.max(np.abs(mix)) + 1e-12
    pre = 10 ** (params["drive_db"] / 20.0) / peak  # drive above the ceiling by drive_db
    ceiling = 10 ** (params["ceiling_db"] / 20.0)
    level = np.max(np.abs(mix), axis=0) * pre  # linked across channels
    hold = int(0.005 * sr) * 2 + 1
    look = maximum_filter1d(level, hold)
    g = np.minimum(1.0, ceiling / np.maximum(look, 1e-12))
    g = minimum_filter1d(g, int(0.05 * sr))  # hold 50 ms so the gain does not chatter
    g = uniform_filter1d(g, hold)  # smooth within the look-ahead: never above the hard gain
    g = g * pre * 10 ** (params["trim_db"] / 20.0)
    return {name: x * g[None, :] for name, x in out.items()}
