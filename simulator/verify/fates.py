"""Each fault's fate, classified once for a whole ledger, vectorised, with the damage to stored outputs.

A fault is `masked` when none of its errors is nonzero, or when every output still holding its
error stores the same value as without faults (also counted `masked_at_output`, verify.writeback);
otherwise, with no error left in the output, `corrected` (fixed in place from the checksums) or
`recomputed`; with an error left that changes a stored output, `tolerated` when a tolerating
policy saw it and accepted the fold without giving up, else `escaped` (silent data corruption).
Errors of several faults on one output add up (WS / IS partial sums too) before write-back.
`unrecoverable` (a detected unrecoverable error, DUE) is never given here: the output path's hook
(verify.output_effects) sets it for C scratchpad upsets the SRAM's SEC-DED detected but cannot repair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.kernels.output_damage import fault_damage, fault_outputs, sum_by_code
from simulator.verify.ledger import LedgerTable
from simulator.verify.writeback import WriteBack

FATES = ("masked", "corrected", "recomputed", "tolerated", "escaped", "unrecoverable")
MASKED, CORRECTED, RECOMPUTED, TOLERATED, ESCAPED, UNRECOVERABLE = range(len(FATES))

# (gemm, instance) -> its write-back, and the clean accumulators at GEMM rows / cols
WriteBackOf = Callable[[int, int], WriteBack]
CleanOf = Callable[[int, int, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True, slots=True)
class Fates:
    """Per fault (ledger table order) its fate and damage; per damaged output its error."""

    fate: np.ndarray  # int8 codes into FATES
    masked_at_output: np.ndarray  # bool
    outputs_corrupted: np.ndarray  # int64: corrupted stored outputs holding this fault's error
    max_abs_error: np.ndarray  # float64: largest |error| it left in an accumulator (0 if none)
    max_rel_error: np.ndarray  # float64: worst relative error of a stored output it corrupted
    out_gemm: np.ndarray  # per output with a nonzero summed error: GEMM index
    out_error: np.ndarray  # float64 summed accumulator error
    out_corrupted: np.ndarray  # bool
    out_rel: np.ndarray  # float64


def classify(table: LedgerTable, tolerates: bool, writeback: WriteBackOf, clean: CleanOf) -> Fates:
    """Every fault's fate and damage: the passes over the elements in numba (kernels.output_damage),
    the write-back judged per GEMM instance; `classify_reference` is the numpy twin."""
    n = len(table)
    dims = _dims(table.instance, table.grows, table.gcols)
    touched, residual, max_abs, live_at, code = fault_damage(
        table.owner, table.delta, table.alive, table.gemm, table.instance, table.grows, table.gcols, *dims, n
    )
    keys, sums, group = sum_by_code(code, table.delta, live_at)
    corrupted, rel = _judged(keys, sums, dims, writeback, clean)
    outputs, worst = fault_outputs(table.owner, live_at, group, corrupted, rel, n)
    return _fates(table, tolerates, touched, residual, outputs, max_abs, worst, keys, sums, dims, corrupted, rel)


def classify_reference(table: LedgerTable, tolerates: bool, writeback: WriteBackOf, clean: CleanOf) -> Fates:
    """`classify` in whole-array numpy steps (the twin the tests compare it with)."""
    n = len(table)
    owner, delta = table.owner, table.delta
    nonzero = delta != 0
    live = table.alive & nonzero
    touched = np.bincount(owner[nonzero], minlength=n) > 0
    residual = np.bincount(owner[live], minlength=n) > 0
    max_abs = np.zeros(n, np.float64)
    if live.any():  # a flipped fp exponent can leave NaN (SRAM and C words): it propagates, silently
        with np.errstate(invalid="ignore"):
            np.maximum.at(max_abs, owner[live], np.abs(delta[live].astype(np.float64)))

    # outputs: sum the live errors per (gemm, instance, row, col), then judge them at write-back
    lo = owner[live]
    dims = _dims(table.instance, table.grows, table.gcols)
    g, inst, r, c = table.gemm[lo], table.instance[lo], table.grows[live], table.gcols[live]
    code = ((g * dims[0] + inst) * dims[1] + r) * dims[2] + c
    keys, group = np.unique(code, return_inverse=True)
    sums = np.zeros(keys.shape, delta.dtype)
    np.add.at(sums, group, delta[live])
    corrupted, rel = _judged(keys, sums, dims, writeback, clean)

    hit = corrupted[group]
    outputs = np.bincount(lo[hit], minlength=n)
    worst = np.zeros(n, np.float64)
    if hit.any():
        np.maximum.at(worst, lo[hit], rel[group][hit])
    return _fates(table, tolerates, touched, residual, outputs, max_abs, worst, keys, sums, dims, corrupted, rel)


def _dims(instance: np.ndarray, grows: np.ndarray, gcols: np.ndarray) -> tuple[int, int, int]:
    """Bounds D0, D1, D2 of the instances, GEMM rows and GEMM columns: an output's code
    ((gemm * D0 + instance) * D1 + row) * D2 + col ascends with (gemm, instance, row, col)."""
    d0, d1, d2 = (int(x.max()) + 1 if x.size else 1 for x in (instance, grows, gcols))
    return d0, d1, d2


def _judged(keys: np.ndarray, sums: np.ndarray, dims: tuple[int, int, int], writeback: WriteBackOf,
            clean: CleanOf) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(corrupted, relative error) of every output with a summed error (codes `keys`, ascending),
    judged at write-back one GEMM instance at a time against its clean accumulators."""
    d0, d1, d2 = dims
    corrupted = np.zeros(keys.shape, bool)
    rel = np.zeros(keys.shape, np.float64)
    pairs = keys // (d1 * d2)  # gemm * D0 + instance
    bounds = np.flatnonzero(np.diff(pairs)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, keys.size], strict=True):
        if stop <= start:
            continue
        gi, ii = divmod(int(pairs[start]), d0)
        within = keys[start:stop] % (d1 * d2)
        acc = clean(gi, ii, within // d2, within % d2)
        corrupted[start:stop], rel[start:stop] = writeback(gi, ii).judge(acc, sums[start:stop])
    corrupted &= sums != 0
    return corrupted, rel


def _fates(
    table: LedgerTable, tolerates: bool, touched: np.ndarray, residual: np.ndarray, outputs: np.ndarray,
    max_abs: np.ndarray, worst: np.ndarray, keys: np.ndarray, sums: np.ndarray, dims: tuple[int, int, int],
    corrupted: np.ndarray, rel: np.ndarray,
) -> Fates:  # fmt: skip
    """Each fault's fate from what its errors did (the rules in the module's docstring)."""
    n = len(table)
    fate = np.full(n, ESCAPED, np.int8)
    tolerated = residual & table.detected & table.accepted & ~table.gave_up if tolerates else np.zeros(n, bool)
    fate[tolerated] = TOLERATED
    fate[~residual] = np.where(table.corrected[~residual], CORRECTED, RECOMPUTED)
    at_output = touched & residual & ~(outputs > 0)
    fate[~touched | at_output] = MASKED
    keep = sums != 0
    out_gemm = keys[keep] // (dims[0] * dims[1] * dims[2])
    return Fates(fate, at_output, outputs, max_abs, worst, out_gemm, sums[keep].astype(np.float64),
                 corrupted[keep], rel[keep])  # fmt: skip
