"""Recompute regions of a fold and their price by the array's geometry: cycles, MACs, traffic of one pass.

A region indexes the fold's output block (DataflowGeometry.output_block): OS ru x cu, WS M x cu,
IS cu x N. Each output element maps to spatial PEs and temporal steps of the dataflow
(DataflowGeometry.recompute_work):

| dataflow | output row is        | output col is        | reduction per output   |
|----------|----------------------|----------------------|------------------------|
| OS       | array row (M)        | array col (N)        | temporal: all K steps  |
| WS       | temporal step (M)    | array col (N)        | spatial: the ru PE rows |
| IS       | array col (M)        | temporal step (N)    | spatial: the ru PE rows |

A pass streams only the temporal steps it needs, on the full array's fill and drain:
cycles = fill_drain(R, C) + steps (dataflow.fold_cycles with T = steps), issue window =
dataflow.issue_interval_cycles with T = steps. So any OS region costs a full fold pass (all K),
flagged OS rows of one tile share that pass; WS rows cost fill_drain + len(rows) (columns need
all M); IS mirrors WS. MACs = active PEs x temporal steps actually run (OS elements: one PE per
element). GEMM scope reruns every fold of the instance: (folds - 1) * issue_interval + fold_cycles.

Memory traffic (issue 10): every pass reads its operand blocks from SRAM, and fetches from DRAM
the blocks that are no longer resident. An operand is reused from SRAM when the schedule reads
more bytes of it from SRAM than it loads from DRAM (GemmSchedule.totals: OS A kept across the N
folds of a row block, B or WS A kept whole); its blocks are still resident when the recompute
runs. An operand the schedule loads as often as it reads (a non-resident streamed operand, the
stationary tile of WS / IS) is evicted as the schedule moves on: the pass refetches the part of
it the region reads (`dram_read_bytes`, written into SRAM: `sram_*_write_bytes`). A GEMM-scope
pass reloads what the instance's first execution loaded. The engine requests the refetch on the
shared DRAM channel when the recompute is decided; a region pass issues once its data is in
SRAM, a GEMM pass streams its reload and cannot drain before it has arrived (`streams_load`).
Partial sums a WS / IS fold spilled to DRAM are not modelled as refetched by a region pass.
A pass over an OS fold of a K chunk after the first (mapping.k_chunk) recomputes that chunk only
and accumulates its outputs into the partial sums in SRAM C (a read-modify-write, as the chunk's
first pass did); the first chunk's pass writes them, as a whole-K pass does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

import numpy as np

from simulator.config.schema import HwConfig
from simulator.mapping.dataflow import PassWork
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold
from simulator.metrics.actions import ActionCounts

MAX_DENOMINATOR = 10**6


class Scope(StrEnum):
    TILE = "tile"
    ROWS = "rows"
    COLS = "cols"
    ELEMENTS = "elements"
    GEMM = "gemm"  # every fold of this GEMM instance
    LINES = "lines"  # the given rows or the given cols, whichever is cheaper (resolve_region)


@dataclass(frozen=True, slots=True)
class Region:
    """What to recompute; rows / cols index the fold's output block (ELEMENTS: pairs)."""

    scope: Scope
    rows: tuple[int, ...] = ()
    cols: tuple[int, ...] = ()

    @property
    def whole_fold(self) -> bool:
        """A pass over this region computes (and writes back) every element of the fold."""
        return self.scope in (Scope.TILE, Scope.GEMM)

    def covers(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Which output-block positions (`rows[i]`, `cols[i]`) a recomputation of this region
        rewrites (a LINES region is resolved to ROWS or COLS before it is run)."""
        if self.whole_fold:
            return np.ones(rows.shape, bool)
        if self.scope is Scope.ROWS:
            return member_mask(rows, self.rows)
        if self.scope is Scope.COLS:
            return member_mask(cols, self.cols)
        width = int(max(cols.max(initial=0), max(self.cols, default=0))) + 1  # (row, col) -> one int64 key
        pairs = np.asarray(self.rows, np.int64) * width + np.asarray(self.cols, np.int64)
        return member_mask(rows * width + cols, tuple(pairs.tolist()))


_FEW = 16  # up to this many wanted values, one comparison each beats np.isin's set-up (~20 us a call)


def member_mask(values: np.ndarray, wanted: tuple[int, ...]) -> np.ndarray:
    """np.isin(values, wanted): which values are among `wanted` (a region's few rows, columns or
    pairs: one comparison per wanted value, ~10x faster than np.isin on the retry loop's arrays)."""
    if len(wanted) > _FEW:
        return np.isin(values, wanted)
    out = np.zeros(values.shape, bool)
    for w in wanted:
        out |= values == w
    return out


def channel_bandwidth(bytes_per_cycle: float) -> Fraction:
    """The channel's exact bandwidth in bytes per cycle (a fraction with denominator <= 10**6)."""
    return Fraction(bytes_per_cycle).limit_denominator(MAX_DENOMINATOR)


@dataclass(frozen=True, slots=True)
class RecomputePass:
    """One recompute pass on the array, before checking costs are added."""

    temporal_steps: int
    fold_cycles: int  # issue to drain
    window_cycles: int  # issue to the next pass's earliest issue
    counts: ActionCounts  # macs == recomputed_macs, SRAM and DRAM traffic
    streams_load: bool = False  # the DRAM refetch overlaps the pass (GEMM scope), else precedes it

    @property
    def load_bytes(self) -> int:
        """Bytes the pass fetches from DRAM (over the shared channel)."""
        return self.counts.dram_read_bytes


def output_block_shape(s: GemmSchedule, fold: Fold) -> tuple[int, int]:
    """(rows, cols) of the fold's output block, the index space of a Region."""
    return s.geometry.output_block_shape(fold, s.gemm.m, s.gemm.n)


def price_region(hw: HwConfig, s: GemmSchedule, fold: Fold, region: Region) -> RecomputePass:
    """Cycles, MACs and traffic of recomputing `region` of one fold (see module docstring)."""
    if region.scope is Scope.GEMM:
        return _price_gemm(s)
    if region.scope is Scope.LINES:
        return price_region(hw, s, fold, resolve_region(hw, s, fold, region))
    geometry = s.geometry
    ob, ab = s.operand_bytes, s.acc_bytes
    work = _recompute_work(s, fold, region)
    a_read, b_read = work.a_read_words * ob, work.b_read_words * ob
    accumulates = work.c_read_outputs or (fold.t0 > 0 and geometry.streams_k)  # a later K chunk: RMW in C
    a_refetch, b_refetch = refetched_operands(s)
    a_load, b_load = a_read if a_refetch else 0, b_read if b_refetch else 0
    counts = ActionCounts(
        macs=work.macs,
        recomputed_macs=work.macs,
        sram_a_read_bytes=a_read,
        sram_b_read_bytes=b_read,
        sram_c_read_bytes=(work.outputs if accumulates else 0) * ab,  # psums read, accumulated, written back
        sram_c_write_bytes=work.outputs * ab,
        sram_a_write_bytes=a_load,
        sram_b_write_bytes=b_load,
        dram_read_bytes=a_load + b_load,
    )
    cycles = _fold_cycles(s, work)
    window = geometry.issue_interval_cycles(s.rows, s.cols, work.steps, hw.array.fold_overlap)
    return RecomputePass(work.steps, cycles, window, counts)


def _recompute_work(s: GemmSchedule, fold: Fold, region: Region) -> PassWork:
    """The array work of recomputing a ROWS, COLS, ELEMENTS or TILE `region` of a fold (indices checked)."""
    rows, cols = _checked_indices(s, fold, region)
    scope = region.scope
    return s.geometry.recompute_work(
        fold,
        out_rows=len(set(rows)) if scope in (Scope.ROWS, Scope.ELEMENTS) else None,
        out_cols=len(set(cols)) if scope in (Scope.COLS, Scope.ELEMENTS) else None,
        elements=len(set(zip(rows, cols, strict=True))) if scope is Scope.ELEMENTS else None,
    )


def _fold_cycles(s: GemmSchedule, work: PassWork) -> int:
    """Issue to drain of a recompute pass doing `work` (RecomputePass.fold_cycles)."""
    return s.geometry.fill_drain_cycles(s.rows, s.cols) + work.steps


@functools.lru_cache(maxsize=1024)  # a pure function of a frozen schedule, asked once per recompute pass
def refetched_operands(s: GemmSchedule) -> tuple[bool, bool]:
    """(A, B): whether the operand's blocks are evicted once read, so a recompute refetches them.

    Read from the schedule's own traffic: an operand loaded from DRAM as many bytes as the array
    reads it from SRAM is never reused from SRAM (see module docstring).
    """
    t = s.totals()
    return t.a_dram_load_bytes >= t.a_sram_read_bytes, t.b_dram_load_bytes >= t.b_sram_read_bytes


def resolve_region(hw: HwConfig, s: GemmSchedule, fold: Fold, region: Region) -> Region:
    """A LINES region as the cheaper of its ROWS and its COLS pass; any other region as it is.

    Cheaper: fewer array cycles (issue to drain), then fewer MACs, then rows. OS rows and
    columns both need a full-K pass, so the line with fewer PEs wins (a column of an edge fold
    with fewer rows used); WS rows (OS IS columns) are single streamed steps and win.
    """
    if region.scope is not Scope.LINES:
        return region
    options = (Region(Scope.ROWS, rows=region.rows), Region(Scope.COLS, cols=region.cols))

    def cost(r: Region) -> tuple[int, int]:  # price_region's (fold_cycles, counts.macs), without its traffic
        work = _recompute_work(s, fold, r)
        return _fold_cycles(s, work), work.macs

    return min(options, key=cost)


def _checked_indices(s: GemmSchedule, fold: Fold, region: Region) -> tuple[tuple[int, ...], tuple[int, ...]]:
    out_rows, out_cols = output_block_shape(s, fold)
    rows, cols = region.rows, region.cols
    if region.scope is Scope.ROWS and not rows:
        raise ValueError("a ROWS region needs at least one row")
    if region.scope is Scope.COLS and not cols:
        raise ValueError("a COLS region needs at least one column")
    if region.scope is Scope.ELEMENTS and (not rows or len(rows) != len(cols)):
        raise ValueError("an ELEMENTS region needs equally many rows and cols (one pair per element)")
    for name, idx, bound in (("row", rows, out_rows), ("col", cols, out_cols)):
        bad = [i for i in idx if not 0 <= i < bound]
        if bad:
            raise ValueError(
                f"recompute region {name} {bad[0]} outside the fold's output block ({out_rows} x {out_cols})"
            )
    return rows, cols


def _price_gemm(s: GemmSchedule) -> RecomputePass:
    totals = s.totals()
    per = s.gemm.count
    cycles = s.instance_cycles  # the folds back to back (a shorter last K chunk included)
    last_cycles, last_window = (
        (s.last_chunk_fold_cycles, s.last_chunk_interval_cycles)
        if s.k_chunks > 1
        else (s.fold_cycles, s.issue_interval_cycles)
    )
    window = cycles - last_cycles + last_window  # every fold's window
    dram_bytes = totals.dram_load_bytes // per
    macs = s.gemm.macs_per_instance
    counts = ActionCounts(
        macs=macs,
        recomputed_macs=macs,
        sram_a_read_bytes=totals.a_sram_read_bytes // per,
        sram_a_write_bytes=totals.a_dram_load_bytes // per,
        sram_b_read_bytes=totals.b_sram_read_bytes // per,
        sram_b_write_bytes=totals.b_dram_load_bytes // per,
        sram_c_read_bytes=totals.c_sram_read_bytes // per,
        sram_c_write_bytes=totals.c_sram_write_bytes // per,
        dram_read_bytes=dram_bytes,
    )
    return RecomputePass(
        s.geometry.fold_shape(s.gemm.m, s.gemm.k, s.gemm.n).temporal, cycles, window, counts, streams_load=True
    )
