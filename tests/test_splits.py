"""Trial splits: stratified, same sizes in every trial, reproducible from seed + t; Keras class weights."""

import numpy as np
import pytest

from jaxsep.errors import ConfigError
from jaxsep.training.splits import class_weights, make_splits, trial_split

LABELS = np.repeat(np.arange(6), [8, 14, 10, 12, 9, 13])  # unbalanced like the paper's 66 songs


def test_stratified_80_20():
    split = trial_split(LABELS, 7, n_classes=6)
    counts = np.bincount(LABELS, minlength=6)
    test_counts = np.bincount(LABELS[split.test], minlength=6)
    assert test_counts.sum() == 13  # round(0.2 * 66)
    assert np.all(np.abs(test_counts - counts * 0.2) < 1)  # each class within one song of 20 %
    assert len(np.intersect1d(split.train, split.test)) == 0
    assert len(split.train) + len(split.test) == len(LABELS)


def test_same_sizes_every_trial_and_reproducible():
    stacked = make_splits(LABELS, range(20), n_classes=6, test_fraction=0.2)
    assert stacked["train"].shape == (20, 53) and stacked["test"].shape == (20, 13)
    again = trial_split(LABELS, 5, n_classes=6)
    np.testing.assert_array_equal(again.test, stacked["test"][5])
    assert len({tuple(t) for t in stacked["test"]}) > 15  # seeds give different splits


def test_validation_carved_from_training():
    split = trial_split(LABELS, 1, n_classes=6, test_fraction=0.2, validation_fraction=0.2)
    assert len(np.intersect1d(split.validation, split.test)) == 0
    assert len(np.intersect1d(split.validation, split.train)) == 0
    assert len(split.train) + len(split.test) + len(split.validation) == len(LABELS)
    assert set(LABELS[split.validation]) == set(range(6))


def test_unstratified_fallback_for_validation():
    labels = np.array([0, 0, 1, 1, 1, 1, 1, 1])  # class 0 keeps 1 training song: no stratified validation
    split = trial_split(labels, 0, n_classes=2, test_fraction=0.2, validation_fraction=0.2)
    assert len(split.validation) == 1 and len(split.test) == 2


def test_keras_balanced_weights():
    labels = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(class_weights(labels, 3), [4 / (2 * 3), 4 / (2 * 1), 0.0])


def test_class_with_one_song_is_an_error():
    with pytest.raises(ConfigError, match=r"class\(es\) \[2\] have fewer than 2 songs"):
        trial_split(np.array([0, 0, 1, 1, 2]), 0, n_classes=3)
