"""Vectorised fates of many single faults for the bundled policies (int8, one check block per fold).

The checks of a fold with one fault reduce to a few numbers per fault: the row and column deviations
(RSD, CSD) of its errors, how many are nonzero, MSD = sum |RSD|, how many exceed ApproxABFT's T2 and whether
the rows (columns) above T2 hold all of the fault's errors. Each bundled policy's decide() is a function of
these, so its fate is too; `FAST_FATES` maps a policy class to that function. A fault a function cannot
settle (a correction of a multi-element pattern, a partial recomputation that leaves errors), a policy
without an entry, floating point (tolerances) or check blocks smaller than a fold go through
single_fault.fates, the reference these functions are tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.abft.policies import ApproxAbft, ClassicalAbft, CorrectingAbft, DetectOnly, DualModular, PolicyBase
from simulator.reliability.single_fault import FATE_CODE, at_write_back

UNSETTLED = -1
_MASKED, _CORRECTED, _RECOMPUTED = FATE_CODE["masked"], FATE_CODE["corrected"], FATE_CODE["recomputed"]
_TOLERATED, _DUE, _SDC = FATE_CODE["tolerated"], FATE_CODE["due"], FATE_CODE["sdc"]


@dataclass(frozen=True)
class FaultChecks:
    """Per fault (one check block = the fold's output block, exact integer deviations)."""

    kinds: np.ndarray  # GEMM kind (object array of str)
    scales: np.ndarray  # clean output scale, accumulator units
    errors: np.ndarray  # nonzero output errors
    rows_flagged: np.ndarray  # nonzero RSD
    cols_flagged: np.ndarray  # nonzero CSD
    msd_abs: np.ndarray  # sum |RSD| (float64, exact below 2^53)
    row_abs: tuple[np.ndarray, np.ndarray, np.ndarray]  # (fault, |RSD|, errors in that row) per nonzero row
    col_abs: tuple[np.ndarray, np.ndarray, np.ndarray]
    visible: np.ndarray  # some error of the fault changes its stored output (verify.writeback)

    @property
    def detected(self) -> np.ndarray:
        return (self.rows_flagged > 0) | (self.cols_flagged > 0)


def fault_checks(
    n: int, fault: np.ndarray, rows: np.ndarray, cols: np.ndarray, delta: np.ndarray, kinds, scales, visible
) -> FaultChecks:
    """Features of n faults from their errors (position p belongs to fault[p]; int64 deltas; visible[t]: some
    error of fault t changes its stored output)."""
    keep = delta != 0
    fault, rows, cols, delta = fault[keep], rows[keep], cols[keep], delta[keep].astype(np.float64)
    errors = np.bincount(fault, minlength=n)

    def lines(index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(owning fault, |deviation|, errors on the line) of every row (column) with a nonzero deviation."""
        key = fault * (int(index.max(initial=0)) + 1) + index
        uniq, inverse = np.unique(key, return_inverse=True)
        sums = np.bincount(inverse, weights=delta, minlength=uniq.size)
        members = np.bincount(inverse, minlength=uniq.size)
        owner = uniq // (int(index.max(initial=0)) + 1)
        nonzero = sums != 0
        return owner[nonzero], np.abs(sums[nonzero]), members[nonzero]

    r_owner, r_abs, r_members = lines(rows)
    c_owner, c_abs, c_members = lines(cols)
    return FaultChecks(
        kinds, scales, errors,
        np.bincount(r_owner, minlength=n), np.bincount(c_owner, minlength=n),
        np.bincount(r_owner, weights=r_abs, minlength=n),
        (r_owner, r_abs, r_members), (c_owner, c_abs, c_members), visible,
    )  # fmt: skip


def fast_fates(policy, f: FaultChecks, max_retries: int) -> np.ndarray | None:
    """Fate codes of every fault under a bundled policy (UNSETTLED where the reference must decide), judged at
    write-back like single_fault.fates (a fault's errors are all left in the output or none are); None for a
    policy without an entry in FAST_FATES."""
    fast = FAST_FATES.get(type(policy))
    return None if fast is None else at_write_back(fast(policy, f, max_retries), f.visible)


def _recovered(max_retries: int) -> int:
    """A detected fault a policy recomputes: clean on the first retry, unless no retry is allowed."""
    return _RECOMPUTED if max_retries >= 1 else _DUE


def _none(policy, f: FaultChecks, max_retries: int) -> np.ndarray:
    return np.where(f.errors > 0, _SDC, _MASKED)


def _detect_only(policy, f: FaultChecks, max_retries: int) -> np.ndarray:
    return np.where(f.errors == 0, _MASKED, np.where(f.detected, _DUE, _SDC))


def _abft(policy, f: FaultChecks, max_retries: int) -> np.ndarray:
    return np.where(f.errors == 0, _MASKED, np.where(f.detected, _recovered(max_retries), _SDC))


def _abft_correct(policy, f: FaultChecks, max_retries: int) -> np.ndarray:
    single = (f.rows_flagged == 1) & (f.cols_flagged == 1)
    out = np.where(f.detected, _recovered(max_retries), _SDC)
    out = np.where(single, np.where(f.errors == 1, _CORRECTED, UNSETTLED), out)
    return np.where(f.errors == 0, _MASKED, out)


def _approx_abft(policy, f: FaultChecks, max_retries: int) -> np.ndarray:
    abft = policy.context.abft
    n = f.errors.size
    t1, t2 = np.empty(n), np.empty(n)
    for kind in np.unique(f.kinds).tolist():
        th = abft.thresholds_for(kind)
        at = f.kinds == kind
        unit = f.scales[at] if abft.threshold_mode == "relative" else 1.0
        t1[at], t2[at] = th.t1 * unit, th.t2 * unit

    def above(lines: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        owner, mags, members = lines
        big = mags > t2[owner]
        return np.bincount(owner[big], minlength=n), np.bincount(owner[big], weights=members[big], minlength=n)

    rows, row_errors = above(f.row_abs)
    cols, col_errors = above(f.col_abs)
    # a row's error count is exact only when the fault's errors in it do not include zeros (kept out above);
    # rows above T2 hold every error iff their members add up to all of the fault's errors
    rows_only = np.where(row_errors == f.errors, _recovered(max_retries), UNSETTLED)
    cols_only = np.where(col_errors == f.errors, _recovered(max_retries), UNSETTLED)
    # one row and one column above T2: the cheaper line is recomputed (mapping.region.resolve_region),
    # which clears a single wrong element either way; anything more is left to the reference
    lines = np.where(f.errors == 1, _recovered(max_retries), UNSETTLED)
    out = np.where((rows > 0) & (cols > 0), np.where((rows == 1) & (cols == 1), lines, _recovered(max_retries)),
                   np.where(rows > 0, rows_only, np.where(cols > 0, cols_only, _TOLERATED)))  # fmt: skip
    out = np.where(f.msd_abs <= t1, _TOLERATED, out)
    out = np.where(f.detected, out, _SDC)
    return np.where(f.errors == 0, _MASKED, out)


def _dmr(policy, f: FaultChecks, max_retries: int) -> np.ndarray:
    return np.where(f.errors == 0, _MASKED, _recovered(max_retries))


FAST_FATES: dict[type, Callable[[object, FaultChecks, int], np.ndarray]] = {
    PolicyBase: _none,
    DetectOnly: _detect_only,
    ClassicalAbft: _abft,
    CorrectingAbft: _abft_correct,
    ApproxAbft: _approx_abft,
    DualModular: _dmr,
}
