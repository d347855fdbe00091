"""How long the A, B and C scratchpads hold live data under a schedule: live bit-cycles per scratchpad.

A pure function of the schedules (no fault, no draw), at the fold granularity the SRAM upset sampler uses
(faults.sram_faults): one GEMM instance's folds run back to back in fold-table order, fold j over [s_j, e_j).

* A and B: the resident copies faults.sram_faults.sram_copies finds (the sampler's own residency): a copy of
  an operand block lives from the start of the fold that loads it to the end of its last reader; its live
  bits are the block's operand bits.
* C: an output block (the outputs, or WS / IS partial sums, of one fold's [m, n) ranges) lives from the start
  of the first fold that writes it to the end of the last one (the K chunks or K folds that add into it), in
  accumulator words (acc bits each: partial sums are kept at accumulator width). At fold granularity this
  counts a fold's compute time, when OS outputs still sit in the PEs' accumulators (an over-estimate), and
  not the write-back after the last fold (an under-estimate of at most the drain of one block).

One inference takes `cycles` = the sum over GEMMs of count x the instance's span (folds back to back, the
last one drained): the time base of the live bit-cycles. A scratchpad's live fraction is its live bit-cycles
over (its capacity in bits x cycles): the share of its bit-cycles that hold data a later read uses. Time
outside that (gaps, stalls the engine adds, words never filled) holds nothing a read returns, so an upset
there cannot corrupt a result: the residency part of the SRAM's AVF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype
from simulator.faults.sram_faults import fold_ranges, fold_times, sram_copies
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.mapping.schedule import GemmSchedule

SCRATCHPADS = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Residency:
    """Live bit-cycles of one inference per scratchpad ('a', 'b', 'c'), and the inference's cycles."""

    live_bit_cycles: dict[str, int]
    cycles: int

    def live_fraction(self, scratchpad: str, capacity_bits: int) -> float:
        """Live bit-cycles over capacity x cycles, at most 1 (a schedule that overfills a scratchpad)."""
        if self.cycles <= 0 or capacity_bits <= 0:
            return 0.0
        return min(1.0, self.live_bit_cycles[scratchpad] / (capacity_bits * self.cycles))


def output_blocks(schedule: GemmSchedule, folds: FoldTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output block written by one instance's folds: (elements, first writer's start, last writer's end)."""
    start, end = fold_times(schedule, folds)
    ranges = fold_ranges(schedule, folds)
    keys = np.stack([ranges["m"][0], ranges["m"][1], ranges["n"][0], ranges["n"][1]], axis=1)
    blocks, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.reshape(-1)
    first = np.full(blocks.shape[0], np.iinfo(np.int64).max, np.int64)
    last = np.zeros(blocks.shape[0], np.int64)
    np.minimum.at(first, group, start)
    np.maximum.at(last, group, end)
    elements = (blocks[:, 1] - blocks[:, 0]) * (blocks[:, 3] - blocks[:, 2])
    return elements.astype(np.int64), first, last


def instance_residency(schedule: GemmSchedule, datatype: Datatype) -> tuple[dict[str, int], int]:
    """(live bit-cycles per scratchpad, span in cycles) of one instance of a scheduled GEMM."""
    g = schedule.gemm
    folds = fold_table(schedule.dataflow, g.m, g.k, g.n, schedule.rows, schedule.cols, schedule.order)
    live = {}
    for op in ("a", "b"):
        c = sram_copies(schedule, folds, op)
        live[op] = int(np.sum(c.elements * datatype.operand_bits * (c.end - c.start)))
    elements, first, last = output_blocks(schedule, folds)
    live["c"] = int(np.sum(elements * datatype.acc_bits * (last - first)))
    _, end = fold_times(schedule, folds)
    return live, int(end.max())


def scratchpad_residency(schedules: Sequence[GemmSchedule], datatype: Datatype) -> Residency:
    """Live bit-cycles of the A, B and C scratchpads over one inference (every instance of every GEMM)."""
    live = dict.fromkeys(SCRATCHPADS, 0)
    cycles = 0
    for s in schedules:
        one, span = instance_residency(s, datatype)
        for pad in SCRATCHPADS:
            live[pad] += s.gemm.count * one[pad]
        cycles += s.gemm.count * span
    return Residency(live, cycles)
