"""The written parts of a song: drum hits and note lists, in seconds, independent of the sample rate.

Time runs on a 16th-note grid (16 steps per 4/4 bar at the notated tempo). Every bar has a section
(``full``, ``groove``, ``breakdown``, ``build``) that decides which parts play; the last bar of each
4-bar phrase may carry a drum fill. Swing delays the off-beat 16ths; every hit gets a few
milliseconds of human timing and velocity jitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DRUM_STYLES = ("house", "techno", "trance", "breakbeat", "halftime", "trap")
BASS_STYLES = ("offbeat", "syncopated", "rumble", "acid", "rolling", "reese", "sub", "wobble", "808")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10), "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
}
VOWELS = ("a", "e", "i", "o", "u")


@dataclass(frozen=True)
class Notes:
    """A list of notes, every field of shape ``(notes,)``: onset and length in seconds, MIDI pitch,
    velocity in (0, 1], and ``mod`` (a per-note modulation value whose meaning the instrument
    defines: LFO rate in Hz for wobble bass, slide flag for acid and 808, vowel index for vocals)."""

    start: np.ndarray
    dur: np.ndarray
    midi: np.ndarray
    vel: np.ndarray
    mod: np.ndarray

    @staticmethod
    def empty() -> "Notes":
        z = np.zeros(0)
        return Notes(z, z, z, z, z)

    def __len__(self) -> int:
        return int(self.start.shape[0])


@dataclass(frozen=True)
class Grid:
    """Timing of one song: tempo, swing and the per-bar section list."""

    tempo: float
    swing: float
    sections: tuple[str, ...]

    @property
    def step(self) -> float:
        """Length of a 16th note in seconds."""
        return 60.0 / self.tempo / 4.0

    def time(self, bar: int, step: np.ndarray | float) -> np.ndarray:
        """Onset in seconds of 16th step(s) in ``bar``, swung: odd steps are pushed late."""
        s = np.asarray(step, dtype=np.float64)
        odd = (np.floor(s) % 2) == 1
        late = np.where(odd & (s == np.floor(s)), (self.swing - 0.5) * 2.0 * self.step, 0.0)
        return (bar * 16 + s) * self.step + late


def _notes(rows: list[tuple[float, float, float, float, float]]) -> Notes:
    if not rows:
        return Notes.empty()
    a = np.asarray(rows, dtype=np.float64)
    order = np.argsort(a[:, 0], kind="stable")
    a = a[order]
    return Notes(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4])


def scale_pitch(tonic: int, mode: str, degree: np.ndarray | int) -> np.ndarray:
    """MIDI pitch of scale degree(s) (0-based, may exceed 6 or be negative) above MIDI ``tonic``."""
    sc = np.asarray(SCALES[mode])
    d = np.asarray(degree)
    return tonic + sc[d % 7] + 12 * (d // 7)


# ----------------------------------------------------------------------------------------- drums
def _bar_pattern(style: str, rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    """One bar of the style's groove: instrument -> [(step, velocity)]; a song draws it once."""
    p: dict[str, list[tuple[float, float]]] = {}
    if style in ("house", "techno", "trance"):
        p["kick"] = [(s, 1.0) for s in (0, 4, 8, 12)]
        if style == "house" or style == "trance" or rng.random() < 0.5:
            p["clap"] = [(4, 0.9), (12, 0.9)]
        else:
            p["perc"] = [(s, 0.6) for s in rng.choice([3, 6, 7, 10, 11, 14], size=3, replace=False)]
        if style != "techno" or rng.random() < 0.7:
            p["open_hat"] = [(s, 0.7) for s in (2, 6, 10, 14)]
        if style != "house" or rng.random() < 0.6:
            acc = rng.uniform(0.25, 0.5)
            p["hat"] = [(s, 0.55 if s % 4 == 2 else acc) for s in range(16)]
        if style == "house":
            p["perc"] = [(s, rng.uniform(0.4, 0.8)) for s in rng.choice([3, 7, 10, 11, 14, 15], size=3, replace=False)]
        if style == "techno" and rng.random() < 0.6:  # 3-step polyrhythmic loop against the 4/4 kick
            off = int(rng.integers(0, 3))
            p["perc"] = p.get("perc", []) + [(s, 0.5) for s in range(off, 16, 3)]
    elif style == "breakbeat":
        variants = [
            ([0, 10], [4, 12]), ([0, 10, 11], [4, 12]), ([0, 2, 10], [4, 12]),
            ([0, 6, 10], [4, 12]), ([0, 2, 10, 11], [4, 7, 9, 12, 15]),
        ]
        k, s = variants[int(rng.integers(len(variants)))]
        p["kick"] = [(x, 1.0) for x in k]
        p["snare"] = [(x, 1.0 if x in (4, 12) else 0.45) for x in s]
        ghosts = rng.choice([3, 7, 9, 14, 15], size=int(rng.integers(0, 3)), replace=False)
        p["snare"] += [(float(g), rng.uniform(0.15, 0.3)) for g in ghosts if g not in s]
        p["hat"] = [(x, 0.6 if x % 4 == 0 else 0.4) for x in range(0, 16, 2 if rng.random() < 0.6 else 1)]
        if rng.random() < 0.4:
            p["open_hat"] = [(14, 0.5)]
    elif style == "halftime":
        kicks = [[0], [0, 3], [0, 10], [0, 6, 14], [0, 11]][int(rng.integers(5))]
        p["kick"] = [(x, 1.0) for x in kicks]
        p["snare"] = [(8, 1.0)]
        if rng.random() < 0.5:
            p["clap"] = [(8, 0.8)]
        if rng.random() < 0.5:  # triplet-feel hats: 12 per bar, off the 16th grid
            p["hat"] = [(x * 16 / 12, 0.5 if x % 3 == 0 else 0.3) for x in range(12)]
        else:
            p["hat"] = [(x, 0.5 if x % 4 == 0 else 0.35) for x in range(0, 16, 2)]
        p["perc"] = [(float(x), 0.5) for x in rng.choice([5, 7, 13, 15], size=int(rng.integers(0, 3)), replace=False)]
    elif style == "trap":
        kicks = [[0, 7, 10], [0, 3, 11], [0, 6, 10, 13], [0, 10], [0, 3, 6, 11]][int(rng.integers(5))]
        p["kick"] = [(x, 1.0) for x in kicks]
        p["clap"] = [(8, 1.0)]
        p["snare"] = [(8, 0.7)]
        div = 1 if rng.random() < 0.6 else 2
        hats = [(float(x), 0.5 if x % 4 == 0 else 0.35) for x in range(0, 16, div)]
        # hat rolls: some beats are split into 32nds or 16th triplets (the trap signature)
        for beat in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
            sub = 3 if rng.random() < 0.5 else 2
            n = 8 if sub == 2 else 6
            hats = [h for h in hats if not (4 * beat <= h[0] < 4 * beat + 4)]
            hats += [(4 * beat + i * 4.0 / n, 0.3 + 0.3 * i / n) for i in range(n)]
        p["hat"] = hats
        if rng.random() < 0.5:
            p["open_hat"] = [(14.0, 0.5)]
    else:
        raise ValueError(f"unknown drum style {style!r}")
    return p


