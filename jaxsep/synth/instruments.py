"""Instruments: drum one-shots placed like a sampler, and synth voices that play :class:`Notes`.

Each function draws its sound-design parameters (pitch sweep, decay, detune, filter, drive...) from
the ``rng`` it is given *before* drawing any noise, so a song sounds the same at every sample rate.
All returns are mono float64 buffers of shape ``(samples,)``.
"""

from __future__ import annotations

import numpy as np

from . import dsp
from .score import Notes

KICK_STYLES = ("punchy", "boomy", "hard", "tight")


# ------------------------------------------------------------------------------------ drums
def kick(sr: int, rng: np.random.Generator, style: str) -> np.ndarray:
    """Kick one-shot: sine with an exponential pitch drop, amplitude decay, click and drive."""
    lo = {"punchy": (45, 60), "boomy": (38, 52), "hard": (42, 58), "tight": (50, 65)}[style]
    f1 = rng.uniform(*lo)
    f0 = f1 * rng.uniform(2.5, 5.0)
    sweep = rng.uniform(0.015, 0.05)
    decay = {"punchy": (0.18, 0.35), "boomy": (0.5, 1.1), "hard": (0.22, 0.45), "tight": (0.1, 0.22)}[style]
    tau = rng.uniform(*decay)
    drive = rng.uniform(3.0, 6.0) if style == "hard" else rng.uniform(1.0, 2.0)
    click = rng.uniform(0.05, 0.4)
    n = int(min(5 * tau, 1.5) * sr)
    t = np.arange(n) / sr
    body = dsp.sine(f1 + (f0 - f1) * np.exp(-t / sweep), sr) * np.exp(-t / tau)
    cl = dsp.filt(rng.standard_normal(n), "highpass", 2000.0, sr) * np.exp(-t / 0.004)
    return dsp.fade(dsp.soft_clip(body + click * cl, drive), sr)


def snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Snare: a short pitched body under band-passed noise."""
    f = rng.uniform(160, 260)
    tone_tau, noise_tau = rng.uniform(0.03, 0.1), rng.uniform(0.06, 0.22)
    centre, mix = rng.uniform(1500, 5000), rng.uniform(0.4, 0.8)
    n = int(6 * noise_tau * sr)
    t = np.arange(n) / sr
    body = dsp.sine(np.full(n, f) * (1 + 0.3 * np.exp(-t / 0.01)), sr) * np.exp(-t / tone_tau)
    nz = dsp.filt(rng.standard_normal(n), "bandpass", centre, sr, q=0.6) * np.exp(-t / noise_tau)
    return dsp.fade((1 - mix) * body + mix * 2.5 * nz, sr)


def clap(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Hand clap: three or four noise bursts a few ms apart, then a band-passed tail."""
    bursts, gap = int(rng.integers(3, 5)), rng.uniform(0.006, 0.013)
    tail, centre = rng.uniform(0.08, 0.3), rng.uniform(900, 2500)
    n = int((bursts * gap + 5 * tail) * sr)
    t = np.arange(n) / sr
    env = np.exp(-np.maximum(t - (bursts - 1) * gap, 0) / tail) * (t >= (bursts - 1) * gap)
    for k in range(bursts - 1):
        env += np.exp(-np.maximum(t - k * gap, 0) / 0.004) * (t >= k * gap)
    return dsp.fade(3.0 * dsp.filt(rng.standard_normal(n), "bandpass", centre, sr, q=1.2) * env, sr)


def hat(sr: int, rng: np.random.Generator, open_: bool) -> np.ndarray:
    """Hi-hat: six inharmonic square partials (808 style) or noise, high-passed, short or long decay."""
    tau = rng.uniform(0.15, 0.45) if open_ else rng.uniform(0.015, 0.06)
    metal, base, cut = rng.random() < 0.5, rng.uniform(280, 460), rng.uniform(6000, 9500)
    n = int(5 * tau * sr)
    t = np.arange(n) / sr
    if metal:
        ratios = np.array([2.0, 3.0, 4.16, 5.43, 6.79, 8.21])
        src = sum(dsp.square(np.full(n, base * r), sr) for r in ratios)
    else:
        src = rng.standard_normal(n)
    y = dsp.filt(dsp.filt(src, "highpass", cut, sr), "highpass", cut, sr) * np.exp(-t / tau)
    return dsp.fade(y / (np.max(np.abs(y)) + 1e-9), sr)


