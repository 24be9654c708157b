"""A sung-like voice: a glottal source with vibrato and jitter, shaped by vowel formants.

Source-filter model: a band-limited sawtooth (the glottal pulse train, tilted by a low-pass) plus
breath noise, sent through five parallel vowel filter banks of three resonances each (F1-F3); each
output sample crossfades the banks by the vowel of the note being sung, with ~40 ms transitions, so
formants glide between syllables. Vibrato (4.5-6.5 Hz, 20-60 cents) fades in after the onset of each
note; consonant-like noise bursts mark some syllable onsets.
"""

from __future__ import annotations

import numpy as np

from . import dsp
from .instruments import _tracks
from .score import VOWELS, Notes

#: Adult male formant centres (Hz) of F1-F3 for each vowel; other singers scale them.
FORMANTS = {
    "a": (730.0, 1090.0, 2440.0), "e": (530.0, 1840.0, 2480.0), "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0), "u": (300.0, 870.0, 2240.0),
}
_GAINS = (1.0, 0.5, 0.25)


def sing(notes: Notes, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Render a vocal line (``notes.mod`` = vowel index) to a mono buffer of shape ``(samples,)``.

    The singer (formant scale, vibrato, breathiness, jitter) is drawn from ``rng``.
    """
    if len(notes) == 0:
        return np.zeros(n)
    scale = rng.uniform(0.95, 1.25)  # ~1.0 for a low voice, ~1.2 for a high one
    vib_rate, vib_depth = rng.uniform(4.5, 6.5), rng.uniform(20, 60) / 1200.0
    breath, tilt = rng.uniform(0.02, 0.12), rng.uniform(1500, 4000)
    jitter, glide = rng.uniform(0.002, 0.008), rng.uniform(0.03, 0.08)
    consonant = rng.uniform(0.2, 0.6)
    bw = rng.uniform(60, 120)
    flags = Notes(notes.start, notes.dur, notes.midi, notes.vel, np.ones(len(notes)))  # legato: every note slides
    midi, env, since = _tracks(flags, n, sr, attack=rng.uniform(0.02, 0.06), release=0.08, glide=glide)
    t = np.arange(n) / sr
    vib = vib_depth * np.sin(2 * np.pi * vib_rate * t) * np.clip((since - 0.15) / 0.3, 0, 1)
    wander = dsp.one_pole(rng.standard_normal(n), 0.999) * jitter * 8  # slow pitch drift
    f0 = dsp.midi_to_hz(midi) * 2 ** (vib + wander)
    src = dsp.filt(dsp.saw(f0, sr), "lowpass", tilt, sr) + breath * rng.standard_normal(n)
    # vowel weights per sample: one-hot by note, smoothed into ~40 ms transitions
    onehot = np.zeros((len(VOWELS), n))
    vidx = np.zeros(n, dtype=np.int64)
    starts = (notes.start * sr).astype(np.int64)
    order = np.clip(np.searchsorted(starts, np.arange(n), side="right") - 1, 0, len(notes) - 1)
    vidx[:] = notes.mod[order].astype(np.int64) % len(VOWELS)
    onehot[vidx, np.arange(n)] = 1.0
    onehot = dsp.one_pole(onehot, np.exp(-1.0 / (0.015 * sr)))
    y = np.zeros(n)
    for k, v in enumerate(VOWELS):
        if onehot[k].max() < 1e-3:
            continue
        bank = sum(g * dsp.filt(src, "bandpass", f * scale, sr, q=f * scale / bw) for f, g in zip(FORMANTS[v], _GAINS))
        y += onehot[k] * bank
    # consonants: short high-passed noise at some syllable onsets ("s", "t", "ch")
    cons = np.zeros(n)
    burst = dsp.filt(rng.standard_normal(int(0.04 * sr)), "highpass", 4000.0, sr) * np.exp(-np.arange(int(0.04 * sr)) / (0.012 * sr))
    pick = rng.random(len(notes)) < consonant
    dsp.place(cons, burst, starts[pick] - int(0.02 * sr), notes.vel[pick] * 0.3)
    shimmer = 1.0 + 0.05 * dsp.one_pole(rng.standard_normal(n), 0.995) * 10
    return 4.0 * y * env * shimmer + cons
