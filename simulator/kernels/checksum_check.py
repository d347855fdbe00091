"""An exact (integer) whole-fold check with faults in the checksum hardware itself, in two kernel calls.

A faulty run with the default site set checks thousands of fold attempts whose checksum words are
hit (faults.checksum_faults). For an integer fold checked as one block (tolerance 0):

* `int_word_values`: the clean value of each faulty word right after its operation `step`: a
  chk_pred row word holds sum_{t <= step} A[line, t] * sum_j B[t, j] over its block columns j, a
  chk_sum row word sum_{j <= step} (A[line] @ B[:, lo + j]); column words likewise (chk_cmp: 0).
  Reference: faults.checksum_faults.word_values (which converts both operand blocks per call).
* `exact_checked_block`: the block's row / column deviations with the words' errors added (a
  chk_pred error enters with the opposite sign: the prediction is subtracted), the comparison
  latches that flip an odd number of times inverted (tolerance +inf or -1), and per fault whether
  its row / column became flagged (false alarm) or lost its flag (hidden). Reference:
  verify.checksum_checks.checked_blocks.

`exact_range_check_with_checksum_faults` runs both and the data check of the fold
(kernels.fold_check) in one call, marking the detected faults where the fault ledger keeps them;
`exact_check_with_checksum_faults` is the same for a fold holding its own columns.
tests/test_checksum_check.py compares each with its reference on random folds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.codes import CHK_CMP, CHK_PRED


@njit(cache=True)
def int_word_values(
    site: np.ndarray,
    row_word: np.ndarray,
    line: np.ndarray,
    block: np.ndarray,
    step: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    block_rows: int,
    block_cols: int,
) -> np.ndarray:
    """int64 word values of one fold's checksum faults; `a` (r x K), `b` (K x c) its integer operand
    blocks, check blocks of block_rows x block_cols outputs (each at most the fold's extent)."""
    r, k, c = a.shape[0], a.shape[1], b.shape[1]
    out = np.zeros(site.shape[0], np.int64)
    for i in range(site.shape[0]):
        if site[i] == CHK_CMP:
            continue
        x, s = line[i], step[i]
        value = np.int64(0)
        if row_word[i]:
            lo = block[i] * block_cols
            hi = min(c, lo + block_cols)
            if site[i] == CHK_PRED:
                for t in range(min(s + 1, k)):
                    col_sum = np.int64(0)
                    for j in range(lo, hi):
                        col_sum += np.int64(b[t, j])
                    value += np.int64(a[x, t]) * col_sum
            else:
                for j in range(lo, min(c, lo + s + 1)):
                    for t in range(k):
                        value += np.int64(a[x, t]) * np.int64(b[t, j])
        else:
            lo = block[i] * block_rows
            hi = min(r, lo + block_rows)
            if site[i] == CHK_PRED:
                for t in range(min(s + 1, k)):
                    row_sum = np.int64(0)
                    for j in range(lo, hi):
                        row_sum += np.int64(a[j, t])
                    value += row_sum * np.int64(b[t, x])
            else:
                for j in range(lo, min(r, lo + s + 1)):
                    for t in range(k):
                        value += np.int64(a[j, t]) * np.int64(b[t, x])
        out[i] = value
    return out


@njit(cache=True)
def exact_checked_block(
    rsd: np.ndarray,
    csd: np.ndarray,
    site: np.ndarray,
    row_word: np.ndarray,
    line: np.ndarray,
    deltas: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(RSD, CSD, row tolerances, column tolerances, flagged rows, flagged columns, false alarm,
    hidden) of one whole-fold integer block whose data deviations are `rsd` / `csd` (int64) after
    its checksum faults (word of output row / column `line`; `deltas`: each word's change)."""
    n = site.shape[0]
    rsd, csd = rsd.copy(), csd.copy()
    row_tol, col_tol = np.zeros(rsd.shape[0]), np.zeros(csd.shape[0])
    before = np.zeros(n, np.bool_)
    for i in range(n):
        j = line[i]
        before[i] = not (abs(rsd[j]) <= row_tol[j]) if row_word[i] else not (abs(csd[j]) <= col_tol[j])
    for i in range(n):
        if site[i] == CHK_CMP:
            continue
        signed = -deltas[i] if site[i] == CHK_PRED else deltas[i]
        if row_word[i]:
            rsd[line[i]] += signed
        else:
            csd[line[i]] += signed
    row_flips, col_flips = np.zeros(rsd.shape[0], np.int64), np.zeros(csd.shape[0], np.int64)
    for i in range(n):
        if site[i] == CHK_CMP:
            if row_word[i]:
                row_flips[line[i]] += 1
            else:
                col_flips[line[i]] += 1
    for j in range(rsd.shape[0]):
        if row_flips[j] % 2 == 1:
            row_tol[j] = np.inf if not (abs(rsd[j]) <= row_tol[j]) else -1.0
    for j in range(csd.shape[0]):
        if col_flips[j] % 2 == 1:
            col_tol[j] = np.inf if not (abs(csd[j]) <= col_tol[j]) else -1.0
    false_alarm, hidden = np.zeros(n, np.bool_), np.zeros(n, np.bool_)
    for i in range(n):
        j = line[i]
        after = not (abs(rsd[j]) <= row_tol[j]) if row_word[i] else not (abs(csd[j]) <= col_tol[j])
        false_alarm[i] = after and not before[i]
        hidden[i] = before[i] and not after
    flagged_rows = np.flatnonzero(~(np.abs(rsd) <= row_tol))
    flagged_cols = np.flatnonzero(~(np.abs(csd) <= col_tol))
    return rsd, csd, row_tol, col_tol, flagged_rows, flagged_cols, false_alarm, hidden


@njit(cache=True)
def int32_flip_deltas(values: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """(flipped - value) of int32 two's-complement words holding `values` when bit `bits` flips
    (faults.checksum_faults.word_deltas for integer words)."""
    out = np.zeros(values.shape[0], np.int64)
    for i in range(values.shape[0]):
        word = ((values[i] + 2**31) % 2**32) - 2**31
        flipped = word ^ (np.int64(1) << bits[i])
        out[i] = (((flipped + 2**31) % 2**32) - 2**31) - word
    return out


@njit(cache=True)
def exact_range_check_with_checksum_faults(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    element_lo: int,
    element_hi: int,
    detected: np.ndarray,
    site: np.ndarray,
    row_word: np.ndarray,
    line: np.ndarray,
    block: np.ndarray,
    step: np.ndarray,
    bit: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One integer fold checked as one block (its output block a.shape[0] x b.shape[1]) with its
    checksum-hardware faults, in one call: `exact_checked_block` over the data deviations of its
    live errors (elements element_lo..element_hi-1 of the columns, where a fault ledger keeps them)
    and the faulty words' changes (`int_word_values`, `int32_flip_deltas`), then, in place, the
    data faults a live error of which sits in a flagged row or column (`owner` indexes
    `detected`; FoldErrors.mark_detected). Returns exact_checked_block's eight arrays."""
    n_rows, n_cols = a.shape[0], b.shape[1]
    rsd = np.zeros(n_rows, np.int64)
    csd = np.zeros(n_cols, np.int64)
    for e in range(element_lo, element_hi):
        if alive[e] and delta[e] != 0:
            rsd[rows[e]] += delta[e]
            csd[cols[e]] += delta[e]
    values = int_word_values(site, row_word, line, block, step, a, b, n_rows, n_cols)
    checked = exact_checked_block(rsd, csd, site, row_word, line, int32_flip_deltas(values, bit))
    row_flag, col_flag = np.zeros(n_rows, np.bool_), np.zeros(n_cols, np.bool_)
    row_flag[checked[4]] = True
    col_flag[checked[5]] = True
    for e in range(element_lo, element_hi):
        if alive[e] and delta[e] != 0 and (row_flag[rows[e]] or col_flag[cols[e]]):
            detected[owner[e]] = True
    return checked


@njit(cache=True)
def exact_check_with_checksum_faults(
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    alive: np.ndarray,
    owner: np.ndarray,
    n_faults: int,
    site: np.ndarray,
    row_word: np.ndarray,
    line: np.ndarray,
    block: np.ndarray,
    step: np.ndarray,
    bit: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`exact_range_check_with_checksum_faults` of one fold holding its own columns (rows, cols,
    delta, alive, owner as verify.ledger.FoldErrors holds them): exact_checked_block's eight
    arrays and the detected mask (length n_faults)."""
    detected = np.zeros(n_faults, np.bool_)
    checked = exact_range_check_with_checksum_faults(
        rows, cols, delta, alive, owner, 0, delta.shape[0], detected, site, row_word, line, block, step, bit, a, b
    )
    return checked[0], checked[1], checked[2], checked[3], checked[4], checked[5], checked[6], checked[7], detected
