"""The paper's protocol, side by side: jaxsep's engine against a JAX loop over trials and two PyTorch peers.

    python benchmarks/throughput.py                                   # the paper's size, stems3, 4 trials
    python benchmarks/throughput.py --trials 50 --peer-trials 10 --models full,novox,stems3,stems3_dw
    python benchmarks/throughput.py --songs 24 --mels 16 --frames 24 --trials 2   # a smoke run

Variants (``--variants``, comma list):

* ``engine`` — :func:`jaxsep.training.engine.run_trials` with ``strategy="auto"``; ``engine-vmap`` / ``engine-map`` /
  ``engine-sequential`` / ``engine-stepped`` force a lowering;
* ``jax-loop`` — a Python loop over trials of the same jitted per-trial trainer with rolled ``lax.scan`` s
  (``benchmarks/engine.py``'s ``python_loop``: what a JAX user writes); ``jax-loop-unrolled`` unrolls them;
* ``torch-eager`` — :func:`torch_reference.run_eager`, one trial after another (the paper's Keras-style loop);
* ``torch-tuned`` — the same loop as a PyTorch user tunes it (:class:`torch_reference.Tuning`): channels-last
  memory, bfloat16 autocast where the device supports it (``torch.cuda.is_bf16_supported()``; on CPU oneDNN's
  bf16 support, i.e. AVX-512 BF16 or AMX), ``torch.compile`` where it works (``mode="reduce-overhead"``, CUDA
  graphs, on a GPU; falls back to eager, saying so, when compiling fails);
* ``torch-func`` — :func:`torch_reference.run_ensemble`, all trials as one ``torch.func`` vmapped ensemble.

A per-trial variant may run K trials at once, ``NAME@K``: the engine's ``concurrent_trials`` (its default is
two on CPU, so ``engine@1`` is one trial at a time); for ``torch-eager`` / ``torch-tuned``, K processes, each
with ``cores // K`` threads and every K-th trial, started together after their warm-ups (the wall is from that
start to the last one's end) — what a PyTorch user does to keep a small model's cores busy.

Every variant runs in its OWN subprocess (``--worker``): JAX and PyTorch in one process can clash on a GPU, and
a process's peak memory is then that variant's. Same data (``jaxsep.features.toy``), same splits
(``jaxsep.training.splits.make_splits``), same seeds. Times are wall seconds of the training runs after compilation
(JAX) or after a one-epoch warm-up (PyTorch), which are reported apart. Slow peers may run fewer trials
(``--peer-trials``); their time for ``--trials`` trials is then extrapolated linearly and marked ``*``.

FLOPs are counted analytically (:func:`forward_flops`): convolutions and the dense layer, 2 per multiply-add,
a training step ≈ 3 × the forward pass (forward, input gradient, weight gradient), plus one forward pass per
test clip per epoch. Batch norm, pooling, ReLU and the optimizer are left out (O(activations), not
O(activations × kernel)). Padding rows of the last batch are not counted (useful work only).

The accuracy check compares, per model, the engine's and PyTorch's selected-epoch test accuracies over trials
(same splits, different random streams): Mann-Whitney U and Welch's t. It detects a broken protocol only
when it shifts accuracy by more than the trial-to-trial spread; with a handful of trials it is a weak check.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_name  # benchmarks/machine.py

# Light modules only (no JAX in the parent process: each variant runs in its own).
from jaxsep.config import TrainConfig
from jaxsep.constants import N_FRAMES, N_MELS, PAPER_CLASSES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

JAX_VARIANTS = ("engine", "engine-vmap", "engine-map", "engine-sequential", "engine-stepped", "jax-loop",
                "jax-loop-unrolled")
TORCH_VARIANTS = ("torch-eager", "torch-tuned", "torch-func")
#: Input maps and conv kind of each model, as in jaxsep.nn.models.MODELS (tests/test_benchmarks.py checks it);
#: repeated here so the orchestrator and the PyTorch worker need not import JAX.
MODEL_MAPS = {"full": ("mix",), "novox": ("novox",), "stems3": ("bass", "drums", "other"),
              "stems3_dw": ("bass", "drums", "other")}
SEPARABLE = {"full": False, "novox": False, "stems3": False, "stems3_dw": True}


# ----------------------------------------------------------------------------------------------- FLOPs


def forward_flops(in_channels: int, n_classes: int, mels: int, frames: int, *, filters=(16, 32),
                  kernel_size: int = 3, separable: bool = False) -> int:
    """FLOPs of one clip's forward pass through jaxsep's network (2 per multiply-add).

    Each block is a 'SAME' convolution at the block's input resolution (every output reads a full
    ``k×k`` window, zero padding included, as the libraries compute it), then a 2×2 pool that floors the
    size. Separable blocks count the depthwise ``k×k`` per channel and the ``1×1`` pointwise conv.

    Args:
      in_channels: input maps ``C``; ``mels``, ``frames``: input size.
      filters: output channels of the two blocks; ``kernel_size``: ``k``.

    Returns:
      FLOPs of the convolutions and the dense layer for one clip.
    """
    height, width, channels, total = mels, frames, in_channels, 0
    k2 = kernel_size * kernel_size
    for features in filters:
        pixels = height * width
        if separable:
            total += 2 * pixels * k2 * channels + 2 * pixels * channels * features
        else:
            total += 2 * pixels * k2 * channels * features
        height, width, channels = height // 2, width // 2, features
    return total + 2 * height * width * channels * n_classes


def trial_flops(forward: int, *, n_train: int, n_eval: int, epochs: int) -> int:
    """FLOPs of one trial: per epoch, ``3 × forward`` per training clip and ``forward`` per evaluated clip."""
    return epochs * (3 * n_train + n_eval) * forward


# ----------------------------------------------------------------------------------------------- workers


def _rss_bytes() -> int:
    """Resident set size of this process now (Linux), 0 where unknown."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def make_data(args):
    """The generated feature set (all six maps) and the stacked splits of ``args.trials`` seeds."""
    from jaxsep.features.toy import toy_features
    from jaxsep.training.splits import make_splits

    counts = np.full(args.classes, args.songs // args.classes)
    counts[: args.songs % args.classes] += 1
    features = toy_features(songs_per_class=tuple(int(c) for c in counts), n_mels=args.mels, frames=args.frames,
                            strength=args.strength, seed=0)
    seeds = np.arange(args.seed, args.seed + args.trials)
    splits = make_splits(features.labels, seeds, n_classes=args.classes, test_fraction=0.2)
    return features, seeds, splits


def _config(args):

    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, precision=args.precision,
                       filters=tuple(int(f) for f in args.filters.split(",")))


