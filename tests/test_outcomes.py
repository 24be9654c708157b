"""A trial's outcome read from its history, against hand-made histories and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from jaxsep.training.outcomes import (
    DIVERGENCE_FACTOR,
    class_f1,
    has_diverged,
    selected_epochs,
    trial_record,
)

HISTORY = {
    "train_loss": np.array([1.9, 1.2, 0.8, 0.5]),
    "first_step_loss": np.array([1.8, 1.5, 1.0, 0.6]),
    "test_loss": np.array([1.5, 1.1, 1.2, 1.3]),
    "test_accuracy": np.array([0.4, 0.6, 0.5, 0.7]),
    "test_f1": np.array([0.3, 0.5, 0.45, 0.65]),
    "validation_loss": np.array([1.4, 1.3, 1.0, 1.1]),
    "test_predictions": np.array([[0, 0, 0], [0, 1, 1], [1, 1, 1], [0, 1, 2]]),
    "test_probabilities": np.full((4, 3, 3), 1 / 3),
}


def test_each_rule_picks_its_epoch():
    assert selected_epochs(HISTORY) == {"test": 1, "last": 3, "validation": 2}
    without = {k: v for k, v in HISTORY.items() if k != "validation_loss"}
    assert selected_epochs(without) == {"test": 1, "last": 3}


def test_divergence_is_a_rise_far_above_the_first_step():
    assert not has_diverged(HISTORY["train_loss"], HISTORY["first_step_loss"])
    # the case: ln 3 ≈ 1.1 at the start, 17.2 in epoch 2
    assert has_diverged(np.array([8.3, 17.2, 7.4, 7.4, 3.8, 0.9]), np.array([1.1, 9.0, 7.0, 7.0, 4.0, 1.0]))
    start = 1.0
    assert not has_diverged(np.array([DIVERGENCE_FACTOR * start]), np.array([start]))  # at the limit: not yet
    assert has_diverged(np.array([DIVERGENCE_FACTOR * start + 1e-6]), np.array([start]))


def test_class_f1_matches_scikit_learn():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    predicted[predicted == 3] = 2  # class 3 never predicted
    np.testing.assert_allclose(class_f1(truth, predicted, 5),
                               f1_score(truth, predicted, labels=range(5), average=None, zero_division=0))


def test_trial_record_reports_the_chosen_rule_and_keeps_the_others():
    record = trial_record(HISTORY, select_on="validation", n_classes=3, test_labels=np.array([0, 1, 2]))
    assert not record["failed"] and not record["diverged"]
    assert record["chosen_epoch"] == 2 and record["chosen"] == {"loss": 1.2, "accuracy": 0.5, "f1": 0.45}
    assert record["last"] == {"loss": 1.3, "accuracy": 0.7, "f1": 0.65}
    assert record["selections"]["test"] == {"epoch": 1, "loss": 1.1, "accuracy": 0.6, "f1": 0.5}
    assert record["predicted_labels"] == [1, 1, 1]
    assert record["class_f1"] == pytest.approx([0.0, 0.5, 0.0])
    assert np.asarray(record["probabilities"]).shape == (3, 3)


def test_a_non_finite_loss_fails_the_trial_at_its_epoch():
    broken = {**HISTORY, "test_loss": np.array([1.5, 1.1, np.nan, 1.3])}
    assert trial_record(broken, select_on="test", n_classes=3, test_labels=np.zeros(3, int)) == {
        "failed": True, "failed_epoch": 2}


def test_macro_f1_averages_the_classes_that_occur_like_the_jax_metric():
    from jaxsep.training.metrics import macro_f1 as jax_macro_f1
    from jaxsep.training.outcomes import macro_f1

    rng = np.random.default_rng(1)
    truth, predicted = rng.integers(0, 4, 40), rng.integers(0, 4, 40)  # class 4 of 5 neither present nor predicted
    expected = f1_score(truth, predicted, labels=range(4), average="macro", zero_division=0)
    assert macro_f1(truth, predicted, 5) == pytest.approx(expected)
    assert macro_f1(truth, predicted, 5) == pytest.approx(float(jax_macro_f1(truth, predicted, 5)), abs=1e-6)
