"""Hand-written 2D convolutions ('SAME', stride 1, NHWC input, HWIO kernel): the depthwise-separable conv of
the paper's DW-2DConv model, and the standard conv with the lowering choices the trial engine makes (a
shifted-contraction weight gradient under ``vmap``, a direct forward pass for the first block's few maps).

Written for one batch of examples in ``(batch, mel, time, channel)`` order; the trial engine adds the trial axis
with ``vmap``. Each conv computes at a precision's :func:`jaxsep.nn.numerics.numerics`.
"""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from .numerics import numerics


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
    def __call__(self, x: jax.Array, output_sign: jax.Array | None = None) -> jax.Array:
        """``x``: ``(batch, height, width, c_in)`` → ``(batch, height, width, features)`` in the precision's
        dtype (float32, or bfloat16 under ``bf16``). ``output_sign``: ``(features,)`` of +-1 multiplying each
        output map, folded into the kernel (exact: a product's sign flips, its magnitude does not change)."""
        shape = (*self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", self.kernel_init, shape, jnp.float32)
        dtype, precision = numerics(self.precision)
        x, kernel = jnp.asarray(x, dtype), kernel.astype(dtype)
        if output_sign is not None:
            kernel = kernel * output_sign.astype(dtype)
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
    def __call__(self, x: jax.Array, output_sign: jax.Array | None = None) -> jax.Array:
        """``x``: shape ``(batch, height, width, c_in)`` → shape ``(batch, height, width, features)`` in the
        precision's dtype. ``output_sign``: as :class:`Conv`'s, folded into the pointwise kernel (and the bias)."""
        channels = x.shape[-1]
        depthwise = self.param("depthwise_kernel", self.kernel_init, (*self.kernel_size, 1, channels))
        pointwise = self.param("pointwise_kernel", self.kernel_init, (1, 1, channels, self.features))
        dtype, precision = numerics(self.precision)
        if output_sign is not None:
            pointwise = pointwise * output_sign
        y = pointwise_conv2d(depthwise_conv2d(jnp.asarray(x, dtype), depthwise), pointwise, precision)
        if self.use_bias:
            bias = self.param("bias", self.bias_init, (self.features,))
            if output_sign is not None:
                bias = bias * output_sign
            y = y + bias.astype(y.dtype)
        return y
