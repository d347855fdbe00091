"""Fault -> effect: which outputs of a fold a PE fault corrupts and by exactly how much.

The geometry follows DESIGN.md section 4 (OS acc / mult: one element; OS a_reg: a row segment;
OS b_reg: a column segment; WS stationary b_reg: a column segment from the upset on; WS a_reg: a
row segment of one streamed row; WS acc / mult: one element; IS mirrors WS; permanent faults the
same pattern over every temporal index). Errors are exact: int8 deltas are int32-wrapped
(faulty - clean) as int64; fp deltas are float64(faulty fp32) - float64(clean fp32), with the
affected chains re-run in the hardware's accumulation order (simulator/kernels/fault_effects.py).
Every fault is resolved on its own (as if it were the only one in the fold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow, Datatype, FaultKind
from simulator.faults.codes import DATATYPE_CODE
from simulator.faults.model import FaultEffect, PeFault
from simulator.faults.sampling import FaultBatch
from simulator.kernels.codes import P_FOLD_COL, P_FOLD_ROW, P_GEMM_COL, P_GEMM_ROW
from simulator.kernels.fault_effects import effect_sizes, resolve_faults
from simulator.kernels.fault_effects_reference import resolve_faults_reference
from simulator.mapping.dataflow import geometry_of, mac_tau
from simulator.mapping.fold_table import FoldTable, fold_table, whole_folds
from simulator.mapping.tiling import block_extents

_OPERAND_DTYPE = {
    Datatype.INT8: np.dtype(np.int8),
    Datatype.FP16: np.dtype(np.float16),
    Datatype.BF16: np.dtype(np.float32),
    Datatype.FP32: np.dtype(np.float32),
}


@dataclass(frozen=True, slots=True)
class KernelOperands:
    """A GEMM's operands A (M x K), B (K x N) and their transposes, C-contiguous float32, for the kernels
    (int8: possibly A and B^T as int8 with empty `b` and `a_t`, see int8_kernel_operands)."""

    datatype: Datatype
    a: np.ndarray
    b: np.ndarray
    a_t: np.ndarray
    b_t: np.ndarray


def kernel_operands(datatype: Datatype, a: np.ndarray, b: np.ndarray, lean: bool = False) -> KernelOperands:
    """Check the operand dtypes (int8 / float16 / float32 bf16-valued / float32) and widen them.

    `lean`: for int8, build only what the numba kernel reads, A and B transposed, as int8 (its int8
    chains widen each value to int64 as they read it: a second compiled signature, identical
    results, a quarter of the float32 copies' memory); `b` and `a_t` are then empty placeholders,
    never read (int8_kernel_operands): not for the numpy twin."""
    expected = _OPERAND_DTYPE[datatype]
    for name, x in (("A", a), ("B", b)):
        if x.ndim != 2 or x.dtype != expected:
            raise ValueError(f"operand {name} must be a 2-D {expected} array for {datatype}, got {x.dtype} {x.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"operands do not chain: A {a.shape} @ B {b.shape}")
    if datatype is Datatype.BF16:
        for name, x in (("A", a), ("B", b)):
            if np.any(np.ascontiguousarray(x).view(np.uint32) & np.uint32(0xFFFF)):
                raise ValueError(f"operand {name} holds values that are not bf16-representable")
    if lean and datatype is Datatype.INT8:
        return int8_kernel_operands(np.ascontiguousarray(a), np.ascontiguousarray(b.T))
    a32, b32 = np.ascontiguousarray(a, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32)
    return KernelOperands(datatype, a32, b32, np.ascontiguousarray(a32.T), np.ascontiguousarray(b32.T))


def int8_kernel_operands(a: np.ndarray, b_t: np.ndarray) -> KernelOperands:
    """kernel_operands(INT8, a, b, lean=True) from A (M x K) and B already transposed (N x K), int8
    and C-contiguous (faults.operands.Int8TransposedOperands): `b` and `a_t` are empty float32
    placeholders (the int8 chains never read them; they allocate nothing): not for the numpy twin."""
    if a.dtype != np.int8 or b_t.dtype != np.int8 or a.ndim != 2 or b_t.ndim != 2 or a.shape[1] != b_t.shape[1]:
        raise ValueError(
            f"int8 A (M x K) and B^T (N x K) expected, got {a.dtype} {a.shape} and {b_t.dtype} {b_t.shape}"
        )
    if not (a.flags.c_contiguous and b_t.flags.c_contiguous):
        raise ValueError("int8 kernel operands must be C-contiguous")
    unread = np.empty((0, 0), np.float32)
    return KernelOperands(Datatype.INT8, a, unread, unread, b_t)


@dataclass(frozen=True, slots=True)
class EffectBatch:
    """Effects of a FaultBatch in CSR form: fault f owns rows offsets[f]..offsets[f+1]-1.

    `positions` columns: fold-block row, fold-block col, GEMM row, GEMM col (kernels.codes P_*),
    column-major (each column contiguous: the fault ledger keeps them as views, not copies);
    `delta` is int64 (int32-wrapped, int8) or float64 (fp), faulty minus clean.
    """

    offsets: np.ndarray
    positions: np.ndarray
    delta: np.ndarray

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def effect(self, i: int, fault: PeFault) -> FaultEffect:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return FaultEffect(
            fault, self.positions[lo:hi, P_FOLD_ROW], self.positions[lo:hi, P_FOLD_COL], self.delta[lo:hi]
        )

    def gemm_positions(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.positions[lo:hi, P_GEMM_ROW], self.positions[lo:hi, P_GEMM_COL]

    def max_abs_delta(self) -> np.ndarray:
        """Per fault, the largest |delta| as float64 (0 for a fault with no positions; NaN kept)."""
        out = np.zeros(len(self), np.float64)
        nonempty = self.sizes > 0
        if self.delta.size:
            mags = np.abs(self.delta.astype(np.float64))
            out[nonempty] = np.maximum.reduceat(mags, self.offsets[:-1][nonempty])
        return out


def resolve_gemm_faults(
    dataflow: Dataflow,
    rows: int,
    cols: int,
    operands: KernelOperands,
    batch: FaultBatch,
    folds: FoldTable | None = None,
    reference: bool = False,
) -> EffectBatch:
    """Effects of every fault of a batch on a GEMM (one kernel call; `reference` uses the numpy twin)."""
    m, k = operands.a.shape
    n = operands.b_t.shape[0]
    folds = folds if folds is not None else fold_table(dataflow, m, k, n, rows, cols)
    table = batch.kernel_table()
    return _resolve(dataflow, rows, operands, folds, table, reference)


def _resolve(
    dataflow: Dataflow, rows: int, operands: KernelOperands, folds: FoldTable, table: np.ndarray, reference: bool
) -> EffectBatch:
    flow = geometry_of(dataflow).kernel_code
    if table.shape[0] and (table[:, 0].min() < 0 or table[:, 0].max() >= len(folds)):
        raise ValueError("fault fold index out of range")
    sizes = effect_sizes(flow, rows, folds.table, table)
    offsets = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    total = int(offsets[-1])
    positions = np.empty((total, 4), np.int64, order="F")  # columns contiguous (EffectBatch)
    integer = operands.datatype.is_integer
    delta_int = np.empty(total if integer else 0, np.int64)
    delta_float = np.empty(0 if integer else total, np.float64)
    kernel = resolve_faults_reference if reference else resolve_faults
    kernel(
        operands.a,
        operands.b,
        operands.a_t,
        operands.b_t,
        DATATYPE_CODE[operands.datatype],
        flow,
        rows,
        folds.table,
        table,
        offsets,
        positions,
        delta_int,
        delta_float,
    )
    return EffectBatch(offsets, positions, delta_int if integer else delta_float)


def _check_fault(
    fault: PeFault, dataflow: Dataflow, datatype: Datatype, rows: int, cols: int, ru: int, cu: int, temporal: int
) -> None:
    fault.check(rows, cols, datatype)
    if fault.kind is FaultKind.PERMANENT:
        return
    tau = mac_tau(dataflow, rows, fault.row, fault.col, fault.cycle)
    if not (fault.row < ru and fault.col < cu and 0 <= tau < temporal):
        raise ValueError(f"transient fault at a slot where its PE does no MAC: {fault}")


def fold_fault_effects(
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    a_block: np.ndarray,
    b_block: np.ndarray,
    faults: Sequence[PeFault],
    reference: bool = False,
) -> list[FaultEffect]:
    """Effects of faults (each on its own) on one fold, from its operand blocks (fold_operands)."""
    ru, cu, temporal = block_extents(dataflow, a_block, b_block)
    if not (1 <= ru <= rows and 1 <= cu <= cols):
        raise ValueError(f"fold of {ru} x {cu} PEs does not fit a {rows} x {cols} array")
    for fault in faults:
        _check_fault(fault, dataflow, datatype, rows, cols, ru, cu, temporal)
    operands = kernel_operands(datatype, a_block, b_block)  # the block is a one-fold GEMM
    folds = whole_folds(np.array([0, 0, ru, cu]), temporal)
    table = FaultBatch.from_faults(faults, 0).kernel_table()
    effects = _resolve(dataflow, rows, operands, folds, table, reference)
    return [effects.effect(i, fault) for i, fault in enumerate(faults)]


def fold_fault_effect(
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    a_block: np.ndarray,
    b_block: np.ndarray,
    fault: PeFault,
) -> FaultEffect:
    """The effect of one fault on one fold (see fold_fault_effects)."""
    return fold_fault_effects(dataflow, datatype, rows, cols, a_block, b_block, [fault])[0]


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """Flat record of one fault and its effect (later issues add its outcome)."""

    fault_id: str
    gemm_index: int
    instance: int
    fold_index: int
    attempt: int
    row: int
    col: int
    cycle: int
    site: str
    bit: int
    kind: str
    stuck_value: int | None
    affected: int  # corrupted output elements (nonzero delta)
    max_abs_error: float  # in accumulator units


def fault_records(batch: FaultBatch, effects: EffectBatch) -> list[FaultRecord]:
    """One record per fault of the batch, in batch order."""
    hits = np.concatenate([[0], np.cumsum(effects.delta != 0)])
    nonzero = hits[effects.offsets[1:]] - hits[effects.offsets[:-1]]
    mags = effects.max_abs_delta()
    records = []
    for i, fid in enumerate(batch.fault_ids()):
        fault = batch.fault(i)
        records.append(
            FaultRecord(
                fid,
                batch.gemm_index,
                batch.instance,
                int(batch.fold_index[i]),
                int(batch.attempt[i]),
                fault.row,
                fault.col,
                fault.cycle,
                str(fault.site),
                fault.bit,
                str(fault.kind),
                fault.stuck_value,
                int(nonzero[i]),
                float(mags[i]),
            )
        )
    return records


__all__ = [
    "EffectBatch",
    "FaultRecord",
    "KernelOperands",
    "fault_records",
    "fold_fault_effect",
    "fold_fault_effects",
    "int8_kernel_operands",
    "kernel_operands",
    "resolve_gemm_faults",
]
