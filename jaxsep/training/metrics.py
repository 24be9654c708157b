"""Classification metrics in jnp, for one trial (vmapped by the engine), with a mask for padded rows."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def confusion_matrix(labels: jax.Array, predictions: jax.Array, n_classes: int, mask: jax.Array | None = None):
    """Counts, shape ``(n_classes, n_classes)``, rows true class, columns predicted.

    Args:
      labels, predictions: int, shape ``(n,)``.
      mask: ``(n,)`` weights (1 real, 0 padding); all ones when None.
    """
    if mask is None:
        mask = jnp.ones(labels.shape, jnp.float32)
    one_hot_true = jax.nn.one_hot(labels, n_classes) * mask[:, None]
    one_hot_pred = jax.nn.one_hot(predictions, n_classes)
    return one_hot_true.T @ one_hot_pred


def accuracy(labels: jax.Array, predictions: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Share of (unmasked) rows predicted right; ``labels``, ``predictions``: int ``(n,)``."""
    if mask is None:
        mask = jnp.ones(labels.shape, jnp.float32)
    return jnp.sum((labels == predictions) * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def macro_f1(labels: jax.Array, predictions: jax.Array, n_classes: int, mask: jax.Array | None = None) -> jax.Array:
    """Unweighted mean of per-class F1 over the classes that occur in ``labels`` or ``predictions``
    (scikit-learn's ``f1_score(average="macro")`` with its default label set and ``zero_division=0``).

    Args:
      labels, predictions: int, shape ``(n,)``.
      n_classes: number of classes.
      mask: ``(n,)`` 1 for real rows, 0 for padding.

    Returns:
      scalar in ``[0, 1]``.
    """
    counts = confusion_matrix(labels, predictions, n_classes, mask)
    true_positive = jnp.diag(counts)
    false_positive = counts.sum(axis=0) - true_positive
    false_negative = counts.sum(axis=1) - true_positive
    denominator = 2 * true_positive + false_positive + false_negative
    occurs = denominator > 0
    f1 = jnp.where(occurs, 2 * true_positive / jnp.where(occurs, denominator, 1.0), 0.0)
    return jnp.sum(f1) / jnp.maximum(jnp.sum(occurs), 1)