def drum_hits(style: str, grid: Grid, rng: np.random.Generator, *, fills: float):
    """Drum hits of the whole song and the kick steps of its basic groove.

    ``fills`` is the probability that the last bar of a 4-bar phrase ends with a snare or tom fill.
    Returns ``(hits, kick_steps)``: instrument -> (onset seconds ``(hits,)``, velocity ``(hits,)``),
    and the sorted 16th steps of the kick in one bar of the groove (bass lines lock to them).
    """
    base = _bar_pattern(style, rng)
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in ("kick", "snare", "clap", "hat", "open_hat", "perc", "tom", "crash")}
    for bar, sec in enumerate(grid.sections):
        prev = grid.sections[bar - 1] if bar else sec
        bar_p = {k: list(v) for k, v in base.items()}
        if sec == "breakdown":
            bar_p = {k: v for k, v in bar_p.items() if k in ("hat", "perc")} if rng.random() < 0.5 else {}
        elif sec == "groove":
            bar_p.pop("open_hat", None) if rng.random() < 0.5 else bar_p.pop("perc", None)
        elif sec == "build":
            pos = bar % 8
            div = [4, 4, 2, 2, 1, 1, 0.5, 0.5][pos]
            bar_p = {"kick": bar_p.get("kick", [])[:1] if pos < 4 else [(s, 1.0) for s in (0, 4, 8, 12)],
                     "snare": [(s, 0.3 + 0.7 * (pos * 16 + s) / 128) for s in np.arange(0, 16, div)]}
        if sec in ("full", "groove") and prev in ("breakdown", "build"):
            bar_p["crash"] = [(0, 0.8)]
        if sec in ("full", "groove") and bar % 4 == 3 and rng.random() < fills:
            drum = "snare" if rng.random() < 0.6 else "tom"
            bar_p = {k: [h for h in v if h[0] < 12] for k, v in bar_p.items()}
            bar_p[drum] = bar_p.get(drum, []) + [(s, rng.uniform(0.5, 1.0)) for s in np.arange(12, 16, rng.choice([0.5, 1.0]))]
        for inst, hits in bar_p.items():
            for s, v in hits:
                out[inst].append((float(grid.time(bar, s)), v))
    res = {}
    for inst, hits in out.items():
        if hits:
            a = np.asarray(hits)
            t = a[:, 0] + rng.normal(0.0, 0.004, len(a))  # a few ms of human timing
            v = np.clip(a[:, 1] * rng.uniform(0.85, 1.0, len(a)), 0.05, 1.0)
            res[inst] = (np.maximum(t, 0.0), v)
        else:
            res[inst] = (np.zeros(0), np.zeros(0))
    return res, sorted(float(s) for s, _ in base.get("kick", [(0, 1.0)]))


