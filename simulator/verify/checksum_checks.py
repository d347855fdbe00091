"""What a fold's checks see when the checksum hardware itself is hit (faults.checksum_faults).

`checked_blocks` adds the checksum-word errors of one fold attempt to the deviations its data errors
leave (a block with no data error gets a zero deviation first) and inverts the verdicts whose latch
flipped; per checksum fault it reports whether its row / column verdict became a flag only because
of the checksum faults (`false_alarm`: the check sees a deviation the data does not have) or lost a
flag the data raised (`hidden`). `ChecksumLog` keeps those faults of a run (they corrupt no output:
their fate is `masked`, their cost the recomputations they trigger) and merges them into the
ledger's table for the fates, the outcomes and the fault log. An operand-encoder fault (chk_enc) changes
every predicted word its encoder word feeds, so its verdict reads all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from simulator.abft.checksum import BlockDeviation
from simulator.faults.checksum_faults import ROW_WORD, ChecksumFaults, encoder_shifts
from simulator.kernels.codes import CHK_CMP, CHK_ENC, CHK_PRED, FLIP
from simulator.verify.ledger import AddedFaults, LedgerTable, with_added_faults


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
    operands: tuple[np.ndarray, np.ndarray] | None = None,
) -> ChecksumVerdicts:
    """The check blocks of one fold attempt with its checksum faults applied. `deltas`: per fault the
    change of its word's final value (faults.checksum_faults.word_deltas; ignored for chk_cmp). `operands`:
    the fold's (A block, B block), needed when a chk_enc fault is among them (its encoder word shifts every
    predicted word it feeds, faults.checksum_faults.encoder_shifts); such a fault is a false alarm when one
    of those words becomes flagged only because of the checksum faults, hidden when one loses a data flag."""
    n_rows, n_cols = shape
    br = block_shape[0] if 0 < block_shape[0] < n_rows else n_rows
    bc = block_shape[1] if 0 < block_shape[1] < n_cols else n_cols
    dtype = np.int64 if integer else np.float64
    encoder = faults.site == CHK_ENC
    shifts: list[np.ndarray] = []
    if encoder.any():
        if operands is None:
            raise ValueError("checked_blocks: chk_enc faults need the fold's operands")
        shifts = encoder_shifts(faults, deltas, operands[0], operands[1], block_shape)
    # the words each fault changes: (block origin, is a row word, index in its block, signed change or None)
    touches: list[list[tuple[tuple[int, int], bool, int, float | int | None]]] = []
    signed = np.where(faults.site == CHK_PRED, -1, 1) * np.asarray(deltas)
    for i in range(len(faults)):
        site, line, blk = int(faults.site[i]), int(faults.line[i]), int(faults.block[i])
        row_word = bool(faults.axis[i] == ROW_WORD)
        if site == CHK_ENC:  # a row-group encoder feeds the column words of its block row, and vice versa
            moved = -shifts[i]  # a predicted word's change shifts the deviation (actual - predicted) by minus it
            if row_word:
                words = [((blk * br, (n // bc) * bc), False, n % bc, moved[n]) for n in range(n_cols)]
            else:
                words = [(((m // br) * br, blk * bc), True, m % br, moved[m]) for m in range(n_rows)]
            touches.append(words)
            continue
        key = ((line // br) * br, blk * bc) if row_word else (blk * br, (line // bc) * bc)
        index = line - key[0] if row_word else line - key[1]
        touches.append([(key, row_word, index, None if site == CHK_CMP else signed[i])])
    blocks = {(b.row0, b.col0): b for b in data_blocks}
    work: dict[tuple[int, int], list[np.ndarray]] = {}
    for key in sorted({t[0] for words in touches for t in words}):
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

    def flagged(key: tuple[int, int], is_row: bool, j: int) -> bool:
        rsd, csd, rt, ct = work[key]
        dev, tol = (rsd, rt) if is_row else (csd, ct)
        return not bool(abs(dev[j]) <= tol[j])

    before = [[flagged(k, r, j) for k, r, j, _ in words] for words in touches]
    for words in touches:  # a handful per fold attempt
        for key, is_row, j, change in words:
            if change is not None:
                rsd, csd, _, _ = work[key]
                (rsd if is_row else csd)[j] += np.asarray(change).astype(dtype)
    latch_flips: dict[tuple[tuple[int, int], bool, int], int] = {}
    for i in np.flatnonzero(faults.site == CHK_CMP).tolist():
        key, is_row, j, _ = touches[i][0]
        latch_flips[(key, is_row, j)] = latch_flips.get((key, is_row, j), 0) + 1
    for (key, is_row, j), flips in latch_flips.items():
        if flips % 2 == 0:
            continue
        rsd, csd, rt, ct = work[key]
        dev, tol = (rsd, rt) if is_row else (csd, ct)
        tol[j] = np.inf if not abs(dev[j]) <= tol[j] else -1.0  # the verdict inverts (a NaN stays flagged)
    after = [[flagged(k, r, j) for k, r, j, _ in words] for words in touches]
    false_alarm = np.array(
        [any(a and not b for a, b in zip(x, y, strict=True)) for x, y in zip(after, before, strict=True)], bool
    )
    hidden = np.array(
        [any(b and not a for a, b in zip(x, y, strict=True)) for x, y in zip(after, before, strict=True)], bool
    )
    out = []
    for key in sorted(blocks):
        b = blocks[key]
        if key in work:
            rsd, csd, rt, ct = work[key]
            b = replace(b, rsd=rsd, csd=csd, row_tolerance=rt, col_tolerance=ct)
        out.append(b)
    return ChecksumVerdicts(tuple(out), false_alarm, hidden)


class ChecksumLog:
    """The checksum-hardware faults of a run as they were checked, one entry per fold attempt: the
    attempt's draw and the slice of it the fold's verdicts are of (selected only when merged)."""

    def __init__(self) -> None:
        self._parts: list[tuple[ChecksumFaults, slice, np.ndarray, np.ndarray]] = []

    def add(self, faults: ChecksumFaults, verdicts: ChecksumVerdicts, rows: slice = slice(None)) -> None:
        """Log `verdicts` (false alarm and hidden flags per fault) of the faults `faults[rows]`."""
        if verdicts.false_alarm.shape[0]:
            self._parts.append((faults, rows, verdicts.false_alarm, verdicts.hidden))

    def __len__(self) -> int:
        return sum(a.shape[0] for _, _, a, _ in self._parts)

    def rows(self) -> AddedFaults | None:
        """These faults as ledger rows (no corrupted elements; row = the output row of a row word else
        -1, col likewise, cycle = the operation step, mode FLIP; detected = raised a false alarm), in
        the order they were logged; None without a fault."""
        if not self._parts:
            return None
        sizes = [a.shape[0] for _, _, a, _ in self._parts]
        n = sum(sizes)

        def column(name: str) -> np.ndarray:
            return np.concatenate([getattr(f, name)[rows] for f, rows, _, _ in self._parts])

        gemm = np.repeat(np.array([f.gemm_index for f, _, _, _ in self._parts], np.int64), sizes)
        instance = np.repeat(np.array([f.instance for f, _, _, _ in self._parts], np.int64), sizes)
        fold, axis, line = column("fold_index"), column("axis"), column("line")
        columns = {
            "attempt": column("attempt"),
            "ordinal": column("ordinal"),
            "row": np.where(axis == ROW_WORD, line, -1),
            "col": np.where(axis == ROW_WORD, -1, line),
            "cycle": column("step"),
            "site": column("site"),
            "bit": column("bit"),
            "mode": np.full(n, FLIP, np.int64),
        }
        false_alarm = np.concatenate([a for _, _, a, _ in self._parts])
        hidden = np.concatenate([h for _, _, _, h in self._parts])
        flags = {"detected": false_alarm, "corrected": np.zeros(n, bool), "false_alarm": false_alarm, "hidden": hidden}
        return AddedFaults((gemm, instance, fold), columns, flags)

    def merged(self, table: LedgerTable, final_of: dict[tuple[int, int, int], tuple[bool, bool]]) -> LedgerTable:
        """The ledger table with these faults added (`rows`), in (gemm, instance, fold) order with each
        fold's PE faults first (FaultLedger.table(rows) makes the same table in one pass).
        `final_of[(g, i, f)]`: (accepted, gave up)."""
        added = self.rows()
        return table if added is None else with_added_faults(table, *added, final_of)
