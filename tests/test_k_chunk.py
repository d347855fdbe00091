"""`mapping.k_chunk`: output-stationary folds that stream one chunk of K, hand-worked and against the emulator."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.abft.policies import PolicyBase
from simulator.api import run
from simulator.config.enums import Dataflow, Datatype, Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.config.loader import load_hw
from simulator.engine.plan import fold_at
from simulator.engine.simulate import simulate
from simulator.faults.effects import kernel_operands, resolve_gemm_faults
from simulator.faults.emulator import emulate_fold
from simulator.faults.model import PeFault
from simulator.faults.sampling import FaultBatch
from simulator.mapping.dataflow import k_chunk_count, mac_cycle, temporal_chunk
from simulator.mapping.fold_table import fold_table
from simulator.mapping.loop_order import COLS, LoopOrder
from simulator.mapping.schedule import schedule_gemm
from simulator.mapping.tiling import fold_operands
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload


def edge(*extra: str):
    """edge_32x32 with the fixed order and buffers of 32 KiB (A), 128 KiB (B), 32 KiB (C)."""
    sizes = ["memory.sram.a.size_kib=64", "memory.sram.b.size_kib=256", "memory.sram.c.size_kib=64"]
    return load_hw("edge_32x32", ["mapping.policy=fixed", *sizes, *extra])


def test_chunk_count_and_extents_by_hand():
    assert k_chunk_count(3072, None) == 1 and k_chunk_count(3072, 3072) == 1 and k_chunk_count(3072, 5000) == 1
    assert k_chunk_count(3072, 1024) == 3 and k_chunk_count(3072, 256) == 12 and k_chunk_count(197, 64) == 4
    # K = 197 in at most 64: 4 chunks of ceil(197 / 4) = 50, the last 197 - 150 = 47
    assert [temporal_chunk(197, 4, c) for c in range(4)] == [(0, 50), (50, 50), (100, 50), (150, 47)]
    t0, steps = temporal_chunk(197, 4, np.arange(4))
    assert t0.tolist() == [0, 50, 100, 150] and steps.tolist() == [50, 50, 50, 47]


@pytest.mark.parametrize("overlap", [False, True])
def test_chunked_gemm_cycles_and_traffic_by_hand(overlap):
    # OS 32x32 int8, M = N = 64, K = 3072, fixed order (one super-block of both column blocks,
    # row blocks in the middle), k_chunk = 1024 -> 3 chunks: 2 x 2 x 3 = 12 folds.
    # Cycles: a chunk fold is R + C + 1024 - 2 = 1086 cycles. Without overlap every fold pays
    # its fill and drain: 12 x 1086 = 13,032 against 4 x (62 + 3072) = 12,536 whole-K (+8 x 62).
    # With overlap the next fold issues T cycles later: 11 x 1024 + 1086 = 12,350 = whole-K's
    # 3 x 3072 + 3134 (a pipelined array hides the extra fill and drain).
    gemm = Gemm("g", "fc2", 64, 3072, 64)
    flag = f"array.fold_overlap={str(overlap).lower()}"
    whole, chunked = schedule_gemm(gemm, edge(flag)), schedule_gemm(gemm, edge(flag, "mapping.k_chunk=1024"))
    assert (whole.folds, chunked.folds, chunked.k_chunks) == (4, 12, 3)
    assert chunked.order == LoopOrder(COLS, 2, k_chunks=3)
    assert (whole.compute_cycles, chunked.compute_cycles) == ((12_350, 12_350) if overlap else (12_536, 13_032))
    # C (int32, 64 x 64 = 16 KiB per pass over the outputs): whole K writes and reads (write-back)
    # it once; three chunks write it 3 times and read it 3 times (2 accumulations + write-back).
    # The psum tile (a row block x both column blocks, 32 x 64 x 4 B = 8 KiB) fits SRAM C: no spill.
    w, c = whole.totals(), chunked.totals()
    assert (w.c_sram_write_bytes, w.c_sram_read_bytes) == (16_384, 16_384)
    assert (c.c_sram_write_bytes, c.c_sram_read_bytes, c.psum_dram_load_bytes) == (49_152, 49_152, 0)
    # DRAM: whole K, the B slab of the super-block (3072 x 64 = 192 KiB) does not fit the 128 KiB
    # B buffer, so B is reloaded for each of the 2 row blocks, and an A row block (96 KiB) does not
    # fit the 32 KiB A buffer, so it is reloaded for each of the 2 column blocks:
    # A 2 x 196,608 + B 2 x 196,608 + C 4,096 = 790,528 B. In chunks the B chunk (1024 x 64 = 64 KiB)
    # fits but is needed again for the next row block (2 x B); an A block chunk (32 x 1024 = 32 KiB)
    # fits and serves both column blocks: A once. 196,608 + 393,216 + 4,096 = 593,920 B.
    assert (whole.dram_bytes, chunked.dram_bytes) == (790_528, 593_920)
    # the engine moves and counts exactly these, coalesced or not
    hw = edge(flag, "mapping.k_chunk=1024")
    assert schedule_gemm(gemm, hw) == chunked
    runs = [simulate(hw, [chunked], PolicyBase(), coalesce=x) for x in (True, False)]
    assert runs[0].actions == runs[1].actions and runs[0].total_cycles == runs[1].total_cycles
    a = runs[0].actions
    assert (a.dram_read_bytes + a.dram_write_bytes, a.sram_c_read_bytes, a.sram_c_write_bytes) == (
        593_920,
        49_152,
        49_152,
    )
    assert a.macs == 64 * 3072 * 64


def test_k_chunk_at_least_k_is_the_whole_k_schedule():
    gemm = Gemm("g", "fc2", 197, 3072, 768)
    for policy in ("fixed", "min_dram"):
        base = schedule_gemm(gemm, load_hw("edge_32x32", [f"mapping.policy={policy}"]))
        same = schedule_gemm(gemm, load_hw("edge_32x32", [f"mapping.policy={policy}", "mapping.k_chunk=3072"]))
        assert same == base


def test_fault_in_a_middle_chunk_matches_the_emulator():
    # OS 4x4 int8, M = 4, K = 12, N = 4, k_chunk = 4: three folds, one per chunk, all on the same
    # outputs. An accumulator flip in chunk 1 (k = 4..7) corrupts that chunk's partial sum (its
    # accumulator started at 0), not the running sum of the whole K: the kernel must agree with
    # the cycle-level emulator run on the chunk's operands.
    rng = np.random.default_rng(7)
    a = rng.integers(-128, 128, (4, 12)).astype(np.int8)
    b = rng.integers(-128, 128, (12, 4)).astype(np.int8)
    order = LoopOrder(COLS, 1, k_chunks=3)
    table = fold_table(Dataflow.OS, 4, 12, 4, 4, 4, order)
    assert table.table[:, 4:].tolist() == [[0, 4], [4, 4], [8, 4]]
    fold = table.fold(1)
    for site, bit in ((Site.ACC, 30), (Site.MULT, 9), (Site.A_REG, 6), (Site.B_REG, 7)):
        fault = PeFault(2, 1, mac_cycle(Dataflow.OS, 4, 2, 1, 2), site, bit)  # tau 2 of the chunk = k 6
        effects = resolve_gemm_faults(
            Dataflow.OS, 4, 4, kernel_operands(Datatype.INT8, a, b), FaultBatch.from_faults([fault], 1), table
        )
        a_blk, b_blk = fold_operands(Dataflow.OS, fold, a, b)
        assert a_blk.shape == (4, 4) and np.array_equal(a_blk, a[:, 4:8])
        clean = emulate_fold(Dataflow.OS, Datatype.INT8, 4, 4, a_blk, b_blk).out.astype(np.int64)
        faulty = emulate_fold(Dataflow.OS, Datatype.INT8, 4, 4, a_blk, b_blk, (fault,)).out.astype(np.int64)
        expected = np.zeros((4, 4), np.int64)
        e = effects.effect(0, fault)
        expected[e.out_rows, e.out_cols] = e.delta
        assert np.array_equal(expected, (faulty - clean + 2**31) % 2**32 - 2**31), site
        assert np.count_nonzero(expected) >= 1


def test_sdc_is_judged_on_the_sum_over_chunks():
    # The same accumulator flip (bit 30 of PE (2, 1) at k = 6) in a whole-K fold and in chunk 1 of
    # a 3-chunk fold: the stored output holds the sum over chunks, so with no protection both
    # escape and corrupt exactly that one stored output; the chunk's error is 2^30 away from its
    # partial sum, the whole-K one from the running sum, and both are judged at write-back.
    hw4 = [
        "array.rows=4",
        "array.cols=4",
        "mapping.policy=fixed",
    ]
    workload = Workload("w", (Gemm("g", "fc2", 4, 12, 4),))
    reports = {}
    for chunk, fold, cycle in ((None, 0, 2 + 1 + 6), (4, 1, 2 + 1 + 2)):
        hw = load_hw("edge_32x32", [*hw4, f"mapping.k_chunk={'null' if chunk is None else chunk}"])
        fault = ExplicitFault(gemm="g", fold=fold, row=2, col=1, cycle=cycle, site="acc", bit=30)
        spec = FaultSpec(ber=0.0, explicit=[fault])
        reports[chunk] = run(hw, workload, ["none", "abft"], spec).to_dict()
    for r in reports.values():
        none, abft = r["policies"]
        assert none["faults_injected"] == 1 and none["escaped"] == 1 and none["corrupted_outputs"] == 1
        assert abft["escaped"] == 0 and abft["recomputations"] == 1
    # the chunked run has 3 folds, and abft recomputes one chunk (16 outputs x 4 MACs)
    assert reports[4]["policies"][1]["recomputed_macs"] == 4 * 4 * 4
    assert reports[None]["policies"][1]["recomputed_macs"] == 4 * 4 * 12


def test_recompute_of_a_later_chunk_accumulates_into_c():
    # a tile pass over chunk 0 writes its 4 x 4 int32 partial sums into C; over chunk 1 or 2 it
    # reads them back and accumulates (16 x 4 B read, 16 x 4 B written); both stream 4 steps
    from simulator.mapping.region import Region, Scope, price_region

    hw = load_hw("edge_32x32", ["array.rows=4", "array.cols=4", "mapping.policy=fixed", "mapping.k_chunk=4"])
    s = schedule_gemm(Gemm("g", "fc2", 4, 12, 4), hw)
    first, middle = (price_region(hw, s, fold_at(s, i), Region(Scope.TILE)) for i in (0, 1))
    assert (first.counts.sram_c_read_bytes, first.counts.sram_c_write_bytes) == (0, 64)
    assert (middle.counts.sram_c_read_bytes, middle.counts.sram_c_write_bytes) == (64, 64)
    assert first.counts.macs == middle.counts.macs == 4 * 4 * 4
    # a GEMM-scope pass reruns the instance's 3 chunk folds back to back: with fold overlap
    # 2 x 4 + (4 + 4 + 4 - 2) = 18 cycles, the schedule's own count
    gemm_pass = price_region(hw, s, fold_at(s, 0), Region(Scope.GEMM))
    assert gemm_pass.fold_cycles == s.instance_cycles == s.compute_cycles == 18


def test_chunks_of_a_resident_slab_cost_no_dram():
    # qkv (197 x 768 x 2304) on the bundled edge_32x32: the whole 197 x 768 A (151,296 B) stays in
    # one 160 KiB A buffer (rows x 7, one super-block), so A and B are read once. Cutting K into 3
    # chunks of 256 keeps every chunk of that A slab resident: DRAM bytes stay compulsory, only
    # SRAM C pays: 3 writes and 3 reads (2 accumulations + write-back) of the int32 outputs.
    gemm = Gemm("g", "qkv", 197, 768, 2304)
    whole = schedule_gemm(gemm, load_hw("edge_32x32", ["mapping.k_split=false"]))
    chunked = schedule_gemm(gemm, load_hw("edge_32x32", ["mapping.k_split=false", "mapping.k_chunk=256"]))
    assert chunked.k_chunks == 3 and chunked.group_slab_resident
    assert whole.dram_bytes == chunked.dram_bytes == whole.compulsory_dram_bytes
    out = 197 * 2304 * 4
    assert (whole.totals().c_sram_write_bytes, chunked.totals().c_sram_write_bytes) == (out, 3 * out)
    assert chunked.totals().c_sram_read_bytes == 3 * out and chunked.folds == 3 * whole.folds


@pytest.mark.parametrize("c_bytes", [32, 600])
def test_engine_moves_the_closed_form_bytes_with_spilled_or_resident_partial_sums(c_bytes):
    # OS 4x4, K split into chunks of at most 5 (41 -> 9 chunks of 5, the last 1). A C buffer of 16 B
    # holds no 4x4 int32 partial-sum block: every chunk but the first reloads its block from DRAM
    # and every chunk but the last spills it (read after write through the channel); 300 B holds one.
    hw = load_hw(
        "edge_32x32",
        [
            "array.rows=4",
            "array.cols=4",
            "memory.sram.a.size_kib=0.0625",
            "memory.sram.b.size_kib=0.09375",
            f"memory.sram.c.size_kib={c_bytes / 1024}",
            "memory.dram.bandwidth_gb_per_s=null",
            "memory.dram.bandwidth_bytes_per_cycle=4",
            "mapping.k_chunk=5",
            "mapping.k_split=false",  # exactly the chunks k_chunk asks for
        ],
    )
    gemms = [Gemm("a", "fc2", 9, 41, 10), Gemm("b", "fc1", 5, 13, 6, count=2)]
    schedules = [schedule_gemm(g, hw) for g in gemms]
    assert schedules[0].k_chunks == 9 and schedules[0].psum_resident == (c_bytes == 600)
    coalesced, plain = (simulate(hw, schedules, PolicyBase(), coalesce=c) for c in (True, False))
    assert coalesced.total_cycles == plain.total_cycles and coalesced.layers == plain.layers
    for layer, s in zip(coalesced.layers, schedules, strict=True):
        t = s.totals()
        assert (layer.actions.dram_read_bytes, layer.actions.dram_write_bytes) == (
            t.dram_load_bytes,
            t.dram_store_bytes,
        )
        assert (layer.actions.sram_c_read_bytes, layer.actions.sram_c_write_bytes) == (
            t.c_sram_read_bytes,
            t.c_sram_write_bytes,
        )
    spill = schedules[0].totals().psum_dram_store_bytes
    assert spill == (0 if c_bytes == 600 else 9 * 10 * 4 * 8)  # 90 int32 outputs x 8 non-last chunks