def _selected_accuracy(history) -> list[float]:
    """Test accuracy at each trial's minimum-test-loss epoch, ``(trials,)``."""
    epoch = np.argmin(history["test_loss"], axis=1)
    return [float(a) for a in history["test_accuracy"][np.arange(len(epoch)), epoch]]


def _worker_inputs(args):
    """A worker's data, seeds and splits cut to its ``--run-trials`` trials, and the protocol."""
    features, seeds, splits = make_data(args)
    n_run = args.run_trials
    return features, seeds[:n_run], {k: v[:n_run] for k, v in splits.items()}, _config(args)


def jax_worker(args) -> dict:
    """Runs one JAX variant over the models; returns per-model times, accuracies and process facts."""
    import jax

    sys.path.insert(0, str(HERE))
    from engine import python_loop  # benchmarks/engine.py

    from jaxsep.training.engine import run_trials

    features, seeds, splits, config = _worker_inputs(args)
    n_run = args.run_trials
    device = jax.devices()[0]
    rss_before = _rss_bytes()
    models = {}
    for name in args.models.split(","):
        x = features.select_maps(MODEL_MAPS[name])
        if args.variant == "jax-loop" or args.variant == "jax-loop-unrolled":
            history, compile_s, run_s = python_loop(name, x, features.labels, splits, seeds, config, args.classes,
                                                    unroll=1 if args.variant == "jax-loop" else True)
            detail = "unroll=1" if args.variant == "jax-loop" else "unroll=full"
        else:
            strategy = "auto" if args.variant == "engine" else args.variant.split("-", 1)[1]
            report = run_trials(name, x, features.labels, splits, seeds, config, n_classes=args.classes,
                                strategy=strategy, devices=[device], concurrent_trials=args.concurrent)
            history, compile_s, run_s = report.history, report.compile_seconds, report.run_seconds
            detail = (f"strategy={report.strategy}, chunk={report.chunk}, "
                      f"concurrent_trials={report.concurrent_trials}")
        models[name] = {"trials": n_run, "setup_s": compile_s, "run_s": run_s, "detail": detail,
                        "accuracy": _selected_accuracy(history),
                        "finite": bool(np.all(np.isfinite(history["test_loss"])))}
        print(f"    {args.variant} {name}: setup {compile_s:.2f} s, run {run_s:.2f} s ({detail})", file=sys.stderr,
              flush=True)
    if device.platform == "cpu":
        peak, peak_kind = _peak_rss_bytes(), "process peak RSS"
    else:
        stats = device.memory_stats() or {}
        peak, peak_kind = stats.get("peak_bytes_in_use", 0), "device peak_bytes_in_use"
    return {"framework": f"jax {jax.__version__}", "backend": jax.default_backend(),
            "device": cpu_name() if device.platform == "cpu" else device.device_kind,
            "precision": f"--precision {args.precision}, "
                         f"jax_default_matmul_precision={jax.config.jax_default_matmul_precision}",
            "peak_bytes": int(peak), "peak_kind": peak_kind, "rss_before_bytes": rss_before, "models": models,
            "n_train": int(splits["train"].shape[1]), "n_test": int(splits["test"].shape[1])}


