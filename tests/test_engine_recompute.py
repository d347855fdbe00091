"""Recompute pricing by array geometry, retries, corrections and the recompute queue."""

from __future__ import annotations

import pytest

from simulator.abft.policies import PolicyBase
from simulator.abft.protocol import Action, CheckWork, Decision
from simulator.config.loader import load_hw
from simulator.engine import simulate
from simulator.engine.plan import fold_at
from simulator.engine.testing import forced
from simulator.mapping.region import Region, Scope, price_region, resolve_region
from simulator.mapping.schedule import schedule_gemm
from simulator.mapping.tiling import iter_folds
from simulator.workload.gemm import Gemm

ACCEPT = Decision(Action.ACCEPT)


def hw4(dataflow: str, *overrides: str):
    """4x4 array, no fold overlap, ideal memory (pure compute timing)."""
    return load_hw(
        "edge_32x32",
        [
            "array.rows=4",
            "array.cols=4",
            f"array.dataflow={dataflow}",
            "array.fold_overlap=false",
            "memory.ideal=true",
            *overrides,
        ],
    )


def recompute(scope: Scope, rows=(), cols=()) -> Decision:
    return Decision(Action.RECOMPUTE, Region(scope, tuple(rows), tuple(cols)))


# (dataflow, GEMM M, K, N, region, pass cycles, recomputed MACs), worked by hand. One 4x4 fold each.
# OS (M x N spatial, K = 8 temporal): fill_drain = 4 + 4 - 2 = 6, F = 14; any region streams all K.
# WS (K x N spatial, M = 10 temporal): fill_drain = 2*4 + 4 - 2 = 10, F = 20; output rows are
#   temporal steps (one streamed A row each), output columns are PE columns that need all M.
# IS (K x M spatial, N = 10 temporal): the mirror: output rows are PE columns, output columns steps.
PRICING = [
    ("os", (4, 8, 4), recompute(Scope.TILE), 14, 4 * 4 * 8),
    ("os", (4, 8, 4), recompute(Scope.ROWS, rows=(0, 2)), 14, 2 * 4 * 8),  # 2 rows share one full pass
    ("os", (4, 8, 4), recompute(Scope.COLS, cols=(3,)), 14, 4 * 1 * 8),
    ("os", (4, 8, 4), recompute(Scope.ELEMENTS, rows=(0, 1, 1), cols=(0, 2, 2)), 14, 2 * 8),  # 2 distinct PEs
    ("ws", (10, 4, 4), recompute(Scope.ROWS, rows=(1, 3, 3)), 10 + 2, 4 * 4 * 2),  # 2 streamed rows
    ("ws", (10, 4, 4), recompute(Scope.COLS, cols=(0,)), 20, 4 * 1 * 10),  # a column needs all M
    ("ws", (10, 4, 4), recompute(Scope.ELEMENTS, rows=(0, 5), cols=(0, 1)), 10 + 2, 4 * 2 * 2),
    ("ws", (10, 4, 4), recompute(Scope.TILE), 20, 4 * 4 * 10),
    ("is", (4, 4, 10), recompute(Scope.ROWS, rows=(0, 1)), 20, 4 * 2 * 10),  # rows are PE columns: all N
    ("is", (4, 4, 10), recompute(Scope.COLS, cols=(2, 7, 9)), 10 + 3, 4 * 4 * 3),  # 3 streamed B columns
    ("is", (4, 4, 10), recompute(Scope.ELEMENTS, rows=(3,), cols=(9,)), 10 + 1, 4 * 1 * 1),
]


@pytest.mark.parametrize(("dataflow", "mkn", "decision", "cycles", "macs"), PRICING)
def test_region_pricing_by_hand(dataflow, mkn, decision, cycles, macs):
    hw = hw4(dataflow)
    s = schedule_gemm(Gemm("g", "fc1", *mkn), hw)
    assert s.folds == 1
    priced = price_region(hw, s, fold_at(s, 0), decision.region)
    assert (priced.fold_cycles, priced.counts.macs, priced.counts.recomputed_macs) == (cycles, macs, macs)
    # the only fold is the last: its pass cannot overlap anything, the whole pass is added
    policy, verifier = forced({(0, 0, 0): [decision, ACCEPT]})
    r = simulate(hw, [s], policy, verifier)
    assert r.total_cycles == s.fold_cycles + cycles
    assert r.layers[0].recompute_cycles == cycles and r.actions.recomputed_macs == macs
    assert r.actions.macs == s.gemm.macs + macs
    assert verifier.calls == [(0, 0, 0, 0, None), (0, 0, 0, 1, decision.region)]


