"""A fold's live errors summed per output element, in one pass (verify.ledger.FoldErrors.error_map).

DMR compares the two copies' error maps of every fold it checks: (element code row * cols + col,
summed error) of the errors still in the output, sorted by code, zero sums dropped, the errors of
one element added in the order they were recorded (so float sums are bit-identical to
np.add.at's). `live_error_map` does it in one numba call (its sum is the fate classification's,
kernels.output_damage.summed_outputs); `live_error_map_reference` is its numpy twin (np.unique +
np.add.at), the oracle tests/test_ledger.py compares it with. `copies_differ` compares the two
copies of every fold of a DMR check round in one call.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.codes import FLIP
from simulator.kernels.output_damage import summed_outputs


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
    keys, sums, _ = summed_outputs(codes, order, delta, picked)
    nonzero = sums != 0
    return keys[nonzero], sums[nonzero]


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


@njit(cache=True)
def copies_differ(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    mode: np.ndarray,
    element_lo: np.ndarray,
    element_hi: np.ndarray,
    n_cols: np.ndarray,
    dup_rows: np.ndarray,
    dup_cols: np.ndarray,
    dup_delta: np.ndarray,
    dup_lo: np.ndarray,
    dup_hi: np.ndarray,
) -> np.ndarray:
    """DMR's compare of a check round's folds in one call: per fold i, whether the first copy's
    transient error map (`live_error_map` of elements element_lo[i]..element_hi[i]-1 of the first
    columns, `owner` indexing `mode`) differs from the second copy's (every error of its elements
    dup_lo[i]..dup_hi[i]-1: its faults are all transient and all written back): different codes,
    or a sum that differs (a NaN sum never equals)."""
    n_dup = dup_delta.shape[0]
    dup_alive = np.ones(n_dup, np.bool_)
    dup_owner = np.zeros(n_dup, np.int64)
    out = np.zeros(element_lo.shape[0], np.bool_)
    for i in range(element_lo.shape[0]):
        a, b, c, d = element_lo[i], element_hi[i], dup_lo[i], dup_hi[i]
        k1, s1 = live_error_map(rows[a:b], cols[a:b], delta[a:b], alive[a:b], owner[a:b], mode, n_cols[i], True)
        k2, s2 = live_error_map(dup_rows[c:d], dup_cols[c:d], dup_delta[c:d], dup_alive[c:d], dup_owner[c:d], mode,
                                n_cols[i], False)  # fmt: skip
        if k1.shape[0] != k2.shape[0]:
            out[i] = True
            continue
        for j in range(k1.shape[0]):
            if k1[j] != k2[j] or s1[j] != s2[j]:  # (NaN != NaN)
                out[i] = True
                break
    return out