def _torch_train_model(args, name, features, seeds, splits, config, device, tuning, before_run=None) -> dict:
    """One model's PyTorch trials: a one-epoch warm-up of one trial (untimed; oneDNN / cuDNN pick and cache
    kernels on first use of each shape, and ``torch.compile`` compiles), then ``before_run()``, then the timed
    run. Returns ``warmup_s``, ``start`` / ``end`` (``time.time()``), ``history`` and the ``tuning`` used."""
    import torch
    import torch_reference

    x = features.select_maps(MODEL_MAPS[name])
    runner = torch_reference.run_ensemble if args.variant == "torch-func" else torch_reference.run_eager

    def run(cfg, n, tuning):
        extra = {} if args.variant == "torch-func" else {"tuning": tuning}
        return runner(x, features.labels, {k: v[:n] for k, v in splits.items()}, seeds[:n], cfg,
                      separable=SEPARABLE[name], n_classes=args.classes, device=device, **extra)

    n_run = len(seeds)
    begin = time.perf_counter()
    try:
        run(config.replace(epochs=1), n_run if args.variant == "torch-func" else 1, tuning)
    except Exception as error:  # torch.compile "where it works": fall back to eager, and say so
        if tuning.compile_mode is None:
            raise
        print(f"    torch.compile failed ({type(error).__name__}: {str(error)[:200]}); eager instead",
              file=sys.stderr, flush=True)
        tuning = torch_reference.Tuning(tuning.channels_last, tuning.autocast, None)
        run(config.replace(epochs=1), 1, tuning)
    warmup_s = time.perf_counter() - begin
    if before_run is not None:
        before_run()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.time()
    history = run(config, n_run, tuning)
    return {"warmup_s": warmup_s, "start": start, "end": time.time(), "history": history, "tuning": tuning}


def _torch_device_and_tuning(args):
    import torch
    import torch_reference

    device = args.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
    tuning = _tuning(torch, device) if args.variant == "torch-tuned" else torch_reference.EAGER
    return device, tuning


