"""Recovery and DMR pay their memory traffic: SRAM reads for every pass and copy, DRAM refetches
of operand blocks that are no longer resident (issue 10, section 1)."""

from __future__ import annotations

import pytest

from simulator.abft.policies import DualModular, PolicyBase
from simulator.abft.protocol import Action, Decision
from simulator.config.loader import load_hw
from simulator.engine import simulate
from simulator.engine.testing import forced
from simulator.mapping.region import Region, Scope, refetched_operands
from simulator.mapping.schedule import schedule_gemm
from simulator.workload.gemm import Gemm

ACCEPT = Decision(Action.ACCEPT)
SRAM_READS = ("sram_a_read_bytes", "sram_b_read_bytes", "sram_c_read_bytes")


def hw4(*overrides: str):
    """4x4 int8 OS array; A SRAM 4 KiB in 2 buffers (2 KiB each), B 256 KiB: real DRAM channel.
    The fixed loop order keeps whole-K folds (min_dram would split K here; see test_k_chunk)."""
    return load_hw(
        "edge_32x32",
        [
            "array.rows=4",
            "array.cols=4",
            "array.dataflow=os",
            "memory.sram.a.size_kib=4",
            "mapping.policy=fixed",
            *overrides,
        ],
    )


def recompute(scope: Scope, rows=()) -> Decision:
    return Decision(Action.RECOMPUTE, Region(scope, tuple(rows)))


def test_recompute_refetches_non_resident_blocks_in_closed_form():
    # 8 x 1024 @ 1024 x 8 on a 4x4 OS array: 2 row blocks x 2 col blocks = 4 folds.
    # An A row block is 4 x 1024 x 1 B = 4096 B > the 2048 B buffer: A is not resident, every
    # fold streams its 4096 B from DRAM. B (8 KiB) fits its 128 KiB buffer: resident.
    hw = hw4()
    s = schedule_gemm(Gemm("g", "fc2", 8, 1024, 8), hw)
    assert (s.a_resident, s.b_resident) == (False, True)
    assert refetched_operands(s) == (True, False)
    # folds 1 and 2 recompute their tile once; fold 3 recomputes 2 of its rows once
    script = {
        (0, 0, 1): [recompute(Scope.TILE), ACCEPT],
        (0, 0, 2): [recompute(Scope.TILE), ACCEPT],
        (0, 0, 3): [recompute(Scope.ROWS, rows=(0, 3)), ACCEPT],
    }
    base = simulate(hw, [s], PolicyBase())
    r = simulate(hw, [s], *forced(script))
    a_block, b_block, k = 4 * 1024, 1024 * 4, 1024
    # DRAM: non-resident A block bytes x recomputed tiles + the 2 recomputed rows' A (2 x 1024)
    assert r.actions.dram_read_bytes - base.actions.dram_read_bytes == a_block * 2 + 2 * k
    assert r.actions.sram_a_write_bytes - base.actions.sram_a_write_bytes == a_block * 2 + 2 * k
    assert r.actions.sram_b_write_bytes == base.actions.sram_b_write_bytes  # B stays resident
    # SRAM reads: every pass reads its A rows and its B columns (all 4 columns for a row pass)
    assert r.actions.sram_a_read_bytes - base.actions.sram_a_read_bytes == a_block * 2 + 2 * k
    assert r.actions.sram_b_read_bytes - base.actions.sram_b_read_bytes == b_block * 3
    # the refetches take channel time: each pass waits at least the 4096 B / 25.6 B per cycle
    assert r.total_cycles > base.total_cycles + 3 * s.fold_cycles


def test_a_resident_operand_is_not_refetched():
    # the same GEMM with a 64 KiB A SRAM: A row blocks are reused across the 2 col blocks
    hw = hw4("memory.sram.a.size_kib=64")
    s = schedule_gemm(Gemm("g", "fc2", 8, 1024, 8), hw)
    assert refetched_operands(s) == (False, False)
    base = simulate(hw, [s], PolicyBase())
    r = simulate(hw, [s], *forced({(0, 0, 1): [recompute(Scope.TILE), ACCEPT]}))
    assert r.actions.dram_read_bytes == base.actions.dram_read_bytes
    assert r.actions.sram_a_read_bytes - base.actions.sram_a_read_bytes == 4 * 1024


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_stationary_and_single_use_blocks_are_refetched(dataflow):
    # WS / IS: each stationary tile is loaded for exactly one fold, so a recompute refetches it
    hw = hw4(f"array.dataflow={dataflow}")
    s = schedule_gemm(Gemm("g", "fc1", 8, 8, 8), hw)
    a, b = refetched_operands(s)
    expected = {"os": (False, False), "ws": (False, True), "is": (True, False)}[dataflow]
    assert (a, b) == expected


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_dmr_reads_sram_twice_without_faults(dataflow):
    # the duplicate pass reads both operands and moves its outputs like the original
    hw = hw4(f"array.dataflow={dataflow}")
    s = schedule_gemm(Gemm("g", "fc1", 9, 12, 7), hw)
    base = simulate(hw, [s], PolicyBase()).actions
    dmr = simulate(hw, [s], DualModular()).actions
    for name in ("sram_a_read_bytes", "sram_b_read_bytes"):
        assert getattr(dmr, name) == 2 * getattr(base, name)
    if dataflow == "os":  # no partial-sum spills: every SRAM read doubles
        assert sum(getattr(dmr, n) for n in SRAM_READS) == 2 * sum(getattr(base, n) for n in SRAM_READS)
    # operands stay resident for the back-to-back copy: no DRAM traffic is added
    assert (dmr.dram_read_bytes, dmr.dram_write_bytes) == (base.dram_read_bytes, base.dram_write_bytes)


def test_dmr_retry_reads_for_both_copies():
    # a DMR tile retry of a 4x4 fold of 4 x 16 @ 16 x 4 reads A 64 B and B 64 B for each copy
    hw = hw4()
    s = schedule_gemm(Gemm("g", "fc1", 4, 16, 4), hw)

    class ScriptedDmr(DualModular):
        def decide(self, check):
            return recompute(Scope.TILE) if check.attempt == 0 else ACCEPT

    _, verifier = forced({(0, 0, 0): [recompute(Scope.TILE), ACCEPT]})
    once = simulate(hw, [s], DualModular()).actions
    retried = simulate(hw, [s], ScriptedDmr(), verifier).actions
    assert retried.sram_a_read_bytes - once.sram_a_read_bytes == 2 * 64
    assert retried.sram_b_read_bytes - once.sram_b_read_bytes == 2 * 64
