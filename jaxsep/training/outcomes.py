"""What one trial's history says: which epoch each selection rule reports, whether it failed or diverged.

Three epoch-selection rules, always computed side by side from the same trained models:

* ``"test"`` — the epoch of minimum test loss, the paper's protocol. It chooses on the data it then reports,
  which flatters every model, the noisier ones more (Varma & Simon 2006; Cawley & Talbot 2010).
* ``"last"`` — the last epoch: no choice made on test data.
* ``"validation"`` — the epoch of minimum loss on a validation part carved from the trial's training songs
  (only when the run holds one out: ``--select-on validation``).

A trial **fails** when a loss turns NaN or infinite (it is left out of the statistics). It **diverges** when an
epoch's mean training loss rises above :data:`DIVERGENCE_FACTOR` times the loss of its very first training
step (the loss at initialization, ``≈ ln(classes)`` plus the penalty): a blow-up that the paper's six epochs
may not recover from. Diverged trials stay in the statistics; the table counts them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..options import SelectOn
from .trainer import PER_SONG

#: A trial diverged when an epoch's mean training loss exceeds this multiple of its first step's loss.
DIVERGENCE_FACTOR = 3.0
#: The per-epoch metrics reported for a chosen epoch.
METRICS = ("loss", "accuracy", "f1")
#: Selection rule → the history key whose minimum picks the epoch (``None``: the last epoch).
SELECTION_RULES = {"test": "test_loss", "last": None, "validation": "validation_loss"}


def selected_epochs(history: dict[str, np.ndarray]) -> dict[str, int]:
    """``{rule: epoch}`` for every rule the history allows (``"validation"`` needs ``validation_loss``).

    Args:
      history: one trial's arrays, each with a leading ``(epochs,)`` axis.
    """
    epochs = len(history["test_loss"])
    chosen = {}
    for rule, key in SELECTION_RULES.items():
        if key is None:
            chosen[rule] = epochs - 1
        elif key in history:
            chosen[rule] = int(np.argmin(history[key]))
    return chosen


def has_diverged(train_loss: np.ndarray, first_step_loss: np.ndarray) -> bool:
    """Whether any epoch's mean training loss ``(epochs,)`` rose above :data:`DIVERGENCE_FACTOR` times the loss
    of the first training step (``first_step_loss[0]``)."""
    return bool(np.max(train_loss) > DIVERGENCE_FACTOR * first_step_loss[0])


def class_f1(true_labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[float]:
    """F1 of each class ``(n_classes,)`` (0 where a class is neither present nor predicted), in numpy; their
    mean over the classes that occur is the trial's macro-F1."""
    true_labels, predicted = np.asarray(true_labels), np.asarray(predicted)
    scores = []
    for label in range(n_classes):
        hits = int(np.sum((true_labels == label) & (predicted == label)))
        denominator = int(np.sum(true_labels == label) + np.sum(predicted == label))
        scores.append(2 * hits / denominator if denominator else 0.0)
    return scores


def macro_f1(true_labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """The mean of :func:`class_f1` over the classes that are present or predicted (numpy twin of
    :func:`jaxsep.training.metrics.macro_f1`)."""
    true_labels, predicted = np.asarray(true_labels), np.asarray(predicted)
    scores = class_f1(true_labels, predicted, n_classes)
    occurs = [c for c in range(n_classes) if np.any(true_labels == c) or np.any(predicted == c)]
    return float(np.mean([scores[c] for c in occurs])) if occurs else 0.0


def trial_record(history: dict[str, np.ndarray], *, select_on: str, n_classes: int, test_labels: np.ndarray) -> dict:
    """The outcome part of one trial's record in ``results.json``.

    Args:
      history: the trial's arrays with a leading ``(epochs,)`` axis (``test_predictions (E, n_test)``...).
      select_on: the rule whose epoch is reported as ``chosen`` (``"test"`` or ``"validation"``).
      n_classes: classes of the data set.
      test_labels: true labels of the trial's test songs, ``(n_test,)``.

    Returns:
      ``failed`` (and ``failed_epoch``), else ``diverged`` (never, for a history without ``train_loss``: a
      classifier fitted in one go), ``selections`` (``{rule: {epoch, loss, accuracy, f1}}``), ``chosen_epoch``,
      ``chosen`` and ``last`` (metrics), ``predicted_labels``, ``probabilities`` ``(n_test, n_classes)`` and
      ``class_f1`` at the chosen epoch.
    """
    losses = [history[key] for key in ("train_loss", "test_loss", "validation_loss") if key in history]
    finite = np.isfinite(np.stack(losses)).all(axis=0)
    if not finite.all():
        return {"failed": True, "failed_epoch": int(np.argmin(finite))}
    selections = {
        rule: {"epoch": epoch, **{m: float(history[f"test_{m}"][epoch]) for m in METRICS}}
        for rule, epoch in selected_epochs(history).items()
    }
    chosen = selections[select_on]["epoch"]
    predicted = np.asarray(history["test_predictions"][chosen])
    return {
        "failed": False,
        "diverged": "train_loss" in history and has_diverged(history["train_loss"], history["first_step_loss"]),
        "selections": selections,
        "chosen_epoch": chosen,
        "chosen": {m: selections[select_on][m] for m in METRICS},
        "last": {m: selections["last"][m] for m in METRICS},
        "predicted_labels": predicted.tolist(),
        "probabilities": np.round(np.asarray(history["test_probabilities"][chosen], np.float64), 6).tolist(),
        "class_f1": class_f1(test_labels, predicted, n_classes),
    }


def trial_entry(history: dict[str, np.ndarray], *, trial: int, seed: int, test_songs: Sequence[int],
                true_labels: np.ndarray, n_classes: int, select_on: SelectOn = SelectOn.TEST,
                validation_songs: Sequence[int] = (), epochs: bool = True) -> dict:
    """One trial's record in ``results.json``, for a CNN and for the reference row alike.

    Args:
      history: the trial's arrays with a leading ``(epochs,)`` axis (a reference row: one "epoch", test entries
        only).
      trial, seed: the trial's number in the run and its seed.
      test_songs, true_labels: the trial's test songs ``(n_test,)`` and their labels.
      n_classes: classes of the data set.
      select_on: the rule whose epoch is reported as ``chosen``.
      validation_songs: the songs held out for validation, if any.
      epochs: keep the per-epoch numbers (``"epochs"``); a reference row has none.

    Returns:
      ``trial``, ``seed``, ``test_songs``, ``true_labels``, ``epochs`` (per-epoch numbers, not the per-song
      ones), ``validation_songs`` when there are any, then :func:`trial_record`'s outcome.
    """
    record = {"trial": int(trial), "seed": int(seed), "test_songs": np.asarray(test_songs).tolist(),
              "true_labels": np.asarray(true_labels).tolist()}
    if epochs:
        record["epochs"] = {k: np.asarray(v).tolist() for k, v in history.items() if k not in PER_SONG}
    if len(validation_songs):
        record["validation_songs"] = np.asarray(validation_songs).tolist()
    return record | trial_record(history, select_on=select_on, n_classes=n_classes, test_labels=true_labels)
