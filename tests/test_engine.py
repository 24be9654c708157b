"""Trial equivalence: trial t's numbers do not depend on how the engine batches, chunks or shards it."""

import jax
import numpy as np
import pytest
from jax import monitoring

from jaxsep.config import TrainConfig
from jaxsep.errors import ConfigError
from jaxsep.features.toy import toy_features
from jaxsep.training import engine
from jaxsep.training.engine import ChunkShrunkWarning, TrialRunner, resolve_strategy, run_trials
from jaxsep.training.splits import make_splits
from jaxsep.training.trainer import Hyperparameters, trial_data

# Float tolerance of the equivalence: every lowering runs the same float32 arithmetic per trial, but XLA may
# order reductions differently (grouped vs plain convolutions, sharded programs). Measured differences are
# ~1e-7; 1e-4 on losses leaves room for other CPUs without hiding a real mismatch (a wrong split, key or
# mask changes losses by > 1e-2).
LOSS_ATOL = 1e-4
CONFIG = TrainConfig(epochs=2, batch_size=8, filters=(3, 4))
FEATURES = toy_features(songs_per_class=(7, 9, 8), n_mels=16, frames=24, strength=1.0, seed=3)
MODEL = "stems3"
SEEDS = np.arange(10, 14)


def _run(seeds, **options):
    x = FEATURES.select_maps(("bass", "drums", "other"))
    splits = make_splits(FEATURES.labels, seeds, n_classes=3, test_fraction=CONFIG.test_fraction)
    return run_trials(MODEL, x, FEATURES.labels, splits, seeds, CONFIG, n_classes=3, **options)


@pytest.fixture(scope="module")
def reference():
    """All four trials vmapped in one chunk on one device."""
    return _run(SEEDS, strategy="vmap", devices=jax.devices()[:1])


def _assert_same_trial(history, t_history, reference, t_reference):
    for key in ("train_loss", "test_loss"):
        np.testing.assert_allclose(history[key][t_history], reference.history[key][t_reference], atol=LOSS_ATOL)
    for key in ("test_accuracy", "test_f1"):
        np.testing.assert_allclose(history[key][t_history], reference.history[key][t_reference], atol=1e-6)
    np.testing.assert_array_equal(history["test_predictions"][t_history],
                                  reference.history["test_predictions"][t_reference])


def test_alone_equals_vmapped(reference):
    alone = _run(SEEDS[2:3], strategy="vmap", devices=jax.devices()[:1])
    _assert_same_trial(alone.history, 0, reference, 2)


def test_chunks_equal_one_batch(reference):
    chunked = _run(SEEDS, strategy="vmap", devices=jax.devices()[:1], trials_per_chunk=3)
    assert chunked.chunk == 3
    for t in range(len(SEEDS)):
        _assert_same_trial(chunked.history, t, reference, t)


def _runner_and_inputs():
    """A one-device vmap runner for the module's data, its trials (numpy) and its placed data."""
    x = FEATURES.select_maps(("bass", "drums", "other"))
    runner = TrialRunner(MODEL, 3, CONFIG, strategy="vmap", devices=jax.devices()[:1])
    splits = make_splits(FEATURES.labels, SEEDS, n_classes=3, test_fraction=CONFIG.test_fraction)
    trials = engine.stack_trials(SEEDS, splits, Hyperparameters.from_config(CONFIG, len(SEEDS)))
    return runner, trials, runner.place_data(trial_data(x, FEATURES.labels))


def _first(trials, n):
    return jax.tree.map(lambda v: v[:n], trials)


def test_chunk_shrinks_until_the_program_fits_the_memory_budget(reference, monkeypatch):
    """With a budget below what all four trials need (XLA's estimate), the vmap chunk shrinks to a program
    that fits, never below one trial per device, and the trials' numbers stay the same."""
    runner, trials, data = _runner_and_inputs()
    need = {n: runner.program_bytes(_first(trials, n), data) for n in (1, 2, 3, 4)}
    assert need[1] < need[2] < need[3] < need[4]
    budget = (need[2] + need[3]) / 2
    monkeypatch.setattr(engine, "_memory_budget", lambda device: budget)
    chunk = engine.choose_chunk(runner, trials, data, 4)
    assert chunk <= 2 and need[chunk] <= budget
    monkeypatch.setattr(engine, "_memory_budget", lambda device: need[1] / 2)
    assert engine.choose_chunk(runner, trials, data, 4) == 1
    monkeypatch.setattr(engine, "_memory_budget", lambda device: budget)
    chunked = _run(SEEDS, strategy="vmap", devices=jax.devices()[:1])
    assert chunked.chunk == chunk
    for t in range(len(SEEDS)):
        _assert_same_trial(chunked.history, t, reference, t)


