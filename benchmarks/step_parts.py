"""Where a training step's time goes on XLA:CPU, and what the hand-written layers and compiler options save.

Side by side in one process, the device named, milliseconds per call after compilation (median of
``--repeats`` rounds of ``--calls`` calls, rounds interleaved between variants so drift hits all alike):

1. 2×2 max pool, forward + backward, at the paper's block-1 size: flax's ``nn.max_pool`` (``reduce_window``,
   whose gradient is ``select_and_scatter``) against :func:`jaxsep.nn.norm_pool.max_pool_2x2`.
2. batch norm (masked) → ReLU → max pool, forward + backward, at the block-1 and block-2 sizes: flax's
   layers in turn against :class:`jaxsep.nn.norm_pool.BatchNormReluPool`.
3. the dropout mask at the dense layer's input: ``jax.random.bernoulli`` (32 random bits per element) against
   :func:`jaxsep.nn.dropout.keep_mask` (16).
4. one whole training step of the paper's model (``stems3``, batch 32) under three sets of XLA:CPU compiler
   options: XLA's defaults, no YNNPACK fusion, YNNPACK for reductions only (:mod:`jaxsep.training.xla_options`).

5. (``--parts direct``) one training step of stems3 with the first conv's forward pass as XLA's convolution
   against :func:`jaxsep.nn.conv.conv2d_direct` (shifted sums XLA fuses into the batch norm that reads
   them), one trial and, with ``--trials T``, T trials vmapped.

    python benchmarks/step_parts.py                 # the first four, the paper's size
    python benchmarks/step_parts.py --batch 8 --frames 116 --calls 2 --repeats 1   # a smoke run

With ``--trials T`` (the GPU question: where does a step of T trials vmapped lose its time?), the parts
``conv``, ``trials-block`` and ``trials-step`` run with a leading trial axis, as the engine's ``"vmap"``
lowering runs them:

5. each conv layer (block 1 at the input size, block 2 at half), forward + backward: one shared weight over
   a batch of T·B clips (the ceiling), ``jax.vmap`` over T per-trial weights (grouped convolutions), and T
   separate convolutions in one program;
6. the fused batch norm → ReLU → pool block, forward + backward, vmapped over T;
7. one whole training step of T trials: vmapped in one program (with XLA's conv weight gradient, and with
   :func:`jaxsep.nn.conv.conv2d_shifted_weight_grad`, the engine's), against T single-trial steps dispatched
   one after another (what the per-trial loop runs). ``--trace DIR`` records 3 steps of each vmapped
   program with ``jax.profiler`` and prints the device ops that took the most time.

    python benchmarks/step_parts.py --trials 50 --batch 16 --parts conv,trials-block,trials-step --trace /tmp/t
"""

from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from machine import cpu_name  # benchmarks/machine.py

from jaxsep.config import TrainConfig
from jaxsep.constants import PAPER_CLASSES
from jaxsep.nn.conv import conv2d_same
from jaxsep.nn.dropout import keep_mask
from jaxsep.nn.models import build_network
from jaxsep.nn.norm_pool import BatchNormReluPool, max_pool_2x2
from jaxsep.training.trainer import Hyperparameters, Trial, make_trial_parts, trial_data
from jaxsep.training.xla_options import CPU_OPTIONS


class FlaxBatchNormReluPool(nn.Module):
    """flax's BatchNorm (row mask broadcast to the input, its default one-pass variance, as jaxsep's) → ReLU →
    flax's max pool. (Rows in RESULTS.md before 2026-12-03 ran both with the two-pass variance.)"""

    @nn.compact
    def __call__(self, x, *, train, mask):
        full_mask = jnp.broadcast_to(mask[:, None, None, None] > 0, x.shape)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, use_fast_variance=True)(
            x, mask=full_mask
        )
        return nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2), padding="VALID")


