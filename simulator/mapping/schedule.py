"""Tile schedule of one GEMM on the array: folds, compute cycles and operand traffic per buffer.

Operands are fetched once while they fit in one SRAM buffer and refetched when they do not
(DESIGN.md section 3). Per-fold transfers (`fold_transfers`) say which bytes each fold moves;
`GemmSchedule` holds the same quantities summed in closed form (a test checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.enums import Dataflow
from simulator.config.schema import HwConfig
from simulator.mapping.dataflow import DataflowGeometry, Fold, geometry_of
from simulator.workload.gemm import Gemm


@dataclass(frozen=True, slots=True)
class FoldTransfers:
    """Bytes one fold moves between DRAM and SRAM and between SRAM and the array."""

    a_dram_load_bytes: int  # DRAM -> SRAM A before the fold may start
    b_dram_load_bytes: int  # DRAM -> SRAM B before the fold may start
    psum_dram_load_bytes: int  # spilled partial sums DRAM -> SRAM C (WS/IS, psums not fitting)
    psum_dram_store_bytes: int  # partial sums SRAM C -> DRAM after the fold
    out_dram_store_bytes: int  # final outputs SRAM C -> DRAM after the fold (operand width)
    a_sram_read_bytes: int  # SRAM A -> array
    b_sram_read_bytes: int  # SRAM B -> array
    c_sram_read_bytes: int  # SRAM C reads: accumulate (read-modify-write), spill, write-back
    c_sram_write_bytes: int  # SRAM C writes: the fold's outputs and reloaded psums

    @property
    def dram_load_bytes(self) -> int:
        return self.a_dram_load_bytes + self.b_dram_load_bytes + self.psum_dram_load_bytes

    @property
    def dram_store_bytes(self) -> int:
        return self.psum_dram_store_bytes + self.out_dram_store_bytes


@dataclass(frozen=True, slots=True)
class GemmSchedule:
    """How one GEMM (all `count` instances) runs on the array, before any fault or ABFT."""

    gemm: Gemm
    dataflow: Dataflow
    rows: int
    cols: int
    fold_rows: int  # folds along the array's rows
    fold_cols: int  # folds along the array's cols
    fold_cycles: int  # latency of one fold
    issue_interval_cycles: int  # fold start to next fold start
    a_resident: bool  # the streamed A data is fetched from DRAM once
    b_resident: bool  # the streamed B data is fetched from DRAM once
    psum_resident: bool  # WS/IS partial sums stay in SRAM C across K folds
    operand_bytes: int
    acc_bytes: int

    @property
    def geometry(self) -> DataflowGeometry:
        """The dataflow's geometry object: fold shape, order, blocks, timing."""
        return geometry_of(self.dataflow)

    @property
    def folds_per_instance(self) -> int:
        return self.fold_rows * self.fold_cols

    @property
    def folds(self) -> int:
        return self.folds_per_instance * self.gemm.count

    @property
    def compute_cycles(self) -> int:
        """Array-busy cycles of all instances: the folds issue back to back, the last drains.

        Instances of a `count` GEMM are independent, so their folds pipeline like one sequence.
        """
        return (self.folds - 1) * self.issue_interval_cycles + self.fold_cycles

    def totals(self) -> FoldTransfers:
        """Traffic of all instances, in closed form (sums of used extents are the GEMM dims)."""
        g, ob, ab = self.gemm, self.operand_bytes, self.acc_bytes
        m, k, n = g.m, g.k, g.n
        fr, fc = self.fold_rows, self.fold_cols
        a_bytes, b_bytes = m * k * ob, k * n * ob
        out_acc, out_op = m * n * ab, m * n * ob
        if self.dataflow is Dataflow.OS:
            a_load = a_bytes if self.a_resident else a_bytes * fc
            b_load = b_bytes if self.b_resident else b_bytes * fr
            a_read, b_read = a_bytes * fc, b_bytes * fr
            psum = 0
            c_read, c_write = out_acc, out_acc
        else:
            k_folds = fr
            if self.dataflow is Dataflow.WS:  # A streams, refetched per N col-block
                a_load = a_bytes if self.a_resident else a_bytes * fc
                b_load = b_bytes
                a_read, b_read = a_bytes * fc, b_bytes
            else:  # IS: B streams, refetched per M col-block
                a_load = a_bytes
                b_load = b_bytes if self.b_resident else b_bytes * fc
                a_read, b_read = a_bytes, b_bytes * fc
            psum = 0 if self.psum_resident else out_acc * (k_folds - 1)
            c_write = out_acc * k_folds + psum
            c_read = out_acc * (k_folds - 1) + out_acc + psum
        t = FoldTransfers(a_load, b_load, psum, psum, out_op, a_read, b_read, c_read, c_write)
        return _scaled(t, g.count)


