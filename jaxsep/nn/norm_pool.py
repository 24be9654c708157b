"""Batch norm → ReLU → 2×2 max pool, the block every model ends each conv with, and the pool itself, written so
that XLA:CPU fuses their gradients (``(batch, height, width, channels)`` maps)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def _windows(x: jax.Array) -> jax.Array:
    """``(batch, h, w, c)`` → ``(batch, h // 2, 2, w // 2, 2, c)``: the 2×2 windows (an odd last row or
    column dropped)."""
    batch, height, width, channels = x.shape
    return x[:, : height // 2 * 2, : width // 2 * 2].reshape(batch, height // 2, 2, width // 2, 2, channels)


@jax.custom_vjp
def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2×2 max pool, stride 2, VALID (an odd last row or column is dropped).

    Same values and gradient as ``nn.max_pool(x, (2, 2), strides=(2, 2))``: the gradient goes to the first
    maximum of each window in row-major order, as ``select_and_scatter`` does. Written by hand because
    XLA:CPU runs that ``select_and_scatter`` several times slower than this elementwise gradient
    (benchmarks/RESULTS.md, "Where a training step's time went"). The forward pass is a ``reduce``, not
    ``jnp.maximum`` of the four views: XLA then computes it once instead of fusing copies of it into the
    convolution-gradient transposes that read its output (seen in development profiles).

    Args:
      x: shape ``(batch, height, width, channels)``.

    Returns:
      shape ``(batch, height // 2, width // 2, channels)``.
    """
    return _windows(x).max(axis=(2, 4))


def _max_pool_forward(x):
    pooled = max_pool_2x2(x)
    return pooled, (x, pooled)


def _max_pool_backward(residuals, gradient):
    x, pooled = residuals
    w = _windows(x)
    taken = jnp.zeros(pooled.shape, bool)
    rows = []
    for i in (0, 1):
        row = []
        for j in (0, 1):
            first = (w[:, :, i, :, j] == pooled) & ~taken
            taken = taken | first
            row.append(jnp.where(first, gradient, jnp.zeros((), gradient.dtype)))
        rows.append(jnp.stack(row, axis=3))
    full = jnp.stack(rows, axis=2).reshape(w.shape[0], w.shape[1] * 2, w.shape[3] * 2, w.shape[5])
    pad = ((0, 0), (0, x.shape[1] - full.shape[1]), (0, x.shape[2] - full.shape[2]), (0, 0))
    return (jnp.pad(full, pad),)


max_pool_2x2.defvjp(_max_pool_forward, _max_pool_backward)


def max_pool_2x2_forward_only(x: jax.Array) -> jax.Array:
    """The values of :func:`max_pool_2x2` as the elementwise maximum of each window's four elements, for
    programs that take no gradient (evaluation).

    Not a ``reduce``: on XLA:CPU a reduce becomes a YNNPACK reduction fusion, which in an evaluation program
    pulled the next block's convolution into one slow library call (benchmarks/RESULTS.md, "Evaluation and
    one-pass batch statistics"). Same values (a maximum is exact whatever the order).

    Args:
      x: shape ``(batch, height, width, channels)``.

    Returns:
      shape ``(batch, height // 2, width // 2, channels)``.
    """
    w = _windows(x)
    return jnp.maximum(jnp.maximum(w[:, :, 0, :, 0], w[:, :, 0, :, 1]), jnp.maximum(w[:, :, 1, :, 0], w[:, :, 1, :, 1]))


