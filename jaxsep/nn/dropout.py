"""Inverted dropout whose mask costs half the random bits of ``jax.random.bernoulli``."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def keep_mask(key: jax.Array, rate: float | jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Boolean mask, True with probability ``1 - rate`` (to 1/65,536), from 16 random bits per element.

    ``jax.random.bernoulli`` draws 32 bits per element; two elements per 32-bit word halve the Threefry
    work (benchmarks/RESULTS.md, "Where a training step's time went"). ``rate`` may be a traced scalar (a
    hyperparameter swept per trial).
    """
    size = math.prod(shape)
    words = jax.random.bits(key, (-(-size // 2),), jnp.uint32)
    halves = lax.bitcast_convert_type(words, jnp.uint16).reshape(-1)[:size].reshape(shape)
    if isinstance(rate, (int, float)):
        threshold = round((1.0 - rate) * 65536)
    else:
        threshold = jnp.round((1.0 - rate) * 65536).astype(jnp.uint32)
    return halves.astype(jnp.uint32) < threshold


class Dropout(nn.Module):
    """Inverted dropout as flax's ``nn.Dropout`` (zero with probability ``rate``, scale the rest by
    ``1 / (1 - rate)``), its mask drawn by :func:`keep_mask`; uses the ``"dropout"`` RNG stream.

    ``rate`` at call time overrides the attribute and may be traced (a per-trial hyperparameter in ``[0, 1)``).
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool, rate: float | jax.Array | None = None) -> jax.Array:
        rate = self.rate if rate is None else rate
        if deterministic:
            return x
        if isinstance(rate, (int, float)):
            if rate == 0.0:
                return x
            if rate >= 1.0:
                return jnp.zeros_like(x)
        keep = keep_mask(self.make_rng("dropout"), rate, x.shape)
        return jnp.where(keep, x / (1.0 - rate), jnp.zeros((), x.dtype)).astype(x.dtype)
