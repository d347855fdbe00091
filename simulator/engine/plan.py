"""The engine's work list: every GEMM's folds, in order, as segments of identical folds.

A segment is a run of consecutive folds of one GEMM instance that cost the engine the same:
same transfers, cycles and checking work (they differ only in their block offsets). Folds are
cut into candidate runs wherever their position in the grid or the loop nest
(mapping.loop_order: first or last block of a row or column, first fold of a super-block or of
a middle step, first super-block) changes; every fold the verifier flags is a segment of its
own. The policy is asked for a segment's checking work at its first and last fold; if the two
differ the segment is split into single folds, so a policy may make its check work depend on
anything of the fold.

Settled verdicts (`settle=True`, the coalesced engine): verdicts never depend on time (the
verifier's retry loop decides every attempt of a fold, abft.retry), so the plan asks the verifier
for each flagged fold's attempts up front, in (layer, instance, fold) order, the order in which the
engine's verdicts first reach each instance. A flagged fold whose first verdict asks for no
recomputation (accept, correct, or a recompute with no retries allowed) is timed exactly like a
fold nobody reports on: its result is final when its check completes, as an unflagged fold's is.
Such a fold does not cut its run: it is listed in its segment's `settled` (with its attempts),
the coalesced engine times it without a SimPy event, records its outcome when its check ends, and
skips no repeat over it (coalesce.py). A flagged fold that recomputes carries its attempts in
`attempts`, so the verifier is asked once per fold.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from simulator.abft.protocol import Action, CheckWork, FoldAttempts, Policy, TileVerifier, flagged_by_instance
from simulator.config.schema import HwConfig
from simulator.engine.checksum_unit import array_check_cycles, check_counts, duplicate_counts, side_unit_cycles
from simulator.mapping import tiling
from simulator.mapping.dataflow import ceil_div
from simulator.mapping.loop_order import ROWS, coords_at
from simulator.mapping.region import resolve_region
from simulator.mapping.schedule import FoldTransfers, GemmSchedule, fold_joins, fold_transfers
from simulator.mapping.tiling import Fold
from simulator.metrics.actions import ActionCounts


@dataclass(frozen=True, slots=True, eq=False)
class FoldCost:
    """What one fold costs the engine; shared (by identity) by every fold of equal cost."""

    fold_cycles: int  # issue to drain, incl. SRAM-port stretch and on-array checksum cycles
    window_cycles: int  # issue to the next fold's earliest issue
    port_stall_cycles: int  # stretch because an SRAM port cannot feed the array at full rate (every copy)
    array_check_cycles: int  # checksum cycles on the array (checksum_pe, in_array, DMR)
    side_unit_cycles: int  # side-unit cycles to check the fold (after it drains)
    load_bytes: int  # DRAM -> SRAM before the fold may start (A, B and reloaded partial sums)
    loads_a: bool
    loads_b: bool
    a_joins: bool  # the A load adds a block to a tensor resident in its buffer (no new buffer)
    b_joins: bool
    psum_reload: bool  # reloads partial sums the previous fold spilled to DRAM
    store_bytes: int  # SRAM -> DRAM after the fold is final
    spills_psum: bool  # part of the store is partial sums the next fold reloads
    counts: ActionCounts  # actions of one first execution, checking included
    check_work: CheckWork


@dataclass(slots=True)  # read-only once made; not frozen, as a frozen one takes 3x longer to make
class Segment:
    """`length` consecutive folds of one instance, starting at fold index `first_fold`.

    The plan makes one per run of every instance (tens of thousands per run of a ViT), and
    nothing changes a segment once it is made.
    """

    layer: int
    instance: int
    first_fold: int
    length: int
    ordinal: int  # position of the first fold in the whole run's fold order
    cost: FoldCost
    flagged: bool  # a single fold whose first attempt the verifier reports on (a SimPy verdict event)
    attempts: FoldAttempts | None = None  # a flagged fold's attempts, if the plan asked for them
    # (fold index, attempts) of the flagged folds in it whose verdict is final at their check, in
    # fold order (module docstring, "Settled verdicts")
    settled: tuple[tuple[int, FoldAttempts], ...] = ()
    fold: Fold | None = None  # a flagged fold (its extents and offsets), for the verdicts on it


@dataclass(frozen=True, slots=True)
class LayerPlan:
    index: int
    schedule: GemmSchedule
    segments: tuple[Segment, ...]
    first_ordinal: int
    counts: ActionCounts  # first executions of every fold, checking included
    array_check_cycles: int  # sum over folds of FoldCost.array_check_cycles
    # the first layer of equal `_shape_key`: layers of one shape share their folds and fold costs,
    # so a recompute pass of one of their folds costs the same (simulate.py prices it once)
    shape: int = -1

    @property
    def folds(self) -> int:
        return self.schedule.folds


def fold_at(s: GemmSchedule, index: int) -> Fold:
    """Fold `index` of one instance of a scheduled GEMM (tiling.fold_at)."""
    return tiling.fold_at(s.dataflow, s.gemm.m, s.gemm.k, s.gemm.n, s.rows, s.cols, index, s.order)


def port_stall_cycles(hw: HwConfig, t: FoldTransfers, temporal: int) -> int:
    """Stretch of a fold whose SRAM traffic does not fit in its streaming time at the port width.

    Scratchpads are dual-ported: the array's reads of A and B and its writes of results into C
    must each fit in the fold's T streaming cycles at `port_bytes_per_cycle`; DMA fills and
    partial-sum reads use the other port. Otherwise streaming runs at the slowest port's pace.
    """
    if hw.memory.ideal:
        return 0
    sram = hw.memory.sram
    array_c_writes = t.c_sram_write_bytes - t.psum_dram_load_bytes
    need = max(
        ceil_div(t.a_sram_read_bytes, sram.a.port_bytes_per_cycle),
        ceil_div(t.b_sram_read_bytes, sram.b.port_bytes_per_cycle),
        ceil_div(array_c_writes, sram.c.port_bytes_per_cycle),
    )
    return max(0, need - temporal)


class _CostTable:
    """Interns FoldCosts, so equal costs are one object and segments compare by identity."""

    def __init__(self, hw: HwConfig) -> None:
        self.hw = hw
        self._costs: dict[tuple, FoldCost] = {}

    def cost(self, s: GemmSchedule, fold: Fold, work: CheckWork) -> FoldCost:
        hw, unit = self.hw, self.hw.checksum_unit
        t = fold_transfers(s, fold)
        joins = fold_joins(s, fold)
        stretch = port_stall_cycles(hw, t, fold.temporal) * (1 + work.duplicate_passes)
        on_array = array_check_cycles(unit, work)
        own = ActionCounts(
            macs=fold.active_macs,
            sram_a_read_bytes=t.a_sram_read_bytes,
            sram_a_write_bytes=t.a_dram_load_bytes,
            sram_b_read_bytes=t.b_sram_read_bytes,
            sram_b_write_bytes=t.b_dram_load_bytes,
            sram_c_read_bytes=t.c_sram_read_bytes,
            sram_c_write_bytes=t.c_sram_write_bytes,
            dram_read_bytes=t.dram_load_bytes,
            dram_write_bytes=t.dram_store_bytes,
        )
        array_side = ActionCounts(  # what a duplicate copy moves: not the DMA's psum spills and reloads
            sram_a_read_bytes=t.a_sram_read_bytes,
            sram_b_read_bytes=t.b_sram_read_bytes,
            sram_c_read_bytes=t.c_sram_read_bytes - t.psum_dram_store_bytes,
            sram_c_write_bytes=t.c_sram_write_bytes - t.psum_dram_load_bytes,
        )
        counts = own + duplicate_counts(work, array_side) + check_counts(work)
        fold_cycles, window_cycles = s.cycles_of(fold)  # a fold of a shorter last K chunk is shorter
        cost = FoldCost(
            fold_cycles=fold_cycles + stretch + on_array,
            window_cycles=window_cycles + stretch + on_array,
            port_stall_cycles=stretch,
            array_check_cycles=on_array,
            side_unit_cycles=side_unit_cycles(unit, work),
            load_bytes=t.dram_load_bytes,
            loads_a=t.a_dram_load_bytes > 0,
            loads_b=t.b_dram_load_bytes > 0,
            a_joins=t.a_dram_load_bytes > 0 and joins[0],
            b_joins=t.b_dram_load_bytes > 0 and joins[1],
            psum_reload=t.psum_dram_load_bytes > 0,
            store_bytes=t.dram_store_bytes,
            spills_psum=t.psum_dram_store_bytes > 0,
            counts=counts,
            check_work=work,
        )
        key = tuple(getattr(cost, f.name) for f in fields(FoldCost))
        return self._costs.setdefault(key, cost)


def _position_classes(s: GemmSchedule) -> np.ndarray:
    """Per fold of one instance, in order, a code that changes wherever the fold's cost may."""
    fr, fc = s.fold_rows, s.fold_cols
    br, bc, chunk = coords_at(s.order, fr, fc, np.arange(s.folds_per_instance))
    group, middle = (br, bc) if s.order.group_axis == ROWS else (bc, br)
    size, last = s.order.group_blocks, s.order.k_chunks - 1
    marks = [br == 0, br == fr - 1, bc == 0, bc == fc - 1, group % size == 0, middle == 0, group < size]
    if last:  # K split: the first and last chunk move psums differently, a middle tile reloads its group
        marks += [chunk == 0, chunk == last, middle % s.order.middle_blocks == 0]
    return sum(m.astype(np.int64) << i for i, m in enumerate(marks))


