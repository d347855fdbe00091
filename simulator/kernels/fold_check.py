"""One exact (integer) whole-fold checksum check in one pass: deviations, flags, detected faults.

A faulty run checks tens of thousands of fold attempts, most of them int8 folds checked as one
block with tolerance 0. For such a fold, RSD_i = sum of the live errors in row i, CSD_j likewise
(abft.checksum.block_deviations), a row or column is flagged when its deviation is nonzero, and
a fault counts as detected when one of its live errors sits in a flagged row or column
(verify.ledger.FoldErrors.mark_detected). `exact_fold_check` does all of it in one loop over the
fold's errors instead of some twenty small numpy calls; those two functions are its reference
(tests/test_fold_check.py compares them).
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
