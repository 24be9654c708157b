"""Statistics over trials: tiny pure functions of ``(trials,)`` arrays (numpy/scipy)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1), percentile-bootstrap CI of the mean, sample skewness
    (bias-corrected, scipy's ``skew(bias=False)``), and the number of values."""

    mean: float
    std: float
    ci_low: float
    ci_high: float
    skewness: float
    n: int

    def asdict(self) -> dict:
        return asdict(self)


def bootstrap_ci(values, *, rng: np.random.Generator, n_resamples: int = 10_000, level: float = 0.95):
    """Percentile bootstrap confidence interval of the mean.

    Args:
      values: shape ``(n,)``.
      rng: the random state (explicit, so results are reproducible).
      n_resamples: bootstrap resamples.
      level: coverage, e.g. 0.95.

    Returns:
      ``(low, high)``; ``(nan, nan)`` for an empty array.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return math.nan, math.nan
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def summarize(values, *, rng: np.random.Generator, n_resamples: int = 10_000) -> Summary:
    """:class:`Summary` of ``values (n,)``; NaN where a statistic is undefined (std of one value...)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    low, high = bootstrap_ci(values, rng=rng, n_resamples=n_resamples)
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    skew = float(sps.skew(values, bias=False)) if n > 2 and np.ptp(values) > 0 else math.nan
    return Summary(float(values.mean()) if n else math.nan, std, low, high, skew, n)


def compare(values, baseline) -> dict[str, float]:
    """p-values of ``values`` against ``baseline``, both ``(trials,)`` from the same splits.

    Returns:
      ``paired_t`` (scipy ``ttest_rel``: trials share splits), ``welch_t`` (``ttest_ind`` with
      ``equal_var=False``), ``wilcoxon`` (signed-rank on the paired differences; 1.0 when every difference is
      zero), and ``mean_difference``. NaN where fewer than 2 pairs exist.
    """
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"compare needs paired arrays of one shape, got {a.shape} and {b.shape}")
    out = {"mean_difference": float(np.mean(a - b)) if a.size else math.nan}
    if a.size < 2:
        return out | {"paired_t": math.nan, "welch_t": math.nan, "wilcoxon": math.nan}
    differences = a - b
    if np.all(differences == 0):
        out |= {"paired_t": 1.0, "wilcoxon": 1.0}
    else:
        out["paired_t"] = float(sps.ttest_rel(a, b).pvalue)
        out["wilcoxon"] = float(sps.wilcoxon(a, b).pvalue)
    out["welch_t"] = float(sps.ttest_ind(a, b, equal_var=False).pvalue) if np.ptp(np.r_[a, b]) > 0 else 1.0
    return out