def _instance_runs(s: GemmSchedule, policy: Policy, table: _CostTable) -> list[tuple[int, int, FoldCost]]:
    """(first fold, length, cost) runs of one instance, maximal and in fold order."""
    classes = _position_classes(s)
    cuts = np.flatnonzero(np.diff(classes)) + 1
    bounds = [0, *cuts.tolist(), len(classes)]
    runs: list[tuple[int, int, FoldCost]] = []
    known: dict[tuple[int, CheckWork], FoldCost] = {}  # a fold's cost follows from its class and check work

    def cost_of(i: int) -> FoldCost:
        fold = fold_at(s, i)
        work = policy.check_work(s, fold)
        key = (int(classes[i]), work)
        if key not in known:
            known[key] = table.cost(s, fold, work)
        return known[key]

    for lo, hi in itertools.pairwise(bounds):
        cost = cost_of(lo)
        if hi - lo > 1 and cost_of(hi - 1) is not cost:
            singles = [(i, 1, cost_of(i)) for i in range(lo, hi)]
        else:
            singles = [(lo, hi - lo, cost)]
        for start, length, c in singles:
            if runs and runs[-1][2] is c and runs[-1][0] + runs[-1][1] == start:
                runs[-1] = (runs[-1][0], runs[-1][1] + length, c)
            else:
                runs.append((start, length, c))
    return runs