def _torch_share(args, share: int, barrier, queue) -> None:
    """One of ``args.concurrent`` processes of a concurrent PyTorch variant: trials ``share``,
    ``share + K``, ... of every model, ``cores // K`` threads, each model's timed run started with the others'
    (``barrier``). Puts ``(model, share, result)`` per model, then ``(None, share, peak RSS bytes)``."""
    import torch

    sys.path.insert(0, str(HERE))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.concurrent))
    features, seeds, splits, config = _worker_inputs(args)
    mine = np.arange(share, len(seeds), args.concurrent)
    device, tuning = _torch_device_and_tuning(args)
    for name in args.models.split(","):
        try:
            out = _torch_train_model(args, name, features, seeds[mine], {k: v[mine] for k, v in splits.items()},
                                     config, device, tuning, before_run=lambda: barrier.wait(timeout=3600))
            tuning = out["tuning"]
            queue.put((name, share, {k: out[k] for k in ("warmup_s", "start", "end", "history")}
                       | {"tuning": str(tuning)}))
        except Exception as error:
            barrier.abort()  # the other shares stop waiting for this one
            queue.put((name, share, {"error": f"{type(error).__name__}: {error}"[:500]}))
    queue.put((None, share, _peak_rss_bytes()))


def _torch_concurrently(args) -> tuple[dict, int]:
    """Runs :func:`_torch_share` in ``args.concurrent`` processes; returns ``({model: entry}, summed peak RSS)``,
    each entry's history in trial order, its run time from the common start to the last share's end."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(args.concurrent), context.Queue()
    processes = [context.Process(target=_torch_share, args=(args, share, barrier, queue))
                 for share in range(args.concurrent)]
    for process in processes:
        process.start()
    parts, peak, finished = {}, 0, 0
    while finished < args.concurrent:
        name, share, payload = queue.get(timeout=args.worker_timeout)
        if name is None:
            peak, finished = peak + payload, finished + 1
        else:
            parts.setdefault(name, {})[share] = payload
    for process in processes:
        process.join()
    models = {}
    n_run = args.run_trials
    for name, shares in parts.items():
        errors = [p["error"] for p in shares.values() if "error" in p]
        if errors:
            models[name] = {"error": errors[0]}
            continue
        history = {}
        for key in shares[0]["history"]:
            rows = np.empty((n_run,) + np.shape(shares[0]["history"][key])[1:])
            for share, part in shares.items():
                rows[share::args.concurrent] = part["history"][key]
            history[key] = rows
        models[name] = {"warmup_s": max(p["warmup_s"] for p in shares.values()),
                        "run_s": max(p["end"] for p in shares.values()) - min(p["start"] for p in shares.values()),
                        "history": history, "tuning": shares[0]["tuning"]}
    return models, peak


def torch_worker(args) -> dict:
    """Runs one PyTorch variant over the models (one-epoch warm-up per model, untimed); with
    ``--concurrent K`` > 1, in K processes at once (:func:`_torch_concurrently`)."""
    import torch

    sys.path.insert(0, str(HERE))
    features, seeds, splits, config = _worker_inputs(args)
    n_run = args.run_trials
    device, tuning = _torch_device_and_tuning(args)
    rss_before = _rss_bytes()
    concurrent = args.concurrent or 1
    if concurrent > 1 and device != "cpu":
        raise SystemExit(f"{args.variant}@{concurrent}: trials at once in several processes are for the CPU only")
    if concurrent > 1:
        runs, peak = _torch_concurrently(args)
    else:
        runs = {}
        for name in args.models.split(","):
            try:
                out = _torch_train_model(args, name, features, seeds, splits, config, device, tuning)
            except Exception as error:  # report why a variant (e.g. torch.func on a new torch) cannot run
                runs[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
                continue
            tuning = out["tuning"]
            runs[name] = {"warmup_s": out["warmup_s"], "run_s": out["end"] - out["start"], "history": out["history"],
                          "tuning": str(tuning)}
    models = {}
    for name, out in runs.items():
        if "error" in out:
            models[name] = out
            print(f"    {args.variant} {name}: FAILED {out['error']}", file=sys.stderr, flush=True)
            continue
        detail = f"device={device}" + (f", {out['tuning']}" if args.variant == "torch-tuned" else "")
        if concurrent > 1:
            detail += f", {concurrent} processes x {max(1, (os.cpu_count() or 1) // concurrent)} thread(s)"
        history = out["history"]
        models[name] = {"trials": n_run, "setup_s": out["warmup_s"], "run_s": out["run_s"], "detail": detail,
                        "accuracy": _selected_accuracy(history),
                        "finite": bool(np.all(np.isfinite(history["test_loss"])))}
        print(f"    {args.variant} {name}: warm-up {out['warmup_s']:.2f} s, run {out['run_s']:.2f} s",
              file=sys.stderr, flush=True)
    if device.startswith("cuda"):
        peak, peak_kind, name = torch.cuda.max_memory_allocated(), "torch.cuda.max_memory_allocated", \
            torch.cuda.get_device_name()
        precision = (f"float32, cudnn.allow_tf32={torch.backends.cudnn.allow_tf32}, "
                     f"cudnn.benchmark={torch.backends.cudnn.benchmark}, "
                     f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")
    elif concurrent > 1:
        peak_kind, name = f"summed peak RSS of {concurrent} processes", cpu_name()
        precision = f"float32, {concurrent} processes x {max(1, (os.cpu_count() or 1) // concurrent)} thread(s)"
    else:
        peak, peak_kind, name = _peak_rss_bytes(), "process peak RSS", cpu_name()
        precision = f"float32, {torch.get_num_threads()} threads"
    if tuning.autocast:
        precision += ", bfloat16 autocast"
    return {"framework": f"torch {torch.__version__}", "backend": device, "device": name, "precision": precision,
            "peak_bytes": int(peak), "peak_kind": peak_kind, "rss_before_bytes": rss_before, "models": models,
            "n_train": int(splits["train"].shape[1]), "n_test": int(splits["test"].shape[1])}


def _tuning(torch, device: str):
    """The tuned loop's settings on this device: bf16 autocast only where the hardware runs bf16 natively."""
    import torch_reference

    if device.startswith("cuda"):
        return torch_reference.Tuning(channels_last=True, autocast=torch.cuda.is_bf16_supported(),
                                      compile_mode="reduce-overhead")
    return torch_reference.Tuning(channels_last=True, autocast=torch.ops.mkldnn._is_mkldnn_bf16_supported(),
                                  compile_mode="default")


