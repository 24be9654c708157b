"""Segments per second of htdemucs one segment per call and N per call (``--separation-batch N``), same process.

    python benchmarks/separation_batch.py [--segments 8] [--batch 4] [--model-repo DIR] [--dry-run]

The segments are 10.63 s excerpts (the feature segment) of the shared recordings' mixtures, 44.1 kHz stereo
(``../shared/data/multitrack``; generated audio when it is absent). Each batch size is warmed up first with one
call of its shape (short clips: every chunk is padded to the model's 7.8 s), then timed over all segments; with
one segment per song (the paper's protocol) segments/s are the separation stage's songs/s. The stems of the two
runs are compared (max |difference|; exit status 1 beyond the tests' tolerance). demucs runs on the GPU when
torch sees one. ``--dry-run``: demucs' tiny untrained model, 2 segments, batch 2, to check that the script runs.
Reports only; correctness lives in tests/test_separation_batch.py.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_name  # benchmarks/machine.py

from jaxsep.audio.files import load_audio
from jaxsep.constants import SEGMENT_SECONDS, STEMS

SHARED = Path(__file__).resolve().parents[2] / "shared"
#: (folder, first excerpt's start in s); the excerpts follow each other, a segment apart.
RECORDINGS = (("trackswitch", 0.0), ("waveform-playlist", 0.0), ("musdb18-sample", 0.0))
RATE = 44_100
#: The tests' tolerance for batched against one-at-a-time stems (tests/test_separation_batch.py).
TOLERANCE = 1e-4


def mixture(folder: Path) -> np.ndarray:
    """A folder's mixture (its own file, or the sum of its stems) at 44.1 kHz stereo, ``(2, samples)``."""
    files = [folder / "mixture.flac"] if (folder / "mixture.flac").is_file() else sorted(folder.glob("*.mp3"))
    parts = [load_audio(file, sample_rate=RATE)[0] for file in files]
    length = min(part.shape[1] for part in parts)
    return sum(part[:, :length] for part in parts).astype(np.float32)


def make_segments(count: int, seconds: float) -> tuple[list[np.ndarray], str]:
    """``count`` excerpts ``(2, seconds · 44,100)``, cut one after another from the shared recordings (17 of
    10.63 s fit), then generated (tones and noise bursts) for the rest; and a line saying which."""
    length = int(round(seconds * RATE))
    segments: list[np.ndarray] = []
    multitrack = SHARED / "data" / "multitrack"
    for folder, first in RECORDINGS if multitrack.is_dir() else ():
        if len(segments) == count:
            break
        mix = mixture(multitrack / folder)
        starts = range(int(first * RATE), mix.shape[1] - length + 1, length)
        segments += [np.ascontiguousarray(mix[:, begin: begin + length]) for begin in starts][: count - len(segments)]
    real = len(segments)
    rng = np.random.default_rng(0)
    t = np.arange(length) / RATE
    while len(segments) < count:
        beat = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal(length) * 0.3
        tonal = 0.2 * np.sin(2 * np.pi * (110 + 20 * len(segments)) * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
        segments.append(np.stack([tonal + beat, 0.9 * tonal + beat]).astype(np.float32))
    return segments, f"{real} cut from ../shared/data/multitrack, {count - real} generated"


def timed(separator, segments: list[np.ndarray], batch: int) -> tuple[float, list[dict[str, np.ndarray]]]:
    """Seconds to separate ``segments`` in calls of ``batch`` after a warm-up call of that shape, and the stems."""
    short = [segment[:, :RATE] for segment in segments[:batch]]
    separator.separate_batch(short, RATE, batch_size=batch)
    begin = time.perf_counter()
    stems = separator.separate_batch(segments, RATE, batch_size=batch)
    return time.perf_counter() - begin, stems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=8, help="segments separated at each batch size")
    parser.add_argument("--batch", type=int, default=4, help="segments per call, compared with 1")
    parser.add_argument("--model-repo", type=Path, default=None,
                        help="htdemucs weights (default: ../shared/models/htdemucs when present, else the caches)")
    parser.add_argument("--dry-run", action="store_true", help="tiny untrained model, 2 segments, batch 2")
    args = parser.parse_args()
    if args.segments < 1 or args.batch < 1:
        parser.error("--segments and --batch must be >= 1")

    import torch

    from jaxsep.separation import UNITTEST_MODEL, get_separator

    if args.dry_run:
        args.segments, args.batch = 2, 2
        separator = get_separator("demucs", model_name=UNITTEST_MODEL)
    else:
        shared_repo = SHARED / "models" / "htdemucs"
        repo = args.model_repo or (shared_repo if (shared_repo / "htdemucs.yaml").is_file() else None)
        separator = get_separator("demucs", model_repo=repo)
    device = separator.device or ("cuda" if torch.cuda.is_available() else "cpu")
    print(f"CPU: {cpu_name()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"demucs device: {'cuda (' + torch.cuda.get_device_name() + ')' if device == 'cuda' else 'cpu'}")
    print(f"model: {separator.signature}")
    segments, source = make_segments(args.segments, SEGMENT_SECONDS)
    print(f"{len(segments)} segments of {SEGMENT_SECONDS:.2f} s, stereo 44.1 kHz: {source}")

    results = {}
    for batch in dict.fromkeys((1, args.batch)):
        seconds, stems = timed(separator, segments, batch)
        results[batch] = (seconds, stems)
        print(f"batch {batch:3d}: {seconds:8.2f} s  {len(segments) / seconds:7.3f} segments/s")
    if args.batch != 1:
        ratio = results[1][0] / results[args.batch][0]
        print(f"batch {args.batch} is {ratio:.2f}x batch 1 (segments/s)")
    worst = max(float(np.max(np.abs(many[stem] - one[stem])))
                for one, many in zip(results[1][1], results[args.batch][1]) for stem in STEMS)
    agree = worst <= TOLERANCE
    print(f"max |stems at batch {args.batch} - at batch 1| = {worst:.3g} "
          f"({'within' if agree else 'BEYOND'} the tests' {TOLERANCE:g})")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