def _shape_key(s: GemmSchedule, policy: Policy) -> tuple:
    """Schedules with equal keys have equal fold runs (the GEMM's name and count do not matter,
    except through the policy's `check_key`)."""
    g = s.gemm
    return (
        g.kind,
        g.m,
        g.k,
        g.n,
        s.dataflow,
        s.rows,
        s.cols,
        s.fold_cycles,
        s.issue_interval_cycles,
        s.order,
        s.group_resident,
        s.middle_block_resident,
        s.middle_whole_resident,
        s.psum_tile_resident,
        s.group_slab_resident,
        s.last_chunk_fold_cycles,
        s.operand_bytes,
        s.acc_bytes,
        policy.check_key(s),
    )


def build_plan(
    hw: HwConfig, schedules: Sequence[GemmSchedule], policy: Policy, verifier: TileVerifier, settle: bool = False
) -> tuple[LayerPlan, ...]:
    """Segments of every layer in execution order (layers in order, instances in order).

    Layers of equal shape, kind and policy check key (a ViT's encoder blocks) share their fold
    runs: a policy's check work may depend on the GEMM's shape, kind and check key only.
    `settle`: ask the verifier for every flagged fold's attempts now (module docstring).
    """
    table = _CostTable(hw)
    folds: dict[tuple[int, int], Fold] = {}  # (shape, fold index) -> the fold, shared by layers of one shape
    shapes: dict[tuple, tuple[list[tuple[int, int, FoldCost]], list[int], ActionCounts, int, int]] = {}
    plans = []
    ordinal = 0
    for li, s in enumerate(schedules):
        key = _shape_key(s, policy)
        if key not in shapes:
            runs = _instance_runs(s, policy, table)
            counts, on_array = ActionCounts(), 0
            for _, length, c in runs:
                counts += c.counts.scaled(length)
                on_array += c.array_check_cycles * length
            shapes[key] = (runs, [lo for lo, _, _ in runs], counts, on_array, li)
        runs, run_starts, counts, on_array, shape = shapes[key]
        marks_of = flagged_by_instance(verifier.flagged_folds(li))
        first = ordinal
        segments: list[Segment] = []
        per_instance = s.folds_per_instance
        for inst in range(s.gemm.count):
            marks = marks_of.get(inst)
            if not marks:  # the usual instance: its runs as they are
                segments.extend(Segment(li, inst, lo, n, ordinal + lo, c, False) for lo, n, c in runs)
            else:
                flagged = {f: _shared_fold(folds, shape, s, f) for f in marks}
                segments.extend(
                    _flagged_instance(hw, s, verifier, li, inst, ordinal, runs, run_starts, flagged, settle)
                )
            ordinal += per_instance
        counts_all, on_array_all = counts.scaled(s.gemm.count), on_array * s.gemm.count
        plans.append(LayerPlan(li, s, tuple(segments), first, counts_all, on_array_all, shape))
    return tuple(plans)


