"""How long the A, B and C scratchpads and the accumulator drain registers hold live data under a schedule:
live bit-cycles per scratchpad, exposed drain bit-cycles.

A pure function of the schedules (no fault, no draw), with the residency the upset samplers draw over (one
definition, reused): one GEMM instance's folds run back to back in fold-table order, fold j over [s_j, e_j)
(faults.sram_faults.fold_times).

* A and B: the resident copies faults.sram_faults.sram_copies finds (the sram_a / sram_b sampler's): a copy of
  an operand block lives from the start of the fold that loads it to the end of its last reader; its live
  bits are the block's operand bits.
* C: the copies faults.output_faults.c_words finds (the sram_c sampler's): a word lives from its fold's write
  after the check to its read by the next K chunk (a partial sum; around a DRAM spill when the schedule
  spills) or to the end of its write-back (an output), in accumulator words (acc bits each). The write-back of
  an instance's last block runs past its span (counted: the DMA still holds it).
* Drain registers: faults.output_faults.drain_geometry's exposure (the drain sampler's): per fold, outputs x
  accumulator bits x drain cycles (DataflowGeometry.drain_cycles). Their register bits are accumulator words
  for the largest number of outputs the sampler holds in the drain path at once (a whole fold's outputs over
  its drain window: on OS a full fold is rows x cols words, the accumulator columns shifting out; on WS / IS
  the sampler charges each output one edge-register cycle, so this count is the fold's outputs, more words
  than the edge registers: the exposed bit-cycles, and so the derated FIT, do not depend on it).

One inference takes `cycles` = the sum over GEMMs of count x the instance's span (folds back to back, the
last one drained): the time base of the live bit-cycles. A scratchpad's live fraction is its live bit-cycles
over (its capacity in bits x cycles): the share of its bit-cycles that hold data a later read uses. Time
outside that (gaps, stalls the engine adds, words never filled) holds nothing a read returns, so an upset
there cannot corrupt a result: the residency part of the SRAM's AVF. The drain registers' live fraction is
their exposed bit-cycles over (register bits x cycles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.output_faults import c_words, drain_geometry
from simulator.faults.sram_faults import fold_times, sram_copies, stored_bits
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.mapping.schedule import GemmSchedule

SCRATCHPADS = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Residency:
    """Live bit-cycles of one inference per scratchpad ('a', 'b', 'c'), the inference's cycles, and the drain
    registers' exposed bit-cycles and register bits (module doc)."""

    live_bit_cycles: dict[str, int]
    cycles: int
    drain_bit_cycles: int = 0
    drain_register_bits: int = 0

    def live_fraction(self, scratchpad: str, capacity_bits: int) -> float:
        """Live bit-cycles over capacity x cycles, at most 1 (a schedule that overfills a scratchpad)."""
        return _fraction(self.live_bit_cycles[scratchpad], capacity_bits, self.cycles)

    @property
    def drain_live_fraction(self) -> float:
        """The drain registers' exposed bit-cycles over their bits x cycles, at most 1."""
        return _fraction(self.drain_bit_cycles, self.drain_register_bits, self.cycles)


def _fraction(bit_cycles: int, bits: int, cycles: int) -> float:
    if cycles <= 0 or bits <= 0:
        return 0.0
    return min(1.0, bit_cycles / (bits * cycles))


def instance_residency(schedule: GemmSchedule, datatype: Datatype, dram_bytes_per_cycle: float) -> Residency:
    """One instance of a scheduled GEMM: live bit-cycles per scratchpad, its span in cycles, the drain's exposed
    bit-cycles and register bits (module doc)."""
    g = schedule.gemm
    folds = fold_table(schedule.dataflow, g.m, g.k, g.n, schedule.rows, schedule.cols, schedule.order)
    live = {op: _element_cycles(schedule, folds, op) * datatype.operand_bits for op in ("a", "b")}
    words = c_words(schedule, folds, dram_bytes_per_cycle).copies
    live["c"] = int(np.sum(stored_bits(words, datatype, None, datatype.acc_bits) * (words.end - words.start)))
    drain = drain_geometry(schedule, folds, datatype)
    in_flight = int(np.max((drain.m_hi - drain.m_lo) * (drain.n_hi - drain.n_lo)))
    _, end = fold_times(schedule, folds)
    return Residency(live, int(end.max()), int(drain.exposure.sum()), in_flight * datatype.acc_bits)


def _element_cycles(schedule: GemmSchedule, folds: FoldTable, operand: str) -> int:
    """Operand elements x cycles the resident copies of one instance's A or B hold (sram_copies: from the
    loading fold's start to the end of the copy's last reader)."""
    c = sram_copies(schedule, folds, operand)
    return int(np.sum(c.elements * (c.end - c.start)))


def scratchpad_residency(
    schedules: Sequence[GemmSchedule], datatype: Datatype, dram_bytes_per_cycle: float
) -> Residency:
    """Live bit-cycles of the A, B and C scratchpads and the drain registers' exposure over one inference (every
    instance of every GEMM); the drain's register bits are the most any GEMM holds at once."""
    live = dict.fromkeys(SCRATCHPADS, 0)
    cycles = drain = bits = 0
    for s in schedules:
        one = instance_residency(s, datatype, dram_bytes_per_cycle)
        for pad in SCRATCHPADS:
            live[pad] += s.gemm.count * one.live_bit_cycles[pad]
        cycles += s.gemm.count * one.cycles
        drain += s.gemm.count * one.drain_bit_cycles
        bits = max(bits, one.drain_register_bits)
    return Residency(live, cycles, drain, bits)


def sram_upset_reach(spec: FaultSpec, datatype: Datatype, schedules: Sequence[GemmSchedule]) -> tuple[float, float]:
    """(expected A / B scratchpad upsets, expected upsets x the outputs each reaches at most) of one run of the
    spec's sram_a / sram_b sites over the GEMMs it selects: BER x the live bit-cycles of the copies the samplers
    draw over (sram_copies, every instance, the site's exposed bits per element), an A upset reaching N outputs
    (row i of C), a B upset M (column n). What admission sizes a run's SRAM-upset ledger rows by."""
    upsets = reach = 0.0
    sites = [(site, op) for site, op in ((Site.SRAM_A, "a"), (Site.SRAM_B, "b")) if site in spec.sites]
    if spec.kind is not FaultKind.TRANSIENT or not sites:
        return upsets, reach
    for s in schedules:
        g = s.gemm
        if not spec.selects(g):
            continue
        folds = fold_table(s.dataflow, g.m, g.k, g.n, s.rows, s.cols, s.order)
        for site, op in sites:
            n = spec.ber * float(_element_cycles(s, folds, op) * g.count) * spec.site_bits(site, datatype)[1]
            upsets, reach = upsets + n, reach + n * (g.n if op == "a" else g.m)
    return upsets, reach
