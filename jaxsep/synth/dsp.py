"""Vectorised numpy building blocks for the synthesiser: oscillators, envelopes and filters.

Every function works on whole buffers at once (no per-sample Python loop): oscillators integrate a
per-sample frequency track with ``cumsum``; fixed filters run through :func:`scipy.signal.lfilter`;
a filter whose cutoff moves over time (wobble bass, filter envelopes, risers) is rendered as a
crossfade across a bank of fixed low-pass filters (:func:`lowpass_sweep`), which costs a handful of
``lfilter`` passes instead of one coefficient update per sample.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray | float:
    """Equal-tempered frequency of MIDI note number(s), A4 = 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


def biquad(kind: str, f0: float, sr: int, q: float = 0.7071, gain_db: float = 0.0) -> tuple:
    """RBJ-cookbook biquad coefficients ``(b, a)`` for one of
    ``lowpass, highpass, bandpass, peak, lowshelf, highshelf``; ``f0`` is clipped below Nyquist."""
    f0 = float(np.clip(f0, 10.0, 0.49 * sr))
    w0 = 2.0 * np.pi * f0 / sr
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2.0 * q)
    amp = 10.0 ** (gain_db / 40.0)
    if kind == "lowpass":
        b = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "bandpass":  # constant 0 dB peak gain
        b = [alpha, 0.0, -alpha]
        a = [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * amp, -2 * cw, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cw, 1 - alpha / amp]
    elif kind in ("lowshelf", "highshelf"):
        sq = 2.0 * np.sqrt(amp) * alpha
        sign = 1.0 if kind == "lowshelf" else -1.0
        b = [amp * ((amp + 1) - sign * (amp - 1) * cw + sq),
             sign * 2 * amp * ((amp - 1) - sign * (amp + 1) * cw),
             amp * ((amp + 1) - sign * (amp - 1) * cw - sq)]
        a = [(amp + 1) + sign * (amp - 1) * cw + sq,
             -sign * 2 * ((amp - 1) + sign * (amp + 1) * cw),
             (amp + 1) + sign * (amp - 1) * cw - sq]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    b, a = np.asarray(b), np.asarray(a)
    return b / a[0], a / a[0]


def filt(x: np.ndarray, kind: str, f0: float, sr: int, q: float = 0.7071, gain_db: float = 0.0) -> np.ndarray:
    """Apply one biquad along the last axis of ``x`` (any shape ``(..., samples)``)."""
    b, a = biquad(kind, f0, sr, q, gain_db)
    return lfilter(b, a, x, axis=-1)


def one_pole(x: np.ndarray, coeff: float) -> np.ndarray:
    """One-pole smoother ``y[n] = (1-c) x[n] + c y[n-1]`` along the last axis."""
    return lfilter([1.0 - coeff], [1.0, -coeff], x, axis=-1)


def phase_from_freq(freq: np.ndarray, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Running phase in cycles for a per-sample frequency track ``freq`` of shape ``(samples,)``."""
    return phase0 + np.cumsum(freq) / sr


def _polyblep(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Polynomial band-limited step residual: removes most aliasing of naive saw/square edges."""
    out = np.zeros_like(t)
    lo = t < dt
    x = t[lo] / dt[lo]
    out[lo] = 2 * x - x * x - 1.0
    hi = t > 1.0 - dt
    x = (t[hi] - 1.0) / dt[hi]
    out[hi] = x * x + 2 * x + 1.0
    return out


def saw(freq: np.ndarray, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Band-limited (polyBLEP) sawtooth in [-1, 1] for a frequency track of shape ``(samples,)``."""
    t = np.mod(phase_from_freq(freq, sr, phase0), 1.0)
    dt = np.clip(freq / sr, 1e-6, 0.5)
    return 2.0 * t - 1.0 - _polyblep(t, dt)


def square(freq: np.ndarray, sr: int, phase0: float = 0.0, width: float = 0.5) -> np.ndarray:
    """Band-limited pulse wave with duty cycle ``width``, shape ``(samples,)``."""
    ph = phase_from_freq(freq, sr, phase0)
    dt = np.clip(freq / sr, 1e-6, 0.5)
    t1 = np.mod(ph, 1.0)
    t2 = np.mod(ph + (1.0 - width), 1.0)
    return (np.where(t1 < width, 1.0, -1.0) + _polyblep(t1, dt) - _polyblep(t2, dt))


def sine(freq: np.ndarray, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Sine for a frequency track of shape ``(samples,)``."""
    return np.sin(2.0 * np.pi * phase_from_freq(freq, sr, phase0))


def lowpass_sweep(x: np.ndarray, cutoff: np.ndarray, sr: int, q: float = 0.9) -> np.ndarray:
    """Low-pass ``x`` (shape ``(samples,)``) with a cutoff that moves per sample (shape ``(samples,)``).

    The signal is filtered by fixed biquads at cutoffs spaced a third of an octave apart; each output
    sample crossfades the two filters that bracket its cutoff. Only bands the track visits are computed.
    """
    ratio = 2.0 ** (1.0 / 3.0)
    lo_hz = 25.0
    top = 0.45 * sr
    c = np.clip(cutoff, lo_hz, top)
    pos = np.log(c / lo_hz) / np.log(ratio)
    i0 = int(np.floor(pos.min()))
    i1 = int(np.ceil(pos.max())) + 1
    idx = np.floor(pos).astype(np.int64)
    frac = pos - idx
    out = np.zeros_like(x)
    prev = None
    for band in range(i0, i1 + 1):
        y = filt(x, "lowpass", lo_hz * ratio ** band, sr, q)
        # sample uses (1-frac) of band idx and frac of band idx+1
        if prev is not None:
            m = idx == band - 1
            out[m] = (1.0 - frac[m]) * prev[m] + frac[m] * y[m]
        prev = y
    return out


def exp_decay(n: int, sr: int, tau: float) -> np.ndarray:
    """Exponential decay ``exp(-t / tau)`` over ``n`` samples."""
    return np.exp(-np.arange(n) / (sr * max(tau, 1e-4)))


def fade(x: np.ndarray, sr: int, seconds: float = 0.003) -> np.ndarray:
    """Short linear fade in and out so a one-shot never clicks at its ends."""
    k = min(max(1, int(seconds * sr)), x.shape[-1] // 2)
    ramp = np.linspace(0.0, 1.0, k)
    y = x.copy()
    y[..., :k] *= ramp
    y[..., -k:] *= ramp[::-1]
    return y


def place(buf: np.ndarray, sample: np.ndarray, starts: np.ndarray, gains: np.ndarray) -> None:
    """Add ``sample`` (shape ``(m,)``) into ``buf`` (shape ``(n,)``) at each start (samples) scaled by gain.

    Hits that begin before 0 or run past the end are cut; this is how a sampler places one-shots.
    """
    n, m = buf.shape[0], sample.shape[0]
    for s, g in zip(np.asarray(starts, dtype=np.int64), gains):
        a, b = max(s, 0), min(s + m, n)
        if a < b:
            buf[a:b] += g * sample[a - s:b - s]


def soft_clip(x: np.ndarray, drive: float) -> np.ndarray:
    """tanh saturation normalised so drive only changes the harmonic content, not the level much."""
    d = max(drive, 1e-3)
    return np.tanh(d * x) / np.tanh(d)
