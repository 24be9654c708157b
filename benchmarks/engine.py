"""Trials per second of the vectorized engine against a Python loop over trials of the same jitted trainer.

Side by side in one process, same data, same splits, same seeds; compile time reported apart; the device is
named. Example (the paper's size, 4 trials):

    python benchmarks/engine.py --songs 66 --mels 128 --frames 458 --trials 4

Every variant's trial results are checked against the loop's (same numbers whatever the lowering).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

from jaxsep.config import TrainConfig
from jaxsep.constants import N_FRAMES, N_MELS, PAPER_CLASSES
from jaxsep.features.toy import toy_features
from jaxsep.nn.models import create_model, get_spec
from jaxsep.training.engine import default_unroll, run_trials, stack_trials
from jaxsep.training.splits import make_splits
from jaxsep.training.trainer import Hyperparameters, make_train_trial, trial_data


def python_loop(model_name, x, labels, splits, seeds, config, n_classes, unroll=1):
    """The baseline a user would write: one jitted per-trial trainer, called in a Python loop."""
    trial_fn = jax.jit(make_train_trial(create_model(model_name, n_classes, config), config, unroll=unroll))
    data = jax.device_put(trial_data(x, labels))
    trials = stack_trials(seeds, splits, Hyperparameters.from_config(config, len(seeds)))

    def trial(t):
        return jax.tree.map(lambda field: field[t], trials)

    start = time.perf_counter()
    compiled = trial_fn.lower(trial(0), data).compile()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    outs = [jax.block_until_ready(compiled(trial(t), data).history) for t in range(len(seeds))]
    run_seconds = time.perf_counter() - start
    history = {k: np.stack([np.asarray(o[k]) for o in outs]) for k in outs[0]}
    return history, compile_seconds, run_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=66)
    parser.add_argument("--classes", type=int, default=PAPER_CLASSES)
    parser.add_argument("--mels", type=int, default=N_MELS)
    parser.add_argument("--frames", type=int, default=N_FRAMES)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--filters", default="16,32")
    parser.add_argument("--model", default="stems3")
    parser.add_argument("--variants", default="loop:1,auto,vmap",
                        help="comma list of NAME[:N]: loop (Python loop over the jitted per-trial trainer), "
                             "auto, sequential, vmap, map, stepped (the engine); N is the scans' unroll "
                             "(0 = fully unrolled; default: the engine's choice for the backend), for stepped "
                             "the training steps per call; a +direct suffix (stepped+direct:8) computes the "
                             "first conv's forward as shifted sums, +conv as XLA's convolution; an @K suffix "
                             "(stepped@1) runs K trials at once (per-trial lowerings; default: the engine's)")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args()

    counts = np.full(args.classes, args.songs // args.classes)
    counts[: args.songs % args.classes] += 1
    features = toy_features(songs_per_class=tuple(counts), n_mels=args.mels, frames=args.frames, seed=0)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                         filters=tuple(int(f) for f in args.filters.split(",")))
    x = features.select_maps(get_spec(args.model).maps)
    seeds = np.arange(args.trials)
    splits = make_splits(features.labels, seeds, n_classes=args.classes, test_fraction=0.2)
    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({jax.default_backend()}), {platform.processor() or platform.machine()}, "
          f"jax {jax.__version__}; model {args.model}, {args.songs} songs x {args.mels} x {args.frames}, "
          f"{args.trials} trials x {args.epochs} epochs, batch {args.batch_size}, filters {args.filters}")

    rows, reference = [], None
    for variant in args.variants.split(","):
        variant_name, _, concurrent = variant.partition("@")
        name, _, number = variant_name.partition(":")
        name, _, form = name.partition("+")
        concurrent_trials = int(concurrent) if concurrent else None
        direct_forward = {"direct": True, "conv": False, "": None}[form]
        unroll = None if not number or name == "stepped" else (True if int(number) == 0 else int(number))
        steps_per_call = int(number) if number and name == "stepped" else None
        if name == "loop":
            history, compile_s, run_s = python_loop(args.model, x, features.labels, splits, seeds, config,
                                                    args.classes, default_unroll() if unroll is None else unroll)
        else:
            report = run_trials(args.model, x, features.labels, splits, seeds, config, n_classes=args.classes,
                                strategy=name, devices=[device], unroll=unroll, steps_per_call=steps_per_call,
                                direct_forward=direct_forward, concurrent_trials=concurrent_trials)
            history, compile_s, run_s = report.history, report.compile_seconds, report.run_seconds
        if reference is None:
            reference = history
        max_diff = float(np.max(np.abs(history["test_loss"] - reference["test_loss"])))
        rows.append({"variant": variant, "compile_s": compile_s, "run_s": run_s,
                     "trials_per_s": args.trials / run_s, "max_test_loss_diff": max_diff})
        print(f"  {variant:10s} compile {compile_s:7.2f} s   run {run_s:7.2f} s   "
              f"{args.trials / run_s:7.3f} trials/s   max |test loss - first| {max_diff:.1e}", flush=True)
    base = rows[0]
    print(f"speed-up over {base['variant']} (run time, compile apart):")
    for row in rows:
        print(f"  {row['variant']:10s} {base['run_s'] / row['run_s']:.2f}x")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump({"args": vars(args), "device": str(device.device_kind), "rows": rows}, stream, indent=1)


if __name__ == "__main__":
    main()
