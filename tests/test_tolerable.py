"""Tolerable BER (simulator.functional.tolerable): isotonic fit, crossing, bootstrap interval, ratio."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import isotonic_regression

from simulator.functional.tolerable import (
    ABOVE,
    BELOW,
    INSIDE,
    CorrectnessGrid,
    crossing_ber,
    isotonic_nondecreasing,
    tolerable_bers,
)


def test_pool_adjacent_violators_by_hand():
    assert isotonic_nondecreasing([1, 3, 2, 4]).tolist() == [1, 2.5, 2.5, 4]  # (3 + 2) / 2
    assert isotonic_nondecreasing([3, 2, 1]).tolist() == [2, 2, 2]
    # weights: (3 x 1 + 1 x 3) / 2 = 3 for the first two, then 5
    assert isotonic_nondecreasing([3, 1, 5], [1, 3, 1]).tolist() == [1.5, 1.5, 5]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-100, 100), st.floats(0.1, 10)), min_size=1, max_size=30))
def test_pav_matches_scipys_isotonic_regression(pairs):
    y, w = (np.array(v) for v in zip(*pairs, strict=True))
    ours = isotonic_nondecreasing(y, w)
    ref = isotonic_regression(y, weights=w, increasing=True).x
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(ours) >= -1e-12)


def test_crossing_by_hand():
    bers = [1e-7, 1e-6, 1e-5]
    # drop 0.5 at 1e-6, 1.5 at 1e-5, limit 1: halfway in log10 -> 10^-5.5
    ber, status = crossing_ber(bers, [0.0, 0.5, 1.5], 1.0)
    assert status == INSIDE and ber == pytest.approx(10**-5.5)
    assert crossing_ber(bers, [2, 3, 4], 1.0) == (pytest.approx(1e-7), BELOW)
    assert crossing_ber(bers, [0, 0, 1.0], 1.0) == (pytest.approx(1e-5), ABOVE)  # "at most" the limit


def _grid(lost_per_ber: dict[str, list[int]], images=200, trials=4) -> CorrectnessGrid:
    """Every trial loses the first `k` images at each BER (no trial-to-trial variation)."""
    bers = (1e-7, 1e-6, 1e-5, 1e-4)
    runs = {}
    for policy, lost in lost_per_ber.items():
        for ber, k in zip(bers, lost, strict=True):
            row = np.ones(images, bool)
            row[:k] = False
            runs[(policy, ber)] = np.tile(row, (trials, 1))
    return CorrectnessGrid(bers, np.ones(images, bool), runs)


def test_tolerable_ber_and_ratio_on_a_known_grid():
    # on 200 images one image is 0.5 points; abft: drops 0, 0.5, 4, 20; approx: 0, 0, 0.5, 3
    grid = _grid({"abft": [0, 1, 8, 40], "approx_abft": [0, 0, 1, 6]})
    found, ratio = tolerable_bers(grid, ["abft", "approx_abft"], 1.0, ratio=("approx_abft", "abft"), resamples=300)
    # abft crosses 1 point between 1e-6 (0.5) and 1e-5 (4): log10 = -6 + 0.5 / 3.5
    assert found["abft"].status == INSIDE and found["abft"].ber == pytest.approx(10 ** (-6 + 0.5 / 3.5))
    # approx_abft between 1e-5 (0.5) and 1e-4 (3): log10 = -5 + 0.5 / 2.5
    assert found["approx_abft"].ber == pytest.approx(10 ** (-5 + 0.2))
    assert ratio.value == pytest.approx(10 ** (1 + 0.2 - 0.5 / 3.5))
    for t in found.values():
        assert t.lo <= t.ber <= t.hi
    assert ratio.lo <= ratio.value <= ratio.hi and 0.0 <= ratio.censored_fraction < 0.5
    assert found["abft"].fitted_drop_points == pytest.approx((0.0, 0.5, 4.0, 20.0))


def test_noisy_non_monotone_drops_are_fitted_monotone():
    grid = _grid({"p": [3, 1, 8, 40]})  # 1.5, 0.5, 4, 20 points: the fit pools the first two at 1.0
    found, _ = tolerable_bers(grid, ["p"], 1.0, resamples=50)
    assert found["p"].fitted_drop_points[:2] == pytest.approx((1.0, 1.0))
    assert found["p"].status == INSIDE  # 1.0 is "at most" the limit: crosses after 1e-6