def test_pass_window_follows_the_dataflow_with_fold_overlap():
    # WS with overlap: a 2-row pass issues the next pass max(T, R) = max(2, 4) = 4 cycles later
    hw = hw4("ws", "array.fold_overlap=true")
    s = schedule_gemm(Gemm("g", "fc1", 10, 4, 4), hw)
    priced = price_region(hw, s, fold_at(s, 0), Region(Scope.ROWS, (0, 1)))
    assert (priced.fold_cycles, priced.window_cycles) == (12, 4)


def test_gemm_scope_reruns_every_fold_of_the_instance():
    # OS 4x4, GEMM 8x8 @ 8x8, 2 instances: 4 folds of F = 14 per instance, no overlap.
    # Fold 1 of instance 0 asks for the whole GEMM at its drain (28), the cycle fold 2 could
    # issue: the recompute goes first, a 4 x 14 = 56-cycle pass (28..84) -> total 8 x 14 + 56.
    hw = hw4("os")
    s = schedule_gemm(Gemm("g", "fc1", 8, 8, 8, count=2), hw)
    policy, verifier = forced({(0, 0, 1): [recompute(Scope.GEMM), ACCEPT]})
    r = simulate(hw, [s], policy, verifier)
    assert r.total_cycles == 8 * 14 + 4 * 14
    assert r.actions.recomputed_macs == 8 * 8 * 8
    assert r.recompute.passes_by_scope == {"gemm": 1}


def slow_dram(bandwidth: int = 1):
    return hw4(
        "os",
        "memory.ideal=false",
        "memory.dram.bandwidth_gb_per_s=null",
        f"memory.dram.bandwidth_bytes_per_cycle={bandwidth}",
        "memory.dram.latency_cycles=10",
    )


def test_gemm_scope_pass_reloads_what_the_instance_loaded():
    # 8x8 @ 8x8 on OS 4x4: the instance's first execution loads A 64 B + B 64 B = 128 B; the
    # GEMM pass is the 4 folds' compute (4 x 14 = 56) and streams its reload over the channel
    hw = slow_dram()
    s = schedule_gemm(Gemm("g", "fc1", 8, 8, 8), hw)
    priced = price_region(hw, s, fold_at(s, 0), Region(Scope.GEMM))
    assert (priced.fold_cycles, priced.load_bytes, priced.streams_load) == (56, 128, True)


@pytest.mark.parametrize(("scope", "total"), [(Scope.GEMM, 178), (Scope.TILE, 192)])
def test_recompute_refetch_crosses_the_shared_channel(scope, total):
    # one 4x4 fold of 4x8 @ 8x4 (F = 14), 1 B/cycle, latency 10; a single fold reuses nothing
    # from SRAM, so every recompute refetches A (32 B) and B (32 B):
    # first load 0..64, ready 74; fold 74..88; recompute decided at 88, refetch 88..152, ready 162.
    # GEMM scope streams: it starts at 88 and cannot drain before 162; store 16 B 162..178.
    # Tile scope waits for its data: 162..176; store 176..192.
    hw = slow_dram()
    s = schedule_gemm(Gemm("g", "fc1", 4, 8, 4), hw)
    policy, verifier = forced({(0, 0, 0): [recompute(scope), ACCEPT]})
    r = simulate(hw, [s], policy, verifier)
    assert r.total_cycles == total
    assert r.actions.dram_read_bytes == 64 + 64 and r.actions.dram_write_bytes == 16


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_max_retries_is_honoured_then_the_fold_is_given_up(retries):
    # a policy that always asks for a recompute: `retries` passes run, then the engine gives up
    hw = hw4("os", f"recompute.max_retries={retries}")
    s = schedule_gemm(Gemm("g", "fc1", 4, 8, 4), hw)
    policy, verifier = forced({(0, 0, 0): [recompute(Scope.TILE)]}, max_retries=retries)
    r = simulate(hw, [s], policy, verifier)
    assert [call[3] for call in verifier.calls] == list(range(retries + 1))
    (outcome,) = r.outcomes
    assert outcome.given_up and outcome.recompute_passes == retries and outcome.final_action is Action.RECOMPUTE
    assert r.recompute.passes == retries and r.recompute.given_up == 1 == r.layers[0].given_up
    assert r.total_cycles == 14 * (retries + 1)  # each pass is issued at the previous one's verdict


