"""kernels.square_sum against numpy's int32-temporary sum of squares, and output_scale by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.abft.checksum import output_scale
from simulator.kernels.square_sum import int8_square_sum


@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (5, 3), (64, 197)])
def test_int8_square_sum_matches_numpy(shape):
    x = np.random.default_rng(len(shape) * 100 + sum(shape)).integers(-128, 128, shape).astype(np.int8)
    assert int8_square_sum(x) == int(np.square(x, dtype=np.int32).sum(dtype=np.int64))


def test_int8_square_sum_of_views():
    """Transposed and strided views (B^T, fold blocks) are summed like copies."""
    x = np.random.default_rng(3).integers(-128, 128, (40, 30)).astype(np.int8)
    for view in (x.T, x[::3, 1::2], x[:, ::-1]):
        assert int8_square_sum(view) == int(np.square(view, dtype=np.int32).sum(dtype=np.int64))


def test_int8_square_sum_extremes():
    assert int8_square_sum(np.full((1000,), -128, np.int8)) == 1000 * 128 * 128


def test_output_scale_int8_by_hand():
    """A = [[1, 2]], B = [[3], [-4]]: sqrt(sum A^2 * sum B^2 / (M K N)) = sqrt(5 * 25 / 2)."""
    a, b = np.array([[1, 2]], np.int8), np.array([[3], [-4]], np.int8)
    assert output_scale(a, b) == pytest.approx(math.sqrt(5 * 25 / 2), rel=1e-15)
