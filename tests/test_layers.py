"""The hand-written layers against references: the depthwise-separable convolution against numpy/scipy, the
max pool and the fused batch norm → ReLU → max pool against flax's own layers, dropout against its
probabilities."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import correlate2d

from jaxsep.nn.conv import Conv, SeparableConv, conv2d_direct, depthwise_conv2d, pointwise_conv2d
from jaxsep.nn.dropout import Dropout, keep_mask
from jaxsep.nn.norm_pool import BatchNormReluPool, max_pool_2x2, max_pool_2x2_forward_only


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


def flax_max_pool(x):
    return nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")


@pytest.mark.parametrize("shape", [(2, 8, 10, 3), (3, 7, 9, 2)])
def test_max_pool_matches_flax_with_ties(shape):
    """Values and gradients equal flax's ``max_pool`` exactly, odd sizes and tied maxima included (small
    integers make many ties; the gradient must go to the first maximum of each window only); the evaluation
    pool's values too."""
    rng = np.random.default_rng(sum(shape))
    x = jnp.asarray(rng.integers(0, 3, size=shape).astype(np.float32))
    cotangent = jnp.asarray(rng.normal(size=(shape[0], shape[1] // 2, shape[2] // 2, shape[3])).astype(np.float32))
    ours, our_vjp = jax.vjp(max_pool_2x2, x)
    theirs, their_vjp = jax.vjp(flax_max_pool, x)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(our_vjp(cotangent)[0], their_vjp(cotangent)[0])
    np.testing.assert_array_equal(max_pool_2x2_forward_only(x), theirs)


class FlaxBatchNormReluPool(nn.Module):
    """The reference: flax's BatchNorm (its default one-pass variance) with the row mask broadcast to the
    input, ReLU, flax's max pool."""

    momentum: float
    epsilon: float

    @nn.compact
    def __call__(self, x, *, train, mask=None):
        full_mask = None if mask is None else jnp.broadcast_to(mask[:, None, None, None] > 0, x.shape)
        x = nn.BatchNorm(
            use_running_average=not train, momentum=self.momentum, epsilon=self.epsilon,
            use_fast_variance=True, name="bn",
        )(x, mask=full_mask)
        return flax_max_pool(nn.relu(x))


@pytest.mark.parametrize("masked", [False, True])
def test_batch_norm_relu_pool_matches_flax(masked):
    """Outputs, running statistics, and gradients (input, scale, bias) equal the three flax layers in turn,
    with scales of both signs (a negative scale pools the window's minimum), in training and evaluation."""
    rng = np.random.default_rng(7)
    x = jnp.asarray(rng.normal(size=(5, 6, 9, 4)).astype(np.float32))
    mask = jnp.array([1.0, 1.0, 1.0, 1.0, 0.0]) if masked else None
    ours = BatchNormReluPool(4, momentum=0.9, epsilon=1e-3)
    reference = FlaxBatchNormReluPool(momentum=0.9, epsilon=1e-3)
    variables = ours.init(jax.random.key(0), x, train=False)
    variables = {
        "params": {"scale": jnp.array([1.5, -0.7, 0.3, -2.0]), "bias": jnp.array([0.1, -0.2, 0.0, 0.4])},
        "batch_stats": {"mean": jnp.array([0.2, -0.1, 0.0, 0.3]), "var": jnp.array([1.2, 0.8, 1.0, 2.0])},
    }
    reference_variables = {"params": {"bn": variables["params"]}, "batch_stats": {"bn": variables["batch_stats"]}}
    cotangent = jnp.asarray(rng.normal(size=(5, 3, 4, 4)).astype(np.float32))

    def run(module, variables, x, train):
        def forward(params, x):
            return module.apply({**variables, "params": params}, x, train=train, mask=mask, mutable=["batch_stats"])

        (out, updates), vjp = jax.vjp(forward, variables["params"], x)
        return out, updates, vjp((cotangent, jax.tree.map(jnp.zeros_like, updates)))

    for train in (True, False):
        out, updates, (d_params, d_x) = run(ours, variables, x, train)
        ref_out, ref_updates, (ref_d_params, ref_d_x) = run(reference, reference_variables, x, train)
        np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d_x, ref_d_x, rtol=1e-4, atol=1e-5)
        for name in ("scale", "bias"):
            np.testing.assert_allclose(d_params[name], ref_d_params["bn"][name], rtol=1e-4, atol=1e-5)
        for name in ("mean", "var"):
            np.testing.assert_allclose(
                updates["batch_stats"][name], ref_updates["batch_stats"]["bn"][name], rtol=1e-5, atol=1e-7
            )


def test_signed_input_gives_the_same_numbers():
    """Maps handed over already multiplied by ``output_sign`` (as the conv folds it into its kernel) give the same
    outputs, running statistics and parameter gradients, bit for bit, and the input gradient times the sign."""
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(4, 6, 8, 4)).astype(np.float32))
    mask = jnp.array([1.0, 1.0, 1.0, 0.0])
    module = BatchNormReluPool(4, momentum=0.9, epsilon=1e-3)
    variables = module.init(jax.random.key(0), x, train=False)
    variables = {**variables, "params": {"scale": jnp.array([1.5, -0.7, -0.0, -2.0]), "bias": jnp.full(4, 0.1)}}
    sign = module.apply(variables, method=BatchNormReluPool.output_sign)
    np.testing.assert_array_equal(sign, [1.0, -1.0, 1.0, -1.0])
    cotangent = jnp.asarray(rng.normal(size=(4, 3, 4, 4)).astype(np.float32))

    def run(x, signed, train):
        def forward(params, x):
            return module.apply({**variables, "params": params}, x, train=train, mask=mask, signed_input=signed,
                                mutable=["batch_stats"])

        (out, updates), vjp = jax.vjp(forward, variables["params"], x)
        return out, updates, vjp((cotangent, jax.tree.map(jnp.zeros_like, updates)))

    for train in (True, False):
        out, updates, (d_params, d_x) = run(x, False, train)
        signed_out, signed_updates, (signed_d_params, signed_d_x) = run(sign * x, True, train)
        np.testing.assert_array_equal(signed_out, out)
        jax.tree.map(np.testing.assert_array_equal, signed_updates, updates)
        jax.tree.map(np.testing.assert_array_equal, signed_d_params, d_params)
        np.testing.assert_array_equal(signed_d_x, sign * d_x)


