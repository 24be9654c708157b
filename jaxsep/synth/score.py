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

STEPS_PER_BEAT = 4  # the grid is in 16th notes
STEPS_PER_BAR = 16  # 4/4 bars
BARS_PER_PHRASE = 4  # a fill may end each phrase
OCTAVE = 12  # semitones
SCALE_DEGREES = 7  # notes per octave of every mode in SCALES
FOUR_ON_THE_FLOOR = (0, 4, 8, 12)  # kick on every beat
OFFBEATS = (2, 6, 10, 14)  # the "and" between beats
DRUM_INSTRUMENTS = ("kick", "snare", "clap", "hat", "open_hat", "perc", "tom", "crash")
# steps between build snare hits: the roll doubles in speed every 2 bars
_BUILD_ROLL_SPACING = (4, 4, 2, 2, 1, 1, 0.5, 0.5)
_FILL_START = 12  # a fill replaces the bar's last beat
_TIMING_JITTER_S = 0.004  # s.d. of a hit's human timing, seconds
_VELOCITY_JITTER = (0.85, 1.0)  # range of the factor that scales every hit's velocity
_VELOCITY_RANGE = (0.05, 1.0)  # a hit's velocity after jitter stays inside this range
_CHORD_REGISTER = 2 * OCTAVE  # chords sound two octaves above the bass-octave tonic
_VOICING_SPAN = 14  # chord tones more semitones than this above the chord tonic drop an octave
_LEAD_REGISTER = 3 * OCTAVE  # leads sound three octaves above the bass-octave tonic...
_BELL_REGISTER = 4 * OCTAVE  # ...bells four
# chance that each drawn lead note sounds rather than rests
_LEAD_DENSITY = {"pluck": 0.55, "supersaw_lead": 0.35, "acid": 0.7, "square": 0.3, "bell": 0.45}
_LEAD_GATE = 0.9  # lead notes sound for this fraction of their written length


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
    def empty() -> Notes:
        nothing = np.zeros(0)
        return Notes(nothing, nothing, nothing, nothing, nothing)

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
        steps = np.asarray(step, dtype=np.float64)
        odd = (np.floor(steps) % 2) == 1
        # swing 0.5 is straight; only whole odd steps move (off-grid triplets and rolls stay put)
        late = np.where(odd & (steps == np.floor(steps)), (self.swing - 0.5) * 2.0 * self.step, 0.0)
        return (bar * STEPS_PER_BAR + steps) * self.step + late


def _notes(rows: list[tuple[float, float, float, float, float]]) -> Notes:
    if not rows:
        return Notes.empty()
    table = np.asarray(rows, dtype=np.float64)
    order = np.argsort(table[:, 0], kind="stable")
    table = table[order]
    return Notes(table[:, 0], table[:, 1], table[:, 2], table[:, 3], table[:, 4])


