"""Write a synthetic set: mix and stem WAV files per song, a provenance file, and the CSV manifest last.

Layout of ``OUT``::

    OUT/songs/<genre>-<k>/mixture.wav, bass.wav, drums.wav, other.wav, vocals.wav
    OUT/synth.json      parameters of the request and a summary of every song (tempo, key, styles)
    OUT/manifest.csv    path,label,start,bass,drums,other,vocals  (paths relative to OUT)

Audio is 16-bit PCM. The stems are quantised first and the mix is written as the sum of the
quantised stems, so that reading the files back gives stems that add up to the mix *exactly*
(integer arithmetic; every value is a multiple of 2**-15 and the sum of four is exact in float32).

Song ``k`` of genre number ``g`` (its index in :data:`jaxsep.synth.genres.GENRES`) is drawn from
``np.random.default_rng([seed, g, k])``: it is the same song whatever other genres or counts are asked.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from ..atomic import atomic_path, write_text_atomic
from ..constants import MIXTURE, SAMPLE_RATE, SEGMENT_SECONDS, STEMS, SYNTH_MAX_SECONDS
from ..errors import SynthError
from .genres import GENRES, parse_genres
from .plan import compose
from .render import DEFAULT_DIFFICULTY, render_plan

MANIFEST = "manifest.csv"
PROVENANCE = "synth.json"
#: Written first into a set's folder: ``--overwrite`` replaces only a folder holding it (or a finished set).
RENDERING = ".jaxsep-synth"
#: Unbalanced default: each class gets 8 to 14 songs, 11 on average (66 for six genres, as the paper).
COUNT_RANGE = (8, 14)


def class_counts(n_classes: int, songs_per_class: int | None, seed: int) -> list[int]:
    """Songs per class: ``songs_per_class`` each, or (``None``) an unbalanced draw in :data:`COUNT_RANGE`
    summing to ``11 * n_classes`` - random one-song transfers between classes, deterministic in ``seed``."""
    if songs_per_class is not None:
        return [int(songs_per_class)] * n_classes
    lo, hi = COUNT_RANGE
    counts = [(lo + hi) // 2 + ((lo + hi) % 2)] * n_classes  # 11
    rng = np.random.default_rng([seed, 7_919])
    for _ in range(40 * n_classes):
        i, j = rng.integers(n_classes, size=2)
        if i != j and counts[i] < hi and counts[j] > lo:
            counts[i] += 1
            counts[j] -= 1
    return counts


def _vocal_flags(p: float, count: int, rng: np.random.Generator) -> list[bool]:
    """Which songs of a class sing: Bernoulli(p) each, but never all or none when there are two or more."""
    flags = list(rng.random(count) < p)
    if count >= 2 and (all(flags) or not any(flags)):
        flags[int(rng.integers(count))] = not flags[0]
    return [bool(f) for f in flags]


def _quantise(stems: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """16-bit stems and their integer sum (the mix), after one common scale that keeps all in range."""
    mix = sum(stems.values())
    peak = max(float(np.max(np.abs(x))) for x in [mix, *stems.values()])
    scale = 32767.0 * min(1.0, 0.98 / max(peak, 1e-12))
    q = {k: np.round(v * scale).astype(np.int32) for k, v in stems.items()}
    qmix = sum(q.values())
    return {k: v.astype(np.int16) for k, v in q.items()}, np.clip(qmix, -32768, 32767).astype(np.int16)


def _write_wav(path: Path, data: np.ndarray, sr: int) -> None:
    """Write int16 ``(samples,)`` or ``(2, samples)`` audio atomically."""
    with atomic_path(path) as temporary:
        sf.write(temporary, data.T if data.ndim == 2 else data, sr, subtype="PCM_16", format="WAV")


def _check(out: Path, seed, songs_per_class, difficulty, seconds, sample_rate, overwrite) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise SynthError(f"seed must be a non-negative integer, got {seed!r}")
    if songs_per_class is not None and (not isinstance(songs_per_class, (int, np.integer)) or songs_per_class < 2):
        raise SynthError(f"songs per class must be at least 2 (a class needs a train and a test song), got {songs_per_class!r}")
    if not 0.0 <= float(difficulty) <= 1.0:
        raise SynthError(f"difficulty must be between 0 and 1, got {difficulty!r}")
    if not 1.0 <= float(seconds) <= SYNTH_MAX_SECONDS:
        raise SynthError(f"seconds must be between 1 and {SYNTH_MAX_SECONDS:g}, got {seconds!r}")
    if not 8_000 <= int(sample_rate) <= 192_000:
        raise SynthError(f"sample rate must be between 8000 and 192000 Hz, got {sample_rate!r}")
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise SynthError(f"{out}: folder is not empty; pass --overwrite to replace a set there")
        if not any((out / name).is_file() for name in (RENDERING, PROVENANCE)):
            raise SynthError(f"{out}: holds files but no synthetic set ({PROVENANCE} or {RENDERING}); --overwrite "
                             "only replaces a set jaxsep synth wrote: choose another folder")


def generate_dataset(out: Path, *, seed: int = 0, songs_per_class: int | None = None,
                     genres: str | list[str] | None = None, difficulty: float = DEFAULT_DIFFICULTY,
                     seconds: float = SEGMENT_SECONDS, sample_rate: int = SAMPLE_RATE, stereo: bool = False,
                     overwrite: bool = False, progress: Callable[[int, int, str], None] | None = None) -> Path:
    """Render a labelled set of songs with true stems into ``out`` and return its manifest path.

    Args:
      out: folder to write (created; must be empty unless ``overwrite``).
      seed: non-negative; the whole set is a function of it (and of the other arguments).
      songs_per_class: songs in every class (>= 2), or ``None`` for the unbalanced 8-14 draw.
      genres: comma-separated names or a list (default: all six).
      difficulty: 0..1, see :mod:`jaxsep.synth.plan`. seconds: length of every excerpt.
      sample_rate: Hz. stereo: write 2-channel files. overwrite: replace a set already in ``out``
        (its manifest is removed first, so an interrupted rewrite never looks finished).
      progress: called as ``progress(done, total, song_id)`` after each song.
    Returns:
      Path of ``manifest.csv``: columns ``path,label,start,bass,drums,other,vocals``, one row per
      song, paths relative to ``out``, ``start`` = 0 (each file is the excerpt itself).
    Raises:
      SynthError: on a bad argument or an unusable ``out`` (the message names the value).
    """
    out = Path(out)
    chosen = parse_genres(genres)
    _check(out, seed, songs_per_class, difficulty, seconds, sample_rate, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / RENDERING).touch()  # marks the folder as a set, before its first song (so --overwrite may replace it)
        if overwrite:
            (out / MANIFEST).unlink(missing_ok=True)  # first: a half-rewritten set must not look finished
            (out / PROVENANCE).unlink(missing_ok=True)
            songs_folder = out / "songs"
            if songs_folder.is_dir():
                shutil.rmtree(songs_folder)
            else:
                songs_folder.unlink(missing_ok=True)
    except OSError as error:
        raise SynthError(f"{out}: cannot write the set there ({error.strerror or error})") from None
    counts = class_counts(len(chosen), None if songs_per_class is None else int(songs_per_class), int(seed))
    total, done, t0 = sum(counts), 0, time.perf_counter()
    rows, songs = [], []
    d = float(difficulty)
    for genre, count in zip(chosen, counts):
        g = [x.name for x in GENRES].index(genre.name)
        p_vox = (1 - d) * genre.vocals + d * 0.45  # the same drift compose() applies
        flags = _vocal_flags(p_vox, count, np.random.default_rng([int(seed), g, 104_729]))
        for k in range(count):
            song_id = f"{genre.name}-{k:03d}"
            song = compose(genre, np.random.default_rng([int(seed), g, k]), difficulty=d, seconds=float(seconds),
                           vocals=flags[k])
            stems, mix = _quantise(render_plan(song, sample_rate=int(sample_rate), stereo=stereo))
            folder = out / "songs" / song_id
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in [(MIXTURE, mix), *stems.items()]:
                _write_wav(folder / f"{name}.wav", data, int(sample_rate))
            rel = f"songs/{song_id}"
            rows.append([f"{rel}/{MIXTURE}.wav", genre.name, "0", *[f"{rel}/{s}.wav" for s in STEMS]])
            songs.append({"id": song_id, **song.summary()})
            done += 1
            if progress is not None:
                progress(done, total, song_id)
    meta = {"generator": "jaxsep.synth", "seed": int(seed), "difficulty": d, "seconds": float(seconds),
            "sample_rate": int(sample_rate), "channels": 2 if stereo else 1, "genres": [x.name for x in chosen],
            "counts": dict(zip([x.name for x in chosen], counts)), "render_seconds": round(time.perf_counter() - t0, 2),
            "songs": songs}
    write_text_atomic(out / PROVENANCE, json.dumps(meta, indent=1))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["path", "label", "start", *STEMS])
    writer.writerows(rows)
    write_text_atomic(out / MANIFEST, buf.getvalue())  # last: its presence means the set is complete
    return out / MANIFEST
