"""The benchmarks' own correctness: the PyTorch reference mirrors jaxsep's models and protocol, and the FLOP
counter matches hand-computed values. (Speed is reported by the benchmarks, never judged here.)"""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsep.config import TrainConfig
from jaxsep.features.toy import toy_features
from jaxsep.nn.models import (
    MODELS,
    create_model,
    get_spec,
    init_variables,
    kernel_penalty,
    parameter_table,
)
from jaxsep.training.metrics import macro_f1 as jax_macro_f1
from jaxsep.training.splits import make_splits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import throughput  # noqa: E402

SMALL = (16, 20)  # (mel, time): pools to 4 x 5
CONFIG = TrainConfig(filters=(2, 3))


@pytest.fixture
def torch_reference():
    """The PyTorch reference module, with one intra-op thread: tiny ops on a shared 2-core machine are
    otherwise dominated by OpenMP barrier waits (100x slower). The thread count is restored afterwards."""
    torch = pytest.importorskip("torch")
    import torch_reference as reference

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield reference
    torch.set_num_threads(threads)


def test_model_table_matches_jaxsep():
    assert set(throughput.MODEL_MAPS) == set(MODELS)
    for name, spec in MODELS.items():
        assert throughput.MODEL_MAPS[name] == spec.maps
        assert throughput.SEPARABLE[name] == spec.separable


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_counts_match_jaxsep(torch_reference, name):
    spec = get_spec(name)
    model = torch_reference.build_model(spec.separable, len(spec.maps), 5, SMALL, CONFIG)
    jax_count = sum(row[3] for row in parameter_table(name, 5, SMALL, CONFIG))
    assert sum(p.numel() for p in model.parameters()) == jax_count


def _copy_flax_to_torch(variables, model):
    """Loads flax ``{"params", "batch_stats"}`` into the torch model (HWIO kernels → OIHW, dense transposed)."""
    import torch

    params, stats = variables["params"], variables["batch_stats"]
    state = {}
    for block in ("block1", "block2"):
        conv = params[block]["conv"]
        if "kernel" in conv:
            state[f"{block}.conv.weight"] = np.transpose(conv["kernel"], (3, 2, 0, 1))
        else:
            state[f"{block}.depthwise.weight"] = np.transpose(conv["depthwise_kernel"], (3, 2, 0, 1))
            state[f"{block}.pointwise.weight"] = np.transpose(conv["pointwise_kernel"], (3, 2, 0, 1))
        state[f"{block}.bn.weight"] = params[block]["bn"]["scale"]
        state[f"{block}.bn.bias"] = params[block]["bn"]["bias"]
        state[f"{block}.bn.running_mean"] = stats[block]["bn"]["mean"]
        state[f"{block}.bn.running_var"] = stats[block]["bn"]["var"]
    state["dense.weight"] = np.transpose(params["dense"]["kernel"])
    state["dense.bias"] = params["dense"]["bias"]
    missing = model.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in state.items()}, strict=False)
    assert missing.missing_keys == [k for k in missing.missing_keys if k.endswith("num_batches_tracked")]


@pytest.mark.parametrize("name", ["stems3", "stems3_dw"])
def test_same_weights_give_same_logits_and_penalty(torch_reference, name):
    """With flax's weights copied in, the torch network computes jaxsep's logits (eval mode with non-trivial
    running statistics, and train mode's batch statistics without dropout) and jaxsep's kernel penalty."""
    import torch

    spec = get_spec(name)
    config = CONFIG.replace(dropout=0.0)
    flax_model = create_model(name, 5, config)
    variables = jax.jit(lambda key: init_variables(flax_model, key, (*SMALL, 3)))(jax.random.key(0))
    # Move every weight off its init (BN scale 1, bias 0, zero dense bias) and the running statistics off
    # (0, 1), so a transposed or misplaced tensor cannot go unnoticed.
    rng = np.random.default_rng(0)
    variables = {
        "params": jax.tree.map(lambda p: np.asarray(p) + 0.1 * rng.standard_normal(p.shape, np.float32),
                               variables["params"]),
        "batch_stats": jax.tree.map(lambda s: np.asarray(s) + 0.3 * np.arange(s.shape[0], dtype=np.float32)
                                    / s.shape[0], variables["batch_stats"]),
    }
    x = rng.standard_normal((4, *SMALL, 3), np.float32)

    @jax.jit  # one compiled program: op-by-op flax would compile every primitive (seconds)
    def reference(variables, x):
        train_logits, _ = flax_model.apply(variables, x, train=True, mutable=["batch_stats"])
        return (flax_model.apply(variables, x, train=False), train_logits,
                kernel_penalty(variables["params"], 1e-3, 1e-2))

    with jax.default_matmul_precision("highest"):  # no TF32 when this runs on a GPU
        eval_logits, train_logits, jax_penalty = reference(variables, x)
    model = torch_reference.build_model(spec.separable, 3, 5, SMALL, config)
    _copy_flax_to_torch(variables, model)
    x_torch = torch.tensor(np.moveaxis(x, -1, 1).copy())
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(x_torch).numpy(), eval_logits, rtol=1e-4, atol=1e-4)
        model.train()
        np.testing.assert_allclose(model(x_torch).numpy(), train_logits, rtol=1e-4, atol=1e-4)
        penalty = torch_reference.kernel_penalty(model.named_parameters(), 1e-3, 1e-2)
    assert float(penalty) == pytest.approx(float(jax_penalty), rel=1e-5)


