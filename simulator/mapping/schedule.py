"""Tile schedule of one GEMM on the array: folds, their loop order, compute cycles and traffic.

The mapping step (`schedule_gemm`) picks the loop order (mapping.loop_order) per GEMM: with
`mapping.policy: fixed` the historical order, with `min_dram` the candidate order that moves the
fewest DRAM bytes for the configured buffer sizes, as an accelerator compiler would. Data stays
in SRAM only while it fits in one buffer (DESIGN.md section 3); the residency flags say what
does. Per-fold transfers (`fold_transfers`) say which bytes each fold moves; `GemmSchedule`
holds the same quantities summed in closed form (a test checks the two agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.config.enums import Dataflow, MappingPolicy
from simulator.config.schema import HwConfig
from simulator.mapping.dataflow import (
    TENSOR_DIMS,
    DataflowGeometry,
    Fold,
    ceil_div,
    geometry_of,
    k_chunk_count,
    temporal_chunk,
)
from simulator.mapping.loop_order import (
    COLS,
    ROWS,
    LoopOrder,
    fixed_order,
    middle_tiles,
    position,
    super_blocks,
)
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
    fold_cycles: int  # latency of one fold (of a full K chunk when K is split)
    issue_interval_cycles: int  # fold start to next fold start
    order: LoopOrder
    group_resident: bool  # a super-block's grouped data (OS operand, WS/IS psums) stays in SRAM
    middle_block_resident: bool  # a middle-axis operand block is reused by its super-block's folds
    middle_whole_resident: bool  # the whole middle-axis operand stays in SRAM after the first super-block
    operand_bytes: int
    acc_bytes: int
    psum_tile_resident: bool = True  # K split: a tile's partial sums stay in SRAM C across the chunks
    group_slab_resident: bool = False  # K split: the super-block's grouped data over all of K fits too
    last_chunk_fold_cycles: int = 0  # K split: latency of a fold of the last (shorter) chunk
    last_chunk_interval_cycles: int = 0  # K split: its issue interval

    @property
    def k_chunks(self) -> int:
        """Chunks each output's K sum is cut into (1: every fold streams all of K)."""
        return self.order.k_chunks

    def cycles_of(self, fold: Fold) -> tuple[int, int]:
        """(latency, issue interval) of one fold: a fold of the last K chunk may be shorter."""
        if self.k_chunks > 1 and fold.t0 + fold.temporal == self.gemm.k:
            return self.last_chunk_fold_cycles, self.last_chunk_interval_cycles
        return self.fold_cycles, self.issue_interval_cycles

    @property
    def instance_cycles(self) -> int:
        """Array-busy cycles of one instance's folds issued back to back (the last one drains)."""
        return self._busy_cycles(self.folds_per_instance)

    @property
    def geometry(self) -> DataflowGeometry:
        """The dataflow's geometry object: fold shape, order, blocks, timing."""
        return geometry_of(self.dataflow)

    @property
    def folds_per_instance(self) -> int:
        return self.fold_rows * self.fold_cols * self.k_chunks

    @property
    def folds(self) -> int:
        return self.folds_per_instance * self.gemm.count

    @property
    def compute_cycles(self) -> int:
        """Array-busy cycles of all instances: the folds issue back to back, the last drains.

        Instances of a `count` GEMM are independent, so their folds pipeline like one sequence.
        With K split, a 1 / k_chunks share of the folds belong to the last chunk (its own cycles),
        and the last fold in order is one of them.
        """
        return self._busy_cycles(self.folds)

    def _busy_cycles(self, folds: int) -> int:
        if self.k_chunks == 1:
            return (folds - 1) * self.issue_interval_cycles + self.fold_cycles
        short = folds // self.k_chunks
        windows = (folds - short) * self.issue_interval_cycles + short * self.last_chunk_interval_cycles
        return windows - self.last_chunk_interval_cycles + self.last_chunk_fold_cycles

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

    @property
    def grouped_tensor(self) -> str:
        """What a super-block keeps while the middle axis sweeps: an operand (OS) or the psums C (WS/IS)."""
        return self.geometry.tensor_on_axis(self.order.group_axis)

    @property
    def middle_tensor(self) -> str:
        """The operand the middle axis walks: one block per middle step, reused by the super-block."""
        return self.geometry.tensor_on_axis(self.order.middle_axis)

    def blocks_along(self, axis: str) -> int:
        """Folds along a grid axis (ROWS: fold_rows, COLS: fold_cols)."""
        return self.fold_rows if axis == ROWS else self.fold_cols

    def _resident(self, operand: str) -> bool:
        if operand == self.geometry.stationary_tensor:
            return True  # WS weights / IS activations: each tile is loaded exactly once
        if operand == self.grouped_tensor:  # K split: each middle tile restarts the chunks, reloading it
            one_scope = self.k_chunks == 1 or middle_tiles(self.order, self.fold_rows, self.fold_cols) == 1
            return self.group_slab_resident or (self.group_resident and one_scope)
        return self.middle_whole_resident or (self.middle_block_resident and self.super_blocks == 1)

    @property
    def psum_resident(self) -> bool:
        """Partial sums stay in SRAM C across the K folds (always when there are none)."""
        if self.geometry.reduction_axis is None:
            return self.k_chunks == 1 or self.psum_tile_resident
        return self.group_resident

    def _fetches(self) -> tuple[int, int]:
        """(A, B) whole-tensor fetches per instance, in the loop order."""
        groups = self.blocks_along(self.order.group_axis)
        middles = self.blocks_along(self.order.middle_axis)
        # a resident group stays for its whole super-block unless the K loop changes its chunk per middle tile
        reuses = 1 if self.k_chunks == 1 else middle_tiles(self.order, self.fold_rows, self.fold_cols)

        def fetches(operand: str) -> int:
            if operand == self.grouped_tensor:
                if self.group_slab_resident:
                    return 1  # all of its chunks stay for the super-block
                return reuses if self.group_resident else middles  # reloaded per middle step
            if operand == self.middle_tensor:
                return self._middle_loads(groups)  # at worst once per group block (every fold)
            return 1  # the stationary operand

        return fetches("a"), fetches("b")

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
        a_bytes, b_bytes = m * k * ob, k * n * ob
        out_acc, out_op = m * n * ab, m * n * ob
        a_times, b_times = self._fetches()
        a_load, b_load = a_bytes * a_times, b_bytes * b_times
        a_read, b_read = a_bytes * self._sram_reads("a"), b_bytes * self._sram_reads("b")
        axis = self.geometry.reduction_axis
        k_folds = self.k_chunks if axis is None else self.blocks_along(axis)  # folds each output's sum spans
        psum = 0 if self.psum_resident else out_acc * (k_folds - 1)
        c_write = out_acc * k_folds + psum
        c_read = out_acc * (k_folds - 1) + out_acc + psum
        t = FoldTransfers(a_load, b_load, psum, psum, out_op, a_read, b_read, c_read, c_write)
        return _scaled(t, g.count)

    def _sram_reads(self, operand: str) -> int:
        """Times an operand streams from SRAM into the array: once per block of each grid axis it
        does not hold (OS: A once per N col-block, B per M row-block; the stationary operand once)."""
        times = 1
        for axis in (ROWS, COLS):
            if axis not in self.geometry.axes_of(operand):
                times *= self.blocks_along(axis)
        return times


