"""Two or more run folders of the same models, songs and seeds, compared paired by trial with the corrected
statistics (the table of ``jaxsep demo --compare-separators``), e.g. feature files with 1 and 2 segments per song:

    python benchmarks/compare_runs.py K=1:runs/k1 K=2:runs/k2 [--metric f1|accuracy] [--kind "segments per song"]

The first run is the reference; each other is compared with it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jaxsep.results.run_folder import load_results
from jaxsep.results.separators import separator_comparison


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="NAME:RUN_FOLDER, the reference first")
    parser.add_argument("--metric", default="f1", choices=["f1", "accuracy"])
    parser.add_argument("--kind", default="run", help="what tells the runs apart, for the table's text")
    args = parser.parse_args()
    runs = {}
    for entry in args.runs:
        name, _, folder = entry.rpartition(":")
        runs[name or folder] = load_results(Path(folder))
    print(separator_comparison(runs, metric=args.metric, kind=args.kind))


if __name__ == "__main__":
    main()