def timed(functions: dict, args: dict, calls: int, repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each jitted function, rounds interleaved; compiled first."""
    for name, f in functions.items():
        jax.block_until_ready(f(*args[name]))
    rounds: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            for _ in range(calls):
                out = f(*args[name])
            jax.block_until_ready(out)
            rounds[name].append(1e3 * (time.perf_counter() - start) / calls)
    return {name: float(np.median(values)) for name, values in rounds.items()}


def _forward_backward(f):
    """jit of ``f(*args)``'s forward pass and the gradients of all its arguments, cotangent of ones."""

    def run(*args):
        y, pullback = jax.vjp(f, *args)
        return pullback(jnp.ones_like(y))

    return jax.jit(run)


def pool_rows(batch, mels, frames, channels, calls, repeats):
    x = jax.random.normal(jax.random.key(0), (batch, mels, frames, channels))
    functions = {
        "flax nn.max_pool": _forward_backward(lambda x: nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")),
        "jaxsep max_pool_2x2": _forward_backward(max_pool_2x2),
    }
    times = timed(functions, {name: (x,) for name in functions}, calls, repeats)
    return [{"part": "max pool", "shape": list(x.shape), "variant": k, "ms": v} for k, v in times.items()]


def block_rows(batch, mels, frames, channels, calls, repeats):
    x = jax.random.normal(jax.random.key(0), (batch, mels, frames, channels))
    mask = jnp.ones(batch).at[-1].set(0.0)
    modules = {"flax BatchNorm→relu→max_pool": FlaxBatchNormReluPool(),
               "jaxsep BatchNormReluPool": BatchNormReluPool(channels, momentum=0.9, epsilon=1e-3)}
    functions, args = {}, {}
    for name, module in modules.items():
        variables = module.init(jax.random.key(1), x, train=False, mask=mask)

        def loss(params, x, mask, module=module, variables=variables):
            out, _ = module.apply({**variables, "params": params}, x, train=True, mask=mask, mutable=["batch_stats"])
            return jnp.sum(jnp.square(out))

        functions[name] = jax.jit(jax.grad(loss, argnums=(0, 1)))
        args[name] = (variables["params"], x, mask)
    times = timed(functions, args, calls, repeats)
    return [{"part": "bn→relu→pool", "shape": list(x.shape), "variant": k, "ms": v} for k, v in times.items()]


def dropout_rows(batch, features, calls, repeats):
    shape = (batch, features)
    functions = {
        "jax.random.bernoulli": jax.jit(lambda key: jax.random.bernoulli(key, 0.5, shape)),
        "jaxsep keep_mask": jax.jit(lambda key: keep_mask(key, 0.5, shape)),
    }
    times = timed(functions, {name: (jax.random.key(0),) for name in functions}, calls, repeats)
    return [{"part": "dropout mask", "shape": list(shape), "variant": k, "ms": v} for k, v in times.items()]


def _step_data(batch, mels, frames, channels=3):
    """Random float16 maps for ``max(batch + 13, 66)`` songs of 6 classes, and a trial training on the first
    ``batch`` songs (one key)."""
    rng = np.random.default_rng(0)
    songs = max(batch + 13, 66)
    x = rng.standard_normal((songs, mels, frames, channels)).astype(np.float16)
    data = trial_data(x, rng.integers(0, 6, songs))
    trial = Trial(key=jax.random.key(0), train=jnp.arange(batch, dtype=jnp.int32),
                  test=jnp.arange(batch, songs, dtype=jnp.int32), validation=jnp.zeros(0, jnp.int32),
                  class_weights=jnp.ones(6), hyper=Hyperparameters.from_config(TrainConfig()))
    return data, trial


def step_rows(batch, mels, frames, calls, repeats):
    """One training step of stems3 at this size under three sets of compiler options."""
    config = TrainConfig(batch_size=batch)
    parts = make_trial_parts(build_network(False, PAPER_CLASSES, config), config)
    data, trial = _step_data(batch, mels, frames)
    carry, scale, keys = jax.jit(parts.start)(trial, data)
    option_sets = {
        "XLA defaults": None,
        "no YNNPACK fusion": {"xla_cpu_experimental_ynn_fusion_type": ""},
        "YNNPACK reductions only (jaxsep)": dict(CPU_OPTIONS),
    }
    functions, args = {}, {}
    for name, options in option_sets.items():
        functions[name] = jax.jit(parts.train_step, compiler_options=options)
        args[name] = (carry, scale, data, trial, trial.train, jnp.ones(batch), keys[0])
    times = timed(functions, args, calls, repeats)
    shape = [batch, mels, frames, 3]
    return [{"part": "training step", "shape": shape, "variant": k, "ms": v} for k, v in times.items()]


def direct_rows(trials, batch, mels, frames, calls, repeats):
    """One training step of stems3 (T trials vmapped when ``trials`` > 1) with the first conv as XLA's
    convolution and as :func:`jaxsep.nn.conv.conv2d_direct`."""
    config = TrainConfig(batch_size=batch)
    data, one = _step_data(batch, mels, frames)
    functions, args = {}, {}
    for direct in (False, True):
        parts = make_trial_parts(build_network(False, PAPER_CLASSES, config, direct_forward=direct,
                                               shifted_weight_grad=trials > 1), config)
        name = "direct first conv (shifted sums)" if direct else "XLA convolution"
        if trials == 1:
            carry, scale, keys = jax.jit(parts.start)(one, data)
            functions[name] = jax.jit(parts.train_step, compiler_options=CPU_OPTIONS)
            args[name] = (carry, scale, data, one, one.train, jnp.ones(batch), keys[0])
        else:
            stacked = jax.tree.map(lambda value: jnp.stack([value] * trials), one._replace(key=None))
            trial = stacked._replace(key=jax.random.split(jax.random.key(0), trials))
            carry, scale, keys = jax.jit(jax.vmap(parts.start, in_axes=(0, None)))(trial, data)
            functions[name] = jax.jit(jax.vmap(parts.train_step, in_axes=(0, 0, None, 0, 0, 0, 0)))
            args[name] = (carry, scale, data, trial, trial.train, jnp.ones((trials, batch)), keys[:, 0])
    times = timed(functions, args, calls, repeats)
    shape = [trials, batch, mels, frames, 3]
    return [{"part": "training step, first conv", "shape": shape, "variant": k, "ms": v} for k, v in times.items()]


def conv_rows(trials, batch, mels, frames, in_channels, out_channels, calls, repeats):
    """One conv layer of ``trials`` trials, forward + backward, three ways (see the module docstring, 5)."""
    key_x, key_w = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (trials, batch, mels, frames, in_channels))
    w = 0.1 * jax.random.normal(key_w, (trials, 3, 3, in_channels, out_channels))
    functions = {
        "one shared weight, batch T·B (ceiling)": _forward_backward(conv2d_same),
        "vmap over trials (grouped conv)": _forward_backward(jax.vmap(conv2d_same)),
        "T separate convs, one program": _forward_backward(
            lambda x, w: jnp.stack([conv2d_same(x[t], w[t]) for t in range(trials)])),
    }
    args = {name: (x, w) for name in functions}
    args["one shared weight, batch T·B (ceiling)"] = (x.reshape(trials * batch, mels, frames, in_channels), w[0])
    times = timed(functions, args, calls, repeats)
    part = f"conv {in_channels}→{out_channels}"
    return [{"part": part, "shape": list(x.shape), "variant": k, "ms": v} for k, v in times.items()]


def trial_block_rows(trials, batch, mels, frames, channels, calls, repeats):
    """The fused batch norm → ReLU → pool block of ``trials`` trials, forward + backward: per-trial
    parameters vmapped, against one shared set over a batch of T·B clips."""
    x = jax.random.normal(jax.random.key(0), (trials, batch, mels, frames, channels))
    mask = jnp.ones(batch).at[-1].set(0.0)
    module = BatchNormReluPool(channels, momentum=0.9, epsilon=1e-3)
    variables = module.init(jax.random.key(1), x[0], train=False, mask=mask)

    def loss(params, x, mask):
        out, _ = module.apply({**variables, "params": params}, x, train=True, mask=mask, mutable=["batch_stats"])
        return jnp.sum(jnp.square(out))

    gradient = jax.grad(loss, argnums=(0, 1))
    stacked = jax.tree.map(lambda leaf: jnp.stack([leaf] * trials), variables["params"])
    functions = {"one shared set, batch T·B": jax.jit(gradient),
                 "vmap over trials": jax.jit(jax.vmap(gradient, in_axes=(0, 0, None)))}
    args = {"one shared set, batch T·B": (variables["params"], x.reshape(trials * batch, *x.shape[2:]),
                                          jnp.tile(mask, trials)),
            "vmap over trials": (stacked, x, mask)}
    times = timed(functions, args, calls, repeats)
    return [{"part": "bn→relu→pool", "shape": list(x.shape), "variant": k, "ms": v} for k, v in times.items()]


def trial_step_rows(trials, batch, mels, frames, calls, repeats, trace=None):
    """One training step (stems3) of ``trials`` trials: vmapped in one program against ``trials`` single-trial
    steps dispatched one after another. With ``trace``, profiles 3 vmapped steps and prints the top ops."""
    config = TrainConfig(batch_size=batch)
    parts = make_trial_parts(build_network(False, PAPER_CLASSES, config), config)
    shifted = make_trial_parts(build_network(False, PAPER_CLASSES, config, shifted_weight_grad=True), config)
    data, one = _step_data(batch, mels, frames)
    stacked = jax.tree.map(lambda value: jnp.stack([value] * trials), one._replace(key=None))
    trial = stacked._replace(key=jax.random.split(jax.random.key(0), trials))
    carry, scale, keys = jax.jit(jax.vmap(parts.start, in_axes=(0, None)))(trial, data)
    vmapped_args = (carry, scale, data, trial, trial.train, jnp.ones((trials, batch)),
                    keys[:, 0])
    vmapped = jax.jit(jax.vmap(parts.train_step, in_axes=(0, 0, None, 0, 0, 0, 0)))
    vmapped_shifted = jax.jit(jax.vmap(shifted.train_step, in_axes=(0, 0, None, 0, 0, 0, 0)))
    single = jax.jit(parts.train_step)
    per_trial = [jax.tree.map(lambda leaf, t=t: leaf[t], (carry, scale)) for t in range(trials)]

    def loop(*_):
        # As a per-trial loop runs it: each call also takes its trial's rows out of the stacked arrays.
        return [single(c, s, data, jax.tree.map(lambda v, t=t: v[t], trial), trial.train[t], jnp.ones(batch),
                       keys[t, 0])
                for t, (c, s) in enumerate(per_trial)]

    functions = {"vmap over trials, one program": vmapped,
                 "vmap, shifted-contraction weight gradient": vmapped_shifted,
                 "T single-trial steps, T dispatches": loop}
    args = {name: vmapped_args for name in functions}
    times = timed(functions, args, calls, repeats)
    for name, step in (("vmap", vmapped), ("vmap-shifted", vmapped_shifted)) if trace else ():
        try:
            with jax.profiler.trace(f"{trace}/{name}", create_perfetto_trace=True):
                for _ in range(3):
                    out = step(*vmapped_args)
                jax.block_until_ready(out)
            print(f"--- {name}")
            print_top_ops(f"{trace}/{name}", steps=3)
        except Exception as error:  # noqa: BLE001 - a profiler that cannot start must not cost the timings
            print(f"profiler trace failed: {type(error).__name__}: {error}")
    shape = [trials, batch, mels, frames, 3]
    return [{"part": "training step", "shape": shape, "variant": k, "ms": v} for k, v in times.items()]


def print_top_ops(trace_dir, steps, top=20):
    """Prints, from the newest perfetto trace under ``trace_dir``, each process's busy time and the ops of the
    device processes (CPU-only runs: all processes) that took the most time, per step."""
    import collections
    import gzip
    from pathlib import Path

    files = sorted(Path(trace_dir).rglob("perfetto_trace.json.gz"), key=lambda f: f.stat().st_mtime)
    if not files:
        print(f"no perfetto trace under {trace_dir}")
        return
    with gzip.open(files[-1]) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    process = {e["pid"]: e["args"].get("name", "") for e in events
               if e.get("ph") == "M" and e.get("name") == "process_name"}
    busy, ops = collections.Counter(), collections.Counter()
    device_pids = {pid for pid, name in process.items() if "GPU" in name or "/device:" in name}
    for e in events:
        if e.get("ph") != "X":
            continue
        busy[process.get(e["pid"], str(e["pid"]))] += e.get("dur", 0)
        if not device_pids or e["pid"] in device_pids:
            args = e.get("args", {})
            label = e["name"][:100]
            if args.get("hlo_op") and args["hlo_op"] != e["name"]:
                label += f" [{args['hlo_op']}]"
            ops[label] += e.get("dur", 0)
    print(f"trace {files[-1]}: busy ms per step by process (summed over its threads/streams)")
    for name, us in busy.most_common(8):
        print(f"  {us / 1e3 / steps:9.2f}  {name}")
    print(f"top {top} ops, ms per step" + (" (device processes)" if device_pids else " (all processes)"))
    total = 0.0
    for label, us in ops.most_common(top):
        total += us / 1e3 / steps
        print(f"  {us / 1e3 / steps:9.3f} {total:9.2f}  {label[:150]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mels", type=int, default=128)
    parser.add_argument("--frames", type=int, default=458)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="pool,block,dropout,step",
                        help="comma list of pool, block, dropout, step, direct; with --trials: conv, trials-block, "
                             "trials-step (direct vmaps T trials too)")
    parser.add_argument("--trials", type=int, default=1, help="trials on the leading axis of the trials-* parts")
    parser.add_argument("--trace", help="with trials-step: write a jax.profiler trace here and print its top ops")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    parts = args.parts.split(",")
    b, h, w = args.batch, args.mels, args.frames
    rows = []
    if "pool" in parts:
        rows += pool_rows(b, h, w, 16, args.calls, args.repeats)
    if "block" in parts:
        rows += block_rows(b, h, w, 16, args.calls, args.repeats)
        rows += block_rows(b, h // 2, w // 2, 32, args.calls, args.repeats)
    if "dropout" in parts:
        # The dense layer's input: 32 filters at a quarter of each side.
        rows += dropout_rows(b, 32 * (h // 4) * (w // 4), args.calls, args.repeats)
    if "step" in parts:
        rows += step_rows(b, h, w, args.calls, args.repeats)
    t = args.trials
    if "direct" in parts:
        rows += direct_rows(t, b, h, w, args.calls, args.repeats)
    if "conv" in parts:
        rows += conv_rows(t, b, h, w, 3, 16, args.calls, args.repeats)
        rows += conv_rows(t, b, h // 2, w // 2, 16, 32, args.calls, args.repeats)
    if "trials-block" in parts:
        rows += trial_block_rows(t, b, h, w, 16, args.calls, args.repeats)
        rows += trial_block_rows(t, b, h // 2, w // 2, 32, args.calls, args.repeats)
    if "trials-step" in parts:
        rows += trial_step_rows(t, b, h, w, args.calls, args.repeats, trace=args.trace)
    device = jax.devices()[0]
    precision = jax.config.jax_default_matmul_precision or "default (TF32 convolutions on Hopper GPUs)"
    print(f"device: {device.platform} {device.device_kind} ({cpu_name()}), jax {jax.__version__}, float32, "
          f"matmul precision {precision}")
    print("| part | input shape | variant | ms per call | vs. first row of its part |")
    print("|---|---|---|---|---|")
    first: dict[tuple, float] = {}
    for row in rows:
        key = (row["part"], tuple(row["shape"]))
        first.setdefault(key, row["ms"])
        ratio = first[key] / row["ms"]
        print(f"| {row['part']} | {'×'.join(map(str, row['shape']))} | {row['variant']} | {row['ms']:.1f} | "
              f"{ratio:.2f}× |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": f"{device.platform} {device.device_kind} ({cpu_name()})", "jax": jax.__version__, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