def _scaled(t: FoldTransfers, factor: int) -> FoldTransfers:
    return FoldTransfers(*(getattr(t, f) * factor for f in FoldTransfers.__slots__))


@dataclass(frozen=True, slots=True)
class _Residency:
    group: bool  # the grouped data of a super-block (a chunk of it when K is split) fits its buffer
    group_slab: bool  # ... over all of K (the same as `group` unless K is split)
    middle_block: bool  # one middle-axis operand block (chunk) fits its buffer
    middle_whole: bool  # the whole middle-axis operand fits and is read again
    psum_tile: bool  # K split: the partial sums of a super-block x middle-tile output tile fit SRAM C


def _residency(gemm: Gemm, hw: HwConfig, fr: int, fc: int, order: LoopOrder) -> _Residency:
    """What of an order stays in SRAM on `hw`.

    The grouped tensor (geometry.tensor_on_axis) of a super-block stays resident when its
    `group_blocks` blocks fit one buffer: OS grouping columns keeps K x S*cols of B in SRAM B
    (grouping rows is the mirror, A); WS/IS keep the partial sums of their output column blocks
    in SRAM C while the K blocks (middle) sweep. The middle operand's block (one middle step)
    and the whole middle operand are checked against its own buffer. When K is split (OS) the
    grouped and middle blocks are one K chunk long, and the partial sums of the output tile
    (super-block x middle tile) must fit SRAM C to stay there across the chunks.
    """
    arr, sram = hw.array, hw.memory.sram
    geometry = geometry_of(arr.dataflow)
    ob, ab = arr.datatype.operand_bytes, arr.datatype.acc_bytes
    extent = {"m": gemm.m, "k": gemm.k, "n": gemm.n}
    size = {ROWS: arr.rows, COLS: arr.cols}
    buffer = {"a": sram.a.buffer_bytes, "b": sram.b.buffer_bytes, "c": sram.c.buffer_bytes}
    chunk = ceil_div(gemm.k, order.k_chunks) if geometry.streams_k else gemm.k

    def tensor_bytes(tensor: str, caps: dict[str, int], steps: int = chunk) -> int:
        """Bytes of `tensor` with its grid dimensions capped (grid axis -> blocks) and K at `steps`."""
        limit = dict(extent, k=min(steps, gemm.k))
        for axis, blocks in caps.items():
            dim = geometry.grid_dim(axis)
            limit[dim] = min(blocks * size[axis], extent[dim])
        d0, d1 = TENSOR_DIMS[tensor]
        return limit[d0] * limit[d1] * (ab if tensor == "c" else ob)

    grouped = geometry.tensor_on_axis(order.group_axis)
    group = tensor_bytes(grouped, {order.group_axis: order.group_blocks}) <= buffer[grouped]
    group_slab = tensor_bytes(grouped, {order.group_axis: order.group_blocks}, gemm.k) <= buffer[grouped]
    middle, axis = geometry.tensor_on_axis(order.middle_axis), order.middle_axis
    block = tensor_bytes(middle, {axis: 1}) <= buffer[middle]
    whole_bytes = extent[TENSOR_DIMS[middle][0]] * extent[TENSOR_DIMS[middle][1]] * ob
    reused = super_blocks(order, fr, fc) > 1 or not geometry.whole_middle_needs_reuse
    tile = {order.group_axis: order.group_blocks, order.middle_axis: order.middle_blocks}
    psum_tile = order.k_chunks == 1 or tensor_bytes("c", tile) <= buffer["c"]
    return _Residency(group, group_slab, block, reused and whole_bytes <= buffer[middle], psum_tile)


def _candidates(dataflow: Dataflow, fr: int, fc: int, group_fits) -> list[LoopOrder]:
    """The fixed order first, then per groupable axis: one block, the widest resident super-block, all.

    Traffic falls as super-blocks widen while the group stays resident, so the widest resident
    width dominates every narrower one; wider than that a grouped operand is refetched per middle
    step. Grouped partial sums that do not fit would spill: those orders are tried only when they fit.
    """
    geometry = geometry_of(dataflow)
    fixed = fixed_order(dataflow, fr, fc)
    out = [fixed]
    for axis in geometry.groupable_axes:
        blocks = fr if axis == ROWS else fc
        operand_group = geometry.tensor_on_axis(axis) != "c"
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
            if order not in out and (operand_group or size == 1 or group_fits(order)):
                out.append(order)
    return out


def _split_candidates(gemm: Gemm, hw: HwConfig, fr: int, fc: int, min_chunks: int) -> list[LoopOrder]:
    """K-split orders (OS): per grouped axis and super-block count, the narrowest super-block S
    giving that count, the widest middle tile whose partial sums fit SRAM C beside it, and the
    fewest K chunks (at least `min_chunks`) whose grouped chunk fits its buffer.

    Grouped data is then read once per middle tile and middle data once per super-block, so
    for a given number of super-blocks the widest tile is best; S takes only the values where
    ceil(blocks / S) changes (about 2 sqrt(blocks) of them).
    """
    arr = hw.array
    geometry = geometry_of(arr.dataflow)
    if not geometry.streams_k or gemm.k < 2:
        return []
    out: list[LoopOrder] = []
    for axis in geometry.groupable_axes:
        groups, middles = (fr, fc) if axis == ROWS else (fc, fr)
        widths = sorted({ceil_div(groups, q) for q in range(1, groups + 1)})
        for width in widths:
            out.extend(_split_order(gemm, hw, fr, fc, axis, width, middles, min_chunks))
    return out


def _split_order(
    gemm: Gemm, hw: HwConfig, fr: int, fc: int, axis: str, width: int, middles: int, min_chunks: int
) -> list[LoopOrder]:
    """The K-split order of one super-block width (none if no tile or chunk fits), see _split_candidates."""

    def fit(chunks: int, tile: int) -> _Residency:
        return _residency(gemm, hw, fr, fc, LoopOrder(axis, width, chunks, tile))

    tile = _widest(middles, lambda t: fit(2, t).psum_tile)
    if tile == 0:
        return []
    chunks = _fewest(max(min_chunks, 2), gemm.k, lambda n: fit(n, tile).group)
    if not chunks:
        return []
    chunks = k_chunk_count(gemm.k, ceil_div(gemm.k, chunks))  # as many as chunks of that size need (none empty)
    return [LoopOrder(axis, width, chunks, tile)] if chunks > 1 else []


