"""Hand-written layers: the depthwise-separable 2D convolution of the paper's DW-2DConv model.

Written for one batch of examples in ``(batch, mel, time, channel)`` (NHWC) order; the trial engine adds
the trial axis with ``vmap``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import flax.linen as nn
from jax import lax

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def depthwise_conv2d(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """One ``k×k`` filter per input channel, 'SAME' padding, stride 1.

    Args:
      x: input, shape ``(batch, height, width, channels)``.
      kernel: per-channel filters, shape ``(k_h, k_w, 1, channels)`` (HWIO with one input per group).

    Returns:
      shape ``(batch, height, width, channels)``: channel ``c`` is ``x[..., c]`` cross-correlated with
      ``kernel[..., 0, c]``.
    """
    channels = x.shape[-1]
    if kernel.shape[2:] != (1, channels):
        raise ValueError(f"depthwise kernel must have shape (k_h, k_w, 1, {channels}), got {kernel.shape}")
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=_DIMENSION_NUMBERS,
        feature_group_count=channels,
    )


def pointwise_conv2d(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """A ``1×1`` convolution mixing channels.

    Args:
      x: shape ``(batch, height, width, c_in)``.
      kernel: shape ``(1, 1, c_in, c_out)``.

    Returns:
      shape ``(batch, height, width, c_out)``.
    """
    return jnp.einsum("bhwi,io->bhwo", x, kernel[0, 0])


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
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """``x``: shape ``(batch, height, width, c_in)`` → shape ``(batch, height, width, features)``."""
        channels = x.shape[-1]
        depthwise = self.param("depthwise_kernel", self.kernel_init, (*self.kernel_size, 1, channels))
        pointwise = self.param("pointwise_kernel", self.kernel_init, (1, 1, channels, self.features))
        y = pointwise_conv2d(depthwise_conv2d(x, depthwise), pointwise)
        if self.use_bias:
            y = y + self.param("bias", self.bias_init, (self.features,))
        return y
