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
element). GEMM scope reruns every fold of the instance: (folds - 1) * issue_interval + fold_cycles,
with its operands reloaded from DRAM; the reload is priced as the pass's own roofline
(it cannot finish before reload bytes / bandwidth + latency) rather than on the shared channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from simulator.config.schema import HwConfig
from simulator.mapping.dataflow import ceil_div
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


@dataclass(frozen=True, slots=True)
class Region:
    """What to recompute; rows / cols index the fold's output block (ELEMENTS: pairs)."""

    scope: Scope
    rows: tuple[int, ...] = ()
    cols: tuple[int, ...] = ()


def channel_bandwidth(bytes_per_cycle: float) -> Fraction:
    """The channel's exact bandwidth in bytes per cycle (a fraction with denominator <= 10**6)."""
    return Fraction(bytes_per_cycle).limit_denominator(MAX_DENOMINATOR)


@dataclass(frozen=True, slots=True)
class RecomputePass:
    """One recompute pass on the array, before checking costs are added."""

    temporal_steps: int
    fold_cycles: int  # issue to drain
    window_cycles: int  # issue to the next pass's earliest issue
    counts: ActionCounts  # macs == recomputed_macs, SRAM (and for GEMM scope DRAM) traffic


def output_block_shape(s: GemmSchedule, fold: Fold) -> tuple[int, int]:
    """(rows, cols) of the fold's output block, the index space of a Region."""
    return s.geometry.output_block_shape(fold, s.gemm.m, s.gemm.n)


def price_region(hw: HwConfig, s: GemmSchedule, fold: Fold, region: Region) -> RecomputePass:
    """Cycles, MACs and traffic of recomputing `region` of one fold (see module docstring)."""
    if region.scope is Scope.GEMM:
        return _price_gemm(hw, s)
    geometry = s.geometry
    rows, cols = _checked_indices(s, fold, region)
    ob, ab = s.operand_bytes, s.acc_bytes
    scope = region.scope
    work = geometry.recompute_work(
        fold,
        out_rows=len(set(rows)) if scope in (Scope.ROWS, Scope.ELEMENTS) else None,
        out_cols=len(set(cols)) if scope in (Scope.COLS, Scope.ELEMENTS) else None,
        elements=len(set(zip(rows, cols, strict=True))) if scope is Scope.ELEMENTS else None,
    )
    counts = ActionCounts(
        macs=work.macs,
        recomputed_macs=work.macs,
        sram_a_read_bytes=work.a_read_words * ob,
        sram_b_read_bytes=work.b_read_words * ob,
        sram_c_read_bytes=work.c_read_outputs * ab,  # partial sums are read, accumulated and written back
        sram_c_write_bytes=work.outputs * ab,
    )
    cycles = geometry.fill_drain_cycles(s.rows, s.cols) + work.steps
    window = geometry.issue_interval_cycles(s.rows, s.cols, work.steps, hw.array.fold_overlap)
    return RecomputePass(work.steps, cycles, window, counts)


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


def _price_gemm(hw: HwConfig, s: GemmSchedule) -> RecomputePass:
    n = s.folds_per_instance
    totals = s.totals()
    per = s.gemm.count
    cycles = (n - 1) * s.issue_interval_cycles + s.fold_cycles
    window = n * s.issue_interval_cycles
    dram_bytes = totals.dram_load_bytes // per
    if not hw.memory.ideal and dram_bytes:
        bandwidth = channel_bandwidth(hw.dram_bytes_per_cycle)
        reload = ceil_div(dram_bytes * bandwidth.denominator, bandwidth.numerator) + hw.memory.dram.latency_cycles
        stretch = max(0, reload - cycles)
        cycles, window = cycles + stretch, window + stretch
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
    return RecomputePass(s.geometry.fold_shape(s.gemm.m, s.gemm.k, s.gemm.n).temporal, cycles, window, counts)
