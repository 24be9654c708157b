"""XLA compiler options the engine passes to ``jax.jit``, per platform, chosen by measurement.

On XLA:CPU (jax 0.10) the YNNPACK library fusions are on by default for convolutions, dots, elementwise work
and reductions. For this trainer they cost more than they give except for reductions, so jaxsep keeps them for
reductions only (``benchmarks/step_parts.py``; benchmarks/RESULTS.md, "Where a training step's time went").
The options go to each jitted program (``jax.jit(..., compiler_options=...)``), never to the process-wide
``XLA_FLAGS``, so a user's own flags and programs are left alone.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_REDUCE"}


@functools.lru_cache(maxsize=None)
def _accepted(platform: str, options: tuple) -> bool:
    """Whether this jaxlib compiles a trivial program with ``options`` (older or newer XLA builds may not
    know an experimental option; the engine then compiles with XLA's defaults)."""
    try:
        device = jax.devices(platform)[0]
        probe = jax.jit(lambda v: v + 1, compiler_options=dict(options))
        jax.block_until_ready(probe(jax.device_put(jnp.zeros(2), device)))
        return True
    except Exception:  # noqa: BLE001 - any refusal means "do not use these options"
        return False


def compiler_options(platform: str) -> dict | None:
    """The ``compiler_options`` for programs that run on ``platform`` ("cpu", "gpu", ...); None for XLA's
    defaults."""
    if platform != "cpu" or not _accepted(platform, tuple(CPU_OPTIONS.items())):
        return None
    return dict(CPU_OPTIONS)
