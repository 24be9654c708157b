"""Render a composed song to four true stems - bass, drums, other, vocals - that sum exactly to the mix.

Every part is synthesised, levelled, panned and sent through its bus effects into exactly one stem
(drums and cymbals -> ``drums``; bass -> ``bass``; chords, lead, risers, noise bed -> ``other``;
the voice with its reverb and echo -> ``vocals``), the same split as MUSDB18-style separators use.
The master stage (:func:`jaxsep.synth.effects.master`) is linear in the stems, so the mix is simply
their sum: no stem ever hides a nonlinearity of the mix.
"""

from __future__ import annotations

import numpy as np

from ..constants import SAMPLE_RATE, SEGMENT_SECONDS, STEMS
from . import dsp, effects, instruments
from .genres import Genre
from .plan import SongPlan, compose
from .voice import sing

#: Default ``difficulty`` (see :mod:`jaxsep.synth.plan`), tuned so a simple spectral baseline is
#: well below perfect but well above chance on the paper-sized set.
DEFAULT_DIFFICULTY = 0.5


def _seed(song: SongPlan, part: str) -> np.random.Generator:
    """Independent generator per part, derived from the song's sound seed and the part's name."""
    return np.random.default_rng([song.sound_seed, sum(ord(c) * 31 ** i for i, c in enumerate(part)) % 2**32])


def _db(x: float) -> float:
    return 10.0 ** (x / 20.0)


def _drums(song: SongPlan, n: int, sr: int, ch: int) -> tuple[np.ndarray, np.ndarray]:
    """Drum bus ``(ch, n)`` and the kick onsets (seconds) that drive the sidechain pump."""
    rng = _seed(song, "drums")
    kit = {
        "kick": instruments.kick(sr, rng, song.styles["kick"]), "snare": instruments.snare(sr, rng),
        "clap": instruments.clap(sr, rng), "hat": instruments.hat(sr, rng, False),
        "open_hat": instruments.hat(sr, rng, True), "perc": instruments.perc(sr, rng),
        "tom": instruments.tom(sr, rng), "crash": instruments.crash(sr, rng),
    }
    base = {"kick": 0.9, "snare": 0.55, "clap": 0.45, "hat": 0.16, "open_hat": 0.14, "perc": 0.2, "tom": 0.4, "crash": 0.15}
    bus = np.zeros((ch, n))
    for name, sample in kit.items():
        times, vel = song.drums.get(name, (np.zeros(0), np.zeros(0)))
        buf = np.zeros(n)
        dsp.place(buf, sample, np.round(times * sr), vel * base[name] * _db(song.mix[f"level_{name}"]))
        position = 0.0 if name in ("kick", "snare", "clap") else rng.uniform(-0.6, 0.6)
        bus += effects.pan(buf, position, ch)
    room = effects.reverb(bus, sr, rng, rng.uniform(0.3, 0.9))
    return bus + rng.uniform(0.03, 0.15) * room, song.drums["kick"][0]


def _build_riser(song: SongPlan, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Noise riser with an opening filter over every run of build bars (part of "other")."""
    bar_n = 240.0 / song.tempo * sr
    ramp = np.zeros(n)
    bars = [i for i, s in enumerate(song.sections) if s == "build"]
    if not bars:
        return ramp
    runs, begin = [], bars[0]
    for prev, cur in zip(bars, bars[1:] + [None]):
        if cur != prev + 1:
            runs.append((begin, prev + 1))
            begin = cur
    for b0, b1 in runs:
        a, b = int(b0 * bar_n), min(int(b1 * bar_n), n)
        if a < b:
            ramp[a:b] = np.linspace(0.0, 1.0, b - a)
    noise = rng.standard_normal(n)
    return 0.15 * dsp.lowpass_sweep(noise, 200 * 40 ** ramp, sr) * ramp ** 2


def render_plan(song: SongPlan, *, sample_rate: int = SAMPLE_RATE, stereo: bool = False,
                n_samples: int | None = None) -> dict[str, np.ndarray]:
    """Render a composed :class:`~jaxsep.synth.plan.SongPlan` to stems.

    Args:
      song: from :func:`~jaxsep.synth.plan.compose`.
      sample_rate: Hz. stereo: two channels (panning, decorrelated reverbs) instead of one.
      n_samples: output length; default ``round(song.seconds * sample_rate)``.
    Returns:
      ``{stem: wave}`` for each of :data:`jaxsep.constants.STEMS`, float64, shape ``(samples,)``
      in mono or ``(2, samples)`` in stereo; the mix is their sum.
    """
    sr = int(sample_rate)
    ch = 2 if stereo else 1
    out_n = int(round(song.seconds * sr)) if n_samples is None else int(n_samples)
    first = int(round(song.start * sr))
    n = first + out_n
    m = song.mix
    drums, kick_times = _drums(song, n, sr, ch)
    pump = effects.pump(n, sr, kick_times, m["sidechain"], release=60.0 / song.tempo * 0.45)

    rng = _seed(song, "bass")
    bass = instruments.bass(song.bass, n, sr, rng, song.styles["bass"]) * 0.5 * _db(m["level_bass"])
    bass = effects.pan(bass * pump, 0.0, ch)

    rng = _seed(song, "other")
    harm = instruments.keys(song.chords, n, sr, rng, song.styles["harmony"]) * 0.12 * _db(m["level_harmony"])
    lead = instruments.keys(song.lead, n, sr, rng, song.styles["lead"]) * 0.15 * _db(m["level_lead"])
    other = effects.pan(harm, rng.uniform(-0.2, 0.2), ch) + effects.pan(lead, rng.uniform(-0.3, 0.3), ch)
    if song.styles["harmony"] == "dub_stabs" or m["echo"] > 0.3:
        other = other + effects.echo(other, sr, 0.75 * 60.0 / song.tempo, rng.uniform(0.3, 0.6))
    other = other + m["reverb_wet"] * effects.reverb(other, sr, rng, m["reverb_rt60"])
    other = other + effects.pan(_build_riser(song, n, sr, rng), 0.0, ch)
    other = other * pump[None, :]
    hum = 0.3 * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * np.arange(n) / sr)  # mains hum + hiss bed
    bed = _db(m["noise_db"]) * (dsp.filt(rng.standard_normal((ch, n)), "highpass", 2000.0, sr) + hum)
    other = other + bed

    rng = _seed(song, "vocals")
    if song.styles["vocals"] == "none":
        vocals = np.zeros((ch, n))
    else:
        v = sing(song.vocal, n, sr, rng) * 0.12 * _db(m["level_vocals"])
        vocals = effects.pan(dsp.filt(v, "highpass", 120.0, sr), 0.0, ch)
        vocals = vocals + m["vocal_wet"] * effects.reverb(vocals, sr, rng, m["reverb_rt60"])
        if m["echo"] > 0.2:
            vocals = vocals + effects.echo(vocals, sr, 0.5 * 60.0 / song.tempo, 0.35)

    stems = {"bass": bass, "drums": drums, "other": other, "vocals": vocals}
    stems = {k: v[:, first:first + out_n] for k, v in stems.items()}
    stems = effects.master(stems, sr, m)
    if ch == 1:
        stems = {k: v[0] for k, v in stems.items()}
    return {k: stems[k] for k in STEMS}


def render_song(genre: Genre, rng: np.random.Generator, *, difficulty: float = DEFAULT_DIFFICULTY,
                seconds: float = SEGMENT_SECONDS, sample_rate: int = SAMPLE_RATE, stereo: bool = False,
                vocals: bool | None = None) -> dict[str, np.ndarray]:
    """Compose and render one song of ``genre``.

    Args:
      genre: a :class:`~jaxsep.synth.genres.Genre`. rng: the song's generator (fully determines it).
      difficulty: 0..1, see :mod:`jaxsep.synth.plan`. seconds: excerpt length.
      sample_rate: Hz. stereo: two channels. vocals: force the voice on/off (``None``: genre odds).
    Returns:
      ``{stem: wave}`` in :data:`~jaxsep.constants.STEMS` order, shape ``(samples,)`` or
      ``(2, samples)`` with ``samples = round(seconds * sample_rate)``; the mix is their sum.
    """
    song = compose(genre, rng, difficulty=difficulty, seconds=seconds, vocals=vocals)
    return render_plan(song, sample_rate=sample_rate, stereo=stereo)
