"""Statistics over trials: tiny pure functions of ``(trials,)`` arrays (numpy/scipy).

Trials are random train/test splits of the SAME songs, so they are correlated: their training sets overlap
heavily. Tests that treat them as independent (the paired t-test, Wilcoxon) are anti-conservative (Dietterich
1998). The headline comparison here is the corrected resampled t-test of Nadeau & Bengio (2003): the variance
of the mean paired difference is inflated from ``s²/J`` to ``(1/J + n_test/n_train)·s²``. Beside it: its 95 %
interval, Holm's step-down adjustment over a run's comparisons (valid under any dependence; Holm 1979), the
Bayesian correlated t-test (Corani & Benavoli 2015; Benavoli et al. 2017) with a region of practical
equivalence, the paired win rate and the interquartile mean (Agarwal et al. 2021). The naive paired t and
Wilcoxon p-values are kept, labelled as assuming independent trials.

Notation: ``d_j`` = metric of a model − metric of the baseline in trial ``j``; ``J`` trials; ``r`` =
``n_test / n_train`` songs of a trial (validation songs in neither).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

from ..constants import ROPE

#: Coverage of every interval reported.
LEVEL = 0.95


@dataclass(frozen=True)
class Summary:
    """One model's metric over its trials.

    Attributes:
      mean, std: mean and sample standard deviation (ddof=1).
      iqm: interquartile mean (``scipy.stats.trim_mean(x, 0.25)``), robust to a few outlying trials.
      ci_low, ci_high: percentile-bootstrap 95 % interval of the mean (trials treated as exchangeable; see
        :class:`Comparison` for intervals that account for their correlation).
      skewness: bias-corrected sample skewness (``scipy.stats.skew(bias=False)``).
      n: trials.
    """

    mean: float
    std: float
    iqm: float
    ci_low: float
    ci_high: float
    skewness: float
    n: int

    def asdict(self) -> dict:
        return asdict(self)


def bootstrap_ci(values, *, rng: np.random.Generator, n_resamples: int = 10_000, level: float = LEVEL):
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


def iqm(values) -> float:
    """Interquartile mean: the mean of the middle 50 % (``scipy.stats.trim_mean(values, 0.25)``)."""
    values = np.asarray(values, dtype=np.float64)
    return float(sps.trim_mean(values, 0.25)) if values.size else math.nan


def summarize(values, *, rng: np.random.Generator, n_resamples: int = 10_000) -> Summary:
    """:class:`Summary` of ``values (n,)``; NaN where a statistic is undefined (std of one value...)."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    low, high = bootstrap_ci(values, rng=rng, n_resamples=n_resamples)
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    skew = float(sps.skew(values, bias=False)) if n > 2 and np.ptp(values) > 0 else math.nan
    return Summary(float(values.mean()) if n else math.nan, std, iqm(values), low, high, skew, n)


