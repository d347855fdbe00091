"""kernels.table_lookup: lookup against numpy's take, lookup_transposed against the gather and transposing copy."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.kernels.table_lookup import TILE, lookup, lookup_transposed


@pytest.mark.parametrize(
    "shape", [(1, 1), (3, 5), (TILE, TILE), (TILE + 1, 2 * TILE - 1), (197, 768), (768, 64), (0, 7), (5, 0)]
)
def test_lookup_transposed_is_the_gather_then_the_transposing_copy(shape):
    rng = np.random.default_rng(sum(shape))
    table = rng.integers(-127, 128, size=65536).astype(np.int8)
    index = rng.integers(0, 65536, size=shape, dtype=np.uint16)
    got = lookup_transposed(table, index)
    want = np.ascontiguousarray(table[index].T)
    assert got.dtype == table.dtype and got.shape == shape[::-1] and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)


def test_lookup_transposed_by_hand():
    table = np.array([10, 20, 30, 40], np.int8)
    index = np.array([[0, 3, 1], [2, 2, 0]], np.uint16)  # K = 2, N = 3
    np.testing.assert_array_equal(lookup_transposed(table, index), [[10, 30], [40, 30], [20, 10]])


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (197, 768), (0, 7), (5, 0)])
def test_lookup_is_numpys_take(shape):
    rng = np.random.default_rng(sum(shape) + 1)
    table = rng.integers(-127, 128, size=65536).astype(np.int8)
    index = rng.integers(0, 65536, size=shape, dtype=np.uint16)
    got = lookup(table, index)
    assert got.dtype == table.dtype and got.shape == shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, np.take(table, index))


def test_lookup_by_hand():
    table = np.array([10, 20, 30, 40], np.int8)
    index = np.array([[0, 3, 1], [2, 2, 0]], np.uint16)
    np.testing.assert_array_equal(lookup(table, index), [[10, 40, 20], [30, 30, 10]])
