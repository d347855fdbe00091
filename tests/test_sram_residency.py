"""Scratchpad and drain-register residency under a schedule (faults.sram_residency), the residency-derated SRAM
FIT (reliability.sram) and the drain registers' FMEDA line (reliability.drain): hand-worked live bit-cycles of
small schedules."""

from __future__ import annotations

import dataclasses

import pytest

from simulator import api
from simulator.config.enums import Datatype
from simulator.faults.sram_faults import fold_times
from simulator.faults.sram_residency import Residency, scratchpad_residency
from simulator.mapping.fold_table import fold_table
from simulator.mapping.schedule import schedule_gemm
from simulator.reliability.drain import drain_fit
from simulator.reliability.environments import environment
from simulator.reliability.rates import fit_from_exposure
from simulator.reliability.sram import sram_fits
from simulator.workload.gemm import Gemm

HW = ["array.rows=8", "array.cols=8"]


def test_two_fold_os_residency_by_hand() -> None:
    """OS on 8 x 8, M = 8, K = 24, N = 16: fold 0 runs [0, 38), fold 1 [24, 62) (38 = 8 + 8 + 24 - 2 cycles,
    issued 24 apart). A[0:8, 0:24] is loaded once and read by both: 8 x 24 x 8 bits over 62 cycles. Each fold
    loads its own B block (24 x 8 int8) over its 38 cycles. Each fold writes its 8 x 8 block of outputs into C
    after its check, at its end, and the write-back streams its 64 int8 bytes out at 25.6 bytes per cycle:
    ceil(2.5) = 3 cycles of 64 int32 words. Each output passes 8 cycles in the drain (a column of 8 accumulators
    shifting out): 64 x 32 x 8 bit-cycles per fold, in 64 x 32 register bits. Two instances double everything;
    one inference is 2 x 62 cycles."""
    hw = api.resolve_hw("edge_32x32", HW)
    assert hw.dram_bytes_per_cycle == 25.6
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 24, 16, count=2), hw)
    r = scratchpad_residency([s], Datatype.INT8, hw.dram_bytes_per_cycle)
    a = 8 * 24 * 8 * 62
    b = 2 * (24 * 8 * 8 * 38)
    c = 2 * (8 * 8 * 32 * 3)
    drain = 2 * (8 * 8 * 32 * 8)
    assert r == Residency({"a": 2 * a, "b": 2 * b, "c": 2 * c}, 2 * 62, 2 * drain, 8 * 8 * 32)
    # a scratchpad of twice A's block is half live: 2 x 95232 / (3072 bits x 124 cycles)
    assert r.live_fraction("a", 2 * 8 * 24 * 8) == pytest.approx(0.5)
    assert r.live_fraction("a", 8) == 1.0  # capped: a schedule cannot hold more than the scratchpad
    assert Residency({"a": 0, "b": 0, "c": 0}, 0).live_fraction("a", 8) == 0.0
    # the drain registers carry an output 4 x 8 of the 124 cycles: 65536 / (2048 x 124)
    assert r.drain_live_fraction == pytest.approx(4 * 8 / 124)


def test_c_partial_sums_live_from_their_write_to_the_next_k_folds_read() -> None:
    """WS on 8 x 8, M = 8, K = 16, N = 8: two folds along K add into the same 8 x 8 block of C. Fold 0's partial
    sums live from its end to fold 1's end (fold 1 reads and rewrites them as it drains), the outputs then for
    their 3-cycle write-back: 64 x 32 x ((e1 - e0) + 3) bit-cycles. A WS output passes one edge register: 64 x 32
    bit-cycles of drain per fold."""
    hw = api.resolve_hw("edge_32x32", [*HW, "array.dataflow=ws"])
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 16, 8), hw)
    folds = fold_table(s.dataflow, 8, 16, 8, 8, 8, s.order)
    start, end = fold_times(s, folds)
    assert len(folds) == 2 and start[0] == 0 and 0 < end[0] < end[1]
    r = scratchpad_residency([s], Datatype.INT8, hw.dram_bytes_per_cycle)
    assert r.live_bit_cycles["c"] == 64 * 32 * (int(end[1] - end[0]) + 3) and r.cycles == int(end[1])
    assert (r.drain_bit_cycles, r.drain_register_bits) == (2 * 64 * 32, 64 * 32)


def test_drain_fit_by_hand() -> None:
    """The two-fold OS schedule at sea level (1,000 FIT/Mbit for flip-flops): 2,048 drain register bits are
    2.048e-3 Mbit, 2.048 FIT undated; they carry data 16 of every 62 cycles (one 8-cycle drain per fold, two
    folds per 62-cycle instance), so 2.048 x 16 / 62 FIT derated, which is the exposure formula's
    10^9 h x 1e-12 per bit-hour x 65536 bit-cycles / 124 cycles. AVF 1: all of it is silent corruption."""
    hw = api.resolve_hw("edge_32x32", HW)
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 24, 16, count=2), hw)
    x = drain_fit(environment("sea_level"), scratchpad_residency([s], Datatype.INT8, hw.dram_bytes_per_cycle))
    assert (x.register_bits, x.exposed_bit_cycles, x.cycles) == (2048, 65536, 124)
    assert x.raw_fit == pytest.approx(2.048) and x.sdc == x.raw_fit and x.avf_sdc == 1.0
    assert x.sdc_derated == pytest.approx(2.048 * 16 / 62)
    assert x.sdc_derated == pytest.approx(fit_from_exposure(1000.0, 65536, 124))


def test_derated_fit_is_the_undated_fit_times_the_live_fraction() -> None:
    hw = api.resolve_hw("edge_32x32", HW)
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 24, 16), hw)
    residency = scratchpad_residency([s], hw.array.datatype, hw.dram_bytes_per_cycle)
    env = environment("sea_level")
    undated = {x.name: x for x in sram_fits(hw, env, 0.1, 4)}
    derated = {x.name: x for x in sram_fits(hw, env, 0.1, 4, residency)}
    for name in ("a", "b", "c"):
        x, y = undated[name], derated[name]
        assert x.live_fraction == 1.0 and x.no_ecc_derated == x.no_ecc
        capacity = 8 * getattr(hw.memory.sram, name).size_bytes
        live = residency.live_bit_cycles[name] / (capacity * residency.cycles)
        assert y.live_fraction == pytest.approx(live) and 0 < live < 1
        assert dataclasses.replace(y, live_fraction=1.0) == x  # the undated figures are unchanged
        for fate, fit in x.secded.items():
            assert y.secded_derated[fate] == pytest.approx(fit * live)
        assert y.no_ecc_derated["sdc"] == pytest.approx(x.raw_fit * live)
