"""Table lookups (numba): the int8 codes of synthetic operands, plain or fused with a transpose.

`lookup_transposed(table, index)` is `np.ascontiguousarray(table[index].T)` in one pass: the
int8 fault kernels read B transposed (N x K), and drawing ViT-B/16's 85 M weight codes through
numpy's gather and then a transposing copy costs two passes and one K x N temporary per tensor
(10.0 ms against 4.6 ms for a 768 x 3072 tensor on the CI machines). Tiles of TILE x TILE keep
both the reads (row-major index) and the writes (row-major result) within a few cache lines.

`lookup(table, index)` is `np.take(table, index)` for a uint16 index: numpy's take first converts
the index to a fresh intp array (8 bytes per element), which costs as much again as the gather
(151 us against 67 us for a 197 x 768 operand).
"""

from __future__ import annotations

import numpy as np
from numba import njit

TILE = 64


@njit(cache=True)
def lookup(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """out[i, j] = table[index[i, j]] for a 2-D C-contiguous index into a 1-D table (C order)."""
    flat = index.reshape(-1)
    out = np.empty(flat.shape[0], table.dtype)
    for i in range(flat.shape[0]):
        out[i] = table[flat[i]]
    return out.reshape(index.shape)


@njit(cache=True)
def lookup_transposed(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """out[j, i] = table[index[i, j]] for a 2-D index (K x N) into a 1-D table: out is N x K, C order."""
    k, n = index.shape
    out = np.empty((n, k), table.dtype)
    for i0 in range(0, k, TILE):
        i1 = min(i0 + TILE, k)
        for j0 in range(0, n, TILE):
            j1 = min(j0 + TILE, n)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    out[j, i] = table[index[i, j]]
    return out