def corrected_standard_error(differences, test_train_ratio: float) -> float:
    """Nadeau & Bengio's standard error of the mean of ``differences (J,)``: ``sqrt((1/J + r)·s²)`` with
    ``s²`` the sample variance (ddof=1) and ``r = n_test / n_train``; NaN for fewer than 2 trials."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size < 2:
        return math.nan
    return math.sqrt((1.0 / d.size + test_train_ratio) * d.var(ddof=1))


def corrected_interval(values, test_train_ratio: float, level: float = LEVEL) -> tuple[float, float]:
    """The mean of ``values (J,)`` over trials ± ``t_{(1+level)/2, J−1}`` × the corrected standard error: the
    interval of one model's expected score under repeated splits (the same correction as a difference's);
    ``(nan, nan)`` for fewer than 2 trials."""
    values = np.asarray(values, dtype=np.float64)
    se = corrected_standard_error(values, test_train_ratio)
    if not math.isfinite(se):
        return math.nan, math.nan
    half = float(sps.t.ppf(0.5 + level / 2, values.size - 1)) * se
    return float(values.mean()) - half, float(values.mean()) + half


def naive_standard_error(differences) -> float:
    """``sqrt(s²/J)``: the standard error of the mean if the trials were independent."""
    d = np.asarray(differences, dtype=np.float64)
    return math.sqrt(d.var(ddof=1) / d.size) if d.size >= 2 else math.nan


def _t_test(mean: float, se: float, df: int) -> tuple[float, float]:
    """``(t, two-sided p)`` of ``mean / se`` on ``df`` degrees of freedom; p = 1 when every difference is 0."""
    if not math.isfinite(se) or df < 1:
        return math.nan, math.nan
    if se == 0.0:
        return (0.0, 1.0) if mean == 0.0 else (math.copysign(math.inf, mean), 0.0)
    t = mean / se
    return t, float(2.0 * sps.t.sf(abs(t), df))


@dataclass(frozen=True)
class Comparison:
    """A model against the baseline over the trials both finished (paired by trial).

    Attributes:
      n: paired trials ``J``.
      mean_difference: ``d̄`` (model − baseline).
      se: corrected standard error ``sqrt((1/J + r)·s²)``.
      t, p: corrected resampled t statistic and two-sided p-value, ``df = J − 1``.
      ci_low, ci_high: ``d̄ ± t_{0.975, J−1}·se``.
      detectable: the smallest ``|d̄|`` this run could call significant at 5 % (``t_{0.975, J−1}·se``).
      p_better, p_equivalent, p_worse: Bayesian correlated t-test: posterior Student t (df ``J − 1``,
        location ``d̄``, scale ``se``) mass above ``rope``, within ``±rope``, below ``−rope``.
      p_positive: posterior mass above 0.
      win_rate: share of trials where the model beat the baseline (ties count half).
      p_naive_t, p_wilcoxon: the paired t-test and Wilcoxon signed-rank test that assume independent trials.
      test_train_ratio, rope: the ``r`` and ``rope`` used.
    """

    n: int
    mean_difference: float
    se: float
    t: float
    p: float
    ci_low: float
    ci_high: float
    detectable: float
    p_better: float
    p_equivalent: float
    p_worse: float
    p_positive: float
    win_rate: float
    p_naive_t: float
    p_wilcoxon: float
    test_train_ratio: float
    rope: float

    def asdict(self) -> dict:
        return asdict(self)


def bayesian_correlated_t(mean: float, se: float, df: int, rope: float = ROPE) -> dict[str, float]:
    """Posterior probabilities of the Bayesian correlated t-test: Student t with ``df`` degrees of freedom,
    location ``mean``, scale ``se``. Returns ``p_worse`` (below ``−rope``), ``p_equivalent`` (within),
    ``p_better`` (above ``rope``) and ``p_positive`` (above 0)."""
    if not math.isfinite(se) or df < 1:
        return {"p_worse": math.nan, "p_equivalent": math.nan, "p_better": math.nan, "p_positive": math.nan}
    if se == 0.0:  # every difference equal: the posterior is a point
        return {"p_worse": float(mean < -rope), "p_equivalent": float(-rope <= mean <= rope),
                "p_better": float(mean > rope), "p_positive": float(mean > 0)}
    posterior = sps.t(df, loc=mean, scale=se)
    worse, below_upper = float(posterior.cdf(-rope)), float(posterior.cdf(rope))
    return {"p_worse": worse, "p_equivalent": below_upper - worse, "p_better": float(posterior.sf(rope)),
            "p_positive": float(posterior.sf(0.0))}


def win_rate(differences) -> float:
    """``mean(d > 0) + 0.5·mean(d == 0)``; NaN for no trials."""
    d = np.asarray(differences, dtype=np.float64)
    return float(np.mean(d > 0) + 0.5 * np.mean(d == 0)) if d.size else math.nan


def compare(values, baseline, *, test_train_ratio: float, rope: float = ROPE, level: float = LEVEL) -> Comparison:
    """Compares ``values`` with ``baseline``, both ``(trials,)`` from the same splits (see the module docstring).

    Args:
      values, baseline: the metric of the model and of the baseline, paired by trial.
      test_train_ratio: ``n_test / n_train`` songs of one trial's split.
      rope: half-width of the region of practical equivalence for the Bayesian test.
      level: coverage of the interval.

    Returns:
      a :class:`Comparison`; NaN where fewer than 2 pairs exist.
    """
    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"compare needs paired 1-d arrays of one shape, got {a.shape} and {b.shape}")
    d = a - b
    n = d.size
    mean = float(d.mean()) if n else math.nan
    df = n - 1
    se = corrected_standard_error(d, test_train_ratio)
    t, p = _t_test(mean, se, df)
    critical = float(sps.t.ppf(0.5 + level / 2, df)) if df >= 1 else math.nan
    half_width = critical * se
    bayes = bayesian_correlated_t(mean, se, df, rope)
    _, p_naive = _t_test(mean, naive_standard_error(d), df)
    if n < 2:
        p_wilcoxon = math.nan
    elif np.all(d == 0):
        p_wilcoxon = 1.0
    else:
        p_wilcoxon = float(sps.wilcoxon(d).pvalue)
    return Comparison(n=n, mean_difference=mean, se=se, t=t, p=p, ci_low=mean - half_width,
                      ci_high=mean + half_width, detectable=half_width, win_rate=win_rate(d), p_naive_t=p_naive,
                      p_wilcoxon=p_wilcoxon, test_train_ratio=test_train_ratio, rope=rope, **bayes)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the input order: sorted ascending, ``p_(i) ↦ max_{k ≤ i}
    min(1, (m − k + 1)·p_(k))``. NaN entries are left out of the family and stay NaN."""
    p = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full(p.shape, math.nan)
    finite = np.nonzero(np.isfinite(p))[0]
    m = finite.size
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted
