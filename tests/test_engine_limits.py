"""Engine limiting cases with closed-form answers (issue 3, "Must show")."""

from __future__ import annotations

import pytest

from simulator.abft.policies import PolicyBase
from simulator.abft.protocol import Action, CheckWork, Decision
from simulator.config.loader import load_hw, load_workload
from simulator.engine import RecordKind, layer_cycles, simulate
from simulator.engine.testing import ScriptedPolicy, forced
from simulator.mapping.region import Region, Scope, channel_bandwidth
from simulator.mapping.schedule import schedule_gemm
from simulator.workload.gemm import Gemm

ACCEPT = Decision(Action.ACCEPT)
TILE = Decision(Action.RECOMPUTE, Region(Scope.TILE))


def small_hw(*overrides: str):
    """edge_32x32 shrunk to a 4x4 array with a 4 B/cycle, 10-cycle-latency DRAM channel."""
    base = [
        "array.rows=4",
        "array.cols=4",
        "memory.dram.bandwidth_gb_per_s=null",
        "memory.dram.bandwidth_bytes_per_cycle=4",
        "memory.dram.latency_cycles=10",
        "mapping.policy=fixed",  # the hand-worked timings follow the fixed fold order
    ]
    return load_hw("edge_32x32", [*base, *overrides])


GEMMS = [Gemm("a", "qkv", 13, 20, 9), Gemm("b", "qk", 7, 5, 7, count=3), Gemm("c", "fc2", 30, 41, 17, count=2)]


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("coalesce", [True, False])
def test_ideal_memory_gives_the_foundation_compute_cycles(dataflow, overlap, coalesce):
    hw = small_hw(f"array.dataflow={dataflow}", f"array.fold_overlap={str(overlap).lower()}", "memory.ideal=true")
    schedules = [schedule_gemm(g, hw) for g in GEMMS]
    r = simulate(hw, schedules, PolicyBase(), coalesce=coalesce)
    for layer, s in zip(r.layers, schedules, strict=True):
        assert layer.total_cycles == layer.compute_cycles == s.compute_cycles
        assert (layer.memory_stall_cycles, layer.checksum_stall_cycles, layer.recompute_cycles) == (0, 0, 0)
    assert r.total_cycles == sum(s.compute_cycles for s in schedules)


def test_ideal_memory_vit_b16_matches_compute_cycles_and_still_counts_traffic():
    hw = load_hw("edge_32x32", ["memory.ideal=true"])
    schedules = [schedule_gemm(g, hw) for g in load_workload("vit_base_16").gemms]
    r = simulate(hw, schedules, PolicyBase())
    assert r.total_cycles == sum(s.compute_cycles for s in schedules) == 19_586_380
    assert r.actions.dram_read_bytes == sum(s.totals().dram_load_bytes for s in schedules) > 0
    assert r.actions.macs == sum(s.gemm.macs for s in schedules)


def test_bandwidth_starved_total_is_dram_bytes_over_bandwidth_plus_latency():
    # 0.25 B/cycle: every transfer dwarfs compute, so the channel is the critical path. Latency
    # pipelines: loads are requested ahead into free buffers and write-backs queue behind them,
    # so the channel is busy from cycle 0 to the end and at most one latency shows.
    hw = load_hw(
        "edge_32x32",
        [
            "array.rows=8",
            "array.cols=8",
            "memory.dram.bandwidth_gb_per_s=null",
            "memory.dram.bandwidth_bytes_per_cycle=0.25",
            "memory.dram.latency_cycles=100",
        ],
    )
    schedules = [schedule_gemm(Gemm("g", "fc1", 64, 64, 64), hw), schedule_gemm(Gemm("h", "fc2", 40, 72, 24), hw)]
    r = simulate(hw, schedules, PolicyBase())
    dram = r.actions.dram_read_bytes + r.actions.dram_write_bytes
    expected = dram / 0.25 + 100
    assert abs(r.total_cycles - expected) / expected < 0.01
    assert dram / 0.25 <= r.total_cycles <= expected  # here: exactly dram / 0.25 = 71424 cycles