def crash(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Crash cymbal: long high-passed noise."""
    tau = rng.uniform(0.6, 1.6)
    n = int(3 * tau * sr)
    y = dsp.filt(rng.standard_normal(n), "highpass", rng.uniform(3000, 6000), sr) * dsp.exp_decay(n, sr, tau)
    return dsp.fade(0.5 * y, sr)


def perc(sr: int, rng: np.random.Generator) -> np.ndarray:
    """One hand-percussion voice: rim, conga, cowbell or shaker."""
    kind = ["rim", "conga", "cowbell", "shaker"][int(rng.integers(4))]
    f, tau = rng.uniform(180, 900), rng.uniform(0.03, 0.15)
    n = int(6 * tau * sr)
    t = np.arange(n) / sr
    if kind == "rim":
        y = dsp.filt(rng.standard_normal(n), "bandpass", 1800.0, sr, q=4) * np.exp(-t / 0.01) + 0.4 * np.sin(2 * np.pi * 2 * f * t) * np.exp(-t / tau)
    elif kind == "conga":
        y = dsp.sine(f * (1 + 0.2 * np.exp(-t / 0.01)), sr) * np.exp(-t / tau)
    elif kind == "cowbell":
        y = dsp.filt(dsp.square(np.full(n, 1.48 * f + 300), sr) + dsp.square(np.full(n, 2.2 * f + 450), sr), "bandpass", 2000.0, sr) * np.exp(-t / tau)
    else:
        y = dsp.filt(rng.standard_normal(n), "highpass", 5000.0, sr) * np.minimum(t / 0.01, 1.0) * np.exp(-t / 0.05)
    return dsp.fade(y / (np.max(np.abs(y)) + 1e-9), sr)


def tom(sr: int, rng: np.random.Generator) -> np.ndarray:
    """Tom for fills: a pitch-dropping sine."""
    f, tau = rng.uniform(90, 200), rng.uniform(0.12, 0.3)
    n = int(5 * tau * sr)
    t = np.arange(n) / sr
    return dsp.fade(dsp.sine(f * (1 + 0.5 * np.exp(-t / 0.03)), sr) * np.exp(-t / tau), sr)


# ------------------------------------------------------------------------------ note tracks
def _tracks(notes: Notes, n: int, sr: int, attack: float, release: float, glide: float):
    """Per-sample pitch (MIDI), amplitude envelope and time-since-onset for a monophonic line.

    Returns three arrays of shape ``(samples,)``. A note whose ``mod`` flag is set slides from the
    previous pitch over ``glide`` seconds (acid/808 slides); others jump.
    """
    midi = np.full(n, np.nan)
    env = np.zeros(n)
    since = np.full(n, 10.0)
    prev = None
    for s, d, m, v, flag in zip(notes.start, notes.dur, notes.midi, notes.vel, notes.mod):
        a = int(s * sr)
        b = min(a + max(int(d * sr), 1), n)
        r = min(b + int(release * sr), n)
        if a >= n or b <= 0:
            prev = m
            continue
        lo = max(a, 0)
        tt = (np.arange(lo, r) - a) / sr
        e = np.minimum(tt / max(attack, 1e-4), 1.0) * v
        e[b - lo:] *= np.exp(-(tt[b - lo:] - (b - a) / sr) / max(release / 4, 1e-3))
        env[lo:r] = np.maximum(env[lo:r], e)
        track = np.full(b - lo, m)
        if flag and prev is not None:
            g = min(int(glide * sr), b - lo)
            track[:g] = np.linspace(prev, m, g)
        midi[lo:b] = track
        since[lo:b] = tt[: b - lo]
        prev = m
    idx = np.where(np.isnan(midi), 0, np.arange(n))
    np.maximum.accumulate(idx, out=idx)  # hold the last pitch through releases and rests
    first = notes.midi[0] if len(notes) else 60.0
    midi = np.where(np.isnan(midi[idx]), first, midi[idx])
    return midi, env, since


def bass(notes: Notes, n: int, sr: int, rng: np.random.Generator, style: str) -> np.ndarray:
    """Bass voice for a :data:`~jaxsep.synth.score.BASS_STYLES` style, shape ``(samples,)``."""
    if len(notes) == 0:
        return np.zeros(n)
    glide = 0.08 if style == "808" else 0.05
    release = {"808": rng.uniform(0.05, 0.2), "reese": 0.05, "sub": 0.03}.get(style, 0.02)
    midi, env, since = _tracks(notes, n, sr, attack=0.004, release=release, glide=glide)
    f = dsp.midi_to_hz(midi)
    t = np.arange(n) / sr
    if style in ("offbeat", "syncopated", "rolling"):
        tau, base, amt = rng.uniform(0.04, 0.15), rng.uniform(150, 400), rng.uniform(2, 10)
        osc = dsp.saw(f, sr) + rng.uniform(0.3, 0.8) * dsp.sine(f, sr)
        y = dsp.lowpass_sweep(osc, base * (1 + amt * np.exp(-since / tau)), sr, q=rng.uniform(0.7, 2.0))
    elif style == "rumble":
        y = dsp.soft_clip(dsp.filt(dsp.saw(f, sr) + dsp.sine(f, sr), "lowpass", rng.uniform(100, 220), sr), rng.uniform(2, 4))
    elif style == "acid":
        tau, base = rng.uniform(0.05, 0.2), rng.uniform(200, 500)
        osc = dsp.saw(f, sr) if rng.random() < 0.6 else dsp.square(f, sr)
        cut = base * (1 + rng.uniform(4, 12) * np.exp(-since / tau) * np.interp(t, notes.start, notes.vel))
        y = dsp.soft_clip(dsp.lowpass_sweep(osc, cut, sr, q=rng.uniform(3, 7)), 2.0)
    elif style == "reese":
        det = rng.uniform(0.004, 0.012)
        osc = dsp.saw(f * (1 + det), sr) + dsp.saw(f * (1 - det), sr, 0.37) + 0.8 * dsp.sine(f, sr)
        cut = rng.uniform(250, 700) * 2 ** (rng.uniform(0.5, 1.5) * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
        y = dsp.soft_clip(dsp.lowpass_sweep(osc, cut, sr, q=1.2), rng.uniform(1.5, 3))
    elif style == "sub":
        y = dsp.soft_clip(dsp.sine(f, sr), rng.uniform(1.0, 2.0))
    elif style == "wobble":
        rate = np.interp(t, notes.start, notes.mod)
        lfo = 0.5 - 0.5 * np.cos(2 * np.pi * np.cumsum(rate) / sr)
        cut = rng.uniform(70, 150) * 2 ** (rng.uniform(3.5, 5.5) * lfo)
        osc = dsp.saw(f, sr) + rng.uniform(0.3, 1.0) * dsp.square(f * 1.003, sr)
        y = dsp.soft_clip(dsp.lowpass_sweep(osc, cut, sr, q=rng.uniform(1.5, 4)), rng.uniform(2, 5))
        y = y + 0.6 * dsp.sine(f, sr)
    elif style == "808":
        decay = rng.uniform(0.35, 1.2)
        kickdrop = 1.0 + 1.5 * np.exp(-since / 0.012)
        y = dsp.soft_clip(dsp.sine(f * kickdrop, sr) * np.exp(-since / decay), rng.uniform(1.5, 4))
    else:
        raise ValueError(f"unknown bass style {style!r}")
    return dsp.filt(y * env, "highpass", 25.0, sr)


def _note_voice(style: str, f: float, m: int, sr: int, rng_params: dict, rng: np.random.Generator) -> np.ndarray:
    """One note (``m`` samples including release) of a polyphonic/plucked instrument at ``f`` Hz."""
    t = np.arange(m) / sr
    p = rng_params
    if style == "organ_stabs":
        y = sum(w * np.sin(2 * np.pi * f * h * t) for h, w in zip((1, 2, 3, 4, 6, 8), p["draw"]))
    elif style in ("piano_stabs", "bell_chords", "bell"):
        ratio, idx, tau = p["fm"]
        y = np.sin(2 * np.pi * f * t + idx * np.exp(-t / (tau / 2)) * np.sin(2 * np.pi * f * ratio * t)) * np.exp(-t / tau)
    elif style in ("pad", "drone", "supersaw", "supersaw_lead"):
        voices = p["voices"]
        dets = np.linspace(-p["spread"], p["spread"], voices)
        y = sum(dsp.saw(np.full(m, f * (1 + d)), sr, rng.random()) for d in dets) / np.sqrt(voices)
        y = dsp.filt(y, "lowpass", p["cut"], sr)
    elif style in ("pluck", "arp", "dub_stabs"):
        osc = dsp.saw(np.full(m, f), sr) if p["saw"] else dsp.square(np.full(m, f), sr)
        y = dsp.lowpass_sweep(osc, p["cut"] * (0.15 + np.exp(-t / p["ftau"])), sr) * np.exp(-t / p["atau"])
    elif style == "brass_stabs":
        osc = dsp.saw(np.full(m, f), sr) + dsp.saw(np.full(m, f * 1.004), sr)
        y = dsp.lowpass_sweep(osc, 300 + p["cut"] * np.minimum(t / 0.08, 1.0), sr)
    elif style in ("square", "acid"):
        vib = 1 + 0.004 * np.sin(2 * np.pi * 5.5 * t) * np.minimum(t / 0.3, 1)
        y = dsp.filt(dsp.square(f * vib, sr, width=p["pw"]), "lowpass", p["cut"], sr)
    else:
        raise ValueError(f"unknown instrument style {style!r}")
    return y


def keys(notes: Notes, n: int, sr: int, rng: np.random.Generator, style: str) -> np.ndarray:
    """Harmony or lead instrument playing ``notes`` (several rows at one onset = a chord), ``(samples,)``."""
    out = np.zeros(n)
    if len(notes) == 0 or style == "none":
        return out
    params = {
        "draw": rng.uniform(0, 1, 6) * np.array([1, 0.8, 0.6, 0.4, 0.3, 0.2]),
        "fm": (float(rng.choice([1.0, 2.0, 3.5, 14.0] if style != "bell" else [3.5, 1.41, 2.76])),
               rng.uniform(0.8, 4.0), rng.uniform(0.25, 1.2)),
        "voices": int(rng.integers(5, 8)) if "supersaw" in style else int(rng.integers(2, 4)),
        "spread": rng.uniform(0.004, 0.012) if "supersaw" in style else rng.uniform(0.002, 0.006),
        "cut": rng.uniform(600, 2500) if style in ("pad", "drone", "dub_stabs") else rng.uniform(1500, 6000),
        "saw": rng.random() < 0.6, "ftau": rng.uniform(0.03, 0.2), "atau": rng.uniform(0.1, 0.5),
        "pw": rng.uniform(0.3, 0.5),
    }
    attack = {"pad": rng.uniform(0.05, 0.4), "drone": 0.5, "supersaw": 0.005}.get(style, 0.003)
    release = {"pad": 0.3, "drone": 0.5, "supersaw": 0.08, "supersaw_lead": 0.1}.get(style, 0.04)
    for s, d, midi, v in zip(notes.start, notes.dur, notes.midi, notes.vel):
        a = int(s * sr)
        held = max(int(d * sr), 8)
        m = held + int(release * sr)
        if a >= n:
            continue
        y = _note_voice(style, float(dsp.midi_to_hz(midi)), m, sr, params, rng)
        t = np.arange(m) / sr
        env = np.minimum(t / attack, 1.0) * np.where(t < held / sr, 1.0, np.exp(-(t - held / sr) / (release / 4)))
        b = min(a + m, n)
        lo = max(a, 0)
        out[lo:b] += v * (y * env)[lo - a:b - a]
    return out
