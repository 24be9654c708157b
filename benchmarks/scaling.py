"""How the engine's cost grows with the work: trials/s against trial count, clip count and device count.

    python benchmarks/scaling.py --quick            # CPU: small maps, finishes in minutes
    python benchmarks/scaling.py --max-trials 64 --clips 66,660,6600 --devices 1,2,4,8   # full-size maps
    python benchmarks/scaling.py --sections devices --real-devices                     # a multi-GPU host

Three curves, each point in its own subprocess (so a point that runs out of time or memory is reported, not
fatal, and forced CPU devices can differ per point):

* ``trials``: 1, 2, 4, ... ``--max-trials`` trials of ``--model`` on the paper's 66 clips, one process
  (a lowering compiled for one count is reused for the next where its shapes allow, e.g. "sequential");
* ``clips``: 66 → 660 → 6,600 generated clips (``--clips``), ``--clip-trials`` trials each; every clip count
  is a new program shape, so compile time is reported per point (with fully unrolled scans on CPU it grows
  with the number of steps);
* ``devices``: 1, 2, 4, 8 devices, strategy ``vmap`` (the trial axis is sharded over a mesh; "sequential"
  uses one device), ``--device-trials`` trials. On CPU the devices are forced with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=N``: they share the same cores, so this curve shows
  the sharding overhead, not a speed-up; ``--real-devices`` uses the first N real devices instead.

Generated data: unit noise with a class-dependent band in every map, float32, written straight into the
model's channels (6,600 full-size clips of 3 maps are 4.6 GB; :func:`jaxsep.features.toy.toy_features` would build
all six maps in float64 first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from jaxsep.config import TrainConfig  # light: no JAX in the parent process
from jaxsep.constants import PAPER_CLASSES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHANNELS = {"full": 1, "novox": 1, "stems3": 3, "stems3_dw": 3}


def synthetic_clips(songs: int, classes: int, mels: int, frames: int, channels: int, *, seed: int = 0):
    """Noise clips with a class band, ``x (songs, mels, frames, channels)`` float32 and ``labels (songs,)``.

    Classes are as balanced as ``songs`` allows; class ``c`` adds 0.5 to mel rows ``[c·b, (c+1)·b)``.
    """
    rng = np.random.default_rng(seed)
    labels = np.arange(songs) % classes
    rng.shuffle(labels)
    x = rng.standard_normal((songs, mels, frames, channels), dtype=np.float32)
    band = max(1, mels // classes)
    for c in range(classes):
        x[labels == c, c * band : (c + 1) * band] += 0.5
    return x, labels.astype(np.int32)


def worker(args) -> list[dict]:
    """Runs one curve's points in this process; returns ``{trials, songs, devices, compile_s, run_s, ...}``."""
    import jax

    from jaxsep.training.engine import run_trials
    from jaxsep.training.splits import make_splits

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                         filters=tuple(int(f) for f in args.filters.split(",")))
    x, labels = synthetic_clips(args.songs, args.classes, args.mels, args.frames, CHANNELS[args.model])
    devices = jax.devices()[: args.n_devices]
    if len(devices) < args.n_devices:
        raise SystemExit(f"asked for {args.n_devices} devices, JAX sees {len(jax.devices())}")
    points = []
    for trials in (int(t) for t in args.trial_counts.split(",")):
        seeds = np.arange(trials)
        splits = make_splits(labels, seeds, n_classes=args.classes, test_fraction=config.test_fraction)
        report = run_trials(args.model, x, labels, splits, seeds, config, n_classes=args.classes,
                            strategy=args.strategy, devices=devices)
        n_train = splits["train"].shape[1]
        point = {"trials": trials, "songs": args.songs, "devices": len(report.devices), "strategy": report.strategy,
                 "chunk": report.chunk, "compile_s": report.compile_seconds, "run_s": report.run_seconds,
                 "trials_per_s": trials / report.run_seconds,
                 "clips_per_s": trials * args.epochs * n_train / report.run_seconds,
                 "device": jax.devices()[0].device_kind}
        print(f"    {point}", file=sys.stderr, flush=True)
        points.append(point)
    return points