def test_macro_f1_matches_jaxsep(torch_reference):
    rng = np.random.default_rng(0)
    for _ in range(5):
        labels, predictions = rng.integers(0, 4, 13), rng.integers(0, 4, 13)
        assert torch_reference.macro_f1(labels, predictions, 5) == pytest.approx(
            float(jax_macro_f1(jnp.asarray(labels), jnp.asarray(predictions), 5)), abs=1e-6)


def test_forward_flops_hand_computed():
    # 1 map of 4x4, filters 2 then 3, 3x3 kernels, 5 classes:
    # conv1 2*(4*4)*9*1*2 = 576; pool to 2x2; conv2 2*(2*2)*9*2*3 = 432; pool to 1x1; dense 2*1*3*5 = 30.
    assert throughput.forward_flops(1, 5, 4, 4, filters=(2, 3)) == 576 + 432 + 30
    # Separable: depthwise 2*16*9*1 + pointwise 2*16*1*2; then 2*4*9*2 + 2*4*2*3; dense 30.
    assert throughput.forward_flops(1, 5, 4, 4, filters=(2, 3), separable=True) == (288 + 64) + (144 + 48) + 30
    # A trial: 2 epochs of 10 training clips (3 passes each) and 3 test clips (1 pass).
    assert throughput.trial_flops(100, n_train=10, n_eval=3, epochs=2) == 2 * (30 + 3) * 100


def _tiny():
    features = toy_features(songs_per_class=(7, 9, 8), n_mels=16, frames=24, seed=3)
    seeds = np.arange(2)
    splits = make_splits(features.labels, seeds, n_classes=3, test_fraction=0.2)
    return features.select_maps(("bass", "drums", "other")), features.labels, splits, seeds


def test_eager_trial_returns_per_epoch_metrics(torch_reference):
    x, labels, splits, seeds = _tiny()
    config = TrainConfig(epochs=3, batch_size=8, filters=(3, 4))
    history = torch_reference.run_eager(x, labels, {k: v[:1] for k, v in splits.items()}, seeds[:1], config,
                                        separable=False, n_classes=3)
    assert set(history) == {"train_loss", "test_loss", "test_accuracy", "test_f1"}
    for values in history.values():
        assert values.shape == (1, 3)
        assert np.all(np.isfinite(values))
    assert np.all((0 <= history["test_accuracy"]) & (history["test_accuracy"] <= 1))
    # The penalty is part of both losses, so neither can be below it.
    assert np.all(history["test_loss"] > 0) and np.all(history["train_loss"] > 0)
    selected = torch_reference.select_epoch(history)
    assert selected["test_loss"][0] == history["test_loss"][0].min()


