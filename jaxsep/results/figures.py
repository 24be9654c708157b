"""Figures of a run: Figure 1 (F1 distributions over trials), learning curves, confusion matrices, the forest
plot of the comparisons.

Each function takes a results dict and ``ax=None`` (axes to draw into; a new figure when None) and returns
the axes it drew, as rliable's plotting helpers do; :mod:`jaxsep.results.run_folder` saves them.
"""

from __future__ import annotations

import numpy as np

from .tables import FEW_RESAMPLES, metric_values, reference_baseline, reference_rows, table_rows

#: Learning-curve panels: history key → title.
CURVES = {"train_loss": "training loss", "test_loss": "test loss", "test_accuracy": "test accuracy"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axes_grid(ax, rows: int, columns: int, size: tuple[float, float]):
    """``ax`` as a 2-d array, or a new figure's ``rows × columns`` axes."""
    if ax is None:
        _, ax = _pyplot().subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    return np.asarray(ax, dtype=object).reshape(rows, columns)


def plot_f1_distributions(results: dict, ax=None):
    """Figure 1: F1 distributions of the 3-spectrogram models (orange) against the 1-spectrogram ones
    (blue), dashed lines at the means; one panel per 3-spectrogram model (or one panel of every model).

    Args:
      results: a results dict.
      ax: an axis or array of axes to draw into; created (with a new figure) when None.

    Returns:
      the axes drawn into (a list).
    """
    plt = _pyplot()
    models = results["models"]
    multi = [n for n, m in models.items() if len(m["maps"]) > 1]
    single = [n for n, m in models.items() if len(m["maps"]) == 1]
    panels = [(n, single) for n in multi] or [(None, list(models))]
    if ax is None:
        columns = min(len(panels), 3)
        rows = -(-len(panels) // columns)
        _, ax = plt.subplots(rows, columns, figsize=(5.5 * columns, 3.8 * rows), squeeze=False)
        for extra in ax.reshape(-1)[len(panels):]:
            extra.set_visible(False)
        ax = list(ax.reshape(-1)[:len(panels)])
    axes = list(np.atleast_1d(ax))
    bins = np.linspace(0, 1, 21)
    blues = ["#1f77b4", "#6baed6", "#08306b"]
    for axis, (main, others) in zip(axes, panels):
        drawn = ([(main, "#ff7f0e")] if main else []) + [(o, blues[i % 3]) for i, o in enumerate(others)]
        for name, colour in drawn:
            values = list(metric_values(models[name], "f1").values())
            if not values:
                continue
            axis.hist(values, bins=bins, alpha=0.5, color=colour, label=f"{name} (mean {np.mean(values):.3f})")
            axis.axvline(np.mean(values), color=colour, linestyle="--")
        axis.set_xlabel("test macro-F1")
        axis.set_ylabel("trials")
        axis.set_title(f"{main} vs 1-spectrogram models" if main else "F1 distributions")
        axis.legend(fontsize=8)
    return axes


def plot_learning_curves(results: dict, ax=None):
    """Per model (columns): mean training loss, test loss and test accuracy by epoch (rows), with the
    interquartile range over the successful trials shaded; under the accuracy, the share of trials whose
    chosen epoch each is.

    Returns:
      the axes, shape ``(3, models)``.
    """
    models = results["models"]
    axes = axes_grid(ax, len(CURVES), len(models), (3.2, 2.4))
    for column, (name, entry) in enumerate(models.items()):
        trials = [r for r in entry["trials"] if not r["failed"]]
        for row, (key, title) in enumerate(CURVES.items()):
            axis = axes[row, column]
            if not trials:
                continue
            values = np.array([r["epochs"][key] for r in trials], dtype=np.float64)
            epochs = np.arange(1, values.shape[1] + 1)
            low, high = np.percentile(values, [25, 75], axis=0)
            axis.fill_between(epochs, low, high, alpha=0.25, color="#1f77b4", linewidth=0)
            axis.plot(epochs, values.mean(axis=0), color="#1f77b4", marker="o", markersize=3)
            if key == "test_accuracy":
                chosen = np.bincount([r["chosen_epoch"] for r in trials], minlength=len(epochs))
                axis.bar(epochs, chosen / len(trials) * 0.15, bottom=0, color="#ff7f0e", alpha=0.6,
                         label="share of trials choosing the epoch (× 0.15)")
                axis.set_ylim(0, 1)
            axis.set_xticks(epochs)
            axis.set_title(f"{name}: {title}", fontsize=9)
            if row == len(CURVES) - 1:
                axis.set_xlabel("epoch")
        if trials:
            axes[-1, column].legend(fontsize=6, loc="upper left")
    return axes


def forest_families(results: dict) -> list[tuple[str, list[dict]]]:
    """The comparisons a forest plot shows: ``(title, rows)`` for the models against the baseline and, when the
    run has them, the reference rows against the reference on the baseline's maps; rows from
    :func:`~jaxsep.results.tables.table_rows` / :func:`~jaxsep.results.tables.reference_rows` that have a Δ."""
    baseline = results["config"].get("baseline")
    compared = [r for r in table_rows(results, n_resamples=FEW_RESAMPLES) if r["kind"] == "model"]
    families = [(f"CNNs against {baseline}", compared)]
    references = [r for r in reference_rows(results, n_resamples=FEW_RESAMPLES) if r["kind"] != "baseline"]
    if references:
        families.append((f"reference rows against {reference_baseline(results)}", references))
    return [(title, [r for r in rows if np.isfinite(r["f1_vs_baseline_mean_difference"])])
            for title, rows in families if rows]


def plot_forest(results: dict, ax=None):
    """Forest plot: each compared row's mean paired F1 difference from its baseline with the corrected 95 %
    interval, one panel per family (:func:`forest_families`), zero marked; a filled point where Holm's adjusted
    p is below 0.05.

    Returns:
      the axes, shape ``(1, families)`` (one empty panel saying so when nothing was compared).
    """
    families = forest_families(results) or [("nothing compared (no baseline among the models)", [])]
    height = max(2.4, 0.42 * max(len(rows) for _, rows in families) + 1.2)
    axes = axes_grid(ax, 1, len(families), (5.6, height))
    for axis, (title, rows) in zip(axes[0], families):
        for y, row in enumerate(reversed(rows)):
            low, high = row["f1_vs_baseline_ci_low"], row["f1_vs_baseline_ci_high"]
            mean = row["f1_vs_baseline_mean_difference"]
            axis.plot([low, high], [y, y], color="#1f77b4", linewidth=2)
            filled = row["f1_vs_baseline_p_holm"] < 0.05
            axis.plot([mean], [y], "o", color="#1f77b4", markerfacecolor="#1f77b4" if filled else "white")
        axis.axvline(0.0, color="#888", linestyle="--", linewidth=1)
        axis.set_yticks(range(len(rows)), [r["model"] for r in reversed(rows)], fontsize=8)
        axis.set_xlabel("ΔF1, corrected 95 % interval (filled: Holm p < 0.05)")
        axis.set_title(title, fontsize=9)
    return axes


def confusion_counts(entry: dict, n_classes: int) -> np.ndarray:
    """Counts ``(n_classes, n_classes)`` (rows true class, columns predicted) at the chosen epoch, summed over
    an entry's successful trials."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    for record in entry["trials"]:
        if not record["failed"]:
            np.add.at(counts, (np.asarray(record["true_labels"]), np.asarray(record["predicted_labels"])), 1)
    return counts


def plot_confusion(results: dict, ax=None):
    """One confusion matrix per model and reference row, summed over trials, each row normalized to the
    share of that class's test songs (the counts are written in the cells).

    Returns:
      the axes, shape ``(1, entries)``.
    """
    classes = results["data"]["classes"]
    entries = {**results["models"], **results.get("reference", {})}
    axes = axes_grid(ax, 1, len(entries), (0.55 * len(classes) + 2.2, 0.55 * len(classes) + 1.6))
    for axis, (name, entry) in zip(axes[0], entries.items()):
        counts = confusion_counts(entry, len(classes))
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        axis.imshow(shares, vmin=0, vmax=1, cmap="Blues")
        for (true, predicted), count in np.ndenumerate(counts):
            colour = "white" if shares[true, predicted] > 0.6 else "black"
            axis.text(predicted, true, str(count), ha="center", va="center", fontsize=7, color=colour)
        axis.set_xticks(range(len(classes)), classes, rotation=60, ha="right", fontsize=7)
        axis.set_yticks(range(len(classes)), classes, fontsize=7)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        axis.set_title(name, fontsize=9)
    return axes


#: The maps drawn as the red, green and blue channels of a feature stack.
STACK_MAPS = ("bass", "drums", "other")


def stack_image(maps: np.ndarray) -> np.ndarray:
    """Three log-mel maps ``(n_mels, frames, 3)`` (dB) as one RGB image ``(n_mels, frames, 3)`` in ``[0, 1]``:
    one shared dB range for the three (from the 5th percentile to the maximum), so a louder stem is brighter."""
    maps = np.asarray(maps, dtype=np.float64)
    low, high = np.percentile(maps, 5), maps.max()
    return np.clip((maps - low) / max(high - low, 1e-9), 0.0, 1.0)


def plot_feature_stacks(features, songs=None, ax=None):
    """The paper's idea as a picture: for each song, its bass, drums and other maps as the R, G, B channels of
    one image, beside the map of the mix.

    Args:
      features: a :class:`~jaxsep.features.file.FeatureSet` holding ``mix``, ``bass``, ``drums``, ``other``.
      songs: song indices to draw (default: the first song of each class, at most 6).
      ax: axes ``(songs, 2)`` to draw into; a new figure when None.

    Returns:
      the axes, shape ``(songs, 2)``.
    """
    if songs is None:
        songs = [int(np.nonzero(features.labels == c)[0][0]) for c in range(features.n_classes)][:6]
    stacks = features.select_maps(STACK_MAPS)
    mix = features.select_maps(("mix",))[..., 0]
    axes = axes_grid(ax, len(songs), 2, (5.0, 1.9))
    for row, song in enumerate(songs):
        title = f"{features.song_ids[song]} ({features.classes[features.labels[song]]})"
        rgb, mono = axes[row]
        rgb.imshow(stack_image(stacks[song]), origin="lower", aspect="auto", interpolation="nearest")
        rgb.set_title(f"{title}: bass / drums / other as R / G / B", fontsize=8)
        mono.imshow(np.asarray(mix[song], np.float64), origin="lower", aspect="auto", cmap="magma",
                    interpolation="nearest")
        mono.set_title(f"{title}: mix", fontsize=8)
        for axis in (rgb, mono):
            axis.set_ylabel("mel band", fontsize=7)
            axis.tick_params(labelsize=6)
        if row == len(songs) - 1:
            rgb.set_xlabel("frame")
            mono.set_xlabel("frame")
    return axes
