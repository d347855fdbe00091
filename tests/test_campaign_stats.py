"""Confidence intervals and the Leveugle trial count, against hand-worked numbers and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from simulator.metrics.stats import (
    clustered_rate_interval,
    normal_quantile,
    t_interval,
    t_quantile,
    trials_needed,
    wilson_interval,
)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 120, 10_000])
@pytest.mark.parametrize("p", [0.6, 0.9, 0.975, 0.995, 0.025])
def test_t_quantile_matches_scipy(df, p):
    assert t_quantile(p, df) == pytest.approx(sps.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_t_quantile_textbook_values():
    # Student's t table: t_{0.975} with 1, 4 and 9 degrees of freedom
    assert t_quantile(0.975, 1) == pytest.approx(12.7062, abs=1e-4)
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)


def test_t_interval_hand_worked():
    # values 1..5: mean 3, s^2 = 10/4 = 2.5, s/sqrt(5) = 0.70711, t_{0.975,4} = 2.77645 -> half 1.96324
    iv = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert iv.estimate == 3.0 and iv.n == 5
    assert iv.half_width == pytest.approx(2.776445 * math.sqrt(0.5), rel=1e-6)
    assert (iv.lo, iv.hi) == pytest.approx((3 - 1.963243, 3 + 1.963243), rel=1e-6)
    ref = sps.t.interval(0.99, 4, loc=3.0, scale=sps.sem([1, 2, 3, 4, 5]))
    assert (t_interval([1.0, 2.0, 3.0, 4.0, 5.0], 0.99).lo, t_interval([1, 2, 3, 4, 5], 0.99).hi) == pytest.approx(ref)


def test_t_interval_degenerate_cases():
    one = t_interval([4.0])
    assert one.estimate == 4.0 and math.isnan(one.lo) and math.isnan(one.hi)
    assert math.isnan(t_interval([]).estimate)
    same = t_interval([2.0, 2.0, 2.0])
    assert (same.lo, same.hi) == (2.0, 2.0)
    with pytest.raises(ValueError):
        t_interval([1.0, 2.0], confidence=1.0)


def test_wilson_hand_worked():
    # 3 of 10 at 95 %: z = 1.959964, z^2 = 3.841459; centre = (0.3 + 0.192073) / 1.384146 = 0.355507;
    # half = 1.959964 / 1.384146 * sqrt(0.021 + 0.009604) = 0.247715 -> [0.107792, 0.603222]
    iv = wilson_interval(3, 10)
    assert iv.estimate == 0.3
    assert (iv.lo, iv.hi) == pytest.approx((0.107792, 0.603222), abs=1e-6)
    ref = sps.binomtest(3, 10).proportion_ci(confidence_level=0.95, method="wilson")
    assert (iv.lo, iv.hi) == pytest.approx((ref.low, ref.high), rel=1e-12)


@pytest.mark.parametrize(("k", "n", "conf"), [(0, 50, 0.95), (50, 50, 0.99), (1, 1000, 0.9), (17, 40, 0.95)])
def test_wilson_matches_scipy(k, n, conf):
    iv = wilson_interval(k, n, conf)
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    assert (iv.lo, iv.hi) == pytest.approx((ref.low, ref.high), rel=1e-9, abs=1e-12)


def test_wilson_edges():
    assert wilson_interval(0, 0).n == 0 and (wilson_interval(0, 0).lo, wilson_interval(0, 0).hi) == (0.0, 1.0)
    assert wilson_interval(0, 20).lo == 0.0 and wilson_interval(20, 20).hi == 1.0
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_trials_needed_leveugle():
    # Leveugle et al., DATE 2009, n = N / (1 + e^2 (N-1) / (t^2 p (1-p))):
    # infinite N, e = 1 %, 99 % (t = 2.575829): n = 2.575829^2 * 0.25 / 1e-4 = 16587.24 -> 16588
    assert trials_needed(0.01, 0.99) == 16588
    # N = 1e6: 1e6 / (1 + 1e-4 * 999999 / 1.658724) = 1e6 / 61.2868 = 16316.7 -> 16317
    assert trials_needed(0.01, 0.99, population=1_000_000) == 16317
    # e = 5 %, 95 % (t = 1.959964), N = 1000: 1000 / (1 + 0.0025 * 999 / 0.960365) = 277.7 -> 278
    assert trials_needed(0.05, 0.95, population=1000) == 278
    # never more than the population, and fewer for a skewed proportion
    assert trials_needed(0.01, 0.99, population=50) <= 50
    assert trials_needed(0.01, 0.95, proportion=0.1) < trials_needed(0.01, 0.95)
    assert normal_quantile(0.975) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError):
        trials_needed(0.0)


def test_t_interval_of_a_count_respects_its_support():
    # [0, 0, 0, 10]: mean 2.5, s^2 = (3 * 2.5^2 + 7.5^2) / 3 = 25, s = 5, s / sqrt(4) = 2.5;
    # t_{0.975, 3} = 3.1824 -> half 7.956: [-5.456, 10.456], truncated at 0 -> [0, 10.456]
    plain = t_interval([0.0, 0.0, 0.0, 10.0])
    count = t_interval([0.0, 0.0, 0.0, 10.0], support_min=0.0)
    assert plain.lo == pytest.approx(2.5 - 3.182446 * 2.5, rel=1e-5)
    assert (count.estimate, count.lo, count.hi) == (2.5, 0.0, plain.hi)
    assert t_interval([3.0, 5.0], support_min=0.0).lo == 0.0  # 4 -/+ 12.706: truncated
    assert t_interval([30.0, 31.0, 29.0], support_min=0.0) == t_interval([30.0, 31.0, 29.0])  # far from 0: unchanged


def test_clustered_rate_hand_worked():
    # two trials of 100 faults, 5 escapes each: R = 10 / 200 = 0.05; the per-trial residuals
    # y - R x are 0, so the design effect is 1 and n_eff = 200 (z / t_{0.975, 1})^2
    # = 200 (1.959964 / 12.706205)^2 = 4.7588; Wilson at p = 0.05, n = 4.7588, z = 1.959964:
    # denom = 1 + z^2 / n = 1.80723, centre = (0.05 + z^2 / 2n) / denom = (0.05 + 0.403616) / denom
    # = 0.251001, half = z / denom * sqrt(0.0475 / n + z^2 / 4 n^2) = 1.084512 * 0.228886 = 0.248230
    # -> [0.002771, 0.499231]
    iv = clustered_rate_interval([5, 5], [100, 100])
    assert iv.estimate == 0.05 and iv.n == 200
    assert iv.lo == pytest.approx(0.002771, abs=2e-6) and iv.hi == pytest.approx(0.499231, abs=2e-6)
    # clustered: the same pooled rate from 0 and 10 escapes has a design effect
    # v = (5^2 + 5^2) / (2 * 1 * 100^2) = 0.0025 over R (1 - R) / 200 = 0.0002375: d = 10.526
    wide = clustered_rate_interval([0, 10], [100, 100])
    n_eff = 200 / (0.0025 / 0.0002375) * (1.959964 / 12.706205) ** 2
    z = 1.959964
    denom = 1 + z * z / n_eff
    centre = (0.05 + z * z / (2 * n_eff)) / denom
    half = z / denom * math.sqrt(0.05 * 0.95 / n_eff + z * z / (4 * n_eff * n_eff))
    assert wide.hi == pytest.approx(min(1.0, centre + half), abs=1e-5) and wide.hi > iv.hi
    # one trial cannot show clustering: plain Wilson
    assert clustered_rate_interval([3], [40]) == wilson_interval(3, 40)
    assert clustered_rate_interval([0, 0], [0, 0]).n == 0
    with pytest.raises(ValueError):
        clustered_rate_interval([5], [4])


def _coverage(rng, replications, trials, cluster_mean):
    """Coverage of the 95 % intervals of a synthetic campaign whose escapes come in clusters.

    Per trial: Poisson(1000) faults that do not escape, Poisson(3) given-up tiles, each carrying
    1 + Poisson(cluster_mean - 1) escapes (cluster_mean = 1: no clustering). True rate:
    3 c / (1000 + 3 c).
    """
    true = 3 * cluster_mean / (1000 + 3 * cluster_mean)
    clustered = pooled = 0
    for _ in range(replications):
        tiles = rng.poisson(3, trials)
        escapes = tiles + rng.poisson((cluster_mean - 1) * tiles)
        faults = rng.poisson(1000, trials) + escapes
        iv = clustered_rate_interval(escapes.tolist(), faults.tolist())
        clustered += iv.lo <= true <= iv.hi
        iv = wilson_interval(int(escapes.sum()), int(faults.sum()))
        pooled += iv.lo <= true <= iv.hi
    return clustered / replications, pooled / replications


def test_clustered_rate_interval_covers_clustered_escapes():
    # escapes in clusters of 2.3 (a given-up fc2 tile): Wilson over pooled faults undercovers
    # (~0.73 here), the interval over trials keeps its 95 % (seeded: 400 campaigns of 10 trials)
    clustered, pooled = _coverage(np.random.default_rng(20261202), 400, 10, 2.3)
    assert 0.92 <= clustered <= 0.99
    assert pooled < 0.85
    # without clustering it is not needlessly conservative
    clustered, _ = _coverage(np.random.default_rng(7), 400, 10, 1.0)
    assert 0.92 <= clustered <= 0.99