class BatchNormReluPool(nn.Module):
    """Batch norm (statistics over real rows only) → ReLU → 2×2 max pool, computed in the pooled domain.

    Batch norm is ``x ↦ a·x + b`` per channel and ReLU is non-decreasing, so the pooled output is
    ``relu(a·max(window) + b)`` where ``a ≥ 0`` and ``relu(a·min(window) + b)`` where ``a < 0`` — the same
    floating-point operations on the same element, so the same values as the three layers in turn. Written
    this way, the affine map and ReLU run on a quarter of the elements, and the gradient reaches the
    full-size input as one elementwise expression: the gradients of ``a`` and ``b`` (and through them of the
    batch mean and variance) are sums over the pooled maps. XLA:CPU spends most of a training step on these
    layers' full-size passes otherwise (benchmarks/RESULTS.md, "Where a training step's time went").

    Parameters (``scale``, ``bias``) and running statistics (``batch_stats`` ``mean``, ``var``) are those of
    flax's ``nn.BatchNorm`` (its default ``use_fast_variance=True``) called with the row mask broadcast to the
    input: the biased variance in one pass, ``max(E[x²] - E[x]², 0)``, ``running = momentum · running +
    (1 - momentum) · batch``. One pass because a centred second pass cost XLA:CPU a full-size ``x - mean``
    written and read again (measured in benchmarks/RESULTS.md, "Evaluation and one-pass batch statistics"); its
    cancellation stays small where the mean is within ~30 standard deviations of zero (normalized outputs within 1e-3, tested), as a bias-free conv of standardized inputs gives.
    Parameters and statistics are float32 whatever the input's dtype; the output has the input's dtype
    (bfloat16 under ``bf16``). Tested against flax's ``BatchNorm`` → ``relu`` → ``max_pool``: same values; the
    same gradients except where two elements of a window round to the same normalized value (the gradient then
    goes to the larger input, not the first). Evaluation pools with :func:`max_pool_2x2_forward_only`.

    The sign of ``a`` is the sign of ``scale`` (``rsqrt`` of the variance is positive), known before the
    statistics: :meth:`output_sign` gives it, so that the convolution before can fold it into its kernel and
    hand over ``sign · x`` (``signed_input``), which is pooled as it is — a full-size signed copy of the maps
    is then never written (benchmarks/RESULTS.md, "The folded sign").
    """

    features: int
    momentum: float = 0.99
    epsilon: float = 1e-5

    def setup(self):
        self.scale = self.param("scale", nn.initializers.ones_init(), (self.features,))
        self.bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        self.running_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(self.features, jnp.float32))
        self.running_var = self.variable("batch_stats", "var", lambda: jnp.ones(self.features, jnp.float32))

    def output_sign(self) -> jax.Array:
        """``(features,)`` float32: +1 where the normalization's multiplier ``rsqrt(var + epsilon) · scale`` is
        non-negative (``scale ≥ 0``, ``-0.0`` included), -1 where it is negative (or NaN)."""
        return jnp.where(self.scale >= 0, 1.0, -1.0).astype(jnp.float32)

    def __call__(self, x: jax.Array, *, train: bool, mask: jax.Array | None = None,
                 signed_input: bool = False) -> jax.Array:
        """Normalized, rectified, pooled maps.

        Args:
          x: shape ``(batch, height, width, features)``: the maps, or with ``signed_input`` the maps times
            :meth:`output_sign` per channel.
          train: batch statistics (and update the running ones) when True; running statistics when False.
          mask: ``(batch,)`` 1 for real rows, 0 for padding; ``None``: every row is real.
          signed_input: whether ``x`` is already multiplied by :meth:`output_sign` (same outputs either way).

        Returns:
          shape ``(batch, height // 2, width // 2, features)``.
        """
        if x.shape[-1] != self.features:
            raise ValueError(f"BatchNormReluPool has {self.features} features, got maps of shape {x.shape}")
        sign = self.output_sign()
        if train:
            # Sums per row first, then over the real rows: the mask never meets a full-size array.
            weights = jnp.ones(x.shape[0], jnp.float32) if mask is None else mask.astype(jnp.float32)
            count = jnp.sum(weights) * x.shape[1] * x.shape[2]
            mean = weights @ jnp.sum(x, axis=(1, 2), dtype=jnp.float32) / count
            if signed_input:
                mean = sign * mean  # the sum of sign·x is sign times the sum of x, exactly
            mean_square = weights @ jnp.sum(jnp.square(x.astype(jnp.float32)), axis=(1, 2)) / count
            var = jnp.maximum(mean_square - jnp.square(mean), 0.0)
            if not self.is_initializing():
                self.running_mean.value = self.momentum * self.running_mean.value + (1 - self.momentum) * mean
                self.running_var.value = self.momentum * self.running_var.value + (1 - self.momentum) * var
        else:
            mean, var = self.running_mean.value, self.running_var.value
        multiplier = lax.rsqrt(var + self.epsilon) * self.scale
        # max(window) where the multiplier is non-negative, min(window) = -max(-window) where it is negative
        # (multiplying by +-1 is exact).
        sign = sign.astype(x.dtype)
        pool = max_pool_2x2 if train else max_pool_2x2_forward_only
        pooled = sign * pool(x if signed_input else sign * x)
        return jax.nn.relu((pooled.astype(jnp.float32) - mean) * multiplier + self.bias).astype(x.dtype)