def _scaled(t: FoldTransfers, factor: int) -> FoldTransfers:
    return FoldTransfers(*(getattr(t, f) * factor for f in FoldTransfers.__slots__))


def schedule_gemm(gemm: Gemm, hw: HwConfig) -> GemmSchedule:
    """The tile schedule of one GEMM on a hardware config."""
    arr, sram = hw.array, hw.memory.sram
    df, rows, cols = arr.dataflow, arr.rows, arr.cols
    ob, ab = arr.datatype.operand_bytes, arr.datatype.acc_bytes
    geometry = geometry_of(df)
    fr, fc = geometry.fold_grid(gemm.m, gemm.k, gemm.n, rows, cols)
    temporal = geometry.fold_shape(gemm.m, gemm.k, gemm.n).temporal
    a_bytes, b_bytes = gemm.m * gemm.k * ob, gemm.k * gemm.n * ob
    if df is Dataflow.OS:
        # an A row-block (rows x K) is reused across the N folds; B is reused across row-blocks
        a_resident = min(rows, gemm.m) * gemm.k * ob <= sram.a.buffer_bytes
        b_resident = b_bytes <= sram.b.buffer_bytes
        psum_resident = True
    elif df is Dataflow.WS:
        a_resident = a_bytes <= sram.a.buffer_bytes
        b_resident = True  # each weight tile is loaded exactly once
        psum_resident = gemm.m * min(cols, gemm.n) * ab <= sram.c.buffer_bytes
    else:
        a_resident = True
        b_resident = b_bytes <= sram.b.buffer_bytes
        psum_resident = min(cols, gemm.m) * gemm.n * ab <= sram.c.buffer_bytes
    return GemmSchedule(
        gemm=gemm,
        dataflow=df,
        rows=rows,
        cols=cols,
        fold_rows=fr,
        fold_cols=fc,
        fold_cycles=geometry.fold_cycles(rows, cols, temporal),
        issue_interval_cycles=geometry.issue_interval_cycles(rows, cols, temporal, arr.fold_overlap),
        a_resident=a_resident,
        b_resident=b_resident,
        psum_resident=psum_resident,
        operand_bytes=ob,
        acc_bytes=ab,
    )


def fold_transfers(s: GemmSchedule, fold: Fold) -> FoldTransfers:
    """Bytes one fold (of one instance) moves, following the fold order of tiling.iter_folds."""
    g, ob, ab = s.gemm, s.operand_bytes, s.acc_bytes
    ru, cu = fold.rows_used, fold.cols_used
    block_r, block_c = fold.row0 // s.rows, fold.col0 // s.cols
    if s.dataflow is Dataflow.OS:
        first_in_row = block_c == 0
        a_load = ru * g.k * ob if (first_in_row or not s.a_resident) else 0
        b_load = g.k * cu * ob if (block_r == 0 or not s.b_resident) else 0
        out = ru * cu
        return FoldTransfers(a_load, b_load, 0, 0, out * ob, ru * g.k * ob, g.k * cu * ob, out * ab, out * ab)
    # WS / IS: rows are K; the inner loop walks K-blocks of one output column-block
    first_k, last_k = block_r == 0, block_r == s.fold_rows - 1
    if s.dataflow is Dataflow.WS:
        out = g.m * cu
        a_fold, b_fold = g.m * ru * ob, ru * cu * ob
        a_load = a_fold if (block_c == 0 or not s.a_resident) else 0
        b_load = b_fold
    else:
        out = cu * g.n
        a_fold, b_fold = cu * ru * ob, ru * g.n * ob
        a_load = a_fold
        b_load = b_fold if (block_c == 0 or not s.b_resident) else 0
    psum_load = 0 if (first_k or s.psum_resident) else out * ab
    psum_store = 0 if (last_k or s.psum_resident) else out * ab
    c_read = (0 if first_k else out * ab) + (out * ab if last_k else 0) + psum_store
    c_write = out * ab + psum_load
    return FoldTransfers(
        a_load, b_load, psum_load, psum_store, out * ob if last_k else 0, a_fold, b_fold, c_read, c_write
    )