def test_correct_costs_no_array_time_but_is_counted():
    hw = hw4("os")
    s = schedule_gemm(Gemm("g", "fc1", 8, 8, 8), hw)
    base = simulate(hw, [s], PolicyBase())
    policy, verifier = forced({(0, 0, 2): [Decision(Action.CORRECT)]})
    r = simulate(hw, [s], policy, verifier)
    assert r.total_cycles == base.total_cycles and r.recompute.corrections == 1 == r.layers[0].corrections
    assert r.recompute.passes == 0 and r.outcomes[0].final_action is Action.CORRECT


def test_recompute_runs_ahead_of_normal_folds_and_is_rechecked():
    # no overlap, side unit c = 5 (20 adds, 4 lanes), 4 folds of F = 14, fold 0 recomputed once.
    # fold 0: 0..14, check ..19 -> recompute requested at 19; fold 1 was issued at 14 (before the
    # verdict); the recompute issues at fold 1's window end, 28, ahead of fold 2.
    hw = hw4("os", "checksum_unit.placement=side_unit", "checksum_unit.adds_per_cycle=4")
    s = schedule_gemm(Gemm("g", "fc1", 4, 8, 16), hw)
    policy, verifier = forced({(0, 0, 0): [recompute(Scope.TILE), ACCEPT]}, work=CheckWork(checksum_adds=20))
    r = simulate(hw, [s], policy, verifier, trace=True)
    passes = sorted(
        (rec.start_cycle, rec.fold, rec.attempt) for rec in r.records if rec.kind.value in ("fold", "recompute")
    )
    assert passes == [(0, 0, 0), (14, 1, 0), (28, 0, 1), (42, 2, 0), (56, 3, 0)]
    assert r.total_cycles == 70 + 5


def test_bad_regions_are_rejected():
    hw = hw4("os")
    s = schedule_gemm(Gemm("g", "fc1", 4, 8, 4), hw)
    fold = next(iter_folds(s.dataflow, 4, 8, 4, 4, 4))
    for region in (Region(Scope.ROWS), Region(Scope.ROWS, (4,)), Region(Scope.ELEMENTS, (0, 1), (0,))):
        with pytest.raises(ValueError):
            price_region(hw, s, fold, region)


def test_fold_at_matches_iter_folds():
    for df in ("os", "ws", "is"):
        hw = hw4(df, "array.rows=3", "array.cols=5")
        s = schedule_gemm(Gemm("g", "fc1", 11, 7, 13), hw)
        assert [fold_at(s, i) for i in range(s.folds_per_instance)] == list(iter_folds(s.dataflow, 11, 7, 13, 3, 5))


# The cheaper line of a single wrong element (ApproxABFT, Scope.LINES), by hand on a 4x4 array:
# OS 6 x 8 @ 8 x 4: fold 0 is 4 x 4 (row 4 x 8 = 32 MACs = col 32 MACs, both F = 14): rows win
# the tie; fold 1 is the 2-row edge fold: a column is 2 x 8 = 16 MACs < a row's 4 x 8 = 32.
# WS 10 x 4 @ 4 x 4 (M = 10 streamed): a row is one streamed step (10 + 1 cycles), a column all
# M (20 cycles): the row. IS 4 x 4 @ 4 x 10: the mirror, the column (one streamed B column).
@pytest.mark.parametrize(
    ("dataflow", "mkn", "fold", "scope"),
    [("os", (6, 8, 4), 0, Scope.ROWS), ("os", (6, 8, 4), 1, Scope.COLS),
     ("ws", (10, 4, 4), 0, Scope.ROWS), ("is", (4, 4, 10), 0, Scope.COLS)],
)  # fmt: skip
def test_lines_resolve_to_the_cheaper_line(dataflow, mkn, fold, scope):
    hw = hw4(dataflow)
    s = schedule_gemm(Gemm("g", "fc1", *mkn), hw)
    f = fold_at(s, fold)
    resolved = resolve_region(hw, s, f, Region(Scope.LINES, rows=(1,), cols=(1,)))
    assert resolved.scope is scope and (resolved.rows if scope is Scope.ROWS else resolved.cols) == (1,)
    lines = price_region(hw, s, f, Region(Scope.LINES, rows=(1,), cols=(1,)))
    assert lines == price_region(hw, s, f, resolved)
    # the engine recomputes the resolved line and counts it under its own scope
    policy, verifier = forced({(0, 0, fold): [Decision(Action.RECOMPUTE, Region(Scope.LINES, (1,), (1,))), ACCEPT]})
    r = simulate(hw, [s], policy, verifier)
    assert r.recompute.passes_by_scope == {scope.value: 1}
    assert verifier.calls[-1][-1] == resolved
