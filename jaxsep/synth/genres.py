"""The six EDM subgenres of the synthetic set, each a frozen record of the conventions that define it.

The genres follow the paper's data (five GiantSteps EDM genres plus one from a free-download
collection): house, techno, trance, drum-and-bass, dubstep and trap. Each record lists, per part of a
track, the styles that are conventional for the genre; a song draws one style per part (and, with
probability growing with ``difficulty``, borrows a part's style from another genre, as real
cross-over tracks do). The styles themselves are written in :mod:`jaxsep.synth.score` (rhythm and
notes) and :mod:`jaxsep.synth.instruments` (sound).

=============  =========  ===================  =====================  ==========================
genre          tempo BPM  drums                bass (rhythm/timbre)   harmony / lead
=============  =========  ===================  =====================  ==========================
house          118-128    four-on-the-floor,   off-beat or syncopated organ / piano stabs,
                          clap 2 & 4, open     plucky saw             7th chords, pads; pluck
                          hat off-beats, swing
techno         122-135    four-on-the-floor,   rumble or acid (303)   dub chord stabs, drones;
                          16th hats, rim/perc                         acid or no lead, minor
trance         128-140    four-on-the-floor,   rolling 16ths or       supersaw chords, pads,
                          clap 2 & 4, 16th     off-beat saw           arpeggiated plucks, minor
                          hats, snare rolls
drum-and-bass  160-178    breakbeat: kick 1 &  reese or sub           atmospheric pads, stabs;
                          "2-and", snare 2 & 4                        pluck or no lead, minor
dubstep        136-150    half-time: snare on  wobble or sub          sparse pads / stabs;
                          3, sparse kick                              square lead, phrygian
trap           130-160    half-time: clap on   808 with glides        bells, brass stabs, pads;
                          3, hat rolls                                bell/pluck lead, minor
=============  =========  ===================  =====================  ==========================

Tempo ranges are those of the notated (full-time) beat and overlap where the real genres do
(house/techno, techno/trance, trance/dubstep/trap). Half-time genres (dubstep, trap) are *felt* at
half that tempo: their snare lands on beat 3.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SynthError


@dataclass(frozen=True)
class Genre:
    """Conventions of one genre: every field is a documented range or a tuple of style names.

    Attributes:
      name: label written into the manifest.
      tempo: notated tempo range in BPM, inclusive; a song's tempo is drawn uniformly in it.
      drums: drum-pattern styles (see :data:`jaxsep.synth.score.DRUM_STYLES`).
      bass: bass styles, rhythm and timbre together (see :data:`jaxsep.synth.score.BASS_STYLES`).
      harmony: chord-instrument styles of the "other" stem.
      lead: melodic-line styles of the "other" stem (``none`` = no lead).
      modes: scale modes a song's key is drawn from.
      progressions: chord roots as scale degrees (0-based), one chord per ``chord_bars`` bars.
      chord_bars: bars per chord, drawn from this tuple.
      swing: range of the 16th-note swing ratio (0.5 = straight, 0.6 = MPC-style 60 %).
      sidechain: probability that bass and "other" pump under the kick (sidechain compression).
      vocals: probability that a song has a sung vocal line.
      vocal_styles: ``sung`` (phrases of sustained notes) and/or ``chop`` (short repeated syllables).
      sections: weights of the section the excerpt is cut from: full drop, groove (sparser),
        breakdown (no kick or bass) and build (rising roll and riser).
      reverb: range of the reverb time (RT60, seconds) of the "other" and vocal buses.
    """

    name: str
    tempo: tuple[float, float]
    drums: tuple[str, ...]
    bass: tuple[str, ...]
    harmony: tuple[str, ...]
    lead: tuple[str, ...]
    modes: tuple[str, ...]
    progressions: tuple[tuple[int, ...], ...]
    chord_bars: tuple[int, ...]
    swing: tuple[float, float]
    sidechain: float
    vocals: float
    vocal_styles: tuple[str, ...]
    sections: tuple[tuple[str, float], ...]
    reverb: tuple[float, float]


GENRES: tuple[Genre, ...] = (
    Genre("house", (118.0, 128.0),
          drums=("house",), bass=("offbeat", "syncopated"),
          harmony=("organ_stabs", "piano_stabs", "pad"), lead=("none", "pluck"),
          modes=("minor", "dorian", "major"),
          progressions=((0, 5, 3, 4), (0, 3), (1, 4, 0, 0), (0, 6, 5, 4), (5, 3, 0, 4)),
          chord_bars=(1, 2), swing=(0.5, 0.6), sidechain=0.6, vocals=0.6,
          vocal_styles=("sung", "chop"),
          sections=(("full", 0.45), ("groove", 0.35), ("breakdown", 0.1), ("build", 0.1)),
          reverb=(0.6, 1.8)),
    Genre("techno", (122.0, 135.0),
          drums=("techno",), bass=("rumble", "acid"),
          harmony=("dub_stabs", "drone", "none"), lead=("none", "acid"),
          modes=("minor", "phrygian"),
          progressions=((0,), (0, 0, 6, 0), (0, 1), (0, 3)),
          chord_bars=(2, 4), swing=(0.5, 0.55), sidechain=0.4, vocals=0.3,
          vocal_styles=("chop", "sung"),
          sections=(("full", 0.45), ("groove", 0.4), ("breakdown", 0.08), ("build", 0.07)),
          reverb=(0.8, 2.5)),
    Genre("trance", (128.0, 140.0),
          drums=("trance",), bass=("rolling", "offbeat"),
          harmony=("supersaw", "pad"), lead=("arp", "supersaw_lead"),
          modes=("minor",),
          progressions=((0, 5, 2, 6), (5, 6, 0, 0), (0, 3, 5, 4), (0, 6, 5, 6)),
          chord_bars=(1, 2), swing=(0.5, 0.52), sidechain=0.75, vocals=0.5,
          vocal_styles=("sung",),
          sections=(("full", 0.5), ("groove", 0.2), ("breakdown", 0.15), ("build", 0.15)),
          reverb=(1.2, 3.0)),
    Genre("drum-and-bass", (160.0, 178.0),
          drums=("breakbeat",), bass=("reese", "sub"),
          harmony=("pad", "piano_stabs", "none"), lead=("none", "pluck"),
          modes=("minor", "dorian"),
          progressions=((0, 5), (0, 3, 5, 4), (0, 6), (1, 0)),
          chord_bars=(2, 4), swing=(0.5, 0.56), sidechain=0.15, vocals=0.45,
          vocal_styles=("sung", "chop"),
          sections=(("full", 0.5), ("groove", 0.3), ("breakdown", 0.1), ("build", 0.1)),
          reverb=(0.8, 2.5)),
    Genre("dubstep", (136.0, 150.0),
          drums=("halftime",), bass=("wobble", "sub"),
          harmony=("pad", "dub_stabs", "none"), lead=("none", "square"),
          modes=("minor", "phrygian"),
          progressions=((0,), (0, 1), (0, 5, 6, 0), (0, 3)),
          chord_bars=(2, 4), swing=(0.5, 0.54), sidechain=0.25, vocals=0.35,
          vocal_styles=("chop", "sung"),
          sections=(("full", 0.55), ("groove", 0.25), ("breakdown", 0.1), ("build", 0.1)),
          reverb=(0.8, 2.2)),
    Genre("trap", (130.0, 160.0),
          drums=("trap",), bass=("808",),
          harmony=("brass_stabs", "pad", "bell_chords"), lead=("bell", "pluck", "none"),
          modes=("minor", "harmonic_minor"),
          progressions=((0, 5), (0, 3, 4, 0), (0, 5, 3, 4), (0, 1)),
          chord_bars=(1, 2), swing=(0.5, 0.55), sidechain=0.15, vocals=0.5,
          vocal_styles=("chop", "sung"),
          sections=(("full", 0.55), ("groove", 0.25), ("breakdown", 0.1), ("build", 0.1)),
          reverb=(0.6, 2.0)),
)

GENRE_NAMES: tuple[str, ...] = tuple(g.name for g in GENRES)


def get_genre(name: str) -> Genre:
    """The genre called ``name``.

    Raises:
      SynthError: if no genre has that name (the message lists the known ones).
    """
    for g in GENRES:
        if g.name == name:
            return g
    raise SynthError(f"unknown genre {name!r}; known genres: {', '.join(GENRE_NAMES)}")


def parse_genres(spec: str | list[str] | tuple[str, ...] | None) -> tuple[Genre, ...]:
    """Genres named by a comma-separated string or a sequence (``None`` = all six, in table order).

    Raises:
      SynthError: on an unknown or repeated name, or an empty list.
    """
    if spec is None:
        return GENRES
    names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else [str(s).strip() for s in spec]
    names = [n for n in names if n]
    if len(names) < 1:
        raise SynthError("no genre given; known genres: " + ", ".join(GENRE_NAMES))
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SynthError(f"genre named more than once: {', '.join(dup)}")
    return tuple(get_genre(n) for n in names)