# ----------------------------------------------------------------------------------------------- orchestration


def parse_spec(spec: str) -> tuple[str, int | None, int | None]:
    """``NAME[@K][:TRIALS]`` as ``(NAME, K, TRIALS)``, None where absent; ValueError if it is not one."""
    head, _, count = spec.partition(":")
    name, _, concurrent = head.partition("@")
    k, n = (None if text == "" else int(text) for text in (concurrent, count))
    if name not in JAX_VARIANTS + TORCH_VARIANTS or (k is not None and k < 1) or (n is not None and n < 1):
        raise ValueError(spec)
    if k is not None and name in ("torch-func", "jax-loop", "jax-loop-unrolled", "engine-vmap", "engine-map"):
        raise ValueError(f"{spec}: {name} has no trials-at-once option")
    return name, k, n


def base_variant(key: str) -> str:
    """A result's variant without its ``@K``."""
    return key.partition("@")[0]


def _variant_trials(args, spec: str) -> int:
    """Trials a variant runs: ``NAME:N`` gives N; engines run ``--trials``; peers ``--peer-trials``."""
    variant, _, count = spec.partition(":")
    if count:
        return min(args.trials, int(count))
    if variant.startswith("engine"):
        return args.trials
    return min(args.trials, args.peer_trials or args.trials)


def _common_argv(args) -> list[str]:
    keys = ("songs", "classes", "mels", "frames", "trials", "epochs", "batch_size", "filters", "models", "seed",
            "strength", "precision")
    argv = []
    for key in keys:
        argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    if args.torch_device:
        argv += ["--torch-device", args.torch_device]
    return argv


