"""The engine's XLA:CPU compiler options reach the compiled program, and stay off other platforms."""

import jax
import jax.numpy as jnp
import pytest

from jaxsep.training.xla_options import CPU_OPTIONS, compiler_options


def _optimized_hlo(f, *args, options):
    return jax.jit(f, compiler_options=options).lower(*args).compile().as_text()


def test_options_only_for_cpu():
    assert compiler_options("gpu") is None
    assert compiler_options("tpu") is None


def test_cpu_options_keep_ynnpack_for_reductions_only():
    """With XLA's defaults a matmul becomes a YNNPACK fusion; with the engine's options only a (large
    enough) reduction does."""
    options = compiler_options("cpu")
    if options is None:
        pytest.skip("this jaxlib does not accept the YNNPACK option; the engine uses XLA's defaults")
    assert options == CPU_OPTIONS
    w = jnp.ones((256, 256))
    x = jnp.ones((8, 32, 32, 16))

    def dense(w):
        return jnp.tanh(w @ w)

    def batch_sum(x):
        return jnp.sum(x, axis=(0, 1, 2))

    assert "__ynn_fusion" in _optimized_hlo(dense, w, options=None)
    assert "__ynn_fusion" not in _optimized_hlo(dense, w, options=options)
    assert "__ynn_fusion" in _optimized_hlo(batch_sum, x, options=options)
