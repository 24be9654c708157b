"""jnp metrics against a plain numpy reference of scikit-learn's definitions."""

import jax
import numpy as np
import pytest

from jaxsep.training.metrics import accuracy, confusion_matrix, macro_f1


def reference_macro_f1(y_true, y_pred):
    """scikit-learn f1_score(average='macro'): classes = union of y_true and y_pred, zero_division=0."""
    scores = []
    for c in np.union1d(y_true, y_pred):
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        scores.append(0.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def test_macro_f1_hand_computed():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 0])
    # class 0: tp1 fp2 fn1 -> 2/5; class 1: tp2 fp1 fn0 -> 4/5; class 2: tp0 fp0 fn2 -> 0
    assert float(macro_f1(y_true, y_pred, 3)) == pytest.approx((0.4 + 0.8 + 0.0) / 3)
    assert float(accuracy(y_true, y_pred)) == pytest.approx(3 / 6)


@pytest.mark.parametrize("seed", range(20))
def test_against_reference_random(seed):
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 7))
    n = int(rng.integers(1, 30))
    y_true = rng.integers(0, n_classes, n)
    y_pred = rng.integers(0, n_classes, n)
    assert float(jax.jit(macro_f1, static_argnums=2)(y_true, y_pred, n_classes)) == pytest.approx(
        reference_macro_f1(y_true, y_pred), abs=1e-6)
    assert float(accuracy(y_true, y_pred)) == pytest.approx(np.mean(y_true == y_pred))


def test_mask_drops_padded_rows():
    y_true = np.array([0, 1, 2, 0, 0])
    y_pred = np.array([0, 1, 1, 2, 2])
    mask = np.array([1.0, 1.0, 1.0, 0.0, 0.0])
    assert float(macro_f1(y_true, y_pred, 3, mask)) == pytest.approx(reference_macro_f1(y_true[:3], y_pred[:3]))
    assert float(accuracy(y_true, y_pred, mask)) == pytest.approx(2 / 3)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3, mask).sum(), 3)
