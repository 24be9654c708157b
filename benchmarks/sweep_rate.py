"""Prints a sweep's size and speed from its JSON (``jaxsep sweep --out FILE``): used by ``gpu.sh``.

    python benchmarks/sweep_rate.py sweep.json
"""

import json
import sys


def main(path: str) -> None:
    sweep = json.load(open(path))
    configs = len(sweep["points"]) * sweep["trials"]
    timing = sweep["timing"]
    training = max(timing["total_seconds"] - timing["compile_seconds"], 1e-9)
    print(f"{configs} trial-configs ({len(sweep['points'])} combinations x {sweep['trials']} trials): "
          f"{timing['total_seconds']:.1f} s in all, compile {timing['compile_seconds']:.1f} s, "
          f"{configs / training:.1f} trial-configs/s after compile")


if __name__ == "__main__":
    main(sys.argv[1])
