"""The hand-written depthwise-separable convolution against a plain numpy/scipy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import correlate2d

from jaxsep.layers import SeparableConv, depthwise_conv2d, pointwise_conv2d
import flax.linen as nn


def reference_separable(x, depthwise, pointwise, bias):
    """x (B, H, W, C); depthwise (k, k, 1, C); pointwise (1, 1, C, F): zero-padded 'same' correlation per
    channel, then a channel mix, in float64."""
    batch, height, width, channels = x.shape
    mid = np.zeros((batch, height, width, channels))
    for b in range(batch):
        for c in range(channels):
            mid[b, :, :, c] = correlate2d(x[b, :, :, c], depthwise[:, :, 0, c], mode="same", boundary="fill")
    return np.einsum("bhwc,cf->bhwf", mid, pointwise[0, 0]) + bias


@pytest.mark.parametrize("kernel", [3, 5])
def test_separable_conv_matches_reference(kernel):
    rng = np.random.default_rng(kernel)
    x = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
    layer = SeparableConv(4, (kernel, kernel))
    params = layer.init(jax.random.key(0), jnp.asarray(x))["params"]
    params = {
        "depthwise_kernel": rng.normal(size=params["depthwise_kernel"].shape).astype(np.float32),
        "pointwise_kernel": rng.normal(size=params["pointwise_kernel"].shape).astype(np.float32),
        "bias": rng.normal(size=params["bias"].shape).astype(np.float32),
    }
    got = layer.apply({"params": params}, jnp.asarray(x))
    want = reference_separable(x.astype(np.float64), params["depthwise_kernel"], params["pointwise_kernel"],
                               params["bias"])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-4)


def test_depthwise_hand_set_kernel():
    """A kernel that picks the pixel to the right (channel 0) and doubles (channel 1): hand-computed."""
    x = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[1, 2, 0, 0] = 1.0
    kernel[1, 1, 0, 1] = 2.0
    got = np.asarray(depthwise_conv2d(jnp.asarray(x), jnp.asarray(kernel)))
    shifted = np.zeros_like(x[..., 0])
    shifted[:, :, :-1] = x[:, :, 1:, 0]
    np.testing.assert_array_equal(got[..., 0], shifted)
    np.testing.assert_array_equal(got[..., 1], 2 * x[..., 1])


def test_pointwise_is_channel_mix():
    x = np.random.default_rng(0).normal(size=(1, 2, 2, 3)).astype(np.float32)
    kernel = np.random.default_rng(1).normal(size=(1, 1, 3, 5)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(pointwise_conv2d(x, kernel)), x @ kernel[0, 0], rtol=1e-5)


def test_depthwise_rejects_wrong_kernel():
    with pytest.raises(ValueError, match="depthwise kernel"):
        depthwise_conv2d(jnp.zeros((1, 4, 4, 3)), jnp.zeros((3, 3, 3, 3)))


@pytest.mark.parametrize("side", [3, 5])
def test_parameter_count_claim(side):
    """The paper: with 3 channels in and out and k kernel weights, 3k + 9 against 9k (biases apart)."""
    k = side * side
    x = jnp.zeros((1, 8, 8, 3))
    separable = SeparableConv(3, (side, side)).init(jax.random.key(0), x)["params"]
    standard = nn.Conv(3, (side, side)).init(jax.random.key(0), x)["params"]
    assert separable["depthwise_kernel"].size + separable["pointwise_kernel"].size == 3 * k + 9
    assert standard["kernel"].size == 9 * k
    assert separable["bias"].size == standard["bias"].size == 3
