"""The paper's experiment: every chosen model over the same trial splits, scored per the protocol.

Returns plain JSON-ready dicts; :mod:`jaxsep.results.run_folder` writes them. Epoch selection: the reported metrics
of a trial are those of the epoch with minimum test loss (``select_on="test"``, the paper) or minimum
validation loss (``select_on="validation"``); last-epoch metrics are kept too. A trial whose loss is ever
NaN or infinite is marked failed with the first such epoch and left out of the statistics.
"""

from __future__ import annotations

import dataclasses
import platform
import time
from importlib import metadata
from typing import Callable

import jax
import numpy as np

from ..config import RunConfig
from ..features.file import FeatureSet
from ..nn.models import get_spec, required_maps
from .engine import run_trials
from .splits import check_splittable, make_splits

METRICS = ("loss", "accuracy", "f1")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a result."""
    out = {"python": platform.python_version()}
    for name in ("jaxsep", "jax", "jaxlib", "flax", "optax", "numpy", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _trial_records(history: dict[str, np.ndarray], splits: dict, labels: np.ndarray, seeds, select_on: str):
    """Per-trial JSON records from the engine's ``(trials, epochs, ...)`` history."""
    records = []
    selector = f"{select_on}_loss"
    for t, seed in enumerate(seeds):
        losses = np.stack([history["train_loss"][t], history["test_loss"][t]]
                          + ([history["validation_loss"][t]] if "validation_loss" in history else []))
        finite = np.isfinite(losses).all(axis=0)
        epochs = {k: history[k][t].tolist() for k in history if k != "test_predictions"}
        record = {
            "trial": t,
            "seed": int(seed),
            "test_songs": splits["test"][t].tolist(),
            "true_labels": labels[splits["test"][t]].tolist(),
            "epochs": epochs,
            "failed": not bool(finite.all()),
        }
        if splits["validation"].shape[1]:
            record["validation_songs"] = splits["validation"][t].tolist()
        if record["failed"]:
            record["failed_epoch"] = int(np.argmin(finite))
            records.append(record)
            continue
        chosen = int(np.argmin(history[selector][t]))
        last = len(finite) - 1
        record["chosen_epoch"] = chosen
        record["chosen"] = {m: float(history[f"test_{m}"][t][chosen]) for m in METRICS}
        record["last"] = {m: float(history[f"test_{m}"][t][last]) for m in METRICS}
        record["predicted_labels"] = history["test_predictions"][t][chosen].tolist()
        records.append(record)
    return records


def run_experiment(
    features: FeatureSet,
    config: RunConfig,
    *,
    devices=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict:
    """Trains every model of ``config`` over ``config.trials`` shared splits of ``features``.

    Args:
      features: a validated feature set holding every map the models need.
      config: models, trials, seed, protocol and engine options.
      devices: devices to shard the trials over (default: all local devices).
      progress: called as ``progress(model, trials_done, trials)``.

    Returns:
      the results dict written to ``results.json``: ``config``, ``versions``, ``device``, ``data``,
      ``select_on``, ``timing`` and ``models -> {name: {"trials": [...], "timing": {...}}}``.
    """
    for name in config.models:
        get_spec(name)
    features.select_maps(required_maps(config.models))
    check_splittable(features.labels, features.n_classes, features.classes)
    train = config.train
    seeds = np.arange(config.seed, config.seed + config.trials)
    splits = make_splits(
        features.labels,
        seeds,
        n_classes=features.n_classes,
        test_fraction=train.test_fraction,
        validation_fraction=train.validation_fraction if train.uses_validation else None,
    )
    started = time.perf_counter()
    models = {}
    for name in config.models:
        report = run_trials(
            name,
            features.select_maps(get_spec(name).maps),
            features.labels,
            splits,
            seeds,
            train,
            n_classes=features.n_classes,
            strategy=config.strategy,
            trials_per_chunk=config.trials_per_chunk,
            devices=devices,
            progress=None if progress is None else (lambda done, name=name: progress(name, done, config.trials)),
        )
        models[name] = {
            "maps": list(get_spec(name).maps),
            "description": get_spec(name).description,
            "timing": {
                "compile_seconds": report.compile_seconds,
                "run_seconds": report.run_seconds,
                "strategy": report.strategy,
                "trials_per_chunk": report.chunk,
                "devices": report.devices,
            },
            "trials": _trial_records(report.history, splits, features.labels, seeds, train.select_on),
        }
    return {
        "format_version": 1,
        "config": {
            "models": list(config.models),
            "trials": config.trials,
            "seed": config.seed,
            "baseline": config.baseline,
            "strategy": config.strategy,
            "trials_per_chunk": config.trials_per_chunk,
            "train": dataclasses.asdict(train),
        },
        "select_on": train.select_on,
        "versions": package_versions(),
        "device": {"backend": jax.default_backend(), "devices": [str(d) for d in (devices or jax.local_devices())],
                   "kind": jax.local_devices()[0].device_kind, "host": platform.node()},
        "data": {
            "path": features.path,
            "songs": features.n_songs,
            "classes": list(features.classes),
            "class_counts": features.class_counts().tolist(),
            "song_ids": list(features.song_ids),
            "shape": list(features.mels.shape[1:3]),
            "meta": features.meta,
        },
        "timing": {
            "total_seconds": time.perf_counter() - started,
            "compile_seconds": sum(m["timing"]["compile_seconds"] for m in models.values()),
            "run_seconds": sum(m["timing"]["run_seconds"] for m in models.values()),
        },
        "models": models,
    }
