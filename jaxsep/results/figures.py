"""Figures of a run: Figure 1 (the F1 distributions of the models over trials)."""

from __future__ import annotations

import numpy as np

from .tables import metric_values


def plot_f1_distributions(results: dict, ax=None):
    """Figure 1: F1 distributions of the 3-spectrogram models (orange) against the 1-spectrogram ones
    (blue), dashed lines at the means; one panel per 3-spectrogram model (or one panel of every model).

    Args:
      results: a results dict.
      ax: an axis or array of axes to draw into; created (with a new figure) when None.

    Returns:
      the axes drawn into (a list).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = results["models"]
    multi = [n for n, m in models.items() if len(m["maps"]) > 1]
    single = [n for n, m in models.items() if len(m["maps"]) == 1]
    panels = [(n, single) for n in multi] or [(None, list(models))]
    if ax is None:
        _, ax = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
        ax = list(ax[0])
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