def spawn(args, spec: str) -> dict:
    """Runs variant ``spec`` (``NAME[:TRIALS]``) in a fresh interpreter; returns its JSON (or an ``error``)."""
    variant, concurrent, _ = parse_spec(spec)
    framework = "jax" if variant in JAX_VARIANTS else "torch"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    if framework == "torch":
        # jaxsep's numpy helpers import no JAX backend, but keep JAX off the GPU in the torch process anyway.
        env["JAX_PLATFORMS"] = "cpu"
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "worker.json"
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker", framework, "--variant", variant,
                "--run-trials", str(_variant_trials(args, spec)), "--worker-out", str(out), *_common_argv(args)]
        if concurrent is not None:
            argv += ["--concurrent", str(concurrent)]
        begin = time.perf_counter()
        try:
            done = subprocess.run(argv, env=env, timeout=args.worker_timeout, stdout=sys.stderr, stderr=sys.stderr)
            code = done.returncode
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.worker_timeout} s"}
        if code != 0 or not out.exists():
            return {"error": f"worker exited with code {code}"}
        result = json.loads(out.read_text())
        result["process_s"] = time.perf_counter() - begin
        return result


def summarize(args, results: dict) -> list[dict]:
    """One row per variant and model plus an ``all`` row per variant (trials summed over models)."""
    rows = []
    filters = tuple(int(f) for f in args.filters.split(","))
    for variant, result in results.items():
        if "error" in result:
            rows.append({"variant": variant, "model": "all", "error": result["error"]})
            continue
        n_train, n_test = result["n_train"], result["n_test"]
        total = {"trials": 0, "run_s": 0.0, "setup_s": 0.0, "extrapolated_s": 0.0, "flops": 0.0, "clips": 0}
        for model, m in result["models"].items():
            if "error" in m:
                rows.append({"variant": variant, "model": model, "error": m["error"]})
                continue
            forward = forward_flops(len(MODEL_MAPS[model]), args.classes, args.mels, args.frames, filters=filters,
                                    separable=SEPARABLE[model])
            flops = m["trials"] * trial_flops(forward, n_train=n_train, n_eval=n_test, epochs=args.epochs)
            clips = m["trials"] * args.epochs * n_train
            row = {"variant": variant, "model": model, "trials": m["trials"], "setup_s": m["setup_s"],
                   "run_s": m["run_s"], "extrapolated_s": m["run_s"] * args.trials / m["trials"],
                   "extrapolated": m["trials"] < args.trials, "trials_per_s": m["trials"] / m["run_s"],
                   "clips_per_s": clips / m["run_s"], "tflops": flops / m["run_s"] / 1e12,
                   "peak_mb": result["peak_bytes"] / 2**20, "device": result["device"], "detail": m["detail"],
                   "finite": m["finite"]}
            rows.append(row)
            for key in ("trials", "run_s", "setup_s", "extrapolated_s"):
                total[key] += row[key]
            total["flops"] += flops
            total["clips"] += clips
        if total["trials"] and len(result["models"]) > 1:
            rows.append({"variant": variant, "model": "all", "trials": total["trials"], "setup_s": total["setup_s"],
                         "run_s": total["run_s"], "extrapolated_s": total["extrapolated_s"],
                         "extrapolated": any(r.get("extrapolated") for r in rows if r["variant"] == variant),
                         "trials_per_s": total["trials"] / total["run_s"],
                         "clips_per_s": total["clips"] / total["run_s"],
                         "tflops": total["flops"] / total["run_s"] / 1e12, "peak_mb": result["peak_bytes"] / 2**20,
                         "device": result["device"], "detail": "", "finite": True})
    return rows


def reference_engine(results: dict) -> str:
    """The engine variant others are compared with: ``engine`` if it ran, else the first ``engine-*`` that did."""
    engines = [v for v in results if v.startswith("engine") and "models" in results[v]]
    return "engine" if "engine" in engines else (engines[0] if engines else "engine")


