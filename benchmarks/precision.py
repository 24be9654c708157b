"""Does a lower precision train the same models, and how much faster? Every ``--precisions`` entry trains the
same trials (same generated data, splits, seeds, shuffles and dropout masks; only the arithmetic differs), in
one process, one after another; each precision's selected test accuracy (the paper's minimum-test-loss epoch)
is compared with the first entry's (float32, ``f32``), paired by trial:

* mean difference with its 95 % interval under the corrected resampled-t variance (Nadeau & Bengio: the trials
  share songs; :func:`jaxsep.results.statistics.compare`), and its p-value;
* parity: the interval lies inside ``±--margin`` (an equivalence test in the two-one-sided-tests sense at 5 %);
* the two-sample Kolmogorov-Smirnov and Mann-Whitney p-values of the two distributions (unpaired; a small p
  says they differ);
* compile and training seconds per precision (the ratio to the first entry: the speed-up).

    python benchmarks/precision.py                    # the paper's size: 66 songs x 128 x 458, stems3, 20 trials
    python benchmarks/precision.py --songs 30 --classes 3 --mels 16 --frames 24 --filters 4,8   # a CPU smoke run

On a CPU ``tf32`` is float32 exactly, and bfloat16 runs through float32 conversions: speed claims belong to a
GPU run (``benchmarks/gpu.sh``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import scipy.stats as sps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parity(values, reference, *, test_train_ratio: float, margin: float) -> dict:
    """Paired comparison of one precision's per-trial metric with the reference precision's.

    Args:
      values, reference: ``(trials,)`` the metric per trial, paired (same trial at the same index).
      test_train_ratio: ``n_test / n_train`` songs of one trial (for the corrected variance).
      margin: the largest mean difference still called parity.

    Returns:
      ``n``, ``mean``, ``reference_mean``, ``difference``, ``ci_low``, ``ci_high``, ``p`` (corrected paired t),
      ``p_ks``, ``p_mann_whitney`` (unpaired, two-sided) and ``parity`` (the interval inside ``±margin``).
    """
    from jaxsep.results.statistics import compare

    a, b = np.asarray(values, np.float64), np.asarray(reference, np.float64)
    comparison = compare(a, b, test_train_ratio=test_train_ratio)
    same = np.array_equal(np.sort(a), np.sort(b))
    p_ks = 1.0 if same else float(sps.ks_2samp(a, b).pvalue)
    p_mw = 1.0 if same else float(sps.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    inside = bool(np.all(a == b)) or (-margin < comparison.ci_low and comparison.ci_high < margin)
    return {"n": int(a.size), "mean": float(a.mean()), "reference_mean": float(b.mean()),
            "difference": comparison.mean_difference, "ci_low": comparison.ci_low, "ci_high": comparison.ci_high,
            "p": comparison.p, "p_ks": p_ks, "p_mann_whitney": p_mw, "margin": margin, "parity": inside}


def make_features(args):
    """The generated feature set (``jaxsep.features.toy``, the class in the bass/drums/other maps)."""
    from jaxsep.features.toy import toy_features

    counts = np.full(args.classes, args.songs // args.classes)
    counts[: args.songs % args.classes] += 1
    return toy_features(songs_per_class=tuple(int(c) for c in counts), n_mels=args.mels, frames=args.frames,
                        strength=args.strength, seed=args.data_seed)


def run_precision(features, precision: str, args) -> dict:
    """One precision's run (no reference row) as :func:`jaxsep.training.experiment.run_experiment` returns it."""
    from jaxsep.config import RunConfig, TrainConfig
    from jaxsep.training.experiment import run_experiment

    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                        precision=precision,
                        filters=tuple(int(f) for f in args.filters.split(",")))
    config = RunConfig(models=tuple(args.models.split(",")), trials=args.trials, seed=args.seed, train=train,
                       strategy=args.strategy, reference=False)
    return run_experiment(features, config)


def measure(args) -> dict:
    """Runs every precision and compares each with the first; returns the JSON this script writes."""
    import jax

    from jaxsep.results.tables import holdout_ratio, metric_values

    features = make_features(args)
    precisions = args.precisions.split(",")
    runs = {}
    for precision in precisions:
        started = time.perf_counter()
        runs[precision] = run_precision(features, precision, args)
        print(f"  {precision}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    first = runs[precisions[0]]
    rows = []
    for precision, results in runs.items():
        for model, entry in results["models"].items():
            mine = metric_values(entry, "accuracy")
            theirs = metric_values(first["models"][model], "accuracy")
            shared = sorted(set(mine) & set(theirs))
            row = {"precision": precision, "model": model, **entry["timing"],
                   "accuracy": [mine[t] for t in shared],
                   "test_loss": [min(r["epochs"]["test_loss"]) for r in entry["trials"] if not r["failed"]]}
            row |= parity([mine[t] for t in shared], [theirs[t] for t in shared],
                          test_train_ratio=holdout_ratio(results), margin=args.margin)
            rows.append(row)
    device = jax.devices()[0]
    return {"device": f"{device.platform} {device.device_kind}", "jax": jax.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M"), "args": vars(args), "rows": rows}


def print_report(report: dict) -> None:
    args = report["args"]
    print(f"{report['date']}  {report['device']}, jax {report['jax']}; {args['songs']} songs x {args['mels']} x "
          f"{args['frames']}, {args['classes']} classes, {args['epochs']} epochs, batch {args['batch_size']}, "
          f"Adam {args['learning_rate']:g}, "
          f"filters {args['filters']}, {args['trials']} trials, strategy {args['strategy']}")
    first = report["rows"][0]["precision"]
    print(f"| precision | model | compile s | run s | s per trial | speed-up vs {first} | accuracy mean ± sd | "
          f"Δ vs {first} [95% CI, corrected] | p | KS p | MW p | parity (±{args['margin']}) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = {r["model"]: r["run_seconds"] for r in report["rows"] if r["precision"] == first}
    for r in report["rows"]:
        acc = np.asarray(r["accuracy"])
        print(f"| {r['precision']} | {r['model']} | {r['compile_seconds']:.1f} | {r['run_seconds']:.2f} | "
              f"{r['run_seconds'] / max(r['n'], 1):.3f} | {base[r['model']] / r['run_seconds']:.2f}× | "
              f"{acc.mean():.3f} ± {acc.std(ddof=1) if acc.size > 1 else 0:.3f} | "
              f"{r['difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}] | {r['p']:.3f} | {r['p_ks']:.3f} | "
              f"{r['p_mann_whitney']:.3f} | {'yes' if r['parity'] else 'NO'} |")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precisions", default="f32,tf32,bf16", help="the first is the reference")
    parser.add_argument("--models", default="stems3")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--songs", type=int, default=66)
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--mels", type=int, default=128)
    parser.add_argument("--frames", type=int, default=458)
    parser.add_argument("--strength", type=float, default=0.5, help="class pattern over the noise")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--filters", default="16,32")
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--margin", type=float, default=0.05, help="largest accuracy difference called parity")
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--from-json", help="print the report of a JSON this script wrote, and run nothing")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Runs (or reprints) the check; exit status 1 when a precision misses parity."""
    args = parse_args(argv)
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
    else:
        report = measure(args)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
    print_report(report)
    return 0 if all(r["parity"] for r in report["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