def spawn(args, *, songs: int, trial_counts: list[int], strategy: str, n_devices: int, label: str) -> list[dict]:
    """One curve segment in a fresh interpreter (forced CPU devices when asked); errors become rows."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    if not args.real_devices:
        flags = [f for f in env.get("XLA_FLAGS", "").split() if "xla_force_host_platform_device_count" not in f]
        env["XLA_FLAGS"] = " ".join(flags + [f"--xla_force_host_platform_device_count={n_devices}"])
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "points.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker-out", str(out), "--songs", str(songs),
                "--trial-counts", ",".join(map(str, trial_counts)), "--strategy", strategy,
                "--n-devices", str(n_devices), "--model", args.model, "--classes", str(args.classes),
                "--mels", str(args.mels), "--frames", str(args.frames), "--epochs", str(args.epochs),
                "--batch-size", str(args.batch_size), "--filters", args.filters]
        try:
            code = subprocess.run(argv, env=env, timeout=args.point_timeout, stdout=sys.stderr,
                                  stderr=sys.stderr).returncode
        except subprocess.TimeoutExpired:
            return [{"curve": label, "songs": songs, "trials": trial_counts[0], "devices": n_devices,
                     "error": f"timed out after {args.point_timeout:.0f} s"}]
        if code != 0 or not out.exists():
            return [{"curve": label, "songs": songs, "trials": trial_counts[0], "devices": n_devices,
                     "error": f"exit code {code}"}]
        return [{"curve": label, **p} for p in json.loads(out.read_text())]


def print_table(rows: list[dict]) -> None:
    print(f"{'curve':8s} {'songs':>6s} {'trials':>6s} {'devices':>7s} {'strategy':>10s} {'compile s':>9s} "
          f"{'run s':>8s} {'trials/s':>9s} {'clips/s':>8s}")
    for r in rows:
        if "error" in r:
            print(f"{r['curve']:8s} {r['songs']:6d} {r['trials']:6d} {r['devices']:7d} {'':>10s} {r['error']}")
            continue
        print(f"{r['curve']:8s} {r['songs']:6d} {r['trials']:6d} {r['devices']:7d} {r['strategy']:>10s} "
              f"{r['compile_s']:9.2f} {r['run_s']:8.2f} {r['trials_per_s']:9.3f} {r['clips_per_s']:8.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="CPU-sized: 32 mels x 64 frames, up to 8 trials, clips 66,660 (6,600 with --clips)")
    parser.add_argument("--sections", default="trials,clips,devices")
    parser.add_argument("--model", default="stems3", choices=sorted(CHANNELS))
    parser.add_argument("--classes", type=int, default=PAPER_CLASSES)
    parser.add_argument("--mels", type=int, default=None, help="default 128 (32 with --quick)")
    parser.add_argument("--frames", type=int, default=None, help="default 458 (64 with --quick)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--filters", default="16,32")
    parser.add_argument("--strategy", default="auto", help="engine strategy of the trials and clips curves")
    parser.add_argument("--max-trials", type=int, default=None, help="default 64 (8 with --quick)")
    parser.add_argument("--clips", default=None, help="default 66,660,6600 (66,660 with --quick)")
    parser.add_argument("--clip-trials", type=int, default=2)
    parser.add_argument("--devices", default="1,2,4,8")
    parser.add_argument("--device-trials", type=int, default=8)
    parser.add_argument("--real-devices", action="store_true", help="use real devices, not forced CPU ones")
    parser.add_argument("--point-timeout", type=float, default=600, help="seconds per subprocess")
    parser.add_argument("--json", default=str(ROOT / "runs" / "bench" / "scaling.json"))
    # Internal: one curve segment in this process.
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--songs", type=int, default=66, help=argparse.SUPPRESS)
    parser.add_argument("--trial-counts", default="1", help=argparse.SUPPRESS)
    parser.add_argument("--n-devices", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.mels = args.mels or (32 if args.quick else 128)
    args.frames = args.frames or (64 if args.quick else 458)
    args.max_trials = args.max_trials or (8 if args.quick else 64)
    args.clips = args.clips or ("66,660" if args.quick else "66,660,6600")

    if args.worker_out:
        Path(args.worker_out).write_text(json.dumps(worker(args)))
        return

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    sections = args.sections.split(",")
    rows = []
    if "trials" in sections:
        counts = [2**i for i in range(args.max_trials.bit_length()) if 2**i <= args.max_trials]
        rows += spawn(args, songs=66, trial_counts=counts, strategy=args.strategy, n_devices=1, label="trials")
    if "clips" in sections:
        for songs in (int(s) for s in args.clips.split(",")):
            rows += spawn(args, songs=songs, trial_counts=[args.clip_trials], strategy=args.strategy, n_devices=1,
                          label="clips")
    if "devices" in sections:
        for n in (int(d) for d in args.devices.split(",")):
            rows += spawn(args, songs=66, trial_counts=[args.device_trials], strategy="vmap", n_devices=n,
                          label="devices")
    device = next((r["device"] for r in rows if "device" in r), "?")
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}  {device}; model {args.model}, {args.mels} x {args.frames} maps, "
          f"{args.epochs} epochs, batch {args.batch_size}, filters {args.filters}"
          + ("" if args.real_devices else "; devices forced on the host CPU (shared cores)"))
    print_table(rows)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "args": vars(args), "rows": rows},
                                   indent=1))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