def lowering_agreement(results: dict) -> list[dict]:
    """Per model, every pair of JAX variants over the trials both ran (same seeds and splits): how many
    trials selected the same test accuracy, the largest difference, and the two means."""
    ran = [v for v in results if base_variant(v) in JAX_VARIANTS and "models" in results[v]]
    rows = []
    for i, first in enumerate(ran):
        for second in ran[i + 1:]:
            for model, m in results[first]["models"].items():
                o = results[second]["models"].get(model, {})
                if "accuracy" not in m or "accuracy" not in o:
                    continue
                n = min(len(m["accuracy"]), len(o["accuracy"]))
                a, b = np.array(m["accuracy"][:n]), np.array(o["accuracy"][:n])
                rows.append({"model": model, "first": first, "second": second, "trials": n,
                             "same": int(np.sum(a == b)), "max_diff": float(np.max(np.abs(a - b))),
                             "mean_first": float(a.mean()), "mean_second": float(b.mean())})
    return rows


def accuracy_check(results: dict, reference: str | None = None) -> list[dict]:
    """Per model and PyTorch variant: means, Mann-Whitney U and Welch p-values of selected test accuracy.
    ``reference``: the JAX variant compared (default: :func:`reference_engine`)."""
    from scipy import stats

    checks = []
    reference = reference or reference_engine(results)
    ref = results.get(reference, {})
    if "models" not in ref:
        return checks
    for variant in [v for v in results if base_variant(v) in TORCH_VARIANTS]:
        other = results[variant]
        for model, m in ref["models"].items():
            o = other.get("models", {}).get(model)
            if not o or "accuracy" not in o or "accuracy" not in m:
                continue
            a, b = np.array(m["accuracy"]), np.array(o["accuracy"])
            row = {"model": model, "jax": reference, "torch": variant, "n_jax": len(a), "n_torch": len(b),
                   "mean_jax": float(a.mean()), "mean_torch": float(b.mean()),
                   "mannwhitney_p": float("nan"), "welch_p": float("nan")}
            if len(a) >= 2 and len(b) >= 2:
                if np.ptp(np.concatenate([a, b])) > 0:
                    row["mannwhitney_p"] = float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
                row["welch_p"] = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
            checks.append(row)
    return checks


def print_report(args, results: dict, rows: list[dict], checks: list[dict], date: str | None = None) -> None:
    devices = sorted({r["device"] for r in rows if "device" in r})
    print(f"\n{date or time.strftime('%Y-%m-%d %H:%M')}  {args.songs} songs x {args.mels} x {args.frames}, "
          f"{args.classes} classes, models {args.models}, {args.epochs} epochs, batch {args.batch_size}, "
          f"filters {args.filters}, {args.trials} trials per model")
    print("devices: " + "; ".join(devices))
    for variant, result in results.items():
        if "error" not in result:
            print(f"  {variant}: {result['framework']}, {result['precision']}, peak = {result['peak_kind']}")
    header = (f"{'variant':18s} {'model':9s} {'trials':>6s} {'setup s':>8s} {'wall s':>8s} "
              f"{f'wall/{args.trials}':>10s} {'trials/s':>9s} {'clips/s':>8s} {'TFLOP/s':>8s} {'peak MB':>8s}")
    print(header)
    for r in rows:
        if "error" in r:
            print(f"{r['variant']:18s} {r['model']:9s} ERROR: {r['error']}")
            continue
        mark = "*" if r["extrapolated"] else " "
        print(f"{r['variant']:18s} {r['model']:9s} {r['trials']:6d} {r['setup_s']:8.2f} {r['run_s']:8.2f} "
              f"{r['extrapolated_s']:9.2f}{mark} {r['trials_per_s']:9.3f} {r['clips_per_s']:8.1f} "
              f"{r['tflops']:8.3g} {r['peak_mb']:8.0f}")
    print("setup = compile (JAX) or one-epoch warm-up (PyTorch); wall = training after setup; "
          "* = extrapolated linearly from fewer trials")
    reference = reference_engine(results)
    ratios = [(base["model"], r["variant"], base["trials_per_s"] / r["trials_per_s"])
              for base in rows if base["variant"] == reference and "error" not in base
              for r in rows if r["variant"] != reference and r.get("model") == base["model"] and "error" not in r]
    if ratios:
        print(f"{reference} speed-up (trials/s ratio, same run):")
        for model, variant, ratio in ratios:
            print(f"  {model:9s} vs {variant:18s} {ratio:6.2f}x")
    agreement = lowering_agreement(results)
    if agreement:
        print("selected test accuracy per trial, same seeds and splits, between JAX variants:")
        for a in agreement:
            print(f"  {a['model']:9s} {a['first']} vs {a['second']:18s} same in {a['same']}/{a['trials']} trials, "
                  f"max difference {a['max_diff']:.3f}, means {a['mean_first']:.3f} / {a['mean_second']:.3f}")
    if checks:
        print("selected-epoch test accuracy, JAX engine vs PyTorch (same splits, different random streams):")
        for c in checks:
            weak = " (few trials: a weak check)" if min(c["n_jax"], c["n_torch"]) < 10 else ""
            print(f"  {c['model']:9s} {c['torch']:12s} mean {c['mean_jax']:.3f} (n={c['n_jax']}) vs "
                  f"{c['mean_torch']:.3f} (n={c['n_torch']}); Mann-Whitney p={c['mannwhitney_p']:.3g}, "
                  f"Welch p={c['welch_p']:.3g}{weak}")


