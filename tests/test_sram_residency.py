"""Scratchpad residency under a schedule (faults.sram_residency) and the residency-derated SRAM FIT
(reliability.sram): hand-worked live bit-cycles of small schedules."""

from __future__ import annotations

import dataclasses

import pytest

from simulator import api
from simulator.config.enums import Datatype
from simulator.faults.sram_faults import fold_times
from simulator.faults.sram_residency import Residency, output_blocks, scratchpad_residency
from simulator.mapping.fold_table import fold_table
from simulator.mapping.schedule import schedule_gemm
from simulator.reliability.environments import environment
from simulator.reliability.sram import sram_fits
from simulator.workload.gemm import Gemm

HW = ["array.rows=8", "array.cols=8"]


def test_two_fold_os_residency_by_hand() -> None:
    """OS on 8 x 8, M = 8, K = 24, N = 16: fold 0 runs [0, 38), fold 1 [24, 62) (38 = 8 + 8 + 24 - 2 cycles,
    issued 24 apart). A[0:8, 0:24] is loaded once and read by both: 8 x 24 x 8 bits over 62 cycles. Each fold
    loads its own B block (24 x 8 int8) and writes its own 8 x 8 block of C (int32 accumulators), each over
    that fold's 38 cycles. Two instances double everything; one inference is 2 x 62 cycles."""
    hw = api.resolve_hw("edge_32x32", HW)
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 24, 16, count=2), hw)
    r = scratchpad_residency([s], Datatype.INT8)
    a = 8 * 24 * 8 * 62
    b = 2 * (24 * 8 * 8 * 38)
    c = 2 * (8 * 8 * 32 * 38)
    assert r == Residency({"a": 2 * a, "b": 2 * b, "c": 2 * c}, 2 * 62)
    # a scratchpad of twice A's block is half live: 2 x 95232 / (3072 bits x 124 cycles)
    assert r.live_fraction("a", 2 * 8 * 24 * 8) == pytest.approx(0.5)
    assert r.live_fraction("a", 8) == 1.0  # capped: a schedule cannot hold more than the scratchpad
    assert Residency({"a": 0, "b": 0, "c": 0}, 0).live_fraction("a", 8) == 0.0


def test_c_partial_sums_live_from_the_first_to_the_last_k_fold() -> None:
    """WS on 8 x 8, M = 8, K = 16, N = 8: two folds along K add into the same M x 8 partial-sum block of C,
    which lives from fold 0's start to fold 1's end (one block, not two)."""
    hw = api.resolve_hw("edge_32x32", [*HW, "array.dataflow=ws"])
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 16, 8), hw)
    folds = fold_table(s.dataflow, 8, 16, 8, 8, 8, s.order)
    start, end = fold_times(s, folds)
    assert len(folds) == 2 and start[0] == 0
    elements, first, last = output_blocks(s, folds)
    assert elements.tolist() == [64] and first.tolist() == [0] and last.tolist() == [int(end[1])]
    r = scratchpad_residency([s], Datatype.INT8)
    assert r.live_bit_cycles["c"] == 64 * 32 * int(end[1]) and r.cycles == int(end[1])


def test_derated_fit_is_the_undated_fit_times_the_live_fraction() -> None:
    hw = api.resolve_hw("edge_32x32", HW)
    s = schedule_gemm(Gemm("fc1", "fc1", 8, 24, 16), hw)
    residency = scratchpad_residency([s], hw.array.datatype)
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