def _widest(limit: int, fits) -> int:
    """The largest x in 1..limit with fits(x) (monotone: true up to some x), 0 if none."""
    best, lo, hi = 0, 1, limit
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(mid):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def _fewest(lo: int, hi: int, fits) -> int:
    """The smallest x in lo..hi with fits(x) (monotone: false below some x), 0 if none."""
    best = 0
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(mid):
            best, hi = mid, mid - 1
        else:
            lo = mid + 1
    return best


def schedule_gemm(gemm: Gemm, hw: HwConfig) -> GemmSchedule:
    """The tile schedule of one GEMM on a hardware config (the mapping step picks its order).

    `mapping.k_chunk` bounds the K a fold streams (OS): every order then has at least
    ceil(K / k_chunk) chunks. Without it min_dram may still split K when that moves fewer bytes
    (unless `mapping.k_split` is false).
    """
    return _build(gemm, hw, _choose_order(gemm, hw))


def schedule_gemms(gemms: Sequence[Gemm], hw: HwConfig) -> list[GemmSchedule]:
    """schedule_gemm of every GEMM, the order searched once per shape (M, K, N): the choice
    depends on nothing else (DRAM bytes scale with the instance count, ties included)."""
    orders: dict[tuple[int, int, int], LoopOrder] = {}
    out = []
    for g in gemms:
        order = orders.get((g.m, g.k, g.n))
        if order is None:
            order = orders[g.m, g.k, g.n] = _choose_order(g, hw)
        out.append(_build(g, hw, order))
    return out


def _build(gemm: Gemm, hw: HwConfig, order: LoopOrder) -> GemmSchedule:
    arr = hw.array
    df, rows, cols = arr.dataflow, arr.rows, arr.cols
    geometry = geometry_of(df)
    fr, fc = geometry.fold_grid(gemm.m, gemm.k, gemm.n, rows, cols)
    temporal = geometry.temporal_extent(gemm.m, gemm.k, gemm.n)
    fit = _residency(gemm, hw, fr, fc, order)
    steps = ceil_div(temporal, order.k_chunks)
    _, last = temporal_chunk(temporal, order.k_chunks, order.k_chunks - 1)
    return GemmSchedule(
        gemm=gemm,
        dataflow=df,
        rows=rows,
        cols=cols,
        fold_rows=fr,
        fold_cols=fc,
        fold_cycles=geometry.fold_cycles(rows, cols, steps),
        issue_interval_cycles=geometry.issue_interval_cycles(rows, cols, steps, arr.fold_overlap),
        order=order,
        group_resident=fit.group,
        middle_block_resident=fit.middle_block,
        middle_whole_resident=fit.middle_whole,
        operand_bytes=arr.datatype.operand_bytes,
        acc_bytes=arr.datatype.acc_bytes,
        psum_tile_resident=fit.psum_tile,
        group_slab_resident=fit.group_slab,
        last_chunk_fold_cycles=geometry.fold_cycles(rows, cols, last),
        last_chunk_interval_cycles=geometry.issue_interval_cycles(rows, cols, last, arr.fold_overlap),
    )


def _choose_order(gemm: Gemm, hw: HwConfig) -> LoopOrder:
    """The mapping step: the fixed order, or the candidate moving the fewest DRAM bytes."""
    df = hw.array.dataflow
    geometry = geometry_of(df)
    fr, fc = geometry.fold_grid(gemm.m, gemm.k, gemm.n, hw.array.rows, hw.array.cols)
    min_chunks = k_chunk_count(gemm.k, hw.mapping.k_chunk) if geometry.streams_k else 1

    def chunked(order: LoopOrder) -> LoopOrder:
        return order if min_chunks == 1 else LoopOrder(order.group_axis, order.group_blocks, min_chunks)

    def runnable(order: LoopOrder) -> bool:
        """Partial sums that spill go through DRAM from one fold to the next, so a K-split order
        whose psum tile does not fit SRAM C must run each block's chunks back to back (a
        one-block tile), as WS/IS orders spill only with one output block per super-block."""
        one_block = order.group_blocks * order.middle_blocks == 1
        return order.k_chunks == 1 or one_block or _residency(gemm, hw, fr, fc, order).psum_tile

    if hw.mapping.policy is MappingPolicy.FIXED:
        order = chunked(fixed_order(df, fr, fc))
        # the same block sequence with each block's chunks back to back, if its psums do not fit
        return order if runnable(order) else LoopOrder(order.middle_axis, 1, min_chunks)
    orders = _candidates(df, fr, fc, lambda o: _residency(gemm, hw, fr, fc, chunked(o)).group)
    orders = [chunked(o) for o in orders]
    if min_chunks > 1:
        orders += [LoopOrder(axis, 1, min_chunks) for axis in geometry.groupable_axes]
    orders = [o for o in orders if runnable(o)]
    if hw.mapping.k_split:
        orders += _split_candidates(gemm, hw, fr, fc, min_chunks)
    scheduled = [_build(gemm, hw, o) for o in dict.fromkeys(orders)]
    return min(scheduled, key=lambda s: s.dram_bytes).order  # ties keep the earlier (the fixed order first)