def _valid_spec(spec: str) -> bool:
    try:
        parse_spec(spec)
    except ValueError:
        return False
    return True


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=66)
    parser.add_argument("--classes", type=int, default=PAPER_CLASSES)
    parser.add_argument("--mels", type=int, default=N_MELS)
    parser.add_argument("--frames", type=int, default=N_FRAMES)
    parser.add_argument("--trials", type=int, default=4, help="trials per model for the engine")
    parser.add_argument("--peer-trials", type=int, default=None,
                        help="trials per model for the peers (jax-loop, torch-*); default --trials; fewer are "
                             "extrapolated to --trials")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    parser.add_argument("--filters", default="16,32")
    parser.add_argument("--precision", default="tf32", help="the JAX variants' --precision (tf32, f32, bf16); "
                                                            "PyTorch runs float32 (torch-tuned: bf16 autocast where "
                                                            "the device has it)")
    parser.add_argument("--models", default="stems3")
    parser.add_argument("--variants", default="engine,jax-loop,torch-eager,torch-tuned,torch-func",
                        help="comma list of NAME[@K][:TRIALS] (K trials at once; TRIALS overrides --trials / "
                             "--peer-trials)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strength", type=float, default=0.5,
                        help="class signal of the generated maps (noise std 1); 0.5 keeps accuracies off the ceiling")
    parser.add_argument("--torch-device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--worker-timeout", type=float, default=1800)
    parser.add_argument("--json", default=str(ROOT / "runs" / "bench" / "throughput.json"))
    parser.add_argument("--from-json", help="print the report of a JSON this script wrote, and run nothing")
    # Internal: one variant in this process.
    parser.add_argument("--worker", choices=("jax", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--run-trials", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrent", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in MODEL_MAPS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {sorted(MODEL_MAPS)}")
    bad = [v for v in args.variants.split(",") if not _valid_spec(v)]
    if bad:
        parser.error(f"unknown variant(s) {bad}; choose from {list(JAX_VARIANTS + TORCH_VARIANTS)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.from_json:
        payload = json.loads(Path(args.from_json).read_text())
        saved = argparse.Namespace(**payload["args"])
        results = payload["results"]
        print_report(saved, results, payload["rows"], accuracy_check(results), date=payload["date"])
        return
    if args.worker:
        result = jax_worker(args) if args.worker == "jax" else torch_worker(args)
        result["loadavg_end"] = os.getloadavg()
        Path(args.worker_out).write_text(json.dumps(result))
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", file=sys.stderr)
    results = {}
    for spec in args.variants.split(","):
        print(f"  running {spec} ({_variant_trials(args, spec)} trials per model) ...", file=sys.stderr, flush=True)
        results[spec.partition(":")[0]] = spawn(args, spec)
    rows = summarize(args, results)
    checks = accuracy_check(results)
    print_report(args, results, rows, checks)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv, "args": vars(args),
                   "results": results, "rows": rows, "accuracy_check": checks}
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        tmp.replace(path)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
