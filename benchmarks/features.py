"""Songs per second of each front-end stage on this machine: decode, pick the drop, separate, mel.

    python benchmarks/features.py [--songs 3] [--model-repo DIR] [--demucs-songs 1]

Generated 30-second stereo 44.1 kHz mp3 songs (written to a temporary folder). Each stage runs once to warm up
(librosa's numba kernels, the demucs model load), then is timed over the songs. demucs is timed when its
weights are found (``--model-repo``, or the Hugging Face / torch hub caches), on the GPU when torch sees one.
Reports only; correctness lives in tests/.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
from machine import cpu_name  # benchmarks/machine.py

from jaxsep.audio.files import match_channels, resample
from jaxsep.audio.segments import load_segment, resolve_start
from jaxsep.constants import SAMPLE_RATE
from jaxsep.features.logmel import log_mel


def make_songs(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    rate, seconds = 44_100, 30.0
    t = np.arange(int(rate * seconds)) / rate
    paths = []
    for index in range(count):
        beat = (np.sin(2 * np.pi * 2 * t) > 0.9) * rng.standard_normal(t.size) * 0.3
        tonal = 0.2 * np.sin(2 * np.pi * (110 + 20 * index) * t) + 0.1 * np.sin(2 * np.pi * 440 * t)
        stereo = np.stack([tonal + beat, 0.9 * tonal + beat], axis=1).astype(np.float32)
        path = folder / f"song{index}.mp3"
        sf.write(path, stereo, rate, format="MP3")
        paths.append(path)
    return paths


def rate(stage: Callable[[Path], object], paths: list[Path]) -> float:
    """Songs per second of ``stage`` over ``paths`` after one warm-up call."""
    stage(paths[0])
    begin = time.perf_counter()
    for path in paths:
        stage(path)
    return len(paths) / (time.perf_counter() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=3)
    parser.add_argument("--demucs-songs", type=int, default=1)
    parser.add_argument("--model-repo", type=Path, default=None)
    args = parser.parse_args()

    from jaxsep.separation import default_separator_name, get_separator

    separators = {"dsp": get_separator("dsp")}
    if default_separator_name(args.model_repo) == "demucs":
        separators["demucs"] = get_separator("demucs", model_repo=args.model_repo)
    print(f"CPU: {cpu_name()}")
    if "demucs" in separators:
        import torch

        print(f"demucs device: {'cuda (' + torch.cuda.get_device_name() + ')' if torch.cuda.is_available() else 'cpu'}")
    else:
        print("demucs: no weights found (pass --model-repo), skipped")
    with tempfile.TemporaryDirectory() as folder:
        paths = make_songs(Path(folder), args.songs)
        print(f"{len(paths)} songs of 30 s, stereo 44.1 kHz mp3; segment 10.63 s")
        print(f"{'decode segment (22.05 kHz mono)':38s} {rate(lambda p: load_segment(p, start=5.0, sample_rate=SAMPLE_RATE, channels=1), paths):8.2f} songs/s")
        print(f"{'pick the drop (decode whole song)':38s} {rate(lambda p: resolve_start(p, start=None), paths):8.2f} songs/s")
        for name, separator in separators.items():
            segments = {p: load_segment(p, start=5.0, sample_rate=separator.sample_rate, channels=separator.channels)
                        for p in paths}
            subset = paths if name == "dsp" else paths[: args.demucs_songs]

            def separate(path, separator=separator, segments=segments):
                stems = separator.separate(segments[path].audio, separator.sample_rate)
                return {k: resample(match_channels(v, 1), orig_sr=separator.sample_rate, target_sr=SAMPLE_RATE)
                        for k, v in stems.items()}

            print(f"{'separate: ' + name:38s} {rate(separate, subset):8.2f} songs/s")
        mono = {p: load_segment(p, start=5.0, sample_rate=SAMPLE_RATE, channels=1).audio[0] for p in paths}
        print(f"{'mel (6 maps of 128 x 458)':38s} {rate(lambda p: [log_mel(mono[p]) for _ in range(6)], paths):8.2f} songs/s")


if __name__ == "__main__":
    main()