def test_chunk_halves_when_xla_fails_to_compile(monkeypatch):
    """A chunk XLA cannot compile (as its GPU autotuner has crashed on grouped convolutions) is halved,
    with a warning, down to one trial per device."""
    runner, trials, data = _runner_and_inputs()
    measured = runner.program_bytes

    def fails_above_one_trial(trials, data):
        if len(trials.key) > 1:
            raise jax.errors.JaxRuntimeError("INTERNAL: All configs failed")
        return measured(trials, data)

    monkeypatch.setattr(runner, "program_bytes", fails_above_one_trial)
    with pytest.warns(ChunkShrunkWarning) as warned:
        assert engine.choose_chunk(runner, trials, data, 4) == 1
    messages = [str(w.message) for w in warned]
    assert [m.split(" (")[0] for m in messages] == ["XLA could not compile 4 trials at once",
                                                     "XLA could not compile 2 trials at once"]
    assert all("All configs failed" in m for m in messages)


@pytest.mark.parametrize("strategy", ["map", "sequential", "stepped"])
def test_other_lowerings_equal_vmap(reference, strategy):
    other = _run(SEEDS, strategy=strategy)
    assert other.strategy == strategy
    for t in range(len(SEEDS)):
        _assert_same_trial(other.history, t, reference, t)


@pytest.mark.parametrize("strategy", ["vmap", "stepped"])
def test_direct_first_convolution_trains_like_the_convolution(reference, strategy):
    """The first conv's forward pass as shifted sums (the CPU default) or as XLA's convolution: the
    same trials to float rounding, whichever the reference used."""
    for direct_forward in (True, False):
        other = _run(SEEDS, strategy=strategy, direct_forward=direct_forward)
        for t in range(len(SEEDS)):
            _assert_same_trial(other.history, t, reference, t)


@pytest.mark.parametrize("steps_per_call", [1, 2])
def test_stepped_blocks_of_any_size_agree(reference, steps_per_call):
    """3 training steps per epoch run as 3 calls of 1 step, or a call of 2 and a call of 1."""
    stepped = _run(SEEDS, strategy="stepped", steps_per_call=steps_per_call)
    for t in range(len(SEEDS)):
        _assert_same_trial(stepped.history, t, reference, t)


def test_rolled_and_fully_unrolled_programs_are_not_confused():
    """``unroll=1`` and ``unroll=True`` compare equal as cache keys; each must still get its own program."""
    unrolled = TrialRunner(MODEL, 3, CONFIG, strategy="sequential", devices=jax.devices()[:1], unroll=True)
    rolled = TrialRunner(MODEL, 3, CONFIG, strategy="sequential", devices=jax.devices()[:1], unroll=1)
    assert rolled._program is not unrolled._program


def test_rolled_and_unrolled_scans_agree(reference):
    rolled = _run(SEEDS, strategy="sequential", unroll=1)
    for t in range(len(SEEDS)):
        _assert_same_trial(rolled.history, t, reference, t)


def test_sharded_over_eight_devices_equals_one_device():
    assert len(jax.devices()) == 8, "conftest forces 8 CPU devices"
    seeds = np.arange(10, 19)  # 9 trials on 8 devices: exercises padding of the trial axis
    one = _run(seeds, strategy="vmap", devices=jax.devices()[:1])
    sharded = _run(seeds, strategy="vmap")
    assert len(sharded.devices) == 8 and sharded.chunk == 16
    for t in range(len(seeds)):
        _assert_same_trial(sharded.history, t, one, t)


def test_seed_offset_reproduces_trial(reference):
    """--seed 12 --trials 1 reproduces trial 2 of --seed 10 (splits and keys both follow seed + t)."""
    x = FEATURES.select_maps(("bass", "drums", "other"))
    splits = make_splits(FEATURES.labels, [12], n_classes=3, test_fraction=0.2)
    full = make_splits(FEATURES.labels, SEEDS, n_classes=3, test_fraction=0.2)
    np.testing.assert_array_equal(splits["test"][0], full["test"][2])
    alone = run_trials(MODEL, x, FEATURES.labels, splits, [12], CONFIG, n_classes=3, devices=jax.devices()[:1])
    _assert_same_trial(alone.history, 0, reference, 2)


def test_failed_trial_does_not_poison_the_others(reference):
    x = FEATURES.select_maps(("bass", "drums", "other"))
    splits = make_splits(FEATURES.labels, SEEDS, n_classes=3, test_fraction=0.2)
    splits["class_weights"][1] = np.nan  # trial 1's loss becomes NaN from its first step
    report = run_trials(MODEL, x, FEATURES.labels, splits, SEEDS, CONFIG, n_classes=3, strategy="vmap",
                        devices=jax.devices()[:1])
    assert np.isnan(report.history["train_loss"][1]).all()
    for t in (0, 2, 3):
        _assert_same_trial(report.history, t, reference, t)


