"""Exact event traces of tiny schedules, their reduction to layer cycles, and the Chrome trace."""

from __future__ import annotations

import itertools
import json

import pytest

from simulator.abft.policies import PolicyBase
from simulator.abft.protocol import Action, CheckWork, Decision
from simulator.config.loader import load_hw
from simulator.engine import RecordKind, Track, chrome_trace, layer_cycles, simulate
from simulator.engine.testing import forced
from simulator.mapping.region import Region, Scope
from simulator.mapping.schedule import schedule_gemm
from simulator.workload.gemm import Gemm

K = RecordKind


def small_hw(*overrides: str):
    """edge_32x32 shrunk to a 4x4 OS array, no fold overlap, DRAM 4 B/cycle with 10 cycles latency."""
    base = [
        "array.rows=4",
        "array.cols=4",
        "array.fold_overlap=false",
        "memory.dram.bandwidth_gb_per_s=null",
        "memory.dram.bandwidth_bytes_per_cycle=4",
        "memory.dram.latency_cycles=10",
        "mapping.policy=fixed",  # the hand-worked timings follow the fixed fold order
    ]
    return load_hw("edge_32x32", [*base, *overrides])


def spans(result, *kinds):
    return sorted((r.kind, r.fold, r.attempt, r.start_cycle, r.end_cycle) for r in result.records if r.kind in kinds)


TWO_TILES = Gemm("g", "fc1", 4, 8, 8)  # OS 4x4: folds (row block 0, col blocks 0 and 1), F = 4 + 4 + 8 - 2 = 14


@pytest.mark.parametrize("coalesce", [True, False])
def test_two_tile_trace_double_buffered(coalesce):
    # fold 0 loads A (4x8 int8 = 32 B) and B (8x4 = 32 B): the channel is busy [0, 16), data usable
    # at 16 + 10 = 26; fold 1 reuses A and loads its B block (32 B) right behind: [16, 24), usable
    # at 34. Fold 0 runs 26..40 (the array waited 26 cycles for memory), fold 1 at 40..54 (its
    # data was already there). Each fold's 4x4 int8 outputs (16 B) are written back once final
    # (at its drain, no checks): [40, 44) and [54, 58). The layer ends when the last write-back
    # has crossed the channel: 58 = 2 x 14 compute + 26 + 4 memory stall.
    hw = small_hw()
    r = simulate(hw, [schedule_gemm(TWO_TILES, hw)], PolicyBase(), trace=True, coalesce=coalesce)
    assert spans(r, K.LOAD, K.STORE, K.FOLD) == sorted(
        [
            (K.LOAD, 0, 0, 0, 16),
            (K.LOAD, 1, 0, 16, 24),
            (K.FOLD, 0, 0, 26, 40),
            (K.FOLD, 1, 0, 40, 54),
            (K.STORE, 0, 0, 40, 44),
            (K.STORE, 1, 0, 54, 58),
        ]
    )
    assert spans(r, K.MEMORY_STALL, K.CHECKSUM_STALL, K.LAYER) == sorted(
        [
            (K.MEMORY_STALL, -1, -1, 0, 26),
            (K.MEMORY_STALL, -1, -1, 54, 58),
            (K.LAYER, -1, -1, 0, 58),
        ]
    )
    cycles = r.layers[0].cycles
    assert (cycles.total_cycles, cycles.compute_cycles, cycles.memory_stall_cycles) == (58, 28, 30)


