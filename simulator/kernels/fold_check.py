"""One exact (integer) whole-fold checksum check in one pass: deviations, flags, detected faults.

A faulty run checks tens of thousands of fold attempts, most of them int8 folds checked as one
block with tolerance 0. For such a fold, RSD_i = sum of the live errors in row i, CSD_j likewise
(abft.checksum.block_deviations), a row or column is flagged when its deviation is nonzero, and
a fault counts as detected when one of its live errors sits in a flagged row or column
(verify.ledger.FoldErrors.mark_detected). `exact_fold_check` does all of it in one loop over the
fold's errors instead of some twenty small numpy calls; those two functions are its reference
(tests/test_fold_check.py compares them). `exact_range_checks` checks a check round's folds where
the fault ledger keeps their errors (one segment's columns, no gathering), `exact_fold_checks`
folds gathered into one run of columns; both against `exact_fold_check` in the tests.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def exact_fold_check(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    n_rows: int,
    n_cols: int,
    n_faults: int,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(live errors, RSD (int64, n_rows), CSD (int64, n_cols), flagged rows, flagged cols,
    detected per fault) of one fold
    whose error e sits at (rows[e], cols[e]) with integer `delta[e]`, still in the output when
    `alive[e]`, caused by fault `owner[e]`."""
    rsd = np.zeros(n_rows, np.int64)
    csd = np.zeros(n_cols, np.int64)
    live = 0
    for e in range(delta.shape[0]):
        if alive[e] and delta[e] != 0:
            rsd[rows[e]] += delta[e]
            csd[cols[e]] += delta[e]
            live += 1
    detected = np.zeros(n_faults, np.bool_)
    if live:
        for e in range(delta.shape[0]):
            if alive[e] and delta[e] != 0 and (rsd[rows[e]] != 0 or csd[cols[e]] != 0):
                detected[owner[e]] = True
    return live, rsd, csd, np.flatnonzero(rsd), np.flatnonzero(csd), detected


@njit(cache=True)
def exact_range_checks(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    element_lo: np.ndarray,
    element_hi: np.ndarray,
    n_rows: np.ndarray,
    n_cols: np.ndarray,
    detected: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
           np.ndarray]:  # fmt: skip
    """`exact_fold_check` of F folds whose errors lie where a fault ledger segment keeps them (no
    gathering): fold f's errors are elements element_lo[f]..element_hi[f]-1 of the columns, its
    block n_rows[f] x n_cols[f], and `owner` indexes `detected` (the segment's own flags, which
    this sets in place for the faults found). Returns (live errors per fold, RSDs, CSDs, flagged
    rows, flagged columns, row offsets, column offsets, flagged row offsets, flagged column
    offsets), laid out as `exact_fold_checks` lays them out."""
    n_folds = n_rows.shape[0]
    row_at = np.zeros(n_folds + 1, np.int64)
    col_at = np.zeros(n_folds + 1, np.int64)
    for f in range(n_folds):
        row_at[f + 1] = row_at[f] + n_rows[f]
        col_at[f + 1] = col_at[f] + n_cols[f]
    rsd = np.zeros(row_at[n_folds], np.int64)
    csd = np.zeros(col_at[n_folds], np.int64)
    live = np.zeros(n_folds, np.int64)
    for f in range(n_folds):
        r0, c0 = row_at[f], col_at[f]
        for e in range(element_lo[f], element_hi[f]):
            if alive[e] and delta[e] != 0:
                rsd[r0 + rows[e]] += delta[e]
                csd[c0 + cols[e]] += delta[e]
                live[f] += 1
        if live[f]:
            for e in range(element_lo[f], element_hi[f]):
                if alive[e] and delta[e] != 0 and (rsd[r0 + rows[e]] != 0 or csd[c0 + cols[e]] != 0):
                    detected[owner[e]] = True
    flagged_rows, flagged_cols = np.zeros(row_at[n_folds], np.int64), np.zeros(col_at[n_folds], np.int64)
    flagged_row_at, flagged_col_at = np.zeros(n_folds + 1, np.int64), np.zeros(n_folds + 1, np.int64)
    n_flagged_rows = n_flagged_cols = 0
    for f in range(n_folds):
        for i in range(n_rows[f]):
            if rsd[row_at[f] + i] != 0:
                flagged_rows[n_flagged_rows] = i
                n_flagged_rows += 1
        for j in range(n_cols[f]):
            if csd[col_at[f] + j] != 0:
                flagged_cols[n_flagged_cols] = j
                n_flagged_cols += 1
        flagged_row_at[f + 1], flagged_col_at[f + 1] = n_flagged_rows, n_flagged_cols
    return live, rsd, csd, flagged_rows, flagged_cols, row_at, col_at, flagged_row_at, flagged_col_at


@njit(cache=True)
def exact_fold_checks(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    element_offsets: np.ndarray,
    n_rows: np.ndarray,
    n_cols: np.ndarray,
    n_faults: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
           np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """`exact_fold_check` of F folds in one call (a check round's folds): fold f's errors are
    elements element_offsets[f]..element_offsets[f+1]-1 of the concatenated columns (`owner` local
    to the fold), its block n_rows[f] x n_cols[f], its faults n_faults[f]. Returns (live errors per
    fold, RSDs, CSDs, flagged rows, flagged columns, detected, row offsets, column offsets, flagged
    row offsets, flagged column offsets, fault offsets): fold f's RSD is RSDs[row offsets[f]:row
    offsets[f+1]], its flagged rows (fold-block indices) flagged rows[flagged row offsets[f]:...],
    likewise its CSD, flagged columns and its faults' detected flags."""
    n_folds = n_rows.shape[0]
    fault_at = np.zeros(n_folds + 1, np.int64)
    for f in range(n_folds):
        fault_at[f + 1] = fault_at[f] + n_faults[f]
    run_owner = np.empty_like(owner)  # the fault's index among all the folds' faults
    for f in range(n_folds):
        for e in range(element_offsets[f], element_offsets[f + 1]):
            run_owner[e] = fault_at[f] + owner[e]
    detected = np.zeros(fault_at[n_folds], np.bool_)
    live, rsd, csd, flagged_rows, flagged_cols, row_at, col_at, flagged_row_at, flagged_col_at = exact_range_checks(
        rows, cols, delta, alive, run_owner, element_offsets[:-1], element_offsets[1:], n_rows, n_cols, detected
    )
    return (live, rsd, csd, flagged_rows, flagged_cols, detected, row_at, col_at, flagged_row_at, flagged_col_at,
            fault_at)  # fmt: skip