def test_batch_norm_statistics_accurate_far_from_zero():
    """The one-pass variance against float64 two-pass statistics, for maps whose mean is 30 standard deviations
    from zero, as many values per channel as block 1 at the paper's size and batch 8: normalized outputs within
    1e-3."""
    rng = np.random.default_rng(11)
    x = (30.0 + rng.standard_normal((8, 128, 458, 3))).astype(np.float32)
    module = BatchNormReluPool(3, momentum=0.9, epsilon=1e-5)
    variables = module.init(jax.random.key(0), x, train=False)
    variables = {**variables, "params": {"scale": jnp.array([1.0, -1.0, 2.0]), "bias": jnp.zeros(3)}}
    out, _ = module.apply(variables, x, train=True, mutable=["batch_stats"])
    x64 = x.astype(np.float64)
    normalized = (x64 - x64.mean(axis=(0, 1, 2))) / np.sqrt(x64.var(axis=(0, 1, 2)) + 1e-5) * np.array([1, -1, 2])
    expected = np.maximum(normalized, 0).reshape(8, 64, 2, 229, 2, 3).max(axis=(2, 4))
    np.testing.assert_allclose(out, expected, atol=1e-3)


@pytest.mark.parametrize("rate", [0.5, 0.25, 0.9])
def test_keep_mask_probability_and_independent_halves(rate):
    """Kept fraction within 5 standard errors of 1 - rate; the two elements drawn from one 32-bit word are
    independent (both kept as often as (1 - rate)²); an odd size works."""
    shape = (401, 499)
    keep = np.asarray(keep_mask(jax.random.key(3), rate, shape)).reshape(-1)
    p, n = 1 - rate, keep.size
    assert abs(keep.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    pairs = keep[: n // 2 * 2].reshape(-1, 2)
    both = np.mean(pairs[:, 0] & pairs[:, 1])
    assert abs(both - p * p) < 5 * np.sqrt(p * p * (1 - p * p) / len(pairs))
    assert not np.array_equal(keep, np.asarray(keep_mask(jax.random.key(4), rate, shape)).reshape(-1))


def test_dropout_scales_kept_values_and_is_identity_in_evaluation():
    x = jnp.arange(1.0, 2001.0).reshape(2, 1000)
    layer = Dropout(0.25)
    out = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(out) != 0
    np.testing.assert_allclose(np.asarray(out)[kept], np.asarray(x)[kept] / 0.75, rtol=1e-6)
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_array_equal(layer.apply({}, x, deterministic=True), x)
    np.testing.assert_array_equal(Dropout(0.0).apply({}, x, deterministic=False), x)
    assert not np.any(Dropout(1.0).apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)}))


