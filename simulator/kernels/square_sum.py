"""Exact sum of squares of an int8 tensor without an int32 temporary (a ViT weight tensor is 2.4 M values).

`checksum.output_scale` needs sum(A^2) and sum(B^2) of every GEMM instance a fault touches; numpy's
`np.square(x, dtype=np.int32).sum(dtype=np.int64)` (the reference, tests/test_square_sum.py) writes a
4-byte temporary per value first.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _square_sum_flat(x: np.ndarray) -> np.int64:
    total = np.int64(0)
    for i in range(x.shape[0]):
        v = np.int64(x[i])
        total += v * v
    return total


def int8_square_sum(x: np.ndarray) -> int:
    """sum(x * x) of an int8 array of any shape or layout, exact (int64: < 2^63 up to 5.7e14 values)."""
    flat = x.reshape(-1) if x.flags.c_contiguous else x.ravel(order="K")
    return int(_square_sum_flat(flat))
