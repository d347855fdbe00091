"""A fold's live errors summed per output element, in one pass (verify.ledger.FoldErrors.error_map).

DMR compares the two copies' error maps of every fold it checks: (element code row * cols + col,
summed error) of the errors still in the output, sorted by code, zero sums dropped, the errors of
one element added in the order they were recorded (so float sums are bit-identical to
np.add.at's). `live_error_map` does it in one numba call; `live_error_map_reference` is its numpy
twin (np.unique + np.add.at), the oracle tests/test_ledger.py compares it with.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.codes import FLIP


@njit(cache=True)
def live_error_map(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    mode: np.ndarray,
    n_cols: int,
    transient_only: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sums) of the errors e with alive[e] and delta[e] != 0 (and, with `transient_only`,
    whose fault owner[e] has mode FLIP), summed per code rows[e] * n_cols + cols[e]."""
    keep = np.zeros(delta.shape[0], np.bool_)
    for e in range(delta.shape[0]):
        keep[e] = alive[e] and delta[e] != 0 and (not transient_only or mode[owner[e]] == FLIP)
    picked = np.flatnonzero(keep)
    codes = rows[picked] * n_cols + cols[picked]
    order = np.argsort(codes, kind="mergesort")  # stable: an element's errors keep their order
    keys = np.zeros(picked.shape[0], np.int64)
    sums = np.zeros(picked.shape[0], delta.dtype)
    n = -1
    for i in order:
        if n < 0 or codes[i] != keys[n]:
            n += 1
            keys[n] = codes[i]
        sums[n] += delta[picked[i]]
    nonzero = sums[: n + 1] != 0
    return keys[: n + 1][nonzero], sums[: n + 1][nonzero]


def live_error_map_reference(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    mode: np.ndarray,
    n_cols: int,
    transient_only: bool,
) -> tuple[np.ndarray, np.ndarray]:
    live = alive & (delta != 0)
    if transient_only:
        live &= mode[owner] == FLIP
    keys, inverse = np.unique(rows[live] * n_cols + cols[live], return_inverse=True)
    sums = np.zeros(keys.shape, delta.dtype)
    np.add.at(sums, inverse, delta[live])
    nonzero = sums != 0
    return keys[nonzero], sums[nonzero]
