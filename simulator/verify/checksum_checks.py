"""What a fold's checks see when the checksum hardware itself is hit (faults.checksum_faults).

`checked_blocks` adds the checksum-word errors of one fold attempt to the deviations its data errors
leave (a block with no data error gets a zero deviation first) and inverts the verdicts whose latch
flipped; per checksum fault it reports whether its row / column verdict became a flag only because
of the checksum faults (`false_alarm`: the check sees a deviation the data does not have) or lost a
flag the data raised (`hidden`). `ChecksumLog` keeps those faults of a run (they corrupt no output:
their fate is `masked`, their cost the recomputations they trigger) and merges them into the
ledger's table for the fates, the outcomes and the fault log.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulator.abft.checksum import BlockDeviation
from simulator.faults.checksum_faults import ROW_WORD, ChecksumFaults
from simulator.kernels.codes import CHK_CMP, CHK_PRED, FLIP
from simulator.verify.ledger import LedgerTable, with_added_faults


@dataclass(frozen=True, slots=True)
class ChecksumVerdicts:
    """The blocks the policy sees, and per checksum fault (one fold attempt) what its flip did."""

    blocks: tuple[BlockDeviation, ...]
    false_alarm: np.ndarray  # bool: its row / column is flagged only because of the checksum faults
    hidden: np.ndarray  # bool: its row / column lost a flag the data errors raised


def checked_blocks(
    data_blocks: list[BlockDeviation],
    faults: ChecksumFaults,
    deltas: np.ndarray,
    shape: tuple[int, int],
    block_shape: tuple[int, int],
    tolerances: tuple[np.ndarray, np.ndarray] | None,
    integer: bool,
) -> ChecksumVerdicts:
    """The check blocks of one fold attempt with its checksum faults applied. `deltas`: per fault the
    change of its word's final value (faults.checksum_faults.word_deltas; ignored for chk_cmp)."""
    n_rows, n_cols = shape
    br = block_shape[0] if 0 < block_shape[0] < n_rows else n_rows
    bc = block_shape[1] if 0 < block_shape[1] < n_cols else n_cols
    row_word = faults.axis == ROW_WORD
    origin_r = np.where(row_word, (faults.line // br) * br, faults.block * br)
    origin_c = np.where(row_word, faults.block * bc, (faults.line // bc) * bc)
    index = np.where(row_word, faults.line - origin_r, faults.line - origin_c)  # row / column in its block
    dtype = np.int64 if integer else np.float64
    blocks = {(b.row0, b.col0): b for b in data_blocks}
    work: dict[tuple[int, int], list[np.ndarray]] = {}
    for key in sorted(set(zip(origin_r.tolist(), origin_c.tolist(), strict=True))):
        b = blocks.get(key)
        row0, col0 = key
        h, w = min(br, n_rows - row0), min(bc, n_cols - col0)
        if b is None:
            row_tol = tolerances[0][row0 : row0 + h] if tolerances is not None else np.zeros(h)
            col_tol = tolerances[1][col0 : col0 + w] if tolerances is not None else np.zeros(w)
            b = blocks[key] = BlockDeviation(row0, col0, np.zeros(h, dtype), np.zeros(w, dtype), row_tol, col_tol)
        work[key] = [
            b.rsd.astype(dtype, copy=True), b.csd.astype(dtype, copy=True),
            np.asarray(b.row_tolerance, np.float64).copy(), np.asarray(b.col_tolerance, np.float64).copy(),
        ]  # fmt: skip

    def flagged(i: int) -> bool:
        rsd, csd, rt, ct = work[(int(origin_r[i]), int(origin_c[i]))]
        dev, tol = (rsd, rt) if row_word[i] else (csd, ct)
        j = int(index[i])
        return not bool(abs(dev[j]) <= tol[j])

    before = np.array([flagged(i) for i in range(len(faults))], bool)
    signed = np.where(faults.site == CHK_PRED, -1, 1) * np.asarray(deltas)
    for i in range(len(faults)):  # a handful per fold attempt
        if int(faults.site[i]) == CHK_CMP:
            continue
        rsd, csd, _, _ = work[(int(origin_r[i]), int(origin_c[i]))]
        (rsd if row_word[i] else csd)[int(index[i])] += signed[i].astype(dtype)
    latch_flips: dict[tuple[int, int, bool, int], int] = {}
    for i in np.flatnonzero(faults.site == CHK_CMP).tolist():
        latch = (int(origin_r[i]), int(origin_c[i]), bool(row_word[i]), int(index[i]))
        latch_flips[latch] = latch_flips.get(latch, 0) + 1
    for (row0, col0, is_row, j), flips in latch_flips.items():
        if flips % 2 == 0:
            continue
        rsd, csd, rt, ct = work[(row0, col0)]
        dev, tol = (rsd, rt) if is_row else (csd, ct)
        tol[j] = np.inf if not abs(dev[j]) <= tol[j] else -1.0  # the verdict inverts (a NaN stays flagged)
    after = np.array([flagged(i) for i in range(len(faults))], bool)
    out = []
    for key in sorted(blocks):
        b = blocks[key]
        if key in work:
            rsd, csd, rt, ct = work[key]
            b = replace(b, rsd=rsd, csd=csd, row_tolerance=rt, col_tolerance=ct)
        out.append(b)
    return ChecksumVerdicts(tuple(out), after & ~before, before & ~after)


class ChecksumLog:
    """The checksum-hardware faults of a run as they were checked, one entry per fold attempt."""

    def __init__(self) -> None:
        self._parts: list[tuple[ChecksumFaults, np.ndarray, np.ndarray]] = []

    def add(self, faults: ChecksumFaults, verdicts: ChecksumVerdicts) -> None:
        if len(faults):
            self._parts.append((faults, verdicts.false_alarm, verdicts.hidden))

    def __len__(self) -> int:
        return sum(len(f) for f, _, _ in self._parts)

    def merged(self, table: LedgerTable, final_of: dict[tuple[int, int, int], tuple[bool, bool]]) -> LedgerTable:
        """The ledger table with these faults added (no corrupted elements; row = the output row of a
        row word else -1, col likewise, cycle = the operation step, mode FLIP), in (gemm, instance,
        fold) order with each fold's PE faults first. `final_of[(g, i, f)]`: (accepted, gave up)."""
        if not self._parts:
            return table
        fs = [f for f, _, _ in self._parts]
        n = sum(len(f) for f in fs)
        gemm = np.concatenate([np.full(len(f), f.gemm_index, np.int64) for f in fs])
        instance = np.concatenate([np.full(len(f), f.instance, np.int64) for f in fs])
        fold = np.concatenate([f.fold_index for f in fs])
        axis = np.concatenate([f.axis for f in fs])
        line = np.concatenate([f.line for f in fs])
        columns = {
            "attempt": np.concatenate([f.attempt for f in fs]),
            "ordinal": np.concatenate([f.ordinal for f in fs]),
            "row": np.where(axis == ROW_WORD, line, -1),
            "col": np.where(axis == ROW_WORD, -1, line),
            "cycle": np.concatenate([f.step for f in fs]),
            "site": np.concatenate([f.site for f in fs]),
            "bit": np.concatenate([f.bit for f in fs]),
            "mode": np.full(n, FLIP, np.int64),
        }
        false_alarm = np.concatenate([a for _, a, _ in self._parts])
        hidden = np.concatenate([h for _, _, h in self._parts])
        flags = {"detected": false_alarm, "corrected": np.zeros(n, bool), "false_alarm": false_alarm, "hidden": hidden}
        return with_added_faults(table, (gemm, instance, fold), columns, flags, final_of)
