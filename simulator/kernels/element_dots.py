"""Clean accumulator values of chosen output elements: C[i, j] = sum_k A[i, k] B[k, j], one O(K) dot each.

The write-back stage (verify.writeback) needs the fault-free accumulator only where a fault left an
error, so a run never computes a whole GEMM for it. Sums run in float64 over float32 operands:
exact for int8 (every int32 sum of int8 products up to K = 3072 is below 2^53, DESIGN.md section 4);
for fp datatypes the float64 sum rounded to float32 stands in for the array's fp32 accumulation
order (within an ulp). `element_dots_exact` is the same sum with reassociation allowed (SIMD), for integer
operands only, where every partial sum is an exact float64 integer and so any order gives the same value;
`element_dots_int8` the same sum for int8 operands in integer arithmetic.
`element_dots_reference` is the plain-numpy twin.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def element_dots(a: np.ndarray, bt: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """float64 dot of A[rows[e], :] and B[:, cols[e]] for every e (`bt` is B transposed, N x K)."""
    out = np.empty(rows.shape[0], np.float64)
    k_total = a.shape[1]
    for e in range(rows.shape[0]):
        i, j = rows[e], cols[e]
        total = 0.0
        for k in range(k_total):
            total += np.float64(a[i, k]) * np.float64(bt[j, k])
        out[e] = total
    return out


@njit(cache=True, fastmath=True)
def element_dots_exact(a: np.ndarray, bt: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """element_dots for integer-valued operands (int8): exact in any summation order, so vectorised."""
    out = np.empty(rows.shape[0], np.float64)
    k_total = a.shape[1]
    for e in range(rows.shape[0]):
        i, j = rows[e], cols[e]
        total = 0.0
        for k in range(k_total):
            total += np.float64(a[i, k]) * np.float64(bt[j, k])
        out[e] = total
    return out


@njit(cache=True)
def element_dots_int8(a: np.ndarray, bt: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """element_dots of int8 operands: int32 products summed in int64 (exact for any K; no float
    conversion in the loop, which vectorises as integer multiply-adds: ~1.5x element_dots_exact)."""
    out = np.empty(rows.shape[0], np.float64)
    k_total = a.shape[1]
    for e in range(rows.shape[0]):
        i, j = rows[e], cols[e]
        total = np.int64(0)
        for k in range(k_total):
            total += np.int32(a[i, k]) * np.int32(bt[j, k])
        out[e] = total
    return out


def element_dots_reference(a: np.ndarray, bt: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The numpy twin of element_dots."""
    return np.einsum("ek,ek->e", a[rows].astype(np.float64), bt[cols].astype(np.float64))