def scale_pitch(tonic: int, mode: str, degree: np.ndarray | int) -> np.ndarray:
    """MIDI pitch of scale degree(s) (0-based, may exceed 6 or be negative) above MIDI ``tonic``."""
    scale = np.asarray(SCALES[mode])
    degrees = np.asarray(degree)
    return tonic + scale[degrees % SCALE_DEGREES] + OCTAVE * (degrees // SCALE_DEGREES)


# ----------------------------------------------------------------------------------------- drums
def _bar_pattern(style: str, rng: np.random.Generator) -> dict[str, list[tuple[float, float]]]:
    """One bar of the style's groove: instrument -> [(step, velocity)]; a song draws it once."""
    pattern: dict[str, list[tuple[float, float]]] = {}
    if style in ("house", "techno", "trance"):
        pattern["kick"] = [(step, 1.0) for step in FOUR_ON_THE_FLOOR]
        if style == "house" or style == "trance" or rng.random() < 0.5:
            pattern["clap"] = [(4, 0.9), (12, 0.9)]
        else:
            pattern["perc"] = [(step, 0.6) for step in rng.choice([3, 6, 7, 10, 11, 14], size=3, replace=False)]
        if style != "techno" or rng.random() < 0.7:
            pattern["open_hat"] = [(step, 0.7) for step in OFFBEATS]
        if style != "house" or rng.random() < 0.6:
            accent = rng.uniform(0.25, 0.5)  # velocity of the 16ths that are not off-beats
            pattern["hat"] = [(step, 0.55 if step % 4 == 2 else accent) for step in range(STEPS_PER_BAR)]
        if style == "house":
            pattern["perc"] = [(step, rng.uniform(0.4, 0.8))
                               for step in rng.choice([3, 7, 10, 11, 14, 15], size=3, replace=False)]
        if style == "techno" and rng.random() < 0.6:  # 3-step polyrhythmic loop against the 4/4 kick
            offset = int(rng.integers(0, 3))
            pattern["perc"] = pattern.get("perc", []) + [(step, 0.5) for step in range(offset, STEPS_PER_BAR, 3)]
    elif style == "breakbeat":
        variants = [  # (kick steps, snare steps)
            ([0, 10], [4, 12]), ([0, 10, 11], [4, 12]), ([0, 2, 10], [4, 12]),
            ([0, 6, 10], [4, 12]), ([0, 2, 10, 11], [4, 7, 9, 12, 15]),
        ]
        kick_steps, snare_steps = variants[int(rng.integers(len(variants)))]
        pattern["kick"] = [(step, 1.0) for step in kick_steps]
        pattern["snare"] = [(step, 1.0 if step in (4, 12) else 0.45) for step in snare_steps]
        ghosts = rng.choice([3, 7, 9, 14, 15], size=int(rng.integers(0, 3)), replace=False)
        pattern["snare"] += [(float(ghost), rng.uniform(0.15, 0.3)) for ghost in ghosts if ghost not in snare_steps]
        hat_division = 2 if rng.random() < 0.6 else 1  # 8th or 16th hats
        pattern["hat"] = [(step, 0.6 if step % 4 == 0 else 0.4) for step in range(0, STEPS_PER_BAR, hat_division)]
        if rng.random() < 0.4:
            pattern["open_hat"] = [(14, 0.5)]
    elif style == "halftime":
        kicks = [[0], [0, 3], [0, 10], [0, 6, 14], [0, 11]][int(rng.integers(5))]
        pattern["kick"] = [(step, 1.0) for step in kicks]
        pattern["snare"] = [(8, 1.0)]
        if rng.random() < 0.5:
            pattern["clap"] = [(8, 0.8)]
        if rng.random() < 0.5:  # triplet-feel hats: 12 per bar, off the 16th grid
            pattern["hat"] = [(hit * STEPS_PER_BAR / 12, 0.5 if hit % 3 == 0 else 0.3) for hit in range(12)]
        else:
            pattern["hat"] = [(step, 0.5 if step % 4 == 0 else 0.35) for step in range(0, STEPS_PER_BAR, 2)]
        pattern["perc"] = [(float(step), 0.5)
                           for step in rng.choice([5, 7, 13, 15], size=int(rng.integers(0, 3)), replace=False)]
    elif style == "trap":
        kicks = [[0, 7, 10], [0, 3, 11], [0, 6, 10, 13], [0, 10], [0, 3, 6, 11]][int(rng.integers(5))]
        pattern["kick"] = [(step, 1.0) for step in kicks]
        pattern["clap"] = [(8, 1.0)]
        pattern["snare"] = [(8, 0.7)]
        hat_division = 1 if rng.random() < 0.6 else 2  # 16th or 8th hats
        hats = [(float(step), 0.5 if step % 4 == 0 else 0.35) for step in range(0, STEPS_PER_BAR, hat_division)]
        # hat rolls: some beats are split into 32nds or 16th triplets (the trap signature)
        for beat in rng.choice(4, size=int(rng.integers(1, 3)), replace=False):
            subdivision = 3 if rng.random() < 0.5 else 2  # 3: 16th triplets, 2: 32nds
            roll_hits = 8 if subdivision == 2 else 6  # hits in the beat
            beat_start = STEPS_PER_BEAT * beat
            hats = [hat for hat in hats if not (beat_start <= hat[0] < beat_start + STEPS_PER_BEAT)]
            hats += [(beat_start + i * STEPS_PER_BEAT / roll_hits, 0.3 + 0.3 * i / roll_hits) for i in range(roll_hits)]
        pattern["hat"] = hats
        if rng.random() < 0.5:
            pattern["open_hat"] = [(14.0, 0.5)]
    else:
        raise ValueError(f"unknown drum style {style!r}")
    return pattern


def drum_hits(style: str, grid: Grid, rng: np.random.Generator, *, fills: float):
    """Drum hits of the whole song and the kick steps of its basic groove.

    ``fills`` is the probability that the last bar of a 4-bar phrase ends with a snare or tom fill.
    Returns ``(hits, kick_steps)``: instrument -> (onset seconds ``(hits,)``, velocity ``(hits,)``),
    and the sorted 16th steps of the kick in one bar of the groove (bass lines lock to them).
    """
    groove = _bar_pattern(style, rng)
    written: dict[str, list[tuple[float, float]]] = {instrument: [] for instrument in DRUM_INSTRUMENTS}
    for bar, section in enumerate(grid.sections):
        previous = grid.sections[bar - 1] if bar else section
        bar_pattern = {instrument: list(hits) for instrument, hits in groove.items()}
        if section == "breakdown":
            if rng.random() < 0.5:
                bar_pattern = {instrument: hits for instrument, hits in bar_pattern.items()
                               if instrument in ("hat", "perc")}
            else:
                bar_pattern = {}
        elif section == "groove":
            if rng.random() < 0.5:
                bar_pattern.pop("open_hat", None)
            else:
                bar_pattern.pop("perc", None)
        elif section == "build":
            # a snare roll that speeds up and swells; the kick joins on every beat halfway through
            build_bar = bar % len(_BUILD_ROLL_SPACING)
            spacing = _BUILD_ROLL_SPACING[build_bar]
            build_steps = len(_BUILD_ROLL_SPACING) * STEPS_PER_BAR
            bar_pattern = {
                "kick": (bar_pattern.get("kick", [])[:1] if build_bar < len(_BUILD_ROLL_SPACING) // 2
                         else [(step, 1.0) for step in FOUR_ON_THE_FLOOR]),
                "snare": [(step, 0.3 + 0.7 * (build_bar * STEPS_PER_BAR + step) / build_steps)
                          for step in np.arange(0, STEPS_PER_BAR, spacing)],
            }
        if section in ("full", "groove") and previous in ("breakdown", "build"):
            bar_pattern["crash"] = [(0, 0.8)]
        if section in ("full", "groove") and bar % BARS_PER_PHRASE == BARS_PER_PHRASE - 1 and rng.random() < fills:
            drum = "snare" if rng.random() < 0.6 else "tom"
            bar_pattern = {instrument: [hit for hit in hits if hit[0] < _FILL_START]
                           for instrument, hits in bar_pattern.items()}
            bar_pattern[drum] = bar_pattern.get(drum, []) + [
                (step, rng.uniform(0.5, 1.0)) for step in np.arange(_FILL_START, STEPS_PER_BAR, rng.choice([0.5, 1.0]))]
        for instrument, hits in bar_pattern.items():
            for step, velocity in hits:
                written[instrument].append((float(grid.time(bar, step)), velocity))
    played = {}
    for instrument, hits in written.items():
        if hits:
            table = np.asarray(hits)
            onsets = table[:, 0] + rng.normal(0.0, _TIMING_JITTER_S, len(table))  # a few ms of human timing
            velocities = np.clip(table[:, 1] * rng.uniform(*_VELOCITY_JITTER, len(table)), *_VELOCITY_RANGE)
            played[instrument] = (np.maximum(onsets, 0.0), velocities)
        else:
            played[instrument] = (np.zeros(0), np.zeros(0))
    return played, sorted(float(step) for step, _ in groove.get("kick", [(0, 1.0)]))


# ------------------------------------------------------------------------------------- harmony
def chord_roots(genre_progressions, chord_bars: int, n_bars: int, rng: np.random.Generator) -> np.ndarray:
    """Scale-degree root of the chord sounding in each bar, shape ``(n_bars,)``."""
    progression = genre_progressions[int(rng.integers(len(genre_progressions)))]
    return np.asarray([progression[(bar // chord_bars) % len(progression)] for bar in range(n_bars)])


def bass_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str,
               kick_steps: list[float], rng: np.random.Generator) -> Notes:
    """Bass line in the style's rhythm: notes on the chord root (octaves, fifths, passing tones)."""
    step_s = grid.step
    rows = []
    syncopated_steps = None
    if style == "syncopated":
        syncopated_steps = sorted(rng.choice([0, 2, 3, 6, 7, 10, 11, 14, 15], size=int(rng.integers(4, 7)),
                                             replace=False))
    if style in ("acid", "wobble"):
        # both riffs are drawn (in this order) for either style, so the generator advances alike
        # acid riff: (step, length in steps, interval in semitones, slide flag)
        acid_riff = [(step, int(rng.integers(1, 3)), int(rng.choice([0, 0, 0, 7, 12, -2, 3])), int(rng.random() < 0.3))
                     for step in range(STEPS_PER_BAR) if rng.random() < 0.65]
        # wobble riff: (step, length in steps, interval in semitones, LFO cycles per beat)
        wobble_riff = []
        step = 0
        while step < STEPS_PER_BAR:
            length = int(rng.choice([2, 4, 4, 6, 8]))
            wobble_riff.append((step, min(length, STEPS_PER_BAR - step), int(rng.choice([0, 0, 1, 7, 12, -5])),
                                float(rng.choice([1, 2, 3, 4, 6]))))
            step += length + int(rng.choice([0, 0, 1, 2]))
    for bar, section in enumerate(grid.sections):
        if section in ("breakdown", "build"):
            continue
        root = float(scale_pitch(tonic, mode, roots[bar]))
        if style == "offbeat":
            # the bar's last off-beat sometimes jumps an octave
            rows += [(grid.time(bar, step), 1.5 * step_s, root + (12 if (step == 14 and rng.random() < 0.3) else 0),
                      0.9, 0) for step in OFFBEATS]
        elif style == "syncopated":
            rows += [(grid.time(bar, step), step_s * rng.choice([1, 2]), root + rng.choice([0, 0, 12, 7, 10]), 0.85, 0)
                     for step in syncopated_steps]
        elif style in ("rumble", "rolling"):
            if style == "rolling":
                steps = [step for step in range(STEPS_PER_BAR) if step not in kick_steps]
            else:
                steps = [2, 3, 6, 7, 10, 11, 14, 15]
            rows += [(grid.time(bar, step), 0.9 * step_s, root, 0.7 + 0.3 * (step % 4 == 2), 0) for step in steps]
        elif style == "acid":
            rows += [(grid.time(bar, step), length * step_s, root + interval, 0.6 + 0.4 * slide, slide)
                     for step, length, interval, slide in acid_riff]
        elif style == "reese":
            rows += [(grid.time(bar, 0), 8 * step_s, root, 0.9, 0),
                     (grid.time(bar, 8), 8 * step_s, root + rng.choice([0, 0, 3, -2]), 0.9, 0)]
        elif style in ("sub", "808"):
            # one note per kick, held until the next kick
            kicks = sorted(kick_steps) or [0.0]
            for i, step in enumerate(kicks):
                next_kick = kicks[i + 1] if i + 1 < len(kicks) else STEPS_PER_BAR
                interval = 0 if i == 0 else int(rng.choice([0, 0, 12, 7, -2, 3]))
                slide = int(style == "808" and interval != 0 and rng.random() < 0.5)
                rows.append((grid.time(bar, step), (next_kick - step) * step_s * (0.95 if style == "sub" else 1.0),
                             root + interval, 1.0, slide))
        elif style == "wobble":
            rows += [(grid.time(bar, step), length * step_s, root + interval, 1.0, rate * grid.tempo / 60.0)
                     for step, length, interval, rate in wobble_riff]
        else:
            raise ValueError(f"unknown bass style {style!r}")
    return _notes([(float(onset), float(length), float(pitch), float(velocity), float(mod))
                   for onset, length, pitch, velocity, mod in rows])


def chord_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str, rng: np.random.Generator) -> Notes:
    """Chords of the harmony instrument, one row per chord tone (polyphony = several rows per onset)."""
    if style == "none":
        return Notes.empty()
    step_s = grid.step
    seventh = style in ("organ_stabs", "piano_stabs", "dub_stabs") or rng.random() < 0.3
    # (step, length in steps) of the chords in a bar; every style's rhythm is drawn, in this order
    rhythm = {
        "organ_stabs": [(step, 1.5) for step in ([2, 6, 10, 14] if rng.random() < 0.5 else [0, 3, 6, 10, 12])],
        "piano_stabs": [(step, 2.0) for step in ([0, 3, 6, 10] if rng.random() < 0.5 else [2, 6, 10, 14])],
        "dub_stabs": [(float(rng.choice([2, 3, 6])), 2.0)],
        "brass_stabs": [(0, 3.0), (6, 2.0)] if rng.random() < 0.5 else [(0, 6.0)],
        "bell_chords": [(step, 2.0) for step in (0, 3, 6, 10)],
        "supersaw": [(step, 1.6) for step in range(0, 16, 2)] if rng.random() < 0.5 else [(0, 16.0)],
        "pad": [(0, 16.0)], "drone": [(0, 16.0)],
    }[style]
    chord_tonic = tonic + _CHORD_REGISTER
    rows = []
    for bar, section in enumerate(grid.sections):
        degree = roots[bar]
        tones = [degree, degree + 2, degree + 4] + ([degree + 6] if seventh else [])  # triad (+ 7th)
        if style == "drone":
            tones = [0, 4]  # tonic and fifth whatever the chord
        pitches = scale_pitch(chord_tonic, mode, np.asarray(tones))
        pitches = np.where(pitches > chord_tonic + _VOICING_SPAN, pitches - OCTAVE, pitches)  # keep voicings close
        bar_rhythm = [(0, 16.0)] if section == "breakdown" and style != "drone" else rhythm  # breakdowns hold
        for step, length in bar_rhythm:
            for pitch in pitches:
                rows.append((float(grid.time(bar, step)), length * step_s, float(pitch), 0.8, 0.0))
    return _notes(rows)


def lead_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str, rng: np.random.Generator) -> Notes:
    """Lead line: a 1- or 2-bar motif repeated over the chords (arps follow the chord tones)."""
    if style == "none":
        return Notes.empty()
    step_s = grid.step
    lead_tonic = tonic + (_BELL_REGISTER if style == "bell" else _LEAD_REGISTER)
    motif_bars = int(rng.choice([1, 2]))
    # motif: (step from the motif's start, length in steps, scale degree, slide flag)
    if style == "arp":
        shape = [[0, 2, 4, 7], [0, 4, 2, 4, 7, 4], [7, 4, 2, 0]][int(rng.integers(3))]
        motif = [(step, 0.9, shape[step % len(shape)], 0) for step in range(STEPS_PER_BAR * motif_bars)]
    else:
        density = _LEAD_DENSITY[style]
        motif = []
        degree = int(rng.integers(0, 5))
        step = 0
        while step < STEPS_PER_BAR * motif_bars:
            length = int(rng.choice([1, 2, 2, 3, 4] if style != "supersaw_lead" else [2, 3, 4, 6]))
            if rng.random() < density or step == 0:
                degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2, 0, 3]), -2, 9))
                motif.append((step, length, degree, int(rng.random() < 0.3)))
            step += length
    rows = []
    for bar, section in enumerate(grid.sections):
        if section == "groove" or (section == "build" and rng.random() < 0.5):
            continue
        motif_bar = bar % motif_bars
        for step, length, degree, slide in motif:
            if motif_bar * STEPS_PER_BAR <= step < (motif_bar + 1) * STEPS_PER_BAR:
                pitch_degree = degree + (roots[bar] if style == "arp" else 0)
                rows.append((float(grid.time(bar, step % STEPS_PER_BAR)), length * step_s * _LEAD_GATE,
                             float(scale_pitch(lead_tonic, mode, pitch_degree)), 0.8, float(slide)))
    return _notes(rows)


