"""The default recipe learns a plainly learnable file at the paper's size in the paper's six epochs.

The file: 66 songs of 6 classes, 128 × 458 maps, the class a band of +1 noise sd in the bass, drums and other
maps only (toy_features). With the defaults (TrainConfig()), stems3 must reach ≥ 0.95 mean test accuracy
without a blow-up of the training loss; the previous defaults (Adam 1e-3, batch 32) blew up on the same file,
and the divergence flag says so. The sweep that chose the defaults is in benchmarks/RESULTS.md ("The recipe").
"""

import jax
import numpy as np
import pytest

from jaxsep.config import RunConfig, TrainConfig
from jaxsep.features.toy import toy_features
from jaxsep.training.experiment import run_experiment

LEARNABLE = toy_features(songs_per_class=(11,) * 6, n_mels=128, frames=458, strength=1.0, seed=11,
                         dtype=np.float16)


def _run(train: TrainConfig, trials: int) -> list[dict]:
    config = RunConfig(models=("stems3",), trials=trials, train=train, reference=False)
    return run_experiment(LEARNABLE, config, devices=jax.devices()[:1])["models"]["stems3"]["trials"]


@pytest.mark.slow
def test_the_defaults_learn_the_stem_signal_without_blowing_up():
    trials = _run(TrainConfig(), trials=6)
    assert not any(t["failed"] or t["diverged"] for t in trials)
    assert np.mean([t["chosen"]["accuracy"] for t in trials]) >= 0.95
    assert np.mean([t["last"]["accuracy"] for t in trials]) >= 0.95
    for t in trials:  # the training loss falls below where it started
        assert t["epochs"]["train_loss"][-1] < t["epochs"]["first_step_loss"][0]


@pytest.mark.slow
def test_the_old_defaults_blow_up_and_are_flagged():
    trials = _run(TrainConfig(learning_rate=1e-3, batch_size=32), trials=1)
    assert all(t["diverged"] for t in trials)
    assert all(max(t["epochs"]["train_loss"]) > 3 * t["epochs"]["first_step_loss"][0] for t in trials)
