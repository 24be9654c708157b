"""``--precision``: float32 as before (tf32 and f32 are the same numbers on a CPU), bfloat16 activations with
float32 parameters, and the parity check of benchmarks/precision.py (same distribution of selected accuracy
over 20 trials), which must also be able to fail."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsep.cli.common import build_run_config
from jaxsep.config import TrainConfig
from jaxsep.errors import ConfigError
from jaxsep.features.toy import toy_features
from jaxsep.nn.models import build_network, init_variables
from jaxsep.training.engine import run_trials
from jaxsep.training.splits import make_splits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import precision as precision_check  # noqa: E402

SMALL = (16, 24, 3)


def test_an_unknown_precision_is_refused_and_the_cli_option_reaches_the_config():
    with pytest.raises(ConfigError, match="precision must be one of"):
        TrainConfig(precision="fp8")
    config = build_run_config(models="stems3", trials=2, seed=0, strategy="auto", precision="bf16")
    assert config.train.precision == "bf16"
    assert TrainConfig().precision == "tf32"


@pytest.mark.parametrize("separable", [False, True])
def test_bf16_computes_in_bfloat16_with_float32_parameters(separable):
    x = jax.random.normal(jax.random.key(1), (5, *SMALL))
    outputs = {}
    for precision in ("tf32", "bf16"):
        model = build_network(separable, 4, TrainConfig(filters=(4, 8), precision=precision))
        variables = init_variables(model, jax.random.key(0), SMALL)

        def loss(params, model=model, variables=variables):
            logits, updates = model.apply({"params": params, "batch_stats": variables["batch_stats"]}, x, train=True,
                                          mask=jnp.ones(5), rngs={"dropout": jax.random.key(2)},
                                          mutable=["batch_stats"])
            return jnp.sum(jnp.square(logits)), (logits, updates)

        grads, (logits, updates) = jax.jit(jax.grad(loss, has_aux=True))(variables["params"])
        assert logits.dtype == jnp.float32
        for tree in (variables["params"], grads, updates):
            assert {leaf.dtype for leaf in jax.tree.leaves(tree)} == {jnp.dtype(jnp.float32)}
        jaxpr = jax.make_jaxpr(lambda v, model=model: model.apply(v, x, train=False))(variables)
        operand_dtypes = {str(v.aval.dtype) for eqn in jaxpr.jaxpr.eqns
                          if eqn.primitive.name in ("conv_general_dilated", "dot_general") for v in eqn.invars}
        outputs[precision] = (logits, operand_dtypes)
    assert outputs["tf32"][1] == {"float32"}
    assert outputs["bf16"][1] == {"bfloat16"}
    reference, low = outputs["tf32"][0], outputs["bf16"][0]
    error = float(jnp.max(jnp.abs(low - reference)) / jnp.max(jnp.abs(reference)))
    assert 0 < error < 0.03  # rounded, but the same function


def _toy_history(precision: str, strategy: str, epochs: int) -> dict:
    """stems3's history (numpy) over 2 trials of an 18-song toy file at ``precision`` under ``strategy``."""
    features = toy_features(songs_per_class=(6, 6, 6), n_mels=SMALL[0], frames=SMALL[1])
    seeds = np.arange(2)
    splits = make_splits(features.labels, seeds, n_classes=3, test_fraction=0.2)
    config = TrainConfig(epochs=epochs, filters=(2, 3), precision=precision)
    report = run_trials("stems3", features.select_maps(("bass", "drums", "other")), features.labels, splits, seeds,
                        config, n_classes=3, strategy=strategy)
    return {k: np.asarray(v) for k, v in report.history.items()}


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="tf32 and f32 differ where TensorFloat-32 exists")
def test_float32_precisions_give_the_numbers_of_the_default_on_cpu():
    histories = {precision: _toy_history(precision, "stepped", epochs=2) for precision in ("tf32", "f32")}
    for key, value in histories["tf32"].items():
        np.testing.assert_array_equal(histories["f32"][key], value, err_msg=key)


def test_bf16_trains_to_the_same_accuracy_distribution_over_20_trials():
    args = precision_check.parse_args(
        ["--precisions", "f32,bf16", "--songs", "30", "--classes", "3", "--mels", "16", "--frames", "24",
         "--filters", "4,8", "--trials", "20", "--learning-rate", "1e-3", "--strength", "1", "--margin", "0.1",
         "--strategy", "stepped"])
    report = precision_check.measure(args)
    rows = {r["precision"]: r for r in report["rows"]}
    assert rows["f32"]["n"] == rows["bf16"]["n"] == 20
    assert rows["f32"]["mean"] > 0.5  # the file is learnable, so parity is not two runs at chance
    assert rows["bf16"]["parity"], rows["bf16"]
    assert rows["bf16"]["p_ks"] > 0.05
    # the arithmetic did differ: bfloat16 rounding moves the test losses
    assert not np.allclose(rows["bf16"]["test_loss"], rows["f32"]["test_loss"], rtol=1e-6, atol=0)


def test_the_parity_check_fails_on_a_shifted_distribution():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.6, 1.0, 20)
    worse = np.clip(reference - 0.25 + rng.normal(0, 0.05, 20), 0, 1)
    result = precision_check.parity(worse, reference, test_train_ratio=0.25, margin=0.05)
    assert not result["parity"]
    assert result["ci_high"] < 0 and result["p"] < 0.05 and result["p_ks"] < 0.05
    same = precision_check.parity(reference, reference, test_train_ratio=0.25, margin=0.05)
    assert same["parity"] and same["difference"] == 0


@pytest.mark.parametrize("strategy", ["vmap", "stepped"])
def test_bf16_runs_under_each_lowering_close_to_float32(strategy):
    """bfloat16 through the vmapped program (shifted-contraction weight gradient) and the stepped driver (the
    direct first conv on CPU): finite, and the first epoch's training loss within a few percent of float32's."""
    losses = {}
    for precision in ("f32", "bf16"):
        history = _toy_history(precision, strategy, epochs=1)
        assert np.all(np.isfinite(history["test_loss"]))
        losses[precision] = history["train_loss"][:, 0]
    np.testing.assert_allclose(losses["bf16"], losses["f32"], rtol=0.05)
    assert not np.array_equal(losses["bf16"], losses["f32"])