def vocal_notes(style: str, grid: Grid, roots: np.ndarray, tonic: int, mode: str, register: float,
                rng: np.random.Generator) -> Notes:
    """Vocal melody (``mod`` = vowel index into :data:`VOWELS`): sung phrases with rests, or chops."""
    step_s = grid.step
    rows = []
    # the key's tonic in the octave nearest the singer's register
    # (int(): under NumPy 1.x, round() of a float64 register returns a float64)
    center = tonic + OCTAVE * int(round((register - tonic) / OCTAVE))  # noqa: RUF046
    if style == "chop":
        # one short rhythmic cell of a single syllable, repeated every bar
        cell = ([(step, float(rng.choice([1, 1, 2]))) for step in range(STEPS_PER_BAR) if rng.random() < 0.4]
                or [(0, 2.0)])
        vowel = int(rng.integers(len(VOWELS)))
        degrees = rng.integers(0, 5, size=len(cell))
        for bar, section in enumerate(grid.sections):
            if section == "build" and rng.random() < 0.5:
                continue
            for (step, length), degree in zip(cell, degrees):
                rows.append((float(grid.time(bar, step)), length * step_s, float(scale_pitch(center, mode, degree)),
                             0.8, vowel))
        return _notes(rows)
    degree = 0
    for bar, section in enumerate(grid.sections):
        if bar % 2 == 1 and rng.random() < 0.5:
            continue  # phrases breathe: many odd bars rest
        step = float(rng.choice([0, 0, 2, 4]))
        end = float(rng.choice([10, 12, 14, 16]))
        while step < end:
            length = float(rng.choice([1, 2, 2, 3, 4, 6]))
            degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2]), -3, 7))
            rows.append((float(grid.time(bar, step)), min(length, end - step) * step_s,
                         float(scale_pitch(center, mode, degree)), float(rng.uniform(0.6, 1.0)),
                         float(rng.integers(len(VOWELS)))))
            step += length
    return _notes(rows)