# ------------------------------------------------------------------------------------- harmony
def chord_roots(genre_progressions, chord_bars: int, n_bars: int, rng: np.random.Generator) -> np.ndarray:
    """Scale-degree root of the chord sounding in each bar, shape ``(n_bars,)``."""
    prog = genre_progressions[int(rng.integers(len(genre_progressions)))]
    return np.asarray([prog[(b // chord_bars) % len(prog)] for b in range(n_bars)])


def bass_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str,
               kick_steps: list[float], rng: np.random.Generator) -> Notes:
    """Bass line in the style's rhythm: notes on the chord root (octaves, fifths, passing tones)."""
    st = grid.step
    rows = []
    pattern = None
    if style == "syncopated":
        pattern = sorted(rng.choice([0, 2, 3, 6, 7, 10, 11, 14, 15], size=int(rng.integers(4, 7)), replace=False))
    if style in ("acid", "wobble"):
        acid = [(s, int(rng.integers(1, 3)), int(rng.choice([0, 0, 0, 7, 12, -2, 3])), int(rng.random() < 0.3))
                for s in range(16) if rng.random() < 0.65]
        wob = []
        s = 0
        while s < 16:
            ln = int(rng.choice([2, 4, 4, 6, 8]))
            wob.append((s, min(ln, 16 - s), int(rng.choice([0, 0, 1, 7, 12, -5])), float(rng.choice([1, 2, 3, 4, 6]))))
            s += ln + int(rng.choice([0, 0, 1, 2]))
    for bar, sec in enumerate(grid.sections):
        if sec in ("breakdown", "build"):
            continue
        root = float(scale_pitch(tonic, mode, roots[bar]))
        if style == "offbeat":
            rows += [(grid.time(bar, s), 1.5 * st, root + (12 if (s == 14 and rng.random() < 0.3) else 0), 0.9, 0) for s in (2, 6, 10, 14)]
        elif style == "syncopated":
            rows += [(grid.time(bar, s), st * rng.choice([1, 2]), root + rng.choice([0, 0, 12, 7, 10]), 0.85, 0) for s in pattern]
        elif style in ("rumble", "rolling"):
            steps = [s for s in range(16) if s not in kick_steps] if style == "rolling" else [2, 3, 6, 7, 10, 11, 14, 15]
            rows += [(grid.time(bar, s), 0.9 * st, root, 0.7 + 0.3 * (s % 4 == 2), 0) for s in steps]
        elif style == "acid":
            rows += [(grid.time(bar, s), ln * st, root + iv, 0.6 + 0.4 * sl, sl) for s, ln, iv, sl in acid]
        elif style == "reese":
            rows += [(grid.time(bar, 0), 8 * st, root, 0.9, 0), (grid.time(bar, 8), 8 * st, root + rng.choice([0, 0, 3, -2]), 0.9, 0)]
        elif style in ("sub", "808"):
            ks = sorted(kick_steps) or [0.0]
            for i, s in enumerate(ks):
                nxt = ks[i + 1] if i + 1 < len(ks) else 16
                iv = 0 if i == 0 else int(rng.choice([0, 0, 12, 7, -2, 3]))
                slide = int(style == "808" and iv != 0 and rng.random() < 0.5)
                rows.append((grid.time(bar, s), (nxt - s) * st * (0.95 if style == "sub" else 1.0), root + iv, 1.0, slide))
        elif style == "wobble":
            rows += [(grid.time(bar, s), ln * st, root + iv, 1.0, rate * grid.tempo / 60.0) for s, ln, iv, rate in wob]
        else:
            raise ValueError(f"unknown bass style {style!r}")
    return _notes([(float(a), float(b), float(c), float(d), float(e)) for a, b, c, d, e in rows])


def chord_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str, rng: np.random.Generator) -> Notes:
    """Chords of the harmony instrument, one row per chord tone (polyphony = several rows per onset)."""
    if style == "none":
        return Notes.empty()
    st = grid.step
    seventh = style in ("organ_stabs", "piano_stabs", "dub_stabs") or rng.random() < 0.3
    rhythm = {
        "organ_stabs": [(s, 1.5) for s in ([2, 6, 10, 14] if rng.random() < 0.5 else [0, 3, 6, 10, 12])],
        "piano_stabs": [(s, 2.0) for s in ([0, 3, 6, 10] if rng.random() < 0.5 else [2, 6, 10, 14])],
        "dub_stabs": [(float(rng.choice([2, 3, 6])), 2.0)],
        "brass_stabs": [(0, 3.0), (6, 2.0)] if rng.random() < 0.5 else [(0, 6.0)],
        "bell_chords": [(s, 2.0) for s in (0, 3, 6, 10)],
        "supersaw": [(s, 1.6) for s in range(0, 16, 2)] if rng.random() < 0.5 else [(0, 16.0)],
        "pad": [(0, 16.0)], "drone": [(0, 16.0)],
    }[style]
    rows = []
    for bar, sec in enumerate(grid.sections):
        deg = roots[bar]
        tones = [deg, deg + 2, deg + 4] + ([deg + 6] if seventh else [])
        if style == "drone":
            tones = [0, 4]
        pitches = scale_pitch(tonic + 24, mode, np.asarray(tones))
        pitches = np.where(pitches > tonic + 24 + 14, pitches - 12, pitches)  # keep voicings close
        rh = [(0, 16.0)] if sec == "breakdown" and style != "drone" else rhythm
        for s, ln in rh:
            for p in pitches:
                rows.append((float(grid.time(bar, s)), ln * st, float(p), 0.8, 0.0))
    return _notes(rows)


def lead_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str, rng: np.random.Generator) -> Notes:
    """Lead line: a 1- or 2-bar motif repeated over the chords (arps follow the chord tones)."""
    if style == "none":
        return Notes.empty()
    st = grid.step
    base = tonic + (48 if style == "bell" else 36)
    motif_bars = int(rng.choice([1, 2]))
    if style == "arp":
        shape = [[0, 2, 4, 7], [0, 4, 2, 4, 7, 4], [7, 4, 2, 0]][int(rng.integers(3))]
        motif = [(s, 0.9, shape[s % len(shape)], 0) for s in range(16 * motif_bars)]
    else:
        dens = {"pluck": 0.55, "supersaw_lead": 0.35, "acid": 0.7, "square": 0.3, "bell": 0.45}[style]
        motif = []
        deg = int(rng.integers(0, 5))
        s = 0
        while s < 16 * motif_bars:
            ln = int(rng.choice([1, 2, 2, 3, 4] if style != "supersaw_lead" else [2, 3, 4, 6]))
            if rng.random() < dens or s == 0:
                deg = int(np.clip(deg + rng.choice([-2, -1, 1, 2, 0, 3]), -2, 9))
                motif.append((s, ln, deg, int(rng.random() < 0.3)))
            s += ln
    rows = []
    for bar, sec in enumerate(grid.sections):
        if sec == "groove" or (sec == "build" and rng.random() < 0.5):
            continue
        for s, ln, deg, sl in motif:
            if (bar % motif_bars) * 16 <= s < (bar % motif_bars + 1) * 16:
                d = deg + (roots[bar] if style == "arp" else 0)
                rows.append((float(grid.time(bar, s % 16)), ln * st * 0.9, float(scale_pitch(base, mode, d)), 0.8, float(sl)))
    return _notes(rows)


def vocal_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str, register: float,
                rng: np.random.Generator) -> Notes:
    """Vocal melody (``mod`` = vowel index into :data:`VOWELS`): sung phrases with rests, or chops."""
    st = grid.step
    rows = []
    # the key's tonic in the octave nearest the singer's register
    center = tonic + 12 * int(round((register - tonic) / 12.0))
    if style == "chop":
        cell = [(s, float(rng.choice([1, 1, 2]))) for s in range(16) if rng.random() < 0.4] or [(0, 2.0)]
        vowel = int(rng.integers(len(VOWELS)))
        degs = rng.integers(0, 5, size=len(cell))
        for bar, sec in enumerate(grid.sections):
            if sec == "build" and rng.random() < 0.5:
                continue
            for (s, ln), d in zip(cell, degs):
                rows.append((float(grid.time(bar, s)), ln * st, float(scale_pitch(center, mode, d)), 0.8, vowel))
        return _notes(rows)
    deg = 0
    for bar, sec in enumerate(grid.sections):
        if bar % 2 == 1 and rng.random() < 0.5:
            continue  # phrases breathe: many odd bars rest
        s = float(rng.choice([0, 0, 2, 4]))
        end = float(rng.choice([10, 12, 14, 16]))
        while s < end:
            ln = float(rng.choice([1, 2, 2, 3, 4, 6]))
            deg = int(np.clip(deg + rng.choice([-2, -1, -1, 0, 1, 1, 2]), -3, 7))
            rows.append((float(grid.time(bar, s)), min(ln, end - s) * st, float(scale_pitch(center, mode, deg)),
                         float(rng.uniform(0.6, 1.0)), float(rng.integers(len(VOWELS)))))
            s += ln
    return _notes(rows)