def _assert_conv_matches_flax(mine: Conv, window, x):
    """``mine`` against flax's ``nn.Conv`` (5 features, no bias): the same initial kernel from the same key,
    the same outputs, and the same input and kernel gradients, also vmapped over trials with per-trial
    kernels. Returns flax's variables."""
    reference = nn.Conv(5, window, padding="SAME", use_bias=False)
    variables = reference.init(jax.random.key(1), x)
    np.testing.assert_array_equal(mine.init(jax.random.key(1), x)["params"]["kernel"],
                                  variables["params"]["kernel"])

    def loss(module):
        return lambda v, x: jnp.sum(jnp.sin(module.apply(v, x)) * jnp.arange(5.0))

    with jax.default_matmul_precision("highest"):
        np.testing.assert_allclose(mine.apply(variables, x), reference.apply(variables, x), atol=1e-5)
        want = jax.grad(loss(reference), argnums=(0, 1))(variables, x)
        got = jax.grad(loss(mine), argnums=(0, 1))(variables, x)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)
        stacked = jax.tree.map(lambda leaf: jnp.stack([leaf, 2 * leaf]), variables)
        xs = jnp.stack([x, -x])
        want = jax.vmap(jax.grad(loss(reference), argnums=(0, 1)))(stacked, xs)
        got = jax.vmap(jax.grad(loss(mine), argnums=(0, 1)))(stacked, xs)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-5)
    return variables


@pytest.mark.parametrize("window", [(2, 2), (3, 3), (4, 4), (2, 3), (3, 1)])
def test_shifted_weight_grad_conv_matches_flax(window):
    """:class:`Conv` with the shifted-contraction weight gradient against flax's ``nn.Conv`` (odd, even and
    non-square windows: 'SAME' pads unevenly for even sides)."""
    x = jax.random.normal(jax.random.key(0), (3, 9, 11, 4))
    _assert_conv_matches_flax(Conv(5, window, shifted_weight_grad=True), window, x)


@pytest.mark.parametrize("window,channels", [((3, 3), 1), ((3, 3), 3), ((2, 3), 2), ((5, 1), 4)])
def test_direct_conv_matches_flax(window, channels):
    """:class:`Conv` with the direct forward (shifted sums of the input channels) against flax's ``nn.Conv``;
    wider inputs keep the convolution."""
    x = jax.random.normal(jax.random.key(0), (3, 9, 11, channels))
    variables = _assert_conv_matches_flax(Conv(5, window, direct_forward=True), window, x)
    # the forward really is the shifted sum (no convolution in the program), and bf16 inputs stay bf16
    forward = jax.make_jaxpr(lambda x, k: conv2d_direct(x, k))(x, variables["params"]["kernel"])
    assert "conv_general_dilated" not in str(forward)
    assert conv2d_direct(x.astype(jnp.bfloat16), variables["params"]["kernel"]).dtype == jnp.bfloat16
    wide = jax.random.normal(jax.random.key(2), (2, 6, 7, 5))
    program = jax.make_jaxpr(lambda v: Conv(5, window, direct_forward=True).apply(v, wide))(
        Conv(5, window).init(jax.random.key(1), wide))
    assert "conv_general_dilated" in str(program)