def test_history_shapes(reference):
    n_test = reference.history["test_predictions"].shape[-1]
    assert reference.history["train_loss"].shape == (4, CONFIG.epochs)
    assert reference.history["test_predictions"].shape == (4, CONFIG.epochs, n_test)
    assert np.isfinite(reference.history["test_loss"]).all()


def test_strategy_names():
    assert resolve_strategy("auto", "cpu") == "stepped"
    assert resolve_strategy("auto", "cpu", steps_per_trial=12) == "sequential"
    assert resolve_strategy("auto", "cpu", steps_per_trial=100) == "stepped"
    assert resolve_strategy("auto", "gpu") == "sequential"
    assert resolve_strategy("vmap", "gpu") == "vmap"
    with pytest.raises(ConfigError, match="unknown strategy"):
        resolve_strategy("loop")


@pytest.mark.parametrize("strategy", ["sequential", "stepped", "vmap"])
def test_no_compilation_inside_the_timed_run(strategy):
    """Once :meth:`TrialRunner.compiled` has run, :meth:`TrialRunner.run` compiles nothing (a compilation
    there would be timed as training). Fresh shapes (5 trials, 3 epochs) so nothing is cached from other tests."""
    config = CONFIG.replace(epochs=3)
    seeds = np.arange(40, 45)
    x = FEATURES.select_maps(("bass", "drums", "other"))
    splits = make_splits(FEATURES.labels, seeds, n_classes=3, test_fraction=config.test_fraction)
    runner = TrialRunner(MODEL, 3, config, strategy=strategy, devices=jax.devices()[:1])
    trials = engine.stack_trials(seeds, splits, Hyperparameters.from_config(config, len(seeds)))
    data = runner.place_data(trial_data(x, FEATURES.labels))
    runner.compiled(trials, data)
    compiles = []

    def listener(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        out = runner.run(trials, data)
    finally:
        monitoring.unregister_event_duration_listener(listener)
    assert out.history["test_loss"].shape == (5, 3)
    assert compiles == []


@pytest.mark.parametrize("strategy", ["sequential", "stepped"])
def test_trials_at_once_give_the_same_numbers(strategy):
    """Per-trial lowerings running three trials at once (each from its own host thread) return every trial's
    numbers and trained variables bit for bit as one at a time, in trial order, with progress for each."""
    progress = {1: [], 3: []}
    reports = {k: _run(SEEDS, strategy=strategy, devices=jax.devices()[:1], concurrent_trials=k, keep_state=True,
                       progress=progress[k].append) for k in (1, 3)}
    assert reports[1].concurrent_trials == 1 and reports[3].concurrent_trials == 3
    jax.tree.map(np.testing.assert_array_equal, (reports[3].history, reports[3].variables),
                 (reports[1].history, reports[1].variables))
    assert progress[1] == progress[3] == [1, 2, 3, 4]


def test_trials_at_once_only_for_per_trial_lowerings():
    report = _run(SEEDS[:2], strategy="vmap", devices=jax.devices()[:1], concurrent_trials=2)
    assert report.concurrent_trials == 1  # one program runs the chunk
    with pytest.raises(ConfigError, match="concurrent_trials must be >= 1"):
        _run(SEEDS[:1], strategy="sequential", concurrent_trials=0)
    assert engine.default_concurrent_trials("cpu") == 2
    assert engine.default_concurrent_trials("gpu") == 1


def test_an_interruption_drops_the_trials_not_yet_started():
    """With trials running two at a time, an exception in the main thread (a SIGTERM's RunInterrupted, say)
    waits for the two running trials only: the queued ones are never started."""
    import time

    runner = TrialRunner(MODEL, 3, CONFIG, strategy="sequential", devices=jax.devices()[:1], concurrent_trials=2)
    splits = make_splits(FEATURES.labels, np.arange(6), n_classes=3, test_fraction=CONFIG.test_fraction)
    trials = engine.stack_trials(np.arange(6), splits, Hyperparameters.from_config(CONFIG, 6))
    started = []

    def program(trial, data):
        started.append(trial)
        time.sleep(0.3)
        return {"test_loss": np.zeros(CONFIG.epochs)}

    def interrupt(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner._run_per_trial(program, trials, None, interrupt)
    assert 2 <= len(started) <= 4  # the first two, and at most the next two picked up as they finished
