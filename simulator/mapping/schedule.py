"""Tile schedule of one GEMM on the array: folds, their loop order, compute cycles and traffic.

The mapping step (`schedule_gemm`) picks the loop order (mapping.loop_order) per GEMM: with
`mapping.policy: fixed` the historical order, with `min_dram` the candidate order that moves the
fewest DRAM bytes for the configured buffer sizes, as an accelerator compiler would. Data stays
in SRAM only while it fits in one buffer (DESIGN.md section 3); the residency flags say what
does. Per-fold transfers (`fold_transfers`) say which bytes each fold moves; `GemmSchedule`
holds the same quantities summed in closed form (a test checks the two agree).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.enums import Dataflow, MappingPolicy
from simulator.config.schema import HwConfig
from simulator.mapping.dataflow import DataflowGeometry, Fold, fold_cycles, geometry_of, issue_interval_cycles
from simulator.mapping.loop_order import COLS, ROWS, LoopOrder, fixed_order, position, super_blocks
from simulator.mapping.tiling import fold_grid
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
    order: LoopOrder
    group_resident: bool  # a super-block's grouped data (OS operand, WS/IS psums) stays in SRAM
    middle_block_resident: bool  # a middle-axis operand block is reused by its super-block's folds
    middle_whole_resident: bool  # the whole middle-axis operand stays in SRAM after the first super-block
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

    @property
    def super_blocks(self) -> int:
        return super_blocks(self.order, self.fold_rows, self.fold_cols)

    def _middle_loads(self, middle_blocks: int) -> int:
        """How many times the middle-axis operand is fetched whole, over one instance."""
        if self.middle_whole_resident:
            return 1
        return self.super_blocks if self.middle_block_resident else middle_blocks

    @property
    def a_resident(self) -> bool:
        """A, once loaded, stays in SRAM for every later fold reading it (never refetched)."""
        return self._resident("a")

    @property
    def b_resident(self) -> bool:
        """B, once loaded, stays in SRAM for every later fold reading it (never refetched)."""
        return self._resident("b")

    def _resident(self, operand: str) -> bool:
        if self.dataflow is not Dataflow.OS:
            middle = "a" if self.dataflow is Dataflow.WS else "b"
        else:
            middle = "b" if self.order.group_axis == ROWS else "a"
            if operand != middle:
                return self.group_resident
        if operand != middle:
            return True  # WS weights / IS activations: each tile is loaded exactly once
        return self.middle_whole_resident or (self.middle_block_resident and self.super_blocks == 1)

    @property
    def psum_resident(self) -> bool:
        """WS/IS partial sums stay in SRAM C across the K folds (OS has none to spill)."""
        return self.dataflow is Dataflow.OS or self.group_resident

    def _fetches(self) -> tuple[int, int]:
        """(A, B) whole-tensor fetches per instance, in the loop order."""
        fr, fc = self.fold_rows, self.fold_cols
        if self.dataflow is Dataflow.OS:
            a_group = self.order.group_axis == ROWS
            group = 1 if self.group_resident else (fc if a_group else fr)  # reloaded per middle step
            middle = self._middle_loads(fr if a_group else fc)  # the middle operand's group extent
            return (group, middle) if a_group else (middle, group)
        middle = self._middle_loads(fc)
        return (middle, 1) if self.dataflow is Dataflow.WS else (1, middle)

    @property
    def compulsory_dram_bytes(self) -> int:
        """A and B read once, C written once (operand width), over all instances."""
        g, ob = self.gemm, self.operand_bytes
        return (g.m * g.k + g.k * g.n + g.m * g.n) * ob * g.count

    @property
    def dram_bytes(self) -> int:
        """DRAM bytes read and written by one fault-free execution of all instances."""
        t = self.totals()
        return t.dram_load_bytes + t.dram_store_bytes

    def totals(self) -> FoldTransfers:
        """Traffic of all instances, in closed form (sums of used extents are the GEMM dims)."""
        g, ob, ab = self.gemm, self.operand_bytes, self.acc_bytes
        m, k, n = g.m, g.k, g.n
        fr, fc = self.fold_rows, self.fold_cols
        a_bytes, b_bytes = m * k * ob, k * n * ob
        out_acc, out_op = m * n * ab, m * n * ob
        a_times, b_times = self._fetches()
        a_load, b_load = a_bytes * a_times, b_bytes * b_times
        if self.dataflow is Dataflow.OS:
            a_read, b_read = a_bytes * fc, b_bytes * fr
            psum = 0
            c_read, c_write = out_acc, out_acc
        else:
            k_folds = fr
            if self.dataflow is Dataflow.WS:  # A streams once per N col-block
                a_read, b_read = a_bytes * fc, b_bytes
            else:  # IS: B streams once per M col-block
                a_read, b_read = a_bytes, b_bytes * fc
            psum = 0 if self.psum_resident else out_acc * (k_folds - 1)
            c_write = out_acc * k_folds + psum
            c_read = out_acc * (k_folds - 1) + out_acc + psum
        t = FoldTransfers(a_load, b_load, psum, psum, out_op, a_read, b_read, c_read, c_write)
        return _scaled(t, g.count)


def _scaled(t: FoldTransfers, factor: int) -> FoldTransfers:
    return FoldTransfers(*(getattr(t, f) * factor for f in FoldTransfers.__slots__))


def _residency(gemm: Gemm, hw: HwConfig, fr: int, fc: int, order: LoopOrder) -> tuple[bool, bool, bool]:
    """(group_resident, middle_block_resident, middle_whole_resident) of an order on `hw`.

    OS grouping columns keeps a super-block of B column blocks (K x S*cols) in SRAM B and reuses
    one A row-block (rows x K) per middle step; grouping rows is the mirror. WS/IS group output
    column blocks: their partial sums stay in SRAM C while the K blocks (middle) sweep.
    """
    arr, sram = hw.array, hw.memory.sram
    ob, ab = arr.datatype.operand_bytes, arr.datatype.acc_bytes
    m, k, n, rows, cols = gemm.m, gemm.k, gemm.n, arr.rows, arr.cols
    wide = order.group_blocks * (rows if order.group_axis == ROWS else cols)
    if arr.dataflow is Dataflow.OS:
        if order.group_axis == COLS:
            group = k * min(wide, n) * ob <= sram.b.buffer_bytes
            block, whole, buf = min(rows, m) * k * ob, m * k * ob, sram.a.buffer_bytes
        else:
            group = min(wide, m) * k * ob <= sram.a.buffer_bytes
            block, whole, buf = k * min(cols, n) * ob, k * n * ob, sram.b.buffer_bytes
        # one super-block: the middle blocks keep their own buffers (the historical row-major order)
        several = super_blocks(order, fr, fc) > 1
        return group, block <= buf, several and whole <= buf
    if arr.dataflow is Dataflow.WS:
        group = m * min(wide, n) * ab <= sram.c.buffer_bytes
        block, whole, buf = m * min(rows, k) * ob, m * k * ob, sram.a.buffer_bytes
    else:
        group = min(wide, m) * n * ab <= sram.c.buffer_bytes
        block, whole, buf = min(rows, k) * n * ob, k * n * ob, sram.b.buffer_bytes
    return group, block <= buf, whole <= buf


def _candidates(dataflow: Dataflow, fr: int, fc: int, group_fits) -> list[LoopOrder]:
    """The fixed order first, then per allowed axis: one block, the widest resident super-block, all.

    Traffic falls as super-blocks widen while the group stays resident, so the widest resident
    width dominates every narrower one; wider than that the group is refetched per middle step.
    """
    fixed = fixed_order(dataflow, fr, fc)
    out = [fixed]
    axes = ((ROWS, fr), (COLS, fc)) if dataflow is Dataflow.OS else ((COLS, fc),)
    for axis, blocks in axes:
        widest = 1
        lo, hi = 1, blocks  # binary search: residency is monotone in the width
        while lo <= hi:
            mid = (lo + hi) // 2
            if group_fits(LoopOrder(axis, mid)):
                widest, lo = mid, mid + 1
            else:
                hi = mid - 1
        for size in (1, widest, blocks):
            order = LoopOrder(axis, size)
            if order not in out and (dataflow is Dataflow.OS or size == 1 or group_fits(order)):
                out.append(order)
    return out


def schedule_gemm(gemm: Gemm, hw: HwConfig) -> GemmSchedule:
    """The tile schedule of one GEMM on a hardware config (the mapping step picks its order)."""
    arr = hw.array
    df, rows, cols = arr.dataflow, arr.rows, arr.cols
    fr, fc = fold_grid(df, gemm.m, gemm.k, gemm.n, rows, cols)
    temporal = {Dataflow.OS: gemm.k, Dataflow.WS: gemm.m, Dataflow.IS: gemm.n}[df]

    def build(order: LoopOrder) -> GemmSchedule:
        group, block, whole = _residency(gemm, hw, fr, fc, order)
        return GemmSchedule(
            gemm=gemm,
            dataflow=df,
            rows=rows,
            cols=cols,
            fold_rows=fr,
            fold_cols=fc,
            fold_cycles=fold_cycles(df, rows, cols, temporal),
            issue_interval_cycles=issue_interval_cycles(df, rows, cols, temporal, arr.fold_overlap),
            order=order,
            group_resident=group,
            middle_block_resident=block,
            middle_whole_resident=whole,
            operand_bytes=arr.datatype.operand_bytes,
            acc_bytes=arr.datatype.acc_bytes,
        )

    if hw.mapping.policy is MappingPolicy.FIXED:
        return build(fixed_order(df, fr, fc))
    orders = _candidates(df, fr, fc, lambda o: _residency(gemm, hw, fr, fc, o)[0])
    scheduled = [build(o) for o in orders]
    return min(scheduled, key=lambda s: s.dram_bytes)  # ties keep the earlier (the fixed order first)


def fold_joins(s: GemmSchedule, fold: Fold) -> tuple[bool, bool]:
    """Whether fold `fold`'s A / B load adds a block to a tensor already holding a buffer.

    A resident super-block (OS) is loaded block by block during its first middle step; every
    block after the first goes into the buffer the first took. A whole-resident middle operand
    is loaded block by block during the first super-block, likewise.
    """
    pos = position(s.order, fold.row0 // s.rows, fold.col0 // s.cols)
    group_joins = s.dataflow is Dataflow.OS and s.group_resident and pos.in_group > 0 and pos.middle == 0
    middle_joins = s.middle_whole_resident and pos.super_block == 0 and pos.in_group == 0 and pos.middle > 0
    if s.dataflow is Dataflow.OS:
        if s.order.group_axis == ROWS:
            return group_joins, middle_joins
        return middle_joins, group_joins
    if s.dataflow is Dataflow.WS:
        return middle_joins, False
    return False, middle_joins


def fold_transfers(s: GemmSchedule, fold: Fold) -> FoldTransfers:
    """Bytes one fold (of one instance) moves, following the schedule's loop order."""
    g, ob, ab = s.gemm, s.operand_bytes, s.acc_bytes
    ru, cu = fold.rows_used, fold.cols_used
    block_r = fold.row0 // s.rows
    pos = position(s.order, block_r, fold.col0 // s.cols)
    group_load = pos.middle == 0 or not s.group_resident
    if s.middle_whole_resident:
        middle_load = pos.super_block == 0 and pos.in_group == 0
    else:
        middle_load = pos.in_group == 0 or not s.middle_block_resident
    if s.dataflow is Dataflow.OS:
        load_a, load_b = (group_load, middle_load) if s.order.group_axis == ROWS else (middle_load, group_load)
        a_fold, b_fold = ru * g.k * ob, g.k * cu * ob
        out = ru * cu
        return FoldTransfers(
            a_fold if load_a else 0, b_fold if load_b else 0, 0, 0, out * ob, a_fold, b_fold, out * ab, out * ab
        )
    # WS / IS: rows are K; the middle axis walks K-blocks of the super-block's output blocks
    first_k, last_k = block_r == 0, block_r == s.fold_rows - 1
    if s.dataflow is Dataflow.WS:
        out = g.m * cu
        a_fold, b_fold = g.m * ru * ob, ru * cu * ob
        a_load, b_load = (a_fold if middle_load else 0), b_fold
    else:
        out = cu * g.n
        a_fold, b_fold = cu * ru * ob, ru * g.n * ob
        a_load, b_load = a_fold, (b_fold if middle_load else 0)
    psum_load = 0 if (first_k or s.psum_resident) else out * ab
    psum_store = 0 if (last_k or s.psum_resident) else out * ab
    c_read = (0 if first_k else out * ab) + (out * ab if last_k else 0) + psum_store
    c_write = out * ab + psum_load
    return FoldTransfers(
        a_load, b_load, psum_load, psum_store, out * ob if last_k else 0, a_fold, b_fold, c_read, c_write
    )