def _chunk_of(s: GemmSchedule, fold: Fold) -> int:
    """The K chunk a fold streams (0 unless K is split)."""
    return 0 if s.k_chunks == 1 else fold.t0 // ceil_div(s.gemm.k, s.k_chunks)


def _group_scope_start(s: GemmSchedule, pos) -> bool:
    """Whether a fold is at the first middle step of its grouped data's reuse scope: the
    super-block (all of K resident: each chunk loads in the first middle tile), or the middle
    tile of the current chunk (K split, only a chunk of the group fits)."""
    return pos.middle == 0 if s.k_chunks == 1 or s.group_slab_resident else pos.in_tile == 0


def fold_joins(s: GemmSchedule, fold: Fold) -> tuple[bool, bool]:
    """Whether fold `fold`'s A / B load adds a block to a tensor already holding a buffer.

    A resident grouped operand (OS) is loaded block by block during its super-block's first
    middle step (of each middle tile and chunk when K is split); every block after the first
    goes into the buffer the first took. A whole-resident middle operand is loaded block by
    block during the first super-block, likewise. The stationary operand's blocks never join:
    each is used by one fold.
    """
    pos = position(s.order, fold.row0 // s.rows, fold.col0 // s.cols, _chunk_of(s, fold))
    later = pos.in_group > 0 or (s.group_slab_resident and pos.chunk > 0)  # the slab's chunks share a buffer
    group_joins = s.group_resident and later and _group_scope_start(s, pos)
    first_load = pos.in_group == 0 and (pos.middle > 0 or pos.chunk > 0)
    middle_joins = s.middle_whole_resident and pos.super_block == 0 and first_load
    joins = {s.grouped_tensor: group_joins, s.middle_tensor: middle_joins}  # partial sums never join
    return joins.get("a", False), joins.get("b", False)


def fold_transfers(s: GemmSchedule, fold: Fold) -> FoldTransfers:
    """Bytes one fold (of one instance) moves, following the schedule's loop order.

    The grouped operand loads at its super-block's first middle step (every step when it is not
    resident; per middle tile and chunk when K is split), the middle operand per super-block (or
    once, or every fold), the stationary one with every fold. When K is split over folds (WS/IS
    K blocks, OS K chunks) the first K fold starts each output's sum, the last writes it out, and
    the ones between accumulate into SRAM C (read-modify-write; spilling through DRAM when the
    partial sums do not fit).
    """
    ob, ab = s.operand_bytes, s.acc_bytes
    block = {ROWS: fold.row0 // s.rows, COLS: fold.col0 // s.cols}
    chunk = _chunk_of(s, fold)
    pos = position(s.order, block[ROWS], block[COLS], chunk)
    group_load = _group_scope_start(s, pos) or not s.group_resident
    if s.middle_whole_resident:
        middle_load = pos.super_block == 0 and pos.in_group == 0
    else:
        middle_load = pos.in_group == 0 or not s.middle_block_resident
    load = {s.grouped_tensor: group_load, s.middle_tensor: middle_load}  # the stationary operand: always
    elements = s.geometry.block_elements(fold)
    a_fold, b_fold, out = elements["a"] * ob, elements["b"] * ob, elements["c"]
    a_load = a_fold if load.get("a", True) else 0
    b_load = b_fold if load.get("b", True) else 0
    axis = s.geometry.reduction_axis  # None: K is streamed (OS), split only into chunks
    first_k = chunk == 0 if axis is None else block[axis] == 0
    last_k = chunk == s.k_chunks - 1 if axis is None else block[axis] == s.blocks_along(axis) - 1
    psum_load = 0 if (first_k or s.psum_resident) else out * ab
    psum_store = 0 if (last_k or s.psum_resident) else out * ab
    c_read = (0 if first_k else out * ab) + (out * ab if last_k else 0) + psum_store
    c_write = out * ab + psum_load
    return FoldTransfers(
        a_load, b_load, psum_load, psum_store, out * ob if last_k else 0, a_fold, b_fold, c_read, c_write
    )