@pytest.mark.parametrize("separable", [False, True])
def test_channels_last_and_a_shared_module_train_like_eager(torch_reference, separable):
    """The tuned loop's memory layout and its reuse of one (compilable) module across trials change nothing
    but float rounding: same init (reloaded per trial), shuffles, dropout stream and Adam."""
    x, labels, splits, seeds = _tiny()
    config = TrainConfig(epochs=2, batch_size=8, filters=(3, 4))
    eager = torch_reference.run_eager(x, labels, splits, seeds, config, separable=separable, n_classes=3)
    tuned = torch_reference.run_eager(x, labels, splits, seeds, config, separable=separable, n_classes=3,
                                      tuning=torch_reference.Tuning(channels_last=True))
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(tuned[key], eager[key], rtol=1e-4, atol=1e-5)
    module = torch_reference.build_model(separable, 3, 3, x.shape[1:3], config)
    shared = torch_reference.train_trial(*torch_reference.to_device_data(x, labels, "cpu"),
                                         torch_reference._trial_inputs(x, splits, 0), int(seeds[0]), config,
                                         separable=separable, n_classes=3, compiled=(module, module))
    np.testing.assert_allclose(shared["test_loss"], eager["test_loss"][0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("separable", [False, True])
def test_ensemble_equals_eager_without_dropout(torch_reference, separable):
    """Without dropout (the only stream vmap draws differently), the torch.func ensemble trains each member
    exactly as the eager loop trains that trial: same init, shuffles, batch norm and Adam."""
    x, labels, splits, seeds = _tiny()
    config = TrainConfig(epochs=2, batch_size=8, filters=(3, 4), dropout=0.0)
    eager = torch_reference.run_eager(x, labels, splits, seeds, config, separable=separable, n_classes=3)
    ensemble = torch_reference.run_ensemble(x, labels, splits, seeds, config, separable=separable, n_classes=3)
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(ensemble[key], eager[key], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ensemble["test_accuracy"], eager["test_accuracy"])


def test_step_parts_runs_every_part(tmp_path, monkeypatch):
    """``benchmarks/step_parts.py`` at a tiny size: one timed row per variant of every part, in its JSON."""
    import step_parts

    out = tmp_path / "parts.json"
    monkeypatch.setattr(sys, "argv", ["step_parts.py", "--batch", "2", "--mels", "8", "--frames", "12",
                                      "--calls", "1", "--repeats", "1", "--json", str(out)])
    step_parts.main()
    rows = json.loads(out.read_text())["rows"]
    parts = {}
    for row in rows:
        parts.setdefault(row["part"], []).append(row["variant"])
        assert row["ms"] > 0
    assert set(parts) == {"max pool", "bn→relu→pool", "dropout mask", "training step"}
    assert len(parts["training step"]) == 3 and len(parts["bn→relu→pool"]) == 4


def test_step_parts_trial_axis_and_trace(tmp_path, monkeypatch, capsys):
    """The ``--trials`` parts (the GPU question) at a tiny size: every variant timed, and the profiler
    trace of the vmapped step summarized (busy time per process, the top ops)."""
    import step_parts

    out = tmp_path / "parts.json"
    monkeypatch.setattr(sys, "argv", ["step_parts.py", "--trials", "2", "--batch", "2", "--mels", "8", "--frames",
                                      "12", "--calls", "1", "--repeats", "1", "--parts",
                                      "conv,trials-block,trials-step", "--trace", str(tmp_path / "trace"),
                                      "--json", str(out)])
    step_parts.main()
    rows = json.loads(out.read_text())["rows"]
    variants = {}
    for row in rows:
        variants.setdefault((row["part"], tuple(row["shape"])), []).append(row["variant"])
        assert row["ms"] > 0 and row["shape"][0] == 2
    assert sorted(part for part, _ in variants) == ["bn→relu→pool", "bn→relu→pool", "conv 16→32", "conv 3→16",
                                                     "training step"]
    assert all(len(v) == 3 for (part, _), v in variants.items() if part.startswith("conv"))
    printed = capsys.readouterr().out
    assert printed.count("busy ms per step by process") == 2 and "top 20 ops" in printed
    assert len(variants[("training step", (2, 2, 8, 12, 3))]) == 3


def test_accuracy_check_falls_back_to_the_engine_variant_that_ran():
    """Without a plain ``engine`` run, the check compares the first ``engine-*`` variant with each PyTorch
    variant: a shifted PyTorch distribution gets a small p-value, an identical one a large p-value."""
    import throughput

    engine = [0.5, 0.6, 0.55, 0.58, 0.52, 0.61]
    results = {
        "jax-loop": {"models": {"stems3": {"accuracy": [0.0] * 6}}},
        "engine-vmap": {"models": {"stems3": {"accuracy": engine}}},
        "engine-sequential": {"models": {"stems3": {"accuracy": [0.0] * 6}}},
        "torch-eager": {"models": {"stems3": {"accuracy": [0.9, 0.95, 0.92, 0.97, 0.93, 0.94]}}},
        "torch-func": {"models": {"stems3": {"accuracy": list(engine)}}},
    }
    checks = {c["torch"]: c for c in throughput.accuracy_check(results)}
    assert {c["jax"] for c in checks.values()} == {"engine-vmap"}
    assert checks["torch-eager"]["mannwhitney_p"] < 0.01 < 0.9 < checks["torch-func"]["mannwhitney_p"]


def test_lowering_agreement_counts_equal_trials_between_every_pair_of_jax_variants():
    """Per model and pair of JAX variants (PyTorch left out), over the trials both ran: equal selected
    accuracies, the largest difference and the means."""
    import throughput

    results = {
        "engine-vmap": {"models": {"stems3": {"accuracy": [0.5, 0.6, 0.7, 0.8]}}},
        "engine-sequential": {"models": {"stems3": {"accuracy": [0.5, 0.6, 0.75, 0.8]}}},
        "jax-loop": {"models": {"stems3": {"accuracy": [0.5, 0.65]}}},
        "torch-eager": {"models": {"stems3": {"accuracy": [0.5, 0.6, 0.7, 0.8]}}},
        "engine-map": {"error": "worker exited with code 1"},
    }
    rows = {(r["first"], r["second"]): r for r in throughput.lowering_agreement(results)}
    assert set(rows) == {("engine-vmap", "engine-sequential"), ("engine-vmap", "jax-loop"),
                         ("engine-sequential", "jax-loop")}
    pair = rows[("engine-vmap", "engine-sequential")]
    assert (pair["trials"], pair["same"]) == (4, 3) and pair["max_diff"] == pytest.approx(0.05)
    assert pair["mean_second"] == pytest.approx(0.6625)
    loop = rows[("engine-sequential", "jax-loop")]
    assert (loop["trials"], loop["same"]) == (2, 1) and loop["max_diff"] == pytest.approx(0.05)


def test_report_reprinted_from_the_saved_h200_run(capsys):
    """``--from-json`` reprints a saved run (here the batch-32 H200 run kept in benchmarks/results) with its
    ratios, the per-trial agreement between lowerings and the PyTorch accuracy check."""
    import throughput

    saved = Path(throughput.HERE) / "results" / "h200-2026-11-27" / "call2-b32.json"
    throughput.main(["--from-json", str(saved)])
    printed = capsys.readouterr().out
    assert "NVIDIA H200" in printed and "batch 32" in printed
    assert "stems3    engine-vmap vs engine-sequential  same in 50/50 trials" in printed
    assert "engine-vmap speed-up" in printed and "torch-eager" in printed


def test_variant_specs_parse_with_trials_at_once():
    assert throughput.parse_spec("engine") == ("engine", None, None)
    assert throughput.parse_spec("torch-tuned@2:4") == ("torch-tuned", 2, 4)
    assert throughput.parse_spec("engine-stepped@3") == ("engine-stepped", 3, None)
    assert throughput.base_variant("torch-tuned@2") == "torch-tuned"
    for bad in ("torch-func@2", "engine-vmap@2", "jax-loop@2", "engine@0", "engine:0", "engine@x", "nope"):
        with pytest.raises(ValueError):
            throughput.parse_spec(bad)


def test_peer_in_two_processes_trains_each_trial_as_one_process_does(torch_reference):
    """``torch-eager@2``: two processes, every second trial each, reassembled in trial order; each trial's
    numbers are those of the one-process loop (float rounding apart: one thread instead of several)."""
    import argparse

    args = argparse.Namespace(songs=24, classes=3, mels=16, frames=24, trials=3, run_trials=3, epochs=2,
                              batch_size=8, filters="3,4", models="stems3", seed=0, strength=0.5, precision="f32",
                              variant="torch-eager", concurrent=2, torch_device="cpu", worker_timeout=600)
    models, peak = throughput._torch_concurrently(args)
    features, seeds, splits, config = throughput._worker_inputs(args)
    alone = torch_reference.run_eager(features.select_maps(("bass", "drums", "other")), features.labels, splits,
                                      seeds, config, separable=False, n_classes=3)
    entry = models["stems3"]
    assert entry["run_s"] > 0 and entry["warmup_s"] > 0 and peak > 0
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(entry["history"][key], alone[key], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(entry["history"]["test_accuracy"], alone["test_accuracy"])