def _flagged_instance(
    hw: HwConfig,
    s: GemmSchedule,
    verifier: TileVerifier,
    layer: int,
    instance: int,
    ordinal: int,
    runs: list[tuple[int, int, FoldCost]],
    run_starts: list[int],
    folds: dict[int, Fold],
    settle: bool,
) -> list[Segment]:
    """The segments of an instance with flagged folds (`folds`, by index in fold order; the
    instance's first fold is at `ordinal`): its runs (`run_starts`: their first folds), cut around
    every flagged fold that is not settled."""
    marks = list(folds)
    known = _attempts_of(hw, s, verifier, layer, instance, folds) if settle else {}
    quiet = [f for f in marks if f in known and settles_at_check(known[f], hw.recompute.max_retries)]
    settled = set(quiet)
    loud = [f for f in marks if f not in settled] if quiet else marks
    segments: list[Segment] = []
    done = 0  # runs before it are in `segments`
    for i in sorted({bisect_right(run_starts, f) - 1 for f in marks}):  # the runs with flagged folds
        segments.extend(Segment(layer, instance, lo, n, ordinal + lo, c, False) for lo, n, c in runs[done:i])
        start, length, c = runs[i]
        for lo, hi, flag in _split(start, start + length, loud):
            inside = tuple((f, known[f]) for f in quiet[bisect_left(quiet, lo) : bisect_left(quiet, hi)])
            fold = folds[lo] if flag else None
            segments.append(Segment(layer, instance, lo, hi - lo, ordinal + lo, c, flag, known.get(lo), inside, fold))
        done = i + 1
    segments.extend(Segment(layer, instance, lo, n, ordinal + lo, c, False) for lo, n, c in runs[done:])
    return segments


def _shared_fold(folds: dict[tuple[int, int], Fold], shape: int, s: GemmSchedule, index: int) -> Fold:
    """Fold `index` of a schedule of layer shape `shape` (LayerPlan.shape), built once per shape:
    `fold_at` depends only on what the shape key holds."""
    fold = folds.get((shape, index))
    if fold is None:
        fold = folds[shape, index] = fold_at(s, index)
    return fold


def settles_at_check(history: FoldAttempts, max_retries: int) -> bool:
    """The fold's first verdict makes its result final: no recompute pass follows its check."""
    return history.decisions[0].action is not Action.RECOMPUTE or max_retries == 0


def _attempts_of(
    hw: HwConfig, s: GemmSchedule, verifier: TileVerifier, layer: int, instance: int, folds: dict[int, Fold]
) -> dict[int, FoldAttempts]:
    """The verifier's attempts of one instance's flagged folds (fold index -> attempts), in fold order."""
    return {
        f: verifier.attempts(layer, instance, fold, lambda fold, r: resolve_region(hw, s, fold, r))
        for f, fold in folds.items()
    }


def _split(lo: int, hi: int, marks: list[int]) -> list[tuple[int, int, bool]]:
    """[lo, hi) cut around every marked fold index in it: (start, end, flagged) pieces."""
    if not marks:
        return [(lo, hi, False)]
    out = []
    for f in marks[bisect_left(marks, lo) : bisect_left(marks, hi)]:  # marks are sorted
        if lo <= f < hi:
            if f > lo:
                out.append((lo, f, False))
            out.append((f, f + 1, True))
            lo = f + 1
    if lo < hi:
        out.append((lo, hi, False))
    return out


def instance_check_work(s: GemmSchedule, policy: Policy) -> list[tuple[CheckWork, int]]:
    """(check work, folds) of one instance: the policy's checking of every fold's first pass, asked
    once per position class (`_position_classes`: folds of one class have the same extents and
    the same place at the grid's edges, what the bundled policies' check work depends on)."""
    _, first, counts = np.unique(_position_classes(s), return_index=True, return_counts=True)
    return [(policy.check_work(s, fold_at(s, int(i))), int(n)) for i, n in zip(first, counts, strict=True)]
