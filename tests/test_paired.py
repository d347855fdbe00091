"""Paired accuracy intervals (simulator.functional.paired): hand-worked case, scipy references, coverage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.functional.paired import (
    _satterthwaite,
    crossed_mean_interval,
    paired_drop,
    paired_reduction,
    trials_for_claim,
)
from simulator.metrics.stats import t_quantile


def test_two_way_interval_by_hand():
    # clean [1, 1, 0]; trial 0 loses image 0, trial 1 gains image 2: D / 100 = [[1, 0, 0], [0, 0, -1]]
    # mean 0; trial means (1/3, -1/3): s_r^2 = 2/9; image means (1/2, 0, -1/2): s_c^2 = 1/4;
    # residuals +-(1/6, -1/3, 1/6): SS_E = 1/3, MS_E = (1/3) / (1 x 2) = 1/6;
    # var = (2/9)/2 + (1/4)/3 - (1/6)/6 = 1/9 + 1/12 - 1/36 = 1/6 (x 100^2 in points^2);
    # df = (1/9 + 1/12)^2 / ((1/9)^2 / 1 + (1/12)^2 / 2) = 98/41
    p = paired_drop(np.array([[0, 1, 0], [1, 1, 1]]), np.array([1, 1, 0]))
    assert p.drop_points == 0.0 and p.method == "two-way"
    assert p.df == pytest.approx(98 / 41)
    half = stats.t.ppf(0.975, 98 / 41) * 100 * np.sqrt(1 / 6)
    assert (p.lo, p.hi) == (pytest.approx(-half, rel=1e-9), pytest.approx(half, rel=1e-9))
    assert p.trial_term == pytest.approx(1e4 / 9) and p.image_term == pytest.approx(1e4 / 12)


def test_identical_trials_reduce_to_the_paired_t_interval_over_images():
    rng = np.random.default_rng(5)
    clean = rng.random(40) < 0.9
    row = clean & (rng.random(40) < 0.85)
    p = paired_drop(np.tile(row, (4, 1)), clean)
    ref = stats.ttest_1samp(100.0 * (clean.astype(float) - row), 0.0).confidence_interval(0.95)
    assert (p.lo, p.hi) == (pytest.approx(ref.low), pytest.approx(ref.high))
    one = paired_drop(row[None, :], clean)  # one trial: the image interval, flagged as such
    assert one.method == "images" and (one.lo, one.hi) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_two_way_interval_covers_the_mean_of_a_crossed_design():
    # D = mu + a_t + b_i + e_ti with all three components: about 95 % of the intervals hold mu
    rng = np.random.default_rng(11)
    n_t, n_i, mu, reps = 5, 40, 0.3, 400
    hits = 0
    for _ in range(reps):
        d = mu + rng.normal(0, 1, (n_t, 1)) + rng.normal(0, 1, (1, n_i)) + rng.normal(0, 1, (n_t, n_i))
        p = crossed_mean_interval(d)
        hits += p.lo <= mu <= p.hi
    assert 0.92 <= hits / reps <= 0.985


def test_trials_for_claim_is_the_fewest_that_suffice():
    rng = np.random.default_rng(2)
    clean = np.ones(300, bool)
    correct = rng.random((3, 300)) > 0.004  # about 1.2 images lost per trial: drop ~0.4 points
    pilot = paired_drop(correct, clean)
    n = trials_for_claim(pilot, 1.0)
    assert n is not None and n >= 2

    def upper(trials):
        v_t = pilot.trial_term * pilot.trials / trials
        df = _satterthwaite(v_t, trials - 1, pilot.image_term, pilot.images - 1)
        return pilot.drop_points + t_quantile(0.975, df) * np.sqrt(v_t + pilot.image_term)

    assert upper(n) <= 1.0 and (n == 2 or upper(n - 1) > 1.0)
    assert trials_for_claim(pilot, pilot.drop_points) is None  # no trial count beats the image term


def test_paired_reduction_by_hand():
    # ours (1, 3), theirs (2, 4): R = 2 / 3, reduction 33.3 %; s_a^2 = s_b^2 = s_ab = 2;
    # var R = (2 - 2 (2/3) 2 + (4/9) 2) / (2 x 3^2) = (2/9) / 18 = 1/81: sd 1/9, t(0.975, 1 df)
    r = paired_reduction(np.array([1.0, 3.0]), np.array([2.0, 4.0]))
    half = 100 * stats.t.ppf(0.975, 1) / 9
    assert r.reduction_pct == pytest.approx(100 / 3)
    assert (r.lo, r.hi) == (pytest.approx(100 / 3 - half), pytest.approx(100 / 3 + half))
    assert r.trials == 2


def test_paired_reduction_of_proportional_overheads_is_exact():
    theirs = np.array([10.0, 30.0, 20.0, 45.0])
    r = paired_reduction(0.25 * theirs, theirs)
    assert r.reduction_pct == pytest.approx(75.0)
    assert r.hi - r.lo == pytest.approx(0.0, abs=1e-9)


def test_paired_reduction_covers_the_ratio_of_means():
    # correlated positive overheads (shared per-trial fault load): the delta-method interval of
    # 1 - E[a] / E[b] covers its true value about 95 % of the time with 30 trials
    rng = np.random.default_rng(11)
    true = 1 - 0.3  # E[a] = 0.3 E[b] by construction
    hits = 0
    reps = 2000
    for _ in range(reps):
        load = rng.gamma(4.0, 2.5, 30)
        b = load * rng.lognormal(0.0, 0.2, 30)
        a = 0.3 * load * rng.lognormal(0.0, 0.5, 30) / np.exp(0.5**2 / 2) * np.exp(0.2**2 / 2)
        r = paired_reduction(a, b)
        hits += r.lo <= 100 * true <= r.hi
    assert 0.92 <= hits / reps <= 0.97


@pytest.mark.parametrize(("ours", "theirs"), [([1.0], [2.0]), ([1.0, 2.0], [1.0, 2.0, 3.0]), ([1.0, 2.0], [0.0, 0.0])])
def test_paired_reduction_refuses_what_it_cannot_estimate(ours, theirs):
    with pytest.raises(ValueError):
        paired_reduction(np.array(ours), np.array(theirs))
