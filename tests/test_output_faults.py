"""Upsets on the output path (faults.output_faults, verify.output_effects): C scratchpad words (sram_c) and the
accumulator drain registers (drain). Residency and drain exposure by hand, exact effects against plain int32
word arithmetic, silence to ABFT / DMR, SEC-DED on C (corrected / DUE), sampling statistics, the ECC refetch
price (metrics.ecc_refetch) by hand and in a run, and the fault log against the report's counts."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import api
from simulator.config.enums import Datatype, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.output_faults import (
    CWords,
    DrainFlips,
    c_words,
    drain_geometry,
    sample_c_words,
    sample_drain,
)
from simulator.faults.sram_faults import WRONG, SramFaults, fold_ranges, fold_times, stored_bits
from simulator.mapping.dataflow import geometry_of
from simulator.mapping.fold_table import fold_table
from simulator.mapping.schedule import fold_transfers, schedule_gemm
from simulator.metrics.ecc_refetch import refetch_cost, refetch_cycles
from simulator.verify.output_effects import instance_rows
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload
from tests.test_fault_sampling import P_MIN, chi_square_p

# OS on 8 x 8 with K = 24 cut into 3 chunks of 8: fold j = (chunk j // 2, N block j % 2); each fold streams
# 8 steps (latency 8 + 8 + 8 - 2 = 22, issue interval 8 with fold overlap)
CHUNKED = ["array.rows=8", "array.cols=8", "mapping.k_chunk=8"]
GEMM = Gemm("fc1", "fc1", 8, 24, 16)
DRAM_BYTES_PER_CYCLE = 25.6  # edge_32x32: 25.6 GB/s at 1 GHz


def setup(overrides=CHUNKED, gemm=GEMM):
    hw = api.resolve_hw("edge_32x32", overrides)
    s = schedule_gemm(gemm, hw)
    folds = fold_table(hw.array.dataflow, gemm.m, gemm.k, gemm.n, hw.array.rows, hw.array.cols, s.order)
    return hw, s, folds


def test_c_residency_by_hand() -> None:
    """Folds end at 22, 30, ..., 62. A partial sum lives from its fold's end to the end of the next chunk's fold
    of the same block (read-modify-write at its drain); an output from its fold's end for the write-back's
    ceil(64 int8 bytes / 25.6 bytes per cycle) = 3 cycles."""
    hw, s, folds = setup()
    assert hw.dram_bytes_per_cycle == DRAM_BYTES_PER_CYCLE
    start, end = fold_times(s, folds)
    assert start.tolist() == [0, 8, 16, 24, 32, 40] and end.tolist() == [22, 30, 38, 46, 54, 62]
    w = c_words(s, folds, hw.dram_bytes_per_cycle)
    c = w.copies
    assert w.writer.tolist() == [0, 1, 2, 3, 4, 5]
    assert (c.start.tolist(), c.end.tolist()) == ([22, 30, 38, 46, 54, 62], [38, 46, 54, 62, 57, 65])
    assert (c.r0.tolist(), c.r1.tolist(), c.c0.tolist(), c.c1.tolist()) == ([0] * 6, [8] * 6, [0, 8] * 3, [8, 16] * 3)
    assert w.k_hi.tolist() == [8, 8, 16, 16, 24, 24] and w.final.tolist() == [False] * 4 + [True] * 2
    assert stored_bits(c, Datatype.INT8, None, 32).tolist() == [64 * 32] * 6


def test_whole_k_outputs_live_only_through_their_write_back() -> None:
    """Without a K split each block has one fold: no partial sum, the output lives 3 cycles after its fold."""
    hw, s, folds = setup(["array.rows=8", "array.cols=8", "mapping.k_split=false"])
    w = c_words(s, folds, hw.dram_bytes_per_cycle)
    assert (w.copies.start.tolist(), w.copies.end.tolist(), w.final.tolist()) == ([38, 62], [41, 65], [True, True])


def test_drain_latency_follows_the_geometry() -> None:
    """OS shifts a column of R accumulators out over R cycles; WS / IS partial sums pass one edge register."""
    assert [geometry_of(d).drain_cycles(8) for d in ("os", "ws", "is")] == [8, 1, 1]
    _, s, folds = setup()
    g = drain_geometry(s, folds, Datatype.INT8)
    assert g.exposure.tolist() == [64 * 32 * 8] * 6 and g.drain_cycles == 8 and g.latency.tolist() == [22] * 6


def operands(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (8, 24)).astype(np.int8), rng.integers(-128, 128, (24, 16)).astype(np.int8)


def c_flips(words: CWords, flips: list[tuple[int, int, int, int, int]]) -> SramFaults:
    """C upsets without ECC, one per (copy, cycle, row, col, bit)."""
    copy, cycle, row, col, bit = (np.array(x, np.int64) for x in zip(*flips, strict=True))
    n = np.arange(len(flips), dtype=np.int64)
    return SramFaults("c", n, copy, cycle, row, col, bit, bit, np.full(len(flips), WRONG), row, col, bit, n)


def resolve(c=None, drain=None):
    hw, s, folds = setup()
    words = c_words(s, folds, hw.dram_bytes_per_cycle)
    a, b = operands()
    start, end = fold_times(s, folds)
    faults = None if c is None else (c_flips(words, c), words)
    return instance_rows(0, 0, faults, drain, a, b, fold_ranges(s, folds)["k"], start, end, Datatype.INT8), a, b


def int32_xor(value: int, bit: int) -> int:
    """Plain numpy: the int32 word `value` with bit `bit` inverted."""
    return int((np.array([value], np.int32).view(np.uint32) ^ np.uint32(1 << bit)).view(np.int32)[0])


def dot(a, b, i, j, lo, hi) -> int:
    return int(a[i, lo:hi].astype(np.int64) @ b[lo:hi, j].astype(np.int64))


@pytest.mark.parametrize("bit", [0, 9, 30, 31])
def test_flip_of_a_stored_output_word_changes_that_output_exactly(bit: int) -> None:
    """Copy 4 is fold 4's output block C[0:8, 0:8] (all of K summed); a flip at cycle 55 of C[2, 3] changes it
    to its int32 word with the bit inverted. Ledger row: fold 4, cycle 55 - 32 = 23 into it."""
    rows, a, b = resolve(c=[(4, 55, 2, 3, bit)])
    clean = dot(a, b, 2, 3, 0, 24)
    assert rows.fold.tolist() == [4] and rows.faults["cycle"].tolist() == [23] and rows.faults["row"].tolist() == [2]
    assert (rows.grows.tolist(), rows.gcols.tolist(), rows.alive.tolist()) == ([2], [3], [True])
    assert rows.delta.tolist() == [int32_xor(clean, bit) - clean]


@pytest.mark.parametrize("bit", [4, 31])
def test_flip_of_a_partial_sum_reaches_the_output_through_the_later_chunks(bit: int) -> None:
    """Copy 0 holds C[:, 0:8] summed over k < 8 until fold 2 reads it at cycle 38. A flip at cycle 30 changes the
    partial sum p to p' = p XOR 2^b; the later chunks add their products to p', so the output is
    wrap32(p' + rest), and the error is p' - p (modulo 2^32)."""
    rows, a, b = resolve(c=[(0, 30, 2, 3, bit)])
    p, rest = dot(a, b, 2, 3, 0, 8), dot(a, b, 2, 3, 8, 24)
    faulty = int(np.array([int32_xor(p, bit) + rest]).astype(np.int64).astype(np.int32)[0])
    clean = int(np.int32(p + rest))
    (delta,) = rows.delta.tolist()
    assert delta == int32_xor(p, bit) - p
    assert (clean + delta - faulty) % 2**32 == 0
    assert rows.fold.tolist() == [0] and rows.faults["cycle"].tolist() == [30]


def test_a_second_flip_acts_on_the_corrupted_word() -> None:
    """Bit 7 of C[2, 3]'s partial sum at cycle 30, then bit 7 of its output word at cycle 60: the word is
    ((p XOR 2^7) + rest) XOR 2^7, computed from the int32 words by plain numpy."""
    rows, a, b = resolve(c=[(0, 30, 2, 3, 7), (4, 56, 2, 3, 7)])
    p, rest = dot(a, b, 2, 3, 0, 8), dot(a, b, 2, 3, 8, 24)
    faulty = int32_xor(int(np.int64(int32_xor(p, 7) + rest).astype(np.int32)), 7)
    assert (p + rest + int(rows.delta.sum()) - faulty) % 2**32 == 0
    assert rows.owner.tolist() == [0, 1]


@pytest.mark.parametrize("bit", [0, 5, 30, 31])
def test_drain_flip_changes_one_output_by_two_to_the_bit(bit: int) -> None:
    """A flip of bit b of the drain word of C[1, 5] of fold 3 (the second K chunk of N block 1): the output
    changes by +2^b when that bit of the fold's product was 0, -2^b when it was 1 (bit 31 weighs -2^31)."""
    flip = DrainFlips(*(np.array([x], np.int64) for x in (0, 3, 1, 13, bit, 24)))
    rows, a, b = resolve(drain=flip)
    v = dot(a, b, 1, 13, 8, 16)
    weight = -(2**bit) if bit == 31 else 2**bit
    set_before = (np.array([v], np.int32).view(np.uint32)[0] >> bit) & 1
    assert rows.delta.tolist() == [-weight if set_before else weight]
    assert (rows.grows.tolist(), rows.gcols.tolist(), rows.fold.tolist()) == ([1], [13], [3])
    assert rows.faults["site"].tolist() == [10] and rows.faults["cycle"].tolist() == [24]


def test_drain_flip_undone_by_a_c_flip_of_the_same_bit() -> None:
    """Fold 0 drains C[2, 3]'s product with bit 5 inverted (at cycle 22); the partial sum's bit 5 flips back at
    cycle 25: the two changes cancel exactly."""
    flip = DrainFlips(*(np.array([x], np.int64) for x in (0, 0, 2, 3, 5, 22)))
    rows, _, _ = resolve(c=[(0, 25, 2, 3, 5)], drain=flip)
    assert len(rows) == 2 and int(rows.delta.sum()) == 0 and rows.delta.shape == (2,)


WL = Workload("tiny", (GEMM,))


def out_spec(ber: float, sites=(Site.SRAM_C, Site.DRAIN), **kw) -> FaultSpec:
    return FaultSpec(ber=ber, sites=sites, seed=5, **kw)


def test_output_path_upsets_are_silent_to_abft_and_dmr() -> None:
    """No check sees a C word or a drain flip (they come after the fold's check, and a later chunk's check covers
    only its own product): every policy counts the same faults, escapes and bad outputs and never recomputes."""
    hw = api.resolve_hw("edge_32x32", CHUNKED)
    report = api.run(hw, WL, ["none", "abft", "dmr"], out_spec(1e-4), fault_log=True)
    base = report.policy("none").outcomes
    assert base["faults_injected"] > 10 and base["escaped"] > 0 and base["corrupted_outputs"] > 0
    keys = ("faults_injected", "escaped", "masked", "corrupted_outputs", "unrecoverable")
    for name in ("abft", "dmr"):
        o = report.policy(name).outcomes
        assert o["detected"] == 0 and o["recomputations"] == 0 and o["false_alarms"] == 0
        assert {k: o[k] for k in keys} == {k: base[k] for k in keys}
    log = report.policy("abft").fault_log or ()
    assert {r["site"] for r in log} == {"sram_c", "drain"}
    psum = [r for r in log if r["site"] == "sram_c" and r["fold"] < 4]  # partial sums read by a later chunk
    assert psum and all(r["fate"] in ("escaped", "masked") and not r["detected"] for r in psum)
    assert len({r["fault_id"] for r in log}) == len(log)
    assert all(r["fault_id"].split("/")[-1][0] == ("d" if r["site"] == "drain" else "o") for r in log)


def test_c_upsets_under_secded_are_corrected_or_unrecoverable() -> None:
    """SEC-DED on C: single flips are corrected (or hit check bits only); 2-bit bursts in one codeword are all
    detected, a DUE each: fate unrecoverable, no output counted corrupted, and the report says how many."""
    hw = api.resolve_hw("edge_32x32", [*CHUNKED, "memory.sram.c.ecc=secded"])
    single = api.run(hw, WL, ["abft"], out_spec(1e-4, (Site.SRAM_C,))).policy("abft").outcomes
    assert single["faults_injected"] > 10 and single["escaped"] == 0 and single["corrupted_outputs"] == 0
    assert single["corrected"] + single["masked"] == single["faults_injected"] and single["unrecoverable"] == 0
    spec = out_spec(1e-4, (Site.SRAM_C,), mbu_fraction=1.0, mbu_max_bits=2)
    report = api.run(hw, WL, ["abft"], spec, fault_log=True).policy("abft")
    double = report.outcomes
    assert double["detected"] == double["unrecoverable"] == double["faults_injected"] > 10
    assert double["escaped"] == 0 and double["corrupted_outputs"] == 0 and double["recomputations"] == 0
    assert {r["fate"] for r in report.fault_log or ()} == {"unrecoverable"}


def test_fault_log_agrees_with_the_report_counts() -> None:
    """Every output-path and A / B site, ECC on A and C, multi-bit upsets: the log's fates and detections sum to the
    report's counts, per layer and per run."""
    hw = api.resolve_hw("edge_32x32", [*CHUNKED, "memory.sram.a.ecc=secded", "memory.sram.c.ecc=secded"])
    sites = (Site.ACC, Site.SRAM_A, Site.SRAM_B, Site.SRAM_C, Site.DRAIN)
    report = api.run(hw, WL, ["none", "abft"], out_spec(1e-4, sites, mbu_fraction=0.3), fault_log=True)
    for p in report.policies:
        log = p.fault_log or ()
        fates = [r["fate"] for r in log]
        assert len(log) == p.outcomes["faults_injected"] > 50
        for fate in ("masked", "corrected", "recomputed", "tolerated", "escaped", "unrecoverable"):
            assert fates.count(fate) == p.outcomes[fate], fate
        assert sum(r["detected"] for r in log) == p.outcomes["detected"]
        assert len({r["fault_id"] for r in log}) == len(log)  # A / B upsets and C words of one fold: distinct ids
        assert p.outcomes["unrecoverable"] > 0 and p.extra["ecc_refetches"] > 0
        assert sum(layer.outcomes["unrecoverable"] for layer in p.layers) == p.outcomes["unrecoverable"]


def test_output_sites_leave_other_draws_unchanged() -> None:
    """Adding sram_c and drain adds their faults and changes no other fault's record."""
    hw = api.resolve_hw("edge_32x32", CHUNKED)
    pe = FaultSpec(ber=1e-4, sites=(Site.ACC, Site.SRAM_A), seed=5)
    more = FaultSpec(ber=1e-4, sites=(Site.ACC, Site.SRAM_A, Site.SRAM_C, Site.DRAIN), seed=5)
    a = api.run(hw, WL, ["none"], pe, fault_log=True).policy("none").fault_log or ()
    b = api.run(hw, WL, ["none"], more, fault_log=True).policy("none").fault_log or ()
    strip = ("fate", "outputs_corrupted", "max_rel_error")  # outputs shared with other errors may be judged anew
    assert len(b) > len(a) > 0
    assert [{k: v for k, v in r.items() if k not in strip} for r in a] == [
        {k: v for k, v in r.items() if k not in strip} for r in b if r["site"] in ("acc", "sram_a")
    ]


def test_c_counts_are_poisson_in_bits_times_resident_cycles() -> None:
    """Over 3000 draws the total is Poisson(sum of 2048 bits x life x ber) (mean, variance, chi-square), copies are
    hit in proportion to their bit-cycles, and each upset's cycle lies in its copy's life."""
    from scipy import stats

    hw, s, folds = setup()
    w = c_words(s, folds, hw.dram_bytes_per_cycle)
    ber = 2e-5
    rate = 2048 * (w.copies.end - w.copies.start) * ber
    counts = np.zeros((3000, 6), np.int64)
    for i in range(3000):
        f = sample_c_words(i, ber, w, Datatype.INT8, None, 0.0, 2, 0, 0)
        counts[i] = np.bincount(f.copy, minlength=6)
        assert np.all((f.cycle >= w.copies.start[f.copy]) & (f.cycle < w.copies.end[f.copy]))
        assert np.all((f.bit >= 0) & (f.bit < 32))
    total, lam = counts.sum(axis=1), float(rate.sum())
    assert total.mean() == pytest.approx(lam, rel=0.05) and total.var() == pytest.approx(lam, rel=0.1)
    assert chi_square_p(np.bincount(total), stats.poisson.pmf(np.arange(total.max() + 1), lam) * 3000) > P_MIN
    assert chi_square_p(counts.sum(axis=0), rate) > P_MIN


def test_drain_counts_are_poisson_in_the_drain_exposure() -> None:
    """Per instance the drain flips are Poisson(sum over folds of outputs x 32 bits x 8 cycles x ber), spread over
    folds in proportion, bits uniform over the 32 and cycles over the fold's drain window [22 or the fold's
    latency, + 8)."""
    from scipy import stats

    _, s, folds = setup()
    ber = 5e-6
    geometry = drain_geometry(s, folds, Datatype.INT8)
    exposure = geometry.exposure
    per_fold, bits, offsets = np.zeros(6, np.int64), np.zeros(32, np.int64), np.zeros(8, np.int64)
    totals = []
    for i in range(3000):
        d = sample_drain(i, ber, geometry, 32, 0.0, 2, 0, 0)
        totals.append(len(d))
        per_fold += np.bincount(d.fold, minlength=6)
        bits += np.bincount(d.bit, minlength=32)
        offsets += np.bincount(d.cycle - 22, minlength=8)  # every fold here is 22 cycles long
    lam = float(exposure.sum() * ber)
    total = np.array(totals)
    assert total.mean() == pytest.approx(lam, rel=0.05) and total.var() == pytest.approx(lam, rel=0.1)
    assert chi_square_p(np.bincount(total), stats.poisson.pmf(np.arange(total.max() + 1), lam) * 3000) > P_MIN
    assert chi_square_p(per_fold, exposure.astype(float)) > P_MIN
    assert chi_square_p(bits, np.ones(32)) > P_MIN and chi_square_p(offsets, np.ones(8)) > P_MIN


@pytest.mark.parametrize(("dataflow", "c_kib"), [("os", 128), ("ws", 128), ("is", 128), ("ws", 0.1), ("os", 0.1)])
def test_faulty_accumulator_equals_int32_word_replay(dataflow: str, c_kib: float) -> None:
    """Independent reference: per output element, replay its C word in plain int32 arithmetic: each fold of its
    K chain adds its product, XOR-ed with that fold's drain flips, at the fold's end; each C upset XORs the word
    the element holds at its cycle. The functional accelerator (policy none, sram_c and drain only, many upsets)
    must give exactly that accumulator. With 0.1 KiB of C the partial sums spill to DRAM between the chunks (a
    copy while the spill streams out, another after the reload)."""
    from simulator.config.loader import load_hw
    from simulator.functional.accelerator import FunctionalAccelerator

    overrides = [f"array.dataflow={dataflow}", "array.rows=4", "array.cols=4", "mapping.k_chunk=3"]
    hw = load_hw("edge_32x32", [*overrides, f"memory.sram.c.size_kib={c_kib}"])
    gemm = Gemm("g", "qk", 9, 10, 6, count=2)
    rng = np.random.default_rng(3)
    a = rng.integers(-127, 128, (2, 9, 10)).astype(np.int8)
    b = rng.integers(-127, 128, (2, 10, 6)).astype(np.int8)
    spec = FaultSpec(ber=1e-3, seed=4, sites=(Site.SRAM_C, Site.DRAIN))
    acc = FunctionalAccelerator(hw, [gemm], "none", spec)
    faulty = acc.accumulate(0, a, b)
    s = acc.schedules[0]
    folds = fold_table(hw.array.dataflow, 9, 10, 6, 4, 4, s.order)
    r = fold_ranges(s, folds)
    _, end = fold_times(s, folds)
    words = c_words(s, folds, hw.dram_bytes_per_cycle)
    assert words.final.sum() < len(words.final)  # partial sums pass through C
    spills = [fold_transfers(s, folds.fold(j)).psum_dram_store_bytes > 0 for j in range(len(folds))]
    assert any(spills) == (c_kib < 1)
    assert np.all(words.copies.start >= end[words.writer])  # a word lives only after its fold wrote it
    for inst in range(2):
        c = sample_c_words(4, 1e-3, words, Datatype.INT8, None, 0.0, 2, 0, inst)
        d = sample_drain(4, 1e-3, drain_geometry(s, folds, Datatype.INT8), 32, 0.0, 2, 0, inst)
        assert len(c) > 3 and len(d) > 3
        expected = np.zeros((9, 6), np.int64)
        for i in range(9):
            for j in range(6):
                chain = [
                    f
                    for f in range(len(folds))
                    if r["m"][0][f] <= i < r["m"][1][f] and r["n"][0][f] <= j < r["n"][1][f]
                ]
                chain.sort(key=lambda f: r["k"][0][f])
                events = [(int(end[f]), 0, f) for f in chain]
                events += [(int(c.cycle[u]), 1, u) for u in range(len(c)) if (c.row[u], c.col[u]) == (i, j)]
                word = np.int32(0)
                for _, kind, x in sorted(events):
                    if kind == 0:
                        lo, hi = r["k"][0][x], r["k"][1][x]
                        prod = np.int32(a[inst, i, lo:hi].astype(np.int64) @ b[inst, lo:hi, j].astype(np.int64))
                        for u in np.flatnonzero((d.fold == x) & (d.row == i) & (d.col == j)):
                            prod = np.int32(int32_xor(int(prod), int(d.bit[u])))
                        word = np.int32((int(word) + int(prod) + 2**31) % 2**32 - 2**31)
                    else:
                        word = np.int32(int32_xor(int(word), int(c.bit[x])))
                expected[i, j] = int(word)
        assert np.array_equal(faulty[inst], expected)
        assert not np.array_equal(expected, a[inst].astype(np.int64) @ b[inst].astype(np.int64))


def test_refetch_price_by_hand() -> None:
    """One detected double error in an 8 x 24 int8 A block (192 bytes) on edge_32x32: DRAM reads 192 bytes
    at 104 pJ each, SRAM A writes them at 7.28 pJ, the layer stalls ceil(192 / 25.6) + 100 = 8 + 100 = 108
    cycles and leaks 30 mW over them (30 x 108 / 1 GHz pJ): 19,968 + 1,397.76 + 3,240 = 24,605.76 pJ."""
    hw = api.resolve_hw("edge_32x32")
    assert refetch_cycles(192, hw) == 108 and refetch_cycles(256, hw) == 110
    cost = refetch_cost([("a", 192)], hw)
    assert (cost.refetches, cost.size_bytes, cost.cycles) == (1, 192, 108)
    assert cost.actions.dram_read_bytes == 192 and cost.actions.sram_a_write_bytes == 192
    assert cost.energy_pj(hw) == pytest.approx(24605.76)


def test_refetches_in_a_run_cost_their_stall_and_energy() -> None:
    """2-bit bursts under SEC-DED on A and B are all detected; each strike refetches its block. SRAM upsets never
    flag a fold, so under `none` the run takes the fault-free cycles plus the refetch stalls, and uses the
    fault-free energy plus the refetch energy; the layer fields add up to the run's."""
    hw = api.resolve_hw("edge_32x32", ["array.rows=8", "array.cols=8", "memory.sram.a.ecc=secded",
                                       "memory.sram.b.ecc=secded"])  # fmt: skip
    spec = out_spec(2e-4, (Site.SRAM_A, Site.SRAM_B), mbu_fraction=1.0, mbu_max_bits=2)
    report = api.run(hw, WL, ["none"], spec, fault_log=True)
    p = report.policy("none")
    log = p.fault_log or ()
    strikes = sum(r["detected"] for r in log) // 2  # two flipped bits (rows) per strike
    assert p.extra["ecc_refetches"] == strikes > 5
    block = {"sram_a": 8 * 24, "sram_b": 24 * 8}  # A[0:8, 0:24] and B[0:24, n block] int8 bytes
    assert p.extra["ecc_refetch_bytes"] == sum(block[r["site"]] for r in log if r["detected"]) // 2
    assert p.extra["ecc_refetch_cycles"] == strikes * 108
    assert p.cycles == report.baseline.cycles + p.extra["ecc_refetch_cycles"]
    assert p.energy_pj == pytest.approx(report.baseline.energy_pj + p.extra["ecc_refetch_energy_pj"])
    for key in ("ecc_refetches", "ecc_refetch_bytes", "ecc_refetch_cycles"):
        assert sum(layer.outcomes[key] for layer in p.layers) == p.extra[key]
    (layer,) = p.layers
    assert layer.total_cycles == report.baseline.layers[0].total_cycles + p.extra["ecc_refetch_cycles"]


@pytest.mark.parametrize(("op", "site", "bits"), [("c", Site.SRAM_C, 48), ("a", Site.SRAM_A, 12)])
def test_ecc_words_that_split_a_stored_word_are_a_config_error(op: str, site: Site, bits: int) -> None:
    """C's SEC-DED words must hold whole 32-bit accumulator words, A's whole int8 operands: named before running."""
    from simulator.errors import ConfigError

    hw = api.resolve_hw(
        "edge_32x32", [*CHUNKED, f"memory.sram.{op}.ecc=secded", f"memory.sram.{op}.ecc_data_bits={bits}"]
    )
    with pytest.raises(ConfigError, match=f"memory.sram.{op}.ecc_data_bits: {bits} data bits"):
        api.run(hw, WL, ["none"], out_spec(1e-4, (site,)))
    api.run(hw, WL, ["none"], out_spec(1e-4, (Site.DRAIN,)))  # the scratchpad not injected: no constraint


def test_fp32_drain_sign_flip_negates_the_fold_product() -> None:
    """fp32 accumulators: flipping bit 31 (the sign) of the drain word of C[1, 13] of fold 3 turns the fold's
    product v (the fp32-rounded dot over k in [8, 16)) into -v: the output changes by -2v."""
    _, s, folds = setup()
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((8, 24)).astype(np.float32), rng.standard_normal((24, 16)).astype(np.float32)
    start, end = fold_times(s, folds)
    flip = DrainFlips(*(np.array([x], np.int64) for x in (0, 3, 1, 13, 31, 24)))
    rows = instance_rows(0, 0, None, flip, a, b, fold_ranges(s, folds)["k"], start, end, Datatype.FP32)
    v = float(np.float32(a[1, 8:16].astype(np.float64) @ b[8:16, 13].astype(np.float64)))
    assert rows.delta.tolist() == [-2 * v] and rows.delta.dtype == np.float64
