"""`FaultRecords`: one row per fault of a run (struct of arrays): where and what it was, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.verify.fates import Fates
from simulator.verify.ledger import LedgerTable


@dataclass(frozen=True, slots=True)
class FaultRecords:
    """Parallel arrays, one entry per fault, in ledger table order ((gemm, instance, fold), then
    the order the faults struck)."""

    gemm: np.ndarray
    instance: np.ndarray
    fold: np.ndarray
    attempt: np.ndarray  # 0: first pass; a: the a-th recomputation pass of the fold
    ordinal: np.ndarray  # index in its pass's draw (a stuck-at fault: its index in the run)
    row: np.ndarray  # PE row / column (checksum words: the output row of a row word, else -1; col likewise)
    col: np.ndarray
    cycle: np.ndarray  # fold-local cycle (-1: stuck-at; checksum hardware: the word's operation step)
    site: np.ndarray  # kernels.codes site code (ACC, MULT, A_REG, B_REG, CHK_PRED, CHK_SUM, CHK_CMP)
    bit: np.ndarray
    mode: np.ndarray  # kernels.codes FLIP (transient), STUCK0 / STUCK1
    fate: np.ndarray  # codes into fates.FATES
    detected: np.ndarray
    masked_at_output: np.ndarray
    outputs_corrupted: np.ndarray  # corrupted stored outputs that carry its error
    max_abs_error: np.ndarray  # largest |error| it left in an accumulator
    max_rel_error: np.ndarray  # worst relative error of a stored output it corrupted
    false_alarm: np.ndarray  # a checksum-hardware fault that flagged a row / column no data error flagged
    hidden: np.ndarray  # a checksum-hardware fault that cleared a flag a data error raised

    def __len__(self) -> int:
        return int(self.gemm.shape[0])


def fault_records(table: LedgerTable, fates: Fates) -> FaultRecords:
    f = table.faults
    return FaultRecords(
        gemm=table.gemm, instance=table.instance, fold=table.fold, attempt=f["attempt"], ordinal=f["ordinal"],
        row=f["row"], col=f["col"], cycle=f["cycle"], site=f["site"], bit=f["bit"], mode=f["mode"],
        fate=fates.fate, detected=table.detected, masked_at_output=fates.masked_at_output,
        outputs_corrupted=fates.outputs_corrupted, max_abs_error=fates.max_abs_error,
        max_rel_error=fates.max_rel_error, false_alarm=table.false_alarm, hidden=table.hidden,
    )  # fmt: skip
