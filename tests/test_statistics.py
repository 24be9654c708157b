"""Statistics against scipy and hand-computed values."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from jaxsep.results.statistics import bootstrap_ci, compare, summarize

A = np.array([0.40, 0.45, 0.50, 0.38, 0.47, 0.52, 0.41, 0.44])
B = np.array([0.35, 0.40, 0.43, 0.36, 0.40, 0.44, 0.39, 0.41])


def test_summary_by_hand():
    summary = summarize([1.0, 2.0, 3.0, 10.0], rng=np.random.default_rng(0), n_resamples=2000)
    assert summary.mean == pytest.approx(4.0)
    assert summary.std == pytest.approx(math.sqrt(((9 + 4 + 1 + 36) / 3)))
    assert summary.skewness == pytest.approx(sps.skew([1, 2, 3, 10], bias=False))
    assert summary.ci_low < 4.0 < summary.ci_high
    assert summary.n == 4


def test_bootstrap_is_reproducible_and_sane():
    first = bootstrap_ci(A, rng=np.random.default_rng(1))
    assert first == bootstrap_ci(A, rng=np.random.default_rng(1))
    assert first[0] < A.mean() < first[1]
    constant = bootstrap_ci([0.5] * 5, rng=np.random.default_rng(0))
    assert constant == pytest.approx((0.5, 0.5))


def test_compare_matches_scipy():
    got = compare(A, B)
    assert got["paired_t"] == pytest.approx(sps.ttest_rel(A, B).pvalue)
    assert got["welch_t"] == pytest.approx(sps.ttest_ind(A, B, equal_var=False).pvalue)
    assert got["wilcoxon"] == pytest.approx(sps.wilcoxon(A, B).pvalue)
    assert got["mean_difference"] == pytest.approx(np.mean(A - B))
    assert got["paired_t"] < 0.01


def test_compare_edge_cases():
    same = compare(A, A)
    assert same["paired_t"] == 1.0 and same["wilcoxon"] == 1.0
    assert math.isnan(compare([0.5], [0.4])["paired_t"])
    with pytest.raises(ValueError, match="paired arrays"):
        compare(A, B[:3])
