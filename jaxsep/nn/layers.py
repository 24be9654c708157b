"""Hand-written layers: the depthwise-separable 2D convolution of the paper's DW-2DConv model, and the
batch norm and max pool of every model written so that XLA:CPU fuses their gradients.

Written for one batch of examples in ``(batch, mel, time, channel)`` (NHWC) order; the trial engine adds
the trial axis with ``vmap``. Each layer computes at a ``precision`` of :data:`jaxsep.config.PRECISIONS`
(:func:`numerics`): its parameters are float32 whatever the precision; under ``bf16`` the activations
between layers are bfloat16 and batch-norm statistics are summed in float32.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


class Numerics(NamedTuple):
    """How a layer computes: ``dtype`` of its activations and convolution / matmul operands, and the
    ``precision`` passed to ``lax.conv_general_dilated`` and ``jnp.einsum`` (None: XLA's default)."""

    dtype: jnp.dtype
    precision: lax.Precision | None


def numerics(precision: str) -> Numerics:
    """The :class:`Numerics` of a ``--precision`` name: ``tf32`` float32 at XLA's default precision
    (TensorFloat-32 convolutions on GPUs that have it), ``f32`` float32 at ``Precision.HIGHEST``, ``bf16``
    bfloat16 operands at the default precision."""
    if precision == "bf16":
        return Numerics(jnp.bfloat16, None)
    if precision == "f32":
        return Numerics(jnp.float32, lax.Precision.HIGHEST)
    if precision == "tf32":
        return Numerics(jnp.float32, None)
    raise ValueError(f"unknown precision {precision!r}")


def _same_padding(k: int) -> tuple[int, int]:
    """'SAME' zero padding before and after for a window of ``k`` at stride 1 (XLA's and flax's split)."""
    return (k - 1) // 2, k // 2


def _shifted_windows(x: jax.Array, k_h: int, k_w: int) -> list[list[jax.Array]]:
    """``windows[i][j]``: ``x (batch, height, width, c)`` zero-padded as 'SAME' for a ``k_h × k_w`` window and
    shifted by ``(i, j)``, shape ``(batch, height, width, c)`` — what window position ``(i, j)`` of a stride-1
    'SAME' convolution multiplies."""
    height, width = x.shape[1:3]
    padded = jnp.pad(x, ((0, 0), _same_padding(k_h), _same_padding(k_w), (0, 0)))
    return [[padded[:, i : i + height, j : j + width, :] for j in range(k_w)] for i in range(k_h)]


def depthwise_conv2d(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """One ``k×k`` filter per input channel, 'SAME' padding, stride 1.

    Args:
      x: input, shape ``(batch, height, width, channels)``.
      kernel: per-channel filters, shape ``(k_h, k_w, 1, channels)`` (HWIO with one input per group).

    Returns:
      shape ``(batch, height, width, channels)`` in ``x``'s dtype (summed in float32): channel ``c`` is
      ``x[..., c]`` cross-correlated with ``kernel[..., 0, c]``.
    """
    channels = x.shape[-1]
    if kernel.shape[2:] != (1, channels):
        raise ValueError(f"depthwise kernel must have shape (k_h, k_w, 1, {channels}), got {kernel.shape}")
    # A sum of k_h·k_w shifted, per-channel-scaled copies: elementwise work XLA fuses, forward and backward;
    # XLA:CPU ran the grouped convolution (feature_group_count = channels) and its gradients far slower
    # (benchmarks/RESULTS.md, "Where a training step's time went").
    out = None
    for i, row in enumerate(_shifted_windows(x, *kernel.shape[:2])):
        for j, window in enumerate(row):
            term = window.astype(jnp.float32) * kernel[i, j, 0]
            out = term if out is None else out + term
    return out.astype(x.dtype)


def pointwise_conv2d(x: jax.Array, kernel: jax.Array, precision: lax.Precision | None = None) -> jax.Array:
    """A ``1×1`` convolution mixing channels.

    Args:
      x: shape ``(batch, height, width, c_in)``.
      kernel: shape ``(1, 1, c_in, c_out)``, cast to ``x``'s dtype.
      precision: the matmul's ``lax.Precision`` (None: XLA's default).

    Returns:
      shape ``(batch, height, width, c_out)`` in ``x``'s dtype (accumulated in float32).
    """
    kernel = kernel[0, 0].astype(x.dtype)
    product = jnp.einsum("bhwi,io->bhwo", x, kernel, precision=precision, preferred_element_type=jnp.float32)
    return product.astype(x.dtype)


def conv2d_same(x: jax.Array, kernel: jax.Array, precision: lax.Precision | None = None) -> jax.Array:
    """The 'SAME', stride-1 convolution of ``flax.linen.Conv``: ``x (batch, height, width, c_in)``, ``kernel
    (k_h, k_w, c_in, c_out)`` → ``(batch, height, width, c_out)``, with XLA's own gradients; ``precision``
    is the convolution's ``lax.Precision`` (None: XLA's default)."""
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                    precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d_shifted_weight_grad(x: jax.Array, kernel: jax.Array, precision: lax.Precision | None = None) -> jax.Array:
    """The 'SAME', stride-1 convolution of ``flax.linen.Conv`` (NHWC input, HWIO kernel), with the weight
    gradient written as ``k_h·k_w`` contractions of shifted inputs with the output gradient.

    Same values and gradients as ``lax.conv_general_dilated`` (to float rounding). Why: under ``jax.vmap``
    over trials of a per-trial gradient, jax batches the transposed (weight-gradient) convolution into a
    grouped convolution whose window is a whole feature map, which XLA:GPU runs as one slow generic kernel;
    the contractions batch into plain batched matrix products instead (benchmarks/RESULTS.md, "Where a
    vmapped step's time went"). Reverse mode only (``custom_vjp``): ``jax.jvp`` through it fails.

    Args:
      x: ``(batch, height, width, c_in)``; kernel: ``(k_h, k_w, c_in, c_out)``; precision: as
      :func:`conv2d_same`'s (the weight gradient's contractions accumulate in float32).

    Returns:
      ``(batch, height, width, c_out)``.
    """
    return conv2d_same(x, kernel, precision)


def _conv_forward(x, kernel, precision):
    return conv2d_same(x, kernel, precision), (x, kernel)


def _input_gradient(x, kernel, precision, gradient):
    """The gradient of :func:`conv2d_same` with respect to its input, as XLA's transposed convolution."""
    (input_gradient,) = jax.linear_transpose(lambda x: conv2d_same(x, kernel, precision), x)(gradient)
    return input_gradient


def _conv_backward(precision, residuals, gradient):
    x, kernel = residuals
    rows = [
        jnp.stack([jnp.einsum("bhwi,bhwo->io", window, gradient, precision=precision,
                              preferred_element_type=jnp.float32) for window in row])
        for row in _shifted_windows(x, *kernel.shape[:2])
    ]
    return _input_gradient(x, kernel, precision, gradient), jnp.stack(rows).astype(kernel.dtype)


conv2d_shifted_weight_grad.defvjp(_conv_forward, _conv_backward)

#: Input channels up to which :class:`Conv` computes its forward pass by :func:`conv2d_direct` when
#: asked (``direct_forward``): the first block's 1–3 maps, not the second block's 16.
DIRECT_FORWARD_MAX_CHANNELS = 4


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv2d_direct(x: jax.Array, kernel: jax.Array, precision: lax.Precision | None = None) -> jax.Array:
    """The 'SAME', stride-1 convolution of :func:`conv2d_same`, its forward pass written as a sum of
    ``k_h·k_w·c_in`` shifted input channels, each times one row of the kernel (accumulated in float32).

    Elementwise work that XLA fuses into what reads the output, instead of a convolution call: with one to
    three input maps a convolution does too little per output to run near the machine's speed
    (benchmarks/RESULTS.md, "A direct first convolution"). Gradients are XLA's convolutions, as
    :func:`conv2d_same`'s. Same values to float rounding.

    Args:
      x: ``(batch, height, width, c_in)``; kernel: ``(k_h, k_w, c_in, c_out)`` (``c_in`` small); precision: of
        the gradient convolutions.

    Returns:
      ``(batch, height, width, c_out)`` in ``x``'s dtype.
    """
    weights = kernel.astype(jnp.float32)
    out = None
    for i, row in enumerate(_shifted_windows(x.astype(jnp.float32), *kernel.shape[:2])):
        for j, window in enumerate(row):
            for c in range(kernel.shape[2]):
                term = window[..., c : c + 1] * weights[i, j, c]
                out = term if out is None else out + term
    return out.astype(x.dtype)


def _direct_forward(x, kernel, precision):
    return conv2d_direct(x, kernel, precision), (x, kernel)


def _direct_backward(precision, residuals, gradient):
    x, kernel = residuals
    (kernel_gradient,) = jax.linear_transpose(lambda k: conv2d_same(x, k, precision), kernel)(gradient)
    return _input_gradient(x, kernel, precision, gradient), kernel_gradient


conv2d_direct.defvjp(_direct_forward, _direct_backward)


class Conv(nn.Module):
    """``flax.linen.Conv`` ('SAME', stride 1, no bias) with the same parameter (``kernel``, shape
    ``(k_h, k_w, c_in, features)``, float32) and initializer, computed by :func:`conv2d_shifted_weight_grad`
    when ``shifted_weight_grad`` is set, or by :func:`conv2d_direct` when ``direct_forward`` is set and the
    input has at most :data:`DIRECT_FORWARD_MAX_CHANNELS` channels (same numbers to float rounding; lowering
    choices), at ``precision`` (:func:`numerics`)."""

    features: int
    kernel_size: tuple[int, int]
    shifted_weight_grad: bool = False
    direct_forward: bool = False
    precision: str = "tf32"
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x``: ``(batch, height, width, c_in)`` → ``(batch, height, width, features)`` in the precision's
        dtype (float32, or bfloat16 under ``bf16``)."""
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        dtype, precision = numerics(self.precision)
        x, kernel = jnp.asarray(x, dtype), kernel.astype(dtype)
        if self.direct_forward and x.shape[-1] <= DIRECT_FORWARD_MAX_CHANNELS:
            return conv2d_direct(x, kernel, precision)
        if self.shifted_weight_grad:
            return conv2d_shifted_weight_grad(x, kernel, precision)
        return conv2d_same(x, kernel, precision)


class SeparableConv(nn.Module):
    """Depthwise-separable convolution: :func:`depthwise_conv2d` then :func:`pointwise_conv2d`, plus a bias.

    With ``c`` input channels, ``f`` filters and a ``k_h × k_w`` window it has ``c·k_h·k_w + c·f`` kernel
    weights (``3k + 9`` for ``c = f = 3`` and ``k = k_h·k_w``, against ``9k`` for a standard convolution)
    and ``f`` biases (when ``use_bias``). Parameters are named ``depthwise_kernel``, ``pointwise_kernel``
    and ``bias``.
    """

    features: int
    kernel_size: tuple[int, int] = (3, 3)
    use_bias: bool = True
    precision: str = "tf32"
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x``: shape ``(batch, height, width, c_in)`` → shape ``(batch, height, width, features)`` in the
        precision's dtype."""
        channels = x.shape[-1]
        depthwise = self.param("depthwise_kernel", self.kernel_init, (*self.kernel_size, 1, channels))
        pointwise = self.param("pointwise_kernel", self.kernel_init, (1, 1, channels, self.features))
        dtype, precision = numerics(self.precision)
        y = pointwise_conv2d(depthwise_conv2d(jnp.asarray(x, dtype), depthwise), pointwise, precision)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,)).astype(y.dtype)
        return y


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
    written and read again (1.15× the training step at the paper's size; benchmarks/RESULTS.md, "Evaluation and
    one-pass batch statistics"); its cancellation stays small where the mean is within ~30 standard deviations
    of zero (normalized outputs within 1e-3, tested), as a bias-free conv of standardized inputs gives.
    Parameters and statistics are float32 whatever the input's dtype; the output has the input's dtype
    (bfloat16 under ``bf16``). Tested against flax's ``BatchNorm`` → ``relu`` → ``max_pool``: same values; the
    same gradients except where two elements of a window round to the same normalized value (the gradient then
    goes to the larger input, not the first). Evaluation pools with :func:`max_pool_2x2_forward_only`.
    """

    momentum: float = 0.99
    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, mask: jax.Array | None = None) -> jax.Array:
        """Normalized, rectified, pooled maps.

        Args:
          x: shape ``(batch, height, width, features)``.
          train: batch statistics (and update the running ones) when True; running statistics when False.
          mask: ``(batch,)`` 1 for real rows, 0 for padding; ``None``: every row is real.

        Returns:
          shape ``(batch, height // 2, width // 2, features)``.
        """
        features = x.shape[-1]
        running_mean = self.variable("batch_stats", "mean", lambda: jnp.zeros(features, jnp.float32))
        running_var = self.variable("batch_stats", "var", lambda: jnp.ones(features, jnp.float32))
        scale = self.param("scale", nn.initializers.ones_init(), (features,))
        bias = self.param("bias", nn.initializers.zeros_init(), (features,))
        if train:
            # Sums per row first, then over the real rows: the mask never meets a full-size array.
            weights = jnp.ones(x.shape[0], jnp.float32) if mask is None else mask.astype(jnp.float32)
            count = jnp.sum(weights) * x.shape[1] * x.shape[2]
            mean = weights @ jnp.sum(x, axis=(1, 2), dtype=jnp.float32) / count
            mean_square = weights @ jnp.sum(jnp.square(x.astype(jnp.float32)), axis=(1, 2)) / count
            var = jnp.maximum(mean_square - jnp.square(mean), 0.0)
            if not self.is_initializing():
                running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
                running_var.value = self.momentum * running_var.value + (1 - self.momentum) * var
        else:
            mean, var = running_mean.value, running_var.value
        multiplier = lax.rsqrt(var + self.epsilon) * scale
        # max(window) where the multiplier is non-negative, min(window) = -max(-window) where it is negative
        # (multiplying by +-1 is exact).
        sign = jnp.where(multiplier >= 0, 1.0, -1.0).astype(x.dtype)
        pool = max_pool_2x2 if train else max_pool_2x2_forward_only
        pooled = sign * pool(sign * x)
        return jax.nn.relu((pooled.astype(jnp.float32) - mean) * multiplier + bias).astype(x.dtype)


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
