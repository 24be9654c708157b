"""Where a training step's time goes on XLA:CPU, and what the hand-written layers and compiler options save.

Side by side in one process, the device named, milliseconds per call after compilation (median of
``--repeats`` rounds of ``--calls`` calls, rounds interleaved between variants so drift hits all alike):

1. 2×2 max pool, forward + backward, at the paper's block-1 size: flax's ``nn.max_pool`` (``reduce_window``,
   whose gradient is ``select_and_scatter``) against :func:`jaxsep.layers.max_pool_2x2`.
2. batch norm (masked) → ReLU → max pool, forward + backward, at the block-1 and block-2 sizes: flax's
   layers in turn against :class:`jaxsep.layers.BatchNormReluPool`.
3. the dropout mask at the dense layer's input: ``jax.random.bernoulli`` (32 random bits per element) against
   :func:`jaxsep.layers.keep_mask` (16).
4. one whole training step of the paper's model (``stems3``, batch 32) under three sets of XLA:CPU compiler
   options: XLA's defaults, no YNNPACK fusion, YNNPACK for reductions only (:mod:`jaxsep.compiler`).

    python benchmarks/step_parts.py                 # all four, the paper's size
    python benchmarks/step_parts.py --batch 8 --frames 116 --calls 2 --repeats 1   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxsep.compiler import CPU_OPTIONS
from jaxsep.config import TrainConfig
from jaxsep.layers import BatchNormReluPool, keep_mask, max_pool_2x2
from jaxsep.models import build_network
from jaxsep.trainer import make_trial_parts, song_statistics
from machine import cpu_name  # benchmarks/machine.py


class FlaxBatchNormReluPool(nn.Module):
    """flax's BatchNorm (row mask broadcast to the input, two-pass variance) → ReLU → flax's max pool."""

    @nn.compact
    def __call__(self, x, *, train, mask):
        full_mask = jnp.broadcast_to(mask[:, None, None, None] > 0, x.shape)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, use_fast_variance=False)(
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


def pool_rows(batch, mels, frames, channels, calls, repeats):
    x = jax.random.normal(jax.random.key(0), (batch, mels, frames, channels))

    def fwd_bwd(pool):
        return jax.jit(lambda x: jax.vjp(pool, x)[1](jnp.ones_like(pool(x)))[0])

    functions = {
        "flax nn.max_pool": fwd_bwd(lambda x: nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")),
        "jaxsep max_pool_2x2": fwd_bwd(max_pool_2x2),
    }
    times = timed(functions, {name: (x,) for name in functions}, calls, repeats)
    return [{"part": "max pool", "shape": list(x.shape), "variant": k, "ms": v} for k, v in times.items()]


def block_rows(batch, mels, frames, channels, calls, repeats):
    x = jax.random.normal(jax.random.key(0), (batch, mels, frames, channels))
    mask = jnp.ones(batch).at[-1].set(0.0)
    modules = {"flax BatchNorm→relu→max_pool": FlaxBatchNormReluPool(),
               "jaxsep BatchNormReluPool": BatchNormReluPool(momentum=0.9, epsilon=1e-3)}
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


def step_rows(batch, mels, frames, calls, repeats):
    """One training step of stems3 at this size under three sets of compiler options."""
    config = TrainConfig(batch_size=batch)
    parts = make_trial_parts(build_network(False, 6, config), config)
    rng = np.random.default_rng(0)
    songs = max(batch + 13, 66)
    x = rng.standard_normal((songs, mels, frames, 3)).astype(np.float16)
    data = {"x": jnp.asarray(x), "y": jnp.asarray(rng.integers(0, 6, songs), jnp.int32),
            "song_stats": song_statistics(x)}
    trial = {"key": jax.random.key(0), "train": jnp.arange(batch, dtype=jnp.int32),
             "test": jnp.arange(batch, songs, dtype=jnp.int32), "validation": jnp.zeros(0, jnp.int32),
             "class_weights": jnp.ones(6)}
    carry, scale, keys = jax.jit(parts.start)(trial, data)
    option_sets = {
        "XLA defaults": None,
        "no YNNPACK fusion": {"xla_cpu_experimental_ynn_fusion_type": ""},
        "YNNPACK reductions only (jaxsep)": dict(CPU_OPTIONS),
    }
    functions, args = {}, {}
    for name, options in option_sets.items():
        functions[name] = jax.jit(parts.train_step, compiler_options=options)
        args[name] = (carry, scale, data, trial["class_weights"], trial["train"], jnp.ones(batch), keys[0])
    times = timed(functions, args, calls, repeats)
    shape = [batch, mels, frames, 3]
    return [{"part": "training step", "shape": shape, "variant": k, "ms": v} for k, v in times.items()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--mels", type=int, default=128)
    parser.add_argument("--frames", type=int, default=458)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", default="pool,block,dropout,step", help="comma list of pool, block, dropout, step")
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
    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind} ({cpu_name()}), jax {jax.__version__}, float32")
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
            json.dump({"device": f"{device.platform} {cpu_name()}", "jax": jax.__version__, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