def test_single_vs_double_buffering_by_hand():
    # OS 4x4, no fold overlap, GEMM 4x8 @ 8x16: 4 folds of F = 4 + 4 + 8 - 2 = 14 cycles. Each
    # B buffer holds 32 B, one 8x4 B block, so B (128 B) is not resident. Fold 0 loads A (4x8 =
    # 32 B) and B (8x4 = 32 B): 16 channel cycles; folds 1-3 load their B block (32 B, tau = 8
    # cycles); latency L = 10; every fold writes back 4x4 = 16 B (4 cycles).
    # Fold 0: load [0, 16) -> ready 26, runs 26..40 in both cases.
    # Single buffer: fold k+1's B load waits for fold k's window to end, so each later fold
    # adds F + tau + L = 32 cycles: folds start 26, 58, 90, 122; the last ends 136 and its
    # write-back crosses the channel in [136, 140): total 140.
    # Double buffer: fold k's load may start when fold k-2's window ends: key_k = s_{k-2} + 14,
    # ready_k = key_k + 18 = s_{k-2} + 32, so s_k = max(s_{k-1} + 14, s_{k-2} + 32):
    # s = 26, 40 (load 1 went right after load 0: ready 34), 58 (= 26 + 32), 72 (= 40 + 32);
    # fold 3 ends 86 and its write-back ends 90: total 90 -- the pair of buffers hides the
    # latency of every other fold (period 16 = 32 / 2 instead of 32).
    gemm = Gemm("g", "fc1", 4, 8, 16)
    totals = {}
    for buffers in (1, 2):
        hw = small_hw(
            "array.fold_overlap=false",
            f"memory.sram.b.buffers={buffers}",
            f"memory.sram.b.size_kib={0.03125 * buffers}",
        )
        s = schedule_gemm(gemm, hw)
        assert not s.b_resident
        totals[buffers] = simulate(hw, [s], PolicyBase()).total_cycles
    assert totals == {1: 140, 2: 90}


@pytest.mark.parametrize(
    ("overlap", "fold", "added"),
    [
        (False, 3, 22),  # no overlap: one more F = 4 + 4 + 16 - 2 = 22-cycle pass in the sequence
        (False, 7, 22),  # ... wherever the fold is
        (True, 3, 16),  # overlap: the pass takes one issue slot, I = K = 16 cycles
        (True, 7, 22),  # last fold: nothing left to overlap with, the pass adds its whole F
    ],
)
def test_one_forced_tile_recompute_adds_one_tiles_cycles(overlap, fold, added):
    # compute bound (ideal memory), OS 4x4, GEMM 4x16 @ 16x32: 8 folds of F = 22, I = 16 (overlap).
    hw = small_hw("memory.ideal=true", f"array.fold_overlap={str(overlap).lower()}")
    s = schedule_gemm(Gemm("g", "fc1", 4, 16, 32), hw)
    base = simulate(hw, [s], PolicyBase()).total_cycles
    policy, verifier = forced({(0, 0, fold): [TILE, ACCEPT]})
    r = simulate(hw, [s], policy, verifier)
    assert r.total_cycles - base == added == r.layers[0].recompute_cycles
    assert r.recompute.passes == 1 and r.actions.recomputed_macs == 4 * 4 * 16
    assert [c[3] for c in verifier.calls] == [0, 1]


def test_side_unit_with_too_few_lanes_stalls_the_array_by_the_computed_amount():
    # OS 4x4, no overlap, ideal memory, GEMM 4x4 @ 4x16: 4 folds of F = 4 + 4 + 4 - 2 = 10.
    # Each fold's check is 100 adds on 4 lanes: c = 25 cycles, after the fold drains, in order.
    # Two output buffers: fold k may not drain before the check of fold k-2 is done.
    #   fold 0: 0..10,  check 10..35
    #   fold 1: 10..20, check 35..60
    #   fold 2: may drain at 35 -> starts 25 (stall 5),  ends 35, check 60..85
    #   fold 3: may drain at 60 -> starts 50 (stall 15), ends 60, check 85..110
    # total 110 = F + 4c; array stalls 5 + 15, then waits 110 - 60 = 50 for the last verdict.
    hw = small_hw(
        "array.fold_overlap=false",
        "memory.ideal=true",
        "checksum_unit.placement=side_unit",
        "checksum_unit.adds_per_cycle=4",
    )
    s = schedule_gemm(Gemm("g", "fc1", 4, 4, 16), hw)
    r = simulate(hw, [s], ScriptedPolicy(work=CheckWork(checksum_adds=100)))
    layer = r.layers[0]
    assert r.total_cycles == 110 == s.fold_cycles + 4 * 25
    assert (layer.compute_cycles, layer.checksum_stall_cycles, layer.memory_stall_cycles) == (40, 70, 0)
    assert r.actions.checksum_adds == 400
    # with enough lanes (c = 1) the unit keeps up: only the last check shows, 4 * 10 + 1
    hw = small_hw(
        "array.fold_overlap=false",
        "memory.ideal=true",
        "checksum_unit.placement=side_unit",
        "checksum_unit.adds_per_cycle=100",
    )
    assert simulate(hw, [s], ScriptedPolicy(work=CheckWork(checksum_adds=100))).total_cycles == 41


def test_checksum_pe_adds_its_cycles_to_every_checked_fold_and_only_to_checked_ones():
    # 4 folds of F = 10 (no overlap, ideal memory); checksum_pe adds 2 cycles per checked fold
    hw = small_hw(
        "array.fold_overlap=false",
        "memory.ideal=true",
        "checksum_unit.placement=checksum_pe",
        "checksum_unit.extra_cycles_per_fold=2",
    )
    s = schedule_gemm(Gemm("g", "fc1", 4, 4, 16), hw)
    checked = simulate(hw, [s], ScriptedPolicy(work=CheckWork(compares=8)))
    assert checked.total_cycles == 4 * 12 == checked.layers[0].compute_cycles
    assert simulate(hw, [s], ScriptedPolicy()).total_cycles == 40
    # extra array cycles a policy declares (e.g. DMR's duplicate pass) count on any placement
    dmr = simulate(hw, [s], ScriptedPolicy(work=CheckWork(extra_array_cycles=10, extra_array_macs=64)))
    assert dmr.total_cycles == 80 and dmr.actions.macs == 2 * s.gemm.macs


def test_fractional_bandwidth_is_not_rounded_per_transfer():
    # 25.6 GB/s at 1 GHz is exactly 128/5 B/cycle: 5 back-to-back transfers of 1000 B end at 195.3125
    # cycles each (39.0625 per 1000 B); only the cycle the data is used is rounded, so the channel time does not drift.
    assert channel_bandwidth(25.6) == channel_bandwidth(25.6e9 / 1e9)
    assert channel_bandwidth(25.6).numerator == 128 and channel_bandwidth(25.6).denominator == 5
    from simulator.engine.channel import DramChannel

    ch = DramChannel(25.6, latency_cycles=0)
    readies = [ch.load(0, 1000) for _ in range(5)]
    assert readies == [40, 79, 118, 157, 196]  # ceil(k * 39.0625)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_action_counts_are_the_schedules_traffic_and_macs(dataflow):
    # every fold's bytes come from mapping.schedule.fold_transfers; their sum must equal the
    # schedule's closed-form totals (DRAM loads are SRAM writes; C writes include reloaded psums)
    hw = small_hw(f"array.dataflow={dataflow}", "memory.sram.c.size_kib=0.25")  # WS/IS psums spill
    schedules = [schedule_gemm(g, hw) for g in GEMMS]
    r = simulate(hw, schedules, ScriptedPolicy(work=CheckWork(checksum_adds=3, compares=2, extra_array_macs=5)))
    for layer, s in zip(r.layers, schedules, strict=True):
        t, a = s.totals(), layer.actions
        assert (a.dram_read_bytes, a.dram_write_bytes) == (t.dram_load_bytes, t.dram_store_bytes)
        assert (a.sram_a_read_bytes, a.sram_a_write_bytes) == (t.a_sram_read_bytes, t.a_dram_load_bytes)
        assert (a.sram_b_read_bytes, a.sram_b_write_bytes) == (t.b_sram_read_bytes, t.b_dram_load_bytes)
        assert (a.sram_c_read_bytes, a.sram_c_write_bytes) == (t.c_sram_read_bytes, t.c_sram_write_bytes)
        assert a.macs == s.gemm.macs + 5 * s.folds and a.recomputed_macs == 0
        assert (a.checksum_adds, a.compares, a.cycles) == (3 * s.folds, 2 * s.folds, layer.total_cycles)
    assert r.actions.cycles == r.total_cycles


@pytest.mark.parametrize("coalesce", [True, False])
def test_write_back_of_a_big_layer_is_not_the_next_small_layers_memory_stall(coalesce):
    # Issue 16: a 1x1x1 GEMM after a bigger one showed the big one's write-back as its own stall.
    # 4x4 OS array, 2 B/cycle, latency 10. big = 8 x 4 x 12: 2 x 3 = 6 folds of 4 + 4 + 4 - 2 = 10
    # cycles, issued every 4 once loaded, each writing a 4x4 int8 block back (16 B = 8 cycles).
    # Its folds end at 36, 44, 54, 62, 66, 70 (the layer ends at 70); each store is requested then
    # and queued behind loads requested earlier: stores 0-2 cross 42..66.
    # one = 1 x 1 x 1: its 2-byte load is requested at 56 (when big's fold 4 issued: two buffers
    # of lookahead), behind 10 cycles of big's write-back (56..58 of store 1, 58..66 of store 2);
    # it crosses 66..67 and is ready at 67 + 10 = 77: one's array waits 70..77. Without those 10
    # cycles it would have been ready at 57 + 10 = 67 < 70: all 7 cycles are write-back stall.
    # Big's stores 3-5 (requested 62, 66, 70, after the load) cross 67..91. One's fold runs
    # 77..84, its 1-byte store crosses 91..91.5, and the run ends when the channel is idle, at
    # ceil(91.5) = 92. Of the final drain 84..92, big's store 5 fills 84..91: without it the drain
    # would end at ceil(91.5 - 7) = 85, so 7 more write-back cycles and 1 memory-stall cycle
    # (one's own write-back). Before this change all 15 stall cycles were one's memory stall.
    hw = small_hw("memory.dram.bandwidth_bytes_per_cycle=2")
    schedules = [schedule_gemm(g, hw) for g in (Gemm("big", "fc1", 8, 4, 12), Gemm("one", "fc2", 1, 1, 1))]
    r = simulate(hw, schedules, PolicyBase(), trace=True, coalesce=coalesce)
    big, one = r.layers
    assert (big.cycles.start_cycle, big.cycles.end_cycle) == (0, 70)
    assert (one.cycles.start_cycle, one.cycles.end_cycle) == (70, 92)
    assert (one.compute_cycles, one.memory_stall_cycles, one.writeback_stall_cycles) == (7, 1, 7 + 7)
    assert one.recompute_cycles == one.checksum_stall_cycles == 0
    assert big.writeback_stall_cycles == 0  # nothing was written before it
    # the attribution moved, the totals did not: 22 cycles of `one`, 92 in all
    assert one.total_cycles == 7 + 1 + 14 and r.total_cycles == 92
    stores = [(x.start_cycle, x.end_cycle) for x in r.records if x.kind is RecordKind.STORE and x.layer == 0]
    assert stores == [(42, 50), (50, 58), (58, 66), (67, 75), (75, 83), (83, 91)]
    spans = [(x.start_cycle, x.end_cycle) for x in r.records if x.kind is RecordKind.WRITEBACK_STALL]
    assert spans == [(70, 77), (85, 92)]
    assert layer_cycles(r.records, [s.compute_cycles for s in schedules]) == [b.cycles for b in r.layers]
