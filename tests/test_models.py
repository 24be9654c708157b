"""Pinned parameter counts and output shapes of the four models; the kernel penalty by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsep.config import TrainConfig
from jaxsep.errors import ConfigError
from jaxsep.nn.models import (
    MODELS,
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
