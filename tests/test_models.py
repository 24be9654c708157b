"""Pinned parameter counts and output shapes of the four models; the whole network against flax's layers; the
kernel penalty by hand."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsep.config import TrainConfig
from jaxsep.errors import ConfigError
from jaxsep.nn.conv import SeparableConv
from jaxsep.nn.models import (
    MODELS,
    GenreCNN,
    create_model,
    get_spec,
    init_variables,
    kernel_penalty,
    parameter_table,
)

# Paper-size input (128 mels x 458 frames), 6 classes, default filters 16/32, 3x3 kernels.
# conv1 kernel 3*3*C*16 (no bias: batch norm's offset replaces it), bn1 2*16, conv2 3*3*16*32, bn2 2*32,
# dense (32 * 114 * 32) * 6 + 6. Separable: depthwise 9*C + pointwise C*16, then 9*16 + 16*32.
PINNED = {
    "full": 144 + 32 + 4608 + 64 + 700_422,
    "novox": 144 + 32 + 4608 + 64 + 700_422,
    "stems3": 432 + 32 + 4608 + 64 + 700_422,
    "stems3_dw": (27 + 48) + 32 + (144 + 512) + 64 + 700_422,
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pinned_parameter_counts(name):
    rows = parameter_table(name, 6, (128, 458))
    assert sum(r[3] for r in rows) == PINNED[name]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_output_shape_and_modes(name):
    channels = len(get_spec(name).maps)
    model = create_model(name, 5, TrainConfig(filters=(2, 3)))
    variables = init_variables(model, jax.random.key(0), (16, 20, channels))
    x = jax.random.normal(jax.random.key(1), (4, 16, 20, channels))
    logits = model.apply(variables, x, train=False)
    assert logits.shape == (4, 5)
    logits_train, updates = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)},
                                        mutable=["batch_stats"])
    assert logits_train.shape == (4, 5)
    assert set(updates["batch_stats"]) == {"block1", "block2"}


def test_masked_batch_norm_ignores_padding():
    """Training on 3 real rows + 2 padded rows equals training on the 3 rows alone (loss and stats)."""
    model = create_model("stems3", 3, TrainConfig(filters=(2, 3), dropout=0.0))
    variables = init_variables(model, jax.random.key(0), (8, 8, 3))
    x = jax.random.normal(jax.random.key(1), (5, 8, 8, 3))
    padded = x.at[3:].set(100.0)
    mask = jnp.array([1.0, 1.0, 1.0, 0.0, 0.0])
    out_real, stats_real = model.apply(variables, x[:3], train=True, mutable=["batch_stats"])
    out_pad, stats_pad = model.apply(variables, padded, train=True, mask=mask, mutable=["batch_stats"])
    np.testing.assert_allclose(out_pad[:3], out_real, rtol=1e-4, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), stats_pad, stats_real)


def test_kernel_penalty_by_hand():
    params = {"conv": {"kernel": jnp.array([1.0, -2.0]), "bias": jnp.array([5.0])},
              "dense": {"kernel": jnp.array([[3.0]])}, "bn": {"scale": jnp.array([7.0])}}
    # l1 * (1 + 2 + 3) + l2 * (1 + 4 + 9); biases and batch-norm scales are not penalised.
    assert float(kernel_penalty(params, 0.1, 0.01)) == pytest.approx(0.6 + 0.14)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown model 'resnet'"):
        get_spec("resnet")


class FlaxReferenceCNN(nn.Module):
    """GenreCNN written with flax's own layers (conv, ``BatchNorm`` with the row mask and its default one-pass
    variance, ``relu``, ``max_pool``, dense), same parameter names; a separable conv is jaxsep's own, without a
    folded sign."""

    n_classes: int
    filters: tuple[int, int]
    separable: bool

    @nn.compact
    def __call__(self, x, *, train, mask=None):
        for index, features in enumerate(self.filters):
            x = _FlaxBlock(features, self.separable, name=f"block{index + 1}")(x, train=train, mask=mask)
        return nn.Dense(self.n_classes, name="dense")(x.reshape(x.shape[0], -1))


class _FlaxBlock(nn.Module):
    features: int
    separable: bool

    @nn.compact
    def __call__(self, x, *, train, mask):
        if self.separable:
            x = SeparableConv(self.features, (3, 3), use_bias=False, name="conv")(x)
        else:
            x = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False, name="conv")(x)
        full_mask = None if mask is None else jnp.broadcast_to(mask[:, None, None, None] > 0, x.shape)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, name="bn")(x, mask=full_mask)
        return nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2))


@pytest.mark.parametrize("separable,direct_forward", [(False, False), (False, True), (True, False)])
def test_network_matches_flax_layers_with_scales_of_both_signs(separable, direct_forward):
    """Logits, batch statistics and parameter gradients of the network (its conv folding each batch norm's sign
    into the kernel) equal flax's layers in turn, with batch-norm scales of both signs, a padded row, in
    training and evaluation."""
    filters = (4, 6)
    ours = GenreCNN(3, filters=filters, separable=separable, dropout=0.0, direct_forward=direct_forward)
    reference = FlaxReferenceCNN(3, filters, separable)
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(5, 10, 14, 3)).astype(np.float32))
    mask = jnp.array([1.0, 1.0, 1.0, 1.0, 0.0])
    variables = init_variables(ours, jax.random.key(0), (10, 14, 3))
    assert jax.tree.structure(variables) == jax.tree.structure(reference.init(jax.random.key(0), x, train=False))
    params = variables["params"]
    for block, features in zip(("block1", "block2"), filters):
        signs = np.where(np.arange(features) % 2 == 0, 1.0, -1.0)
        params[block]["bn"]["scale"] = jnp.asarray(signs * rng.uniform(0.5, 1.5, features), jnp.float32)
        params[block]["bn"]["bias"] = jnp.asarray(rng.normal(size=features) * 0.1, jnp.float32)
    for train in (True, False):
        def run(module, params):
            def forward(params):
                logits, updates = module.apply({"params": params, "batch_stats": variables["batch_stats"]}, x,
                                               train=train, mask=mask, mutable=["batch_stats"])
                return jnp.sum(jnp.sin(logits[:4])), (logits, updates)

            return jax.grad(forward, has_aux=True)(params)

        grads, (logits, updates) = run(ours, params)
        ref_grads, (ref_logits, ref_updates) = run(reference, params)
        np.testing.assert_allclose(logits, ref_logits, rtol=1e-4, atol=1e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), updates, ref_updates)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), grads, ref_grads)