def test_two_tile_trace_single_buffered():
    # one 32 B buffer for B, which holds one 8x4 B block (so B, 64 B, is not resident): fold 1's
    # load may only start when fold 0 has streamed its B block out of it (its window ends at 40):
    # load [40, 48), usable 58, fold 1 runs 58..72, write-back 72..76; fold 0's write-back
    # (requested at 40, after the load requested in the same cycle) crosses the channel at [48, 52).
    # (With B resident, its blocks would accumulate in the one buffer and nothing would wait.)
    hw = small_hw("memory.sram.b.buffers=1", "memory.sram.b.size_kib=0.03125")
    assert not schedule_gemm(TWO_TILES, hw).b_resident
    r = simulate(hw, [schedule_gemm(TWO_TILES, hw)], PolicyBase(), trace=True)
    assert spans(r, K.LOAD, K.STORE, K.FOLD, K.MEMORY_STALL) == sorted(
        [
            (K.LOAD, 0, 0, 0, 16),
            (K.LOAD, 1, 0, 40, 48),
            (K.FOLD, 0, 0, 26, 40),
            (K.FOLD, 1, 0, 58, 72),
            (K.STORE, 0, 0, 48, 52),
            (K.STORE, 1, 0, 72, 76),
            (K.MEMORY_STALL, -1, -1, 0, 26),
            (K.MEMORY_STALL, -1, -1, 40, 58),
            (K.MEMORY_STALL, -1, -1, 72, 76),
        ]
    )
    assert r.total_cycles == 76
    # With B resident (256 KiB) both B blocks share the one buffer: fold 1's load does not wait for
    # a buffer, only for the DMA's lookahead of one fold (requested when fold 0 issues, at 26):
    # [26, 34), usable 44, fold 1 runs 44..58, write-back 58..62.
    resident = small_hw("memory.sram.b.buffers=1")
    assert simulate(resident, [schedule_gemm(TWO_TILES, resident)], PolicyBase()).total_cycles == 62


def test_two_tile_trace_with_side_unit_checks_and_a_recompute():
    # ideal memory, side unit with 4 lanes, 40 adds per check: c = 10 cycles after each pass.
    # fold 0: 0..14, check 14..24 -> verdict at 24: recompute the tile.
    # fold 1: 14..28 (issued before the verdict), check 28..38.
    # recompute of fold 0 (attempt 1): issued at 28 (the array is busy until then), 28..42;
    #   it may not drain before the pass two places earlier (fold 0) was checked (24): fine.
    #   check 42..52 -> verdict at 52: accept.
    # total 52: compute 2 x 14 = 28; the array never waited for the side unit (fold 1's check
    #   ended at 38, before the recompute drained), so the recompute added 52 - 28 = 24 cycles.
    hw = small_hw("memory.ideal=true", "checksum_unit.placement=side_unit", "checksum_unit.adds_per_cycle=4")
    policy, verifier = forced(
        {(0, 0, 0): [Decision(Action.RECOMPUTE, Region(Scope.TILE)), Decision(Action.ACCEPT)]},
        work=CheckWork(checksum_adds=40),
    )
    r = simulate(hw, [schedule_gemm(TWO_TILES, hw)], policy, verifier, trace=True)
    assert spans(r, K.FOLD, K.RECOMPUTE, K.CHECK) == sorted(
        [
            (K.FOLD, 0, 0, 0, 14),
            (K.CHECK, 0, 0, 14, 24),
            (K.FOLD, 1, 0, 14, 28),
            (K.CHECK, 1, 0, 28, 38),
            (K.RECOMPUTE, 0, 1, 28, 42),
            (K.CHECK, 0, 1, 42, 52),
        ]
    )
    cycles = r.layers[0].cycles
    assert (r.total_cycles, cycles.compute_cycles, cycles.checksum_stall_cycles, cycles.recompute_cycles) == (
        52,
        28,
        0,
        24,
    )
    (outcome,) = r.outcomes
    assert (outcome.final_cycle, outcome.recompute_passes, outcome.final_action) == (52, 1, Action.ACCEPT)


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        ("array.fold_overlap=true",),
        ("array.dataflow=ws", "memory.sram.a.buffers=1"),
        ("array.dataflow=is", "checksum_unit.placement=side_unit", "checksum_unit.adds_per_cycle=3"),
    ],
)
def test_layer_cycles_from_the_trace_equal_the_engines(overrides):
    hw = small_hw(*overrides)
    schedules = [schedule_gemm(g, hw) for g in (Gemm("a", "qkv", 9, 13, 10), Gemm("b", "qk", 6, 5, 7, count=2))]
    policy, verifier = forced(
        {(1, 1, 0): [Decision(Action.RECOMPUTE, Region(Scope.ROWS, rows=(1,))), Decision(Action.ACCEPT)]},
        work=CheckWork(checksum_adds=20, compares=4),
    )
    traced = simulate(hw, schedules, policy, verifier, trace=True)
    plain = simulate(hw, schedules, *forced(policy.script, policy.work))
    assert plain.records is None and plain.layers == traced.layers and plain.total_cycles == traced.total_cycles
    reduced = layer_cycles(traced.records, [s.compute_cycles for s in schedules])
    assert reduced == [layer.cycles for layer in traced.layers]
    assert sum(c.total_cycles for c in reduced) == traced.total_cycles


