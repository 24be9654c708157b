"""Hyperparameter sweeps: every combination of a grid × every trial, the scalars vmapped with the trials.

Learning rate, L1, L2 and dropout are per-trial inputs of the trainer
(:class:`~jaxsep.training.trainer.Hyperparameters`), so all combinations of one batch size run through the
engine as one set of trial-configs: in one program under ``vmap``, or one compiled program dispatched per
trial-config otherwise. The batch size changes the program's shapes, so each batch size is its own set. The
trials of every combination use the same seeds, hence the same splits, initializations and data order.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..config import TrainConfig
from ..features.file import FeatureSet
from ..nn.models import get_spec
from .engine import run_trials
from .outcomes import has_diverged, selected_epochs
from .splits import check_splittable, make_splits, rows_of
from .trainer import Hyperparameters

#: The scalar hyperparameters a sweep can vary with the trials in one program.
SCALARS = Hyperparameters._fields


@dataclass(frozen=True)
class SweepGrid:
    """The values to try; every combination is run.

    Attributes:
      batch_size: clips per step (each value compiles its own program).
      learning_rate, l1, l2, dropout: the scalar hyperparameters.
    """

    batch_size: tuple[int, ...]
    learning_rate: tuple[float, ...]
    l1: tuple[float, ...]
    l2: tuple[float, ...]
    dropout: tuple[float, ...]

    def scalar_points(self) -> list[dict[str, float]]:
        """Every combination of the scalar hyperparameters, as ``{name: value}``."""
        values = [getattr(self, name) for name in SCALARS]
        return [dict(zip(SCALARS, point)) for point in itertools.product(*values)]


def _summarize(history: dict[str, np.ndarray]) -> dict:
    """Per-epoch means and spreads over one combination's trials, and its stability."""
    finite = np.isfinite(history["train_loss"]).all(axis=1) & np.isfinite(history["test_loss"]).all(axis=1)
    ok = {k: v[finite] for k, v in history.items()}
    diverged = [has_diverged(loss, first) for loss, first in zip(ok["train_loss"], ok["first_step_loss"])]
    paper = [selected_epochs({k: v[t] for k, v in ok.items()})["test"] for t in range(int(finite.sum()))]

    def by_epoch(key: str) -> dict[str, list[float]]:
        values = ok[key]
        return {"mean": values.mean(axis=0).tolist() if len(values) else [],
                "std": values.std(axis=0, ddof=1).tolist() if len(values) > 1 else []}

    last_accuracy = ok["test_accuracy"][:, -1] if len(ok["test_accuracy"]) else np.zeros(0)
    return {
        "trials": int(len(finite)),
        "failed": int((~finite).sum()),
        "diverged": int(np.sum(diverged)),
        "train_loss": by_epoch("train_loss"),
        "first_step_loss_mean": float(ok["first_step_loss"][:, 0].mean()) if len(paper) else float("nan"),
        "test_loss": by_epoch("test_loss"),
        "test_accuracy": by_epoch("test_accuracy"),
        "test_f1": by_epoch("test_f1"),
        "last_accuracy_mean": float(last_accuracy.mean()) if len(last_accuracy) else float("nan"),
        "paper_accuracy_mean": float(np.mean([ok["test_accuracy"][t, e] for t, e in enumerate(paper)]))
        if paper else float("nan"),
    }


def run_sweep(
    features: FeatureSet,
    model: str,
    grid: SweepGrid,
    config: TrainConfig,
    *,
    trials: int,
    seed: int = 0,
    strategy: str = "auto",
    devices=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Trains ``model`` with every combination of ``grid`` over ``trials`` shared splits.

    Args:
      features: the feature set.
      model: a model name.
      grid: the values to try.
      config: everything the grid does not set (epochs, filters, ...).
      trials: trials per combination; trial ``t`` uses seed ``seed + t`` in every combination.
      strategy, devices: passed to the engine.
      progress: ``progress(label, done, total)`` per batch size.

    Returns:
      a JSON-ready dict: ``model``, ``trials``, ``seed``, ``config``, ``timing`` and ``points``, one per
      combination: its hyperparameters and the summary of its trials (per-epoch mean/sd of the training loss,
      test loss, accuracy and F1; failed and diverged counts; mean accuracy at the last epoch and at the
      paper's minimum-test-loss epoch).
    """
    spec = get_spec(model)
    check_splittable(features.song_labels, features.n_classes, features.classes)
    seeds = np.arange(seed, seed + trials)
    songs = make_splits(features.song_labels, seeds, n_classes=features.n_classes,
                        test_fraction=config.test_fraction)
    splits = rows_of(songs, features.song_rows)
    points = grid.scalar_points()
    x = features.select_maps(spec.maps)
    out_points, started, compile_seconds = [], time.perf_counter(), 0.0
    for batch_size in grid.batch_size:
        run_config = config.replace(batch_size=batch_size)
        hyper = Hyperparameters(*(np.repeat(np.array([p[name] for p in points], np.float32), trials)
                                  for name in SCALARS))
        label = f"{model} batch {batch_size}"
        report = run_trials(
            model, x, features.labels, {k: np.concatenate([v] * len(points)) for k, v in splits.items()},
            np.tile(seeds, len(points)), run_config, n_classes=features.n_classes, strategy=strategy,
            devices=devices, hyper=hyper, segments_per_song=features.segments_per_song,
            progress=None if progress is None else (lambda done: progress(label, done, len(points) * trials)),
        )
        compile_seconds += report.compile_seconds
        for index, point in enumerate(points):
            rows = slice(index * trials, (index + 1) * trials)
            history = {k: v[rows] for k, v in report.history.items() if k not in ("test_predictions",
                                                                                   "test_probabilities")}
            out_points.append({"batch_size": batch_size, **point, **_summarize(history)})
    return {
        "model": model,
        "trials": trials,
        "seed": seed,
        "data": {"path": features.path, "songs": features.n_songs, "classes": list(features.classes)},
        "config": {k: v for k, v in vars(config).items() if k not in ("batch_size", *SCALARS)},
        "timing": {"total_seconds": time.perf_counter() - started, "compile_seconds": compile_seconds},
        "points": out_points,
    }
