"""Statistics against values worked by hand (../shared/reference/statistics.md) and against scipy.

The worked example: d = [0.10, 0.00, 0.05, 0.15, -0.05, 0.05, 0.10, 0.00, 0.05, 0.05], J = 10; d̄ = 0.05,
Σ(d − d̄)² = 0.03, s² = 1/300. Every expected number below was computed by hand from those, not by the code
under test.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from jaxsep.results.statistics import (
    bayesian_correlated_t,
    bootstrap_ci,
    compare,
    corrected_standard_error,
    holm,
    iqm,
    summarize,
    win_rate,
)

D = np.array([0.10, 0.00, 0.05, 0.15, -0.05, 0.05, 0.10, 0.00, 0.05, 0.05])
BASE = np.full(10, 0.40)
A = np.array([0.40, 0.45, 0.50, 0.38, 0.47, 0.52, 0.41, 0.44])
B = np.array([0.35, 0.40, 0.43, 0.36, 0.40, 0.44, 0.39, 0.41])


def test_corrected_test_of_the_worked_example():
    """r = 14/52: factor 1/10 + 14/52 = 24/65; se = sqrt((1/300)(24/65)) = 0.0350823; t = 1.425219;
    p = 0.187838; 95 % CI (−0.029362, 0.129362)."""
    got = compare(BASE + D, BASE, test_train_ratio=14 / 52)
    assert got.n == 10 and got.mean_difference == pytest.approx(0.05)
    assert got.se == pytest.approx(math.sqrt((1 / 300) * (24 / 65)))
    assert got.se == pytest.approx(0.0350823, abs=1e-7)
    assert got.t == pytest.approx(1.425219, abs=1e-6)
    assert got.p == pytest.approx(0.187838, abs=1e-6)
    assert (got.ci_low, got.ci_high) == pytest.approx((-0.029362, 0.129362), abs=1e-6)
    assert got.detectable == pytest.approx(0.129362 - 0.05, abs=1e-6)


def test_corrected_test_with_a_quarter():
    """r = 1/4: factor 0.35; se = 0.0341565; t = 1.463850; p = 0.177268."""
    got = compare(BASE + D, BASE, test_train_ratio=0.25)
    assert corrected_standard_error(D, 0.25) == pytest.approx(0.0341565, abs=1e-7)
    assert got.t == pytest.approx(1.463850, abs=1e-6)
    assert got.p == pytest.approx(0.177268, abs=1e-6)


def test_naive_tests_are_kept_and_labelled_apart():
    """Naive: se = sqrt(1/3000) = 0.0182574, t = 2.738613, p = 0.0228995 (= scipy ttest_1samp)."""
    got = compare(BASE + D, BASE, test_train_ratio=14 / 52)
    assert got.p_naive_t == pytest.approx(0.0228995, abs=1e-7)
    assert got.p_naive_t == pytest.approx(sps.ttest_1samp(D, 0.0).pvalue)
    assert got.p_wilcoxon == pytest.approx(sps.wilcoxon(D).pvalue)
    assert got.p > 8 * got.p_naive_t  # the correction matters


def test_bayesian_correlated_t_of_the_worked_example():
    """r = 14/52: P(Δ > 0) = 0.906081; ρ = 0.01: P(worse) 0.060691, P(equivalent) 0.081132, P(better)
    0.858177."""
    got = compare(BASE + D, BASE, test_train_ratio=14 / 52, rope=0.01)
    assert got.p_positive == pytest.approx(0.906081, abs=1e-6)
    assert got.p_worse == pytest.approx(0.060691, abs=1e-6)
    assert got.p_equivalent == pytest.approx(0.081132, abs=1e-6)
    assert got.p_better == pytest.approx(0.858177, abs=1e-6)
    assert got.p_worse + got.p_equivalent + got.p_better == pytest.approx(1.0)


def test_holm_by_hand():
    """(0.04, 0.07, 0.20) → (3·0.04, max(0.12, 2·0.07), max(0.14, 0.20)) = (0.12, 0.14, 0.20)."""
    np.testing.assert_allclose(holm([0.04, 0.07, 0.20]), [0.12, 0.14, 0.20])
    np.testing.assert_allclose(holm([0.20, 0.04, 0.07]), [0.20, 0.12, 0.14])  # input order kept
    got = holm([0.20, math.nan, 0.04, 0.07])  # NaN is not part of the family
    assert math.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3]], [0.20, 0.12, 0.14])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1


def test_win_rate_and_iqm_by_hand():
    """7 positive and 2 zero of 10: 0.7 + 0.5 · 0.2 = 0.80. IQM of 1..8: the mean of 3..6 = 4.5."""
    assert win_rate(D) == pytest.approx(0.80)
    assert iqm(np.arange(1.0, 9.0)) == pytest.approx(4.5)
    assert iqm([1.0, 2.0, 3.0, 100.0]) == pytest.approx(2.5)


def test_edge_cases():
    same = compare(A, A, test_train_ratio=0.25)
    assert same.p == 1.0 and same.p_wilcoxon == 1.0 and same.p_naive_t == 1.0 and same.win_rate == 0.5
    assert same.p_equivalent == 1.0 and same.detectable == 0.0
    one = compare([0.5], [0.4], test_train_ratio=0.25)
    assert math.isnan(one.p) and math.isnan(one.ci_low) and one.mean_difference == pytest.approx(0.1)
    with pytest.raises(ValueError, match="paired 1-d arrays"):
        compare(A, B[:3], test_train_ratio=0.25)
    point = bayesian_correlated_t(0.05, 0.0, 9, rope=0.01)
    assert point == {"p_worse": 0.0, "p_equivalent": 0.0, "p_better": 1.0, "p_positive": 1.0}


def test_summary_by_hand():
    summary = summarize([1.0, 2.0, 3.0, 10.0], rng=np.random.default_rng(0), n_resamples=2000)
    assert summary.mean == pytest.approx(4.0)
    assert summary.std == pytest.approx(math.sqrt(((9 + 4 + 1 + 36) / 3)))
    assert summary.iqm == pytest.approx(2.5)
    assert summary.skewness == pytest.approx(sps.skew([1, 2, 3, 10], bias=False))
    assert summary.ci_low < 4.0 < summary.ci_high
    assert summary.n == 4


def test_bootstrap_is_reproducible_and_sane():
    first = bootstrap_ci(A, rng=np.random.default_rng(1))
    assert first == bootstrap_ci(A, rng=np.random.default_rng(1))
    assert first[0] < A.mean() < first[1]
    constant = bootstrap_ci([0.5] * 5, rng=np.random.default_rng(0))
    assert constant == pytest.approx((0.5, 0.5))


def test_corrected_interval_of_one_model_by_hand():
    # values 0.5, 0.6, 0.7: mean 0.6, s² = 0.01; se = sqrt((1/3 + 0.25) · 0.01) = 0.0763763; t(0.975, 2) = 4.302653
    from jaxsep.results.statistics import corrected_interval

    low, high = corrected_interval([0.5, 0.6, 0.7], 0.25)
    assert (low, high) == pytest.approx((0.6 - 0.328621, 0.6 + 0.328621), abs=1e-6)
    assert all(math.isnan(v) for v in corrected_interval([0.5], 0.25))