def test_chrome_trace_is_valid_json_with_one_track_per_resource(tmp_path):
    hw = small_hw("array.fold_overlap=true", "checksum_unit.placement=side_unit", "checksum_unit.adds_per_cycle=2")
    schedules = [schedule_gemm(g, hw) for g in (Gemm("a", "qkv", 9, 13, 10), Gemm("b", "qk", 6, 5, 7, count=2))]
    policy, verifier = forced(
        {(0, 0, 1): [Decision(Action.RECOMPUTE, Region(Scope.TILE)), Decision(Action.ACCEPT)]},
        work=CheckWork(checksum_adds=20),
    )
    r = simulate(hw, schedules, policy, verifier, trace=True)
    doc = chrome_trace(r.records, hw.clock_hz, {0: "a", 1: "b"})
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(doc))
    events = json.loads(path.read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {
        Track.DMA.value,
        Track.WRITE_BACK.value,
        Track.ARRAY_STALLS.value,
        Track.CHECKSUM_UNIT.value,
        Track.LAYERS.value,
        "array lane 0",
        "array lane 1",
    } <= set(names.values())
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(r.records)
    assert all(e["tid"] in names and e["dur"] >= 0 and e["ts"] >= 0 for e in complete)
    # 1 GHz: one cycle is 1 ns = 0.001 us; the last layer ends at the run's last cycle
    layers = [e for e in complete if e["cat"] == "layer"]
    assert [e["name"] for e in layers] == ["a", "b"]
    assert layers[-1]["ts"] + layers[-1]["dur"] == pytest.approx(r.total_cycles / 1000)
    # complete events on one thread must nest: array passes overlap, so lanes keep them apart
    by_tid: dict[int, list[tuple[float, float]]] = {}
    for e in complete:
        by_tid.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"]))
    for tid, intervals in by_tid.items():
        intervals.sort()
        assert all(a[1] <= b[0] + 1e-9 for a, b in itertools.pairwise(intervals)), names[tid]


def test_streamed_trace_equals_the_whole_trace_and_gzips(tmp_path):
    # the fast streamed writer gives exactly the JSON of chrome_trace (the reference), windowed too
    from simulator.engine.chrome_trace import chrome_trace_chunks

    hw = small_hw("array.fold_overlap=true")
    schedules = [schedule_gemm(g, hw) for g in (Gemm("a", "qkv", 9, 13, 40), Gemm("b", "qk", 6, 5, 7, count=2))]
    r = simulate(hw, schedules, PolicyBase(), trace=True)
    names = {0: 'a "quoted" layer'}
    for window in (None, (50.0, 120.0)):
        whole = chrome_trace(r.records, 1e9, names, window)
        assert json.loads("".join(chrome_trace_chunks(r.records, 1e9, names, window, batch=7))) == whole
    inside = chrome_trace(r.records, 1e9, window=(50.0, 120.0))["traceEvents"]
    spans = [e for e in inside if e["ph"] == "X"]
    assert spans and all(e["args"]["end_cycle"] >= 50 and e["args"]["start_cycle"] <= 120 for e in spans)
