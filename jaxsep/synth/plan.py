"""Compose one song: draw its choices from a genre, a ``difficulty`` and a generator, then write its parts.

What ``difficulty`` (0 to 1) changes, all at once and linearly:

* **borrowing** - each of the drum, bass, harmony and lead parts takes its style from another genre
  with probability ``0.6 * difficulty`` (cross-over tracks); the kick sound likewise with ``0.5 * d``;
* **sections** - the excerpt is cut from a breakdown or build rather than a drop/groove more often
  (genre weights are mixed with uniform weights by ``0.6 * d``); vocal presence drifts toward 45 %;
* **levels** - part levels spread over +/- (2 + 6 d) dB, swing ranges widen by ``0.05 d``;
* **master** - EQ shelves and mid peak spread over +/- (2 + 6 d) dB, limiter drive 0 to 3 + 9 d dB,
  output trim 0 to -(2 + 6 d) dB;
* **noise** - a hiss/hum bed in the "other" stem at -75 + 40 d dBFS (before mastering).

It never changes a genre's tempo range: a song's tempo is always inside its own genre's range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import score
from .genres import GENRES, Genre

#: Kick sound conventional for each drum style.
_KICK_FOR = {"house": "punchy", "techno": "hard", "trance": "punchy", "breakbeat": "tight",
             "halftime": "punchy", "trap": "boomy"}
_PARTS = ("drums", "bass", "harmony", "lead")


@dataclass(frozen=True)
class SongPlan:
    """A composed song, independent of the sample rate.

    Attributes:
      genre: the label. tempo: BPM. tonic: MIDI pitch of the key's tonic in the bass octave (28-39).
      mode: scale mode. swing: 16th swing ratio. sections: section name of each bar.
      styles: part -> style (``drums, kick, bass, harmony, lead, vocals``; ``none`` = silent part).
      borrowed: part -> the genre whose convention it borrowed (only borrowed parts).
      start: seconds of pre-roll rendered before the excerpt (reverb tails, off-downbeat cut).
      seconds: excerpt length. drums: instrument -> (onsets ``(hits,)`` s, velocities ``(hits,)``).
      bass, chords, lead, vocal: :class:`~jaxsep.synth.score.Notes`.
      mix: levels (dB) and effect / master parameters. sound_seed: seeds the sound design.
    """

    genre: str
    tempo: float
    tonic: int
    mode: str
    swing: float
    sections: tuple[str, ...]
    styles: dict[str, str]
    borrowed: dict[str, str]
    start: float
    seconds: float
    drums: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)
    bass: score.Notes = field(repr=False)
    chords: score.Notes = field(repr=False)
    lead: score.Notes = field(repr=False)
    vocal: score.Notes = field(repr=False)
    mix: dict[str, float] = field(repr=False)
    sound_seed: int = 0

    @property
    def has_vocals(self) -> bool:
        """True when the song has a sung part inside the excerpt."""
        inside = (self.vocal.start + self.vocal.dur > self.start) & (self.vocal.start < self.start + self.seconds)
        return bool(np.any(inside))

    def summary(self) -> dict:
        """JSON-ready description: tempo, key, styles, borrowed parts, sections heard in the excerpt."""
        bar = 240.0 / self.tempo
        first, last = int(self.start // bar), int((self.start + self.seconds) // bar)
        names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
        return {"genre": self.genre, "tempo": round(self.tempo, 3), "key": f"{names[self.tonic % 12]} {self.mode}",
                "swing": round(self.swing, 3), "styles": dict(self.styles), "borrowed": dict(self.borrowed),
                "sections": list(dict.fromkeys(self.sections[first:last + 1])), "vocals": self.has_vocals}


def _pick(rng: np.random.Generator, options) -> str:
    return str(options[int(rng.integers(len(options)))])


def compose(genre: Genre, rng: np.random.Generator, *, difficulty: float, seconds: float,
            vocals: bool | None = None) -> SongPlan:
    """Draw a song of ``genre``; ``vocals`` forces the vocal part on/off (``None``: the genre's odds).

    Args:
      genre: the conventions to follow. rng: the song's generator (all choices come from it).
      difficulty: 0 (textbook genres) to 1 (heavily blurred); see the module docstring.
      seconds: excerpt length in seconds.
    Returns:
      The :class:`SongPlan`; render it with :func:`jaxsep.synth.render.render_plan`.
    """
    d = float(difficulty)
    others = [g for g in GENRES if g.name != genre.name]
    styles, borrowed = {}, {}
    for part in _PARTS:
        src = genre
        if others and rng.random() < 0.6 * d:
            src = others[int(rng.integers(len(others)))]
            borrowed[part] = src.name
        styles[part] = _pick(rng, getattr(src, part))
    styles["kick"] = _KICK_FOR[styles["drums"]] if rng.random() >= 0.5 * d else _pick(rng, ("punchy", "boomy", "hard", "tight"))
    tempo = float(rng.uniform(*genre.tempo))
    swing = float(np.clip(rng.uniform(genre.swing[0], genre.swing[1] + 0.05 * d), 0.5, 0.66))
    mode = _pick(rng, genre.modes)
    tonic = 28 + int(rng.integers(12))
    # the excerpt: pre-roll of one bar plus a random phase, bars grouped in 8-bar phrases
    bar = 240.0 / tempo
    start = bar * (1.0 + rng.uniform(0.0, 1.0))
    n_bars = int(np.ceil((start + seconds) / bar)) + 1
    names = [s for s, _ in genre.sections]
    w = np.asarray([x for _, x in genre.sections])
    w = (1 - 0.6 * d) * w / w.sum() + 0.6 * d / len(w)
    phase = int(rng.integers(8))
    phrases = [str(rng.choice(names, p=w)) for _ in range((n_bars + phase) // 8 + 1)]
    for i in range(1, len(phrases)):  # a build always resolves into a drop
        if phrases[i - 1] == "build":
            phrases[i] = "full"
    sections = tuple(phrases[(b + phase) // 8] for b in range(n_bars))
    if styles["harmony"] == "none" and "breakdown" in sections:
        styles["harmony"] = "pad"  # a breakdown without kick and bass still carries a pad
    grid = score.Grid(tempo, swing, sections)
    roots = score.chord_roots(genre.progressions, int(rng.choice(genre.chord_bars)), n_bars, rng)
    drums, kick_steps = score.drum_hits(styles["drums"], grid, rng, fills=0.5)
    bass = score.bass_notes(styles["bass"], grid, roots, tonic, mode, kick_steps, rng)
    chords = score.chord_notes(styles["harmony"], grid, roots, tonic, mode, rng)
    lead = score.lead_notes(styles["lead"], grid, roots, tonic, mode, rng)
    p_vox = (1 - d) * genre.vocals + d * 0.45
    sing = (rng.random() < p_vox) if vocals is None else bool(vocals)
    styles["vocals"] = _pick(rng, genre.vocal_styles) if sing else "none"
    register = rng.uniform(50, 57) if rng.random() < 0.4 else rng.uniform(61, 69)
    vocal = score.vocal_notes(styles["vocals"], grid, roots, tonic, mode, register, rng) if sing else score.Notes.empty()
    spread = 2.0 + 6.0 * d
    lv = {k: float(rng.uniform(-spread, spread)) for k in
          ("kick", "snare", "clap", "hat", "open_hat", "perc", "tom", "crash", "bass", "harmony", "lead", "vocals")}
    mix = {
        **{f"level_{k}": v for k, v in lv.items()},
        "sidechain": float(rng.uniform(0.3, 0.7)) if rng.random() < genre.sidechain else 0.0,
        "reverb_rt60": float(rng.uniform(*genre.reverb)), "reverb_wet": float(rng.uniform(0.1, 0.35)),
        "vocal_wet": float(rng.uniform(0.1, 0.4)), "echo": float(rng.uniform(0.0, 0.4)),
        "noise_db": float(-75.0 + 40.0 * d + rng.uniform(-5, 5)),
        "low_db": float(rng.uniform(-spread, spread)), "low_hz": float(rng.uniform(70, 200)),
        "mid_db": float(rng.uniform(-spread, spread) / 2), "mid_hz": float(rng.uniform(300, 3000)),
        "high_db": float(rng.uniform(-spread, spread)), "high_hz": float(rng.uniform(3000, 9000)),
        "drive_db": float(rng.uniform(0.0, 3.0 + 9.0 * d)), "ceiling_db": float(rng.uniform(-1.0, -0.1)),
        "trim_db": float(-rng.uniform(0.0, spread)),
    }
    return SongPlan(genre.name, tempo, tonic, mode, swing, sections, styles, borrowed, start, float(seconds),
                drums, bass, chords, lead, vocal, mix, int(rng.integers(2**62)))
