"""Upsets in the A / B scratchpads while resident (faults.sram_faults, verify.sram_effects): residency from the
schedule, exact effects against a plain-numpy recomputation, SEC-DED verdicts, sampling statistics, runs."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import api
from simulator.config.enums import Datatype, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.ecc import SecDed
from simulator.faults.sram_faults import (
    ECC_CORRECTED,
    ECC_DETECTED,
    WRONG,
    SramFaults,
    flip_bits,
    fold_ranges,
    fold_times,
    sample_operand,
    sram_copies,
    stored_bits,
)
from simulator.mapping.fold_table import fold_table
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.sram_effects import instance_rows
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload
from tests.test_fault_sampling import P_MIN, chi_square_p

HW = ["array.rows=8", "array.cols=8"]
# OS on 8 x 8: M = 8 one fold row, N = 16 two fold columns, K = 24: the two folds read the same A block
TWO_FOLDS = Gemm("fc1", "fc1", 8, 24, 16)


def two_fold_setup():
    hw = api.resolve_hw("edge_32x32", HW)
    s = schedule_gemm(TWO_FOLDS, hw)
    folds = fold_table(hw.array.dataflow, 8, 24, 16, 8, 8, s.order)
    return hw, s, folds


def test_two_fold_residency_by_hand() -> None:
    """Folds issue every 24 cycles and take 38 (8 + 8 + 24 - 2 pipeline fill and drain); the A block A[0:8, :]
    is loaded once (fold 1 loads no A bytes) and lives over both folds; each fold loads its own B block."""
    _, s, folds = two_fold_setup()
    start, end = fold_times(s, folds)
    assert start.tolist() == [0, 24] and end.tolist() == [38, 62]
    a = sram_copies(s, folds, "a")
    assert (a.r0.tolist(), a.r1.tolist(), a.c0.tolist(), a.c1.tolist()) == ([0], [8], [0], [24])
    assert (a.start.tolist(), a.end.tolist(), a.reader_fold.tolist()) == ([0], [62], [0, 1])
    b = sram_copies(s, folds, "b")
    assert (b.c0.tolist(), b.c1.tolist(), b.start.tolist(), b.end.tolist()) == ([0, 8], [8, 16], [0, 24], [38, 62])
    assert stored_bits(a, Datatype.INT8, None).tolist() == [8 * 24 * 8]
    assert stored_bits(a, Datatype.INT8, SecDed(64)).tolist() == [8 * 24 * 8 // 64 * 72]


def test_a_block_refetched_per_fold_gets_fresh_copies() -> None:
    """M = 16: the second fold row's A block is another block; its first fold loads it (a new copy)."""
    hw = api.resolve_hw("edge_32x32", HW)
    s = schedule_gemm(Gemm("fc1", "fc1", 16, 24, 16), hw)
    folds = fold_table(hw.array.dataflow, 16, 24, 16, 8, 8, s.order)
    a = sram_copies(s, folds, "a")
    assert a.r0.tolist() == [0, 8] and a.start.tolist() == [0, 48] and a.end.tolist() == [62, 110]


def one_flip(operand: str, row: int, col: int, bit: int, cycle: int) -> SramFaults:
    z, one = np.zeros(1, np.int64), np.ones(1, np.int64)
    r, c, b = row * one, col * one, bit * one
    return SramFaults(operand, z, z, cycle * one, r, c, b, b, z + WRONG, r, c, b, z)


def operands(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(-128, 128, (8, 24)).astype(np.int8), rng.integers(-128, 128, (24, 16)).astype(np.int8)


def summed_error(rows, shape=(8, 16)) -> np.ndarray:
    out = np.zeros(shape, np.int64)
    np.add.at(out, (rows.grows[rows.alive], rows.gcols[rows.alive]), rows.delta[rows.alive])
    return out


@pytest.mark.parametrize("cycle, folds_hit", [(45, [1]), (10, [0, 1])])
def test_a_flip_corrupts_the_later_readers_row_exactly(cycle: int, folds_hit: list[int]) -> None:
    """Bit 6 of A[3, 5] flips at cycle 45 (after fold 0 ended at 38, before fold 1 ends at 62): exactly fold 1's
    outputs C[3, 8:16] change, by the plain-numpy recomputation with the flipped operand; at cycle 10 both folds
    read the flipped word: all of row 3."""
    _, s, folds = two_fold_setup()
    a, b = operands()
    copies = sram_copies(s, folds, "a")
    start, _ = fold_times(s, folds)
    ranges = fold_ranges(s, folds)
    rows = instance_rows(0, 0, {"a": (one_flip("a", 3, 5, 6, cycle), copies)}, a, b, start,
                         (ranges["m"], ranges["n"]), Datatype.INT8)  # fmt: skip
    flipped = a.copy()
    flipped[3, 5] = np.int8(int(a[3, 5]) ^ 0x40 if a[3, 5] >= 0 else (int(a[3, 5]) & 0xFF ^ 0x40) - 256)
    reference = flipped.astype(np.int64) @ b.astype(np.int64) - a.astype(np.int64) @ b.astype(np.int64)
    cols = np.zeros(16, bool)
    for f in folds_hit:
        cols[8 * f : 8 * f + 8] = True
    expected = np.where(cols[None, :], reference, 0)
    assert np.array_equal(summed_error(rows), expected)
    assert np.count_nonzero(expected[3]) > 0 and not expected[np.arange(8) != 3].any()
    assert rows.fold.tolist() == [folds_hit[0]] and rows.faults["site"].tolist() == [7]


def test_b_flip_corrupts_its_column_of_its_one_fold() -> None:
    """B[10, 12] (fold 1's block, loaded for fold 1 alone) bit 0 at cycle 30: C[:, 12] += A[:, 10] * delta."""
    _, s, folds = two_fold_setup()
    a, b = operands()
    copies = sram_copies(s, folds, "b")
    start, _ = fold_times(s, folds)
    ranges = fold_ranges(s, folds)
    fault = one_flip("b", 10, 12, 0, 30)
    fault = SramFaults("b", *(getattr(fault, n) for n in SramFaults.__slots__[1:2]), np.array([1]),
                       *(getattr(fault, n) for n in SramFaults.__slots__[3:]))  # fmt: skip  # copy 1
    rows = instance_rows(0, 0, {"b": (fault, copies)}, a, b, start, (ranges["m"], ranges["n"]), Datatype.INT8)
    d = (int(b[10, 12]) ^ 1) - int(b[10, 12])  # bit 0 of a two's complement byte: XOR keeps the sign
    expected = np.zeros((8, 16), np.int64)
    expected[:, 12] = a[:, 10].astype(np.int64) * d
    assert np.array_equal(summed_error(rows), expected)


def test_flip_bits_by_hand() -> None:
    assert flip_bits(np.array([5, -1, 0, 127]), np.array([0, 7, 7, 6]), Datatype.INT8).tolist() == [4, 127, -128, 63]
    assert flip_bits(np.array([1.0]), np.array([15]), Datatype.FP16).tolist() == [-1.0]
    assert flip_bits(np.array([1.0]), np.array([15]), Datatype.BF16).tolist() == [-1.0]  # bf16 sign = fp32 bit 31
    assert flip_bits(np.array([1.0]), np.array([23]), Datatype.FP32).tolist() == [0.5]  # exponent LSB


def test_secded_single_flip_is_corrected_and_double_is_detected() -> None:
    """The same A word and data bit without ECC escapes as above; with a single flip under SEC-DED the error is
    kept only as dead (corrected, no output changes); a double flip is detected (refetch), no output changes."""
    _, s, folds = two_fold_setup()
    a, b = operands()
    copies = sram_copies(s, folds, "a")
    start, _ = fold_times(s, folds)
    ranges = fold_ranges(s, folds)
    z = np.zeros(0, np.int64)
    for verdict, count in ((ECC_CORRECTED, 1), (ECC_DETECTED, 2)):
        n = count
        zeros, ones = np.zeros(n, np.int64), np.ones(n, np.int64)
        fault = SramFaults("a", zeros, zeros, 10 * ones, 3 * ones, 5 + np.arange(n), 3 * ones, 6 * ones,
                           verdict * ones, z, z, z, z)  # fmt: skip
        rows = instance_rows(0, 0, {"a": (fault, copies)}, a, b, start, (ranges["m"], ranges["n"]), Datatype.INT8)
        assert not summed_error(rows).any() and rows.delta.any() and not rows.alive.any()
        assert rows.corrected.tolist() == [verdict == ECC_CORRECTED] * n
        assert rows.detected.tolist() == [verdict == ECC_DETECTED] * n


def pack_word(values: np.ndarray) -> int:
    return sum((int(v) & 0xFF) << (8 * i) for i, v in enumerate(values))


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_secded_sampled_bursts_match_encode_flip_decode(width: int) -> None:
    """Every sampled burst's verdict and data errors equal encoding the real 64-bit word (8 int8 elements of the
    block, row-major), flipping the drawn codeword positions and decoding it (faults.ecc.SecDed.decode)."""
    _, s, folds = two_fold_setup()
    a, _ = operands()
    copies = sram_copies(s, folds, "a")
    code = SecDed(64)
    rng = np.random.default_rng(width)
    drawn = sample_operand(rng, copies, "a", Datatype.INT8, 2e-3, code, 1.0 if width > 1 else 0.0, max(width, 2))
    assert len(drawn) > 50
    block = a[copies.r0[0] : copies.r1[0], copies.c0[0] : copies.c1[0]].ravel()
    for u in np.unique(drawn.upset):
        mine = drawn.upset == u
        word = (int(drawn.row[mine][drawn.row[mine] >= 0][0]) * 24 + int(drawn.col[mine][drawn.row[mine] >= 0][0])
                if (drawn.row[mine] >= 0).any() else None)  # fmt: skip
        if word is None:
            continue  # check bits only: the data comes out right whatever the verdict
        w = word // 8
        codeword = code.encode(pack_word(block[8 * w : 8 * w + 8]))
        codeword[drawn.bit[mine]] ^= 1
        data, status = code.decode(codeword)
        verdict = int(drawn.verdict[mine][0])
        own = np.isin(drawn.err_owner, np.flatnonzero(mine))
        if status == "detected":
            assert verdict == ECC_DETECTED and not own.any()
            continue
        wrong = data ^ pack_word(block[8 * w : 8 * w + 8])
        expected = {(8 * w + d // 8, d % 8) for d in range(64) if wrong >> d & 1}
        got = {(int(r) * 24 + int(c), int(b)) for r, c, b in zip(drawn.err_row[own], drawn.err_col[own],
                                                                 drawn.err_bit[own], strict=True)}  # fmt: skip
        assert got == expected
        assert verdict == (WRONG if expected else ECC_CORRECTED)


def test_sampled_counts_are_poisson_in_bits_times_resident_cycles() -> None:
    """Per copy the upsets are Poisson(stored bits x life cycles x ber): over 4000 draws the mean matches, the
    variance equals the mean, and the count histogram passes a chi-square test; cycles are uniform in the life."""
    from scipy import stats

    _, s, folds = two_fold_setup()
    copies = sram_copies(s, folds, "b")
    ber = 1e-5
    rate = stored_bits(copies, Datatype.INT8, None) * (copies.end - copies.start) * ber  # 1536 bits x 38 cycles
    assert rate.tolist() == pytest.approx([1536 * 38 * 1e-5] * 2)
    counts = np.zeros((4000, 2), np.int64)
    cycles = []
    for i in range(4000):
        f = sample_operand(np.random.default_rng([11, i]), copies, "b", Datatype.INT8, ber, None, 0.0, 2)
        counts[i] = np.bincount(f.copy, minlength=2)
        cycles.append(f.cycle[f.copy == 0])
    total = counts.sum(axis=1)
    lam = float(rate.sum())
    assert total.mean() == pytest.approx(lam, rel=0.05) and total.var() == pytest.approx(lam, rel=0.1)
    k = np.arange(total.max() + 1)
    assert chi_square_p(np.bincount(total), stats.poisson.pmf(k, lam) * 4000) > P_MIN
    c = np.concatenate(cycles)
    assert c.min() >= 0 and c.max() < 38
    assert chi_square_p(np.bincount(c, minlength=38), np.full(38, c.size / 38)) > P_MIN


WL = Workload("tiny", (TWO_FOLDS,))


def sram_spec(ber: float, **kw) -> FaultSpec:
    return FaultSpec(ber=ber, sites=(Site.SRAM_A, Site.SRAM_B), seed=5, **kw)


def test_sram_upsets_in_a_run_are_silent_to_abft_and_dmr() -> None:
    """Without ECC every upset escapes or is masked at write-back in every policy: no check flags it (the checksums
    are encoded from the same SRAM words; DMR's copies read the same word); the draw is policy-independent."""
    hw = api.resolve_hw("edge_32x32", HW)
    report = api.run(hw, WL, ["none", "abft", "dmr"], sram_spec(2e-4), fault_log=True)
    base = report.policy("none").outcomes
    assert base["faults_injected"] > 5 and base["escaped"] > 0 and base["corrupted_outputs"] > 0
    for name in ("abft", "dmr"):
        o = report.policy(name).outcomes
        assert o["detected"] == 0 and o["recomputations"] == 0 and o["false_alarms"] == 0
        assert {k: o[k] for k in ("faults_injected", "escaped", "masked", "corrupted_outputs")} == {
            k: base[k] for k in ("faults_injected", "escaped", "masked", "corrupted_outputs")
        }
    log = report.policy("abft").fault_log or ()
    assert {r["site"] for r in log} == {"sram_a", "sram_b"}
    assert all(r["fate"] in ("escaped", "masked") and "/s" in r["fault_id"] for r in log)
    assert len({r["fault_id"] for r in log}) == len(log)


def test_sram_upsets_under_secded_in_a_run() -> None:
    """SEC-DED on A and B: single flips are all corrected (nothing escapes); 2-bit bursts are all detected."""
    hw = api.resolve_hw("edge_32x32", [*HW, "memory.sram.a.ecc=secded", "memory.sram.b.ecc=secded"])
    single = api.run(hw, WL, ["abft"], sram_spec(2e-4)).policy("abft").outcomes
    assert single["faults_injected"] > 5 and single["escaped"] == 0 and single["corrupted_outputs"] == 0
    assert single["corrected"] + single["masked"] == single["faults_injected"] and single["corrected"] > 0
    double = api.run(hw, WL, ["abft"], sram_spec(2e-4, mbu_fraction=1.0, mbu_max_bits=2)).policy("abft").outcomes
    assert double["detected"] == double["faults_injected"] > 5 and double["escaped"] == 0
    assert double["recomputed"] + double["masked"] == double["faults_injected"] and double["recomputations"] == 0


def test_sram_sites_are_opt_in() -> None:
    assert Site.SRAM_A not in FaultSpec().sites and Site.SRAM_B not in FaultSpec().sites
    assert Site.SRAM_C not in FaultSpec().sites and Site.DRAIN not in FaultSpec().sites
    assert set(FaultSpec().sites) == {s for s in Site if not s.opt_in}


def test_sram_draw_leaves_other_sites_draws_unchanged() -> None:
    """Adding the SRAM sites adds the SRAM faults and changes no PE fault's record."""
    hw = api.resolve_hw("edge_32x32", HW)
    pe = FaultSpec(ber=1e-4, sites=(Site.ACC,), seed=5)
    both = FaultSpec(ber=1e-4, sites=(Site.ACC, Site.SRAM_A), seed=5)
    a = api.run(hw, WL, ["none"], pe, fault_log=True).policy("none").fault_log or ()
    b = api.run(hw, WL, ["none"], both, fault_log=True).policy("none").fault_log or ()
    acc_b = [r for r in b if r["site"] == "acc"]
    assert len(a) > 0 and len(b) > len(a)
    strip = ("fate", "outputs_corrupted", "max_rel_error")  # outputs shared with SRAM errors may be judged anew
    assert [{k: v for k, v in r.items() if k not in strip} for r in a] == [
        {k: v for k, v in r.items() if k not in strip} for r in acc_b
    ]


def test_ecc_words_must_hold_whole_operands() -> None:
    _, s, folds = two_fold_setup()
    copies = sram_copies(s, folds, "a")
    with pytest.raises(ValueError, match="whole int8 operands"):
        sample_operand(np.random.default_rng(0), copies, "a", Datatype.INT8, 1e-3, SecDed(12), 0.0, 2)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_faulty_gemm_equals_per_fold_recomputation_with_the_words_each_fold_read(dataflow: str) -> None:
    """Independent reference: every fold recomputed in plain numpy from the A and B words it read (each live
    upset XOR-ed into the words of the folds that read its copy after it), the products summed into C; the
    functional accelerator (policy none, SRAM sites only, many upsets on both operands, so a fold often reads a
    flipped A[i, k] and a flipped B[k, n] together) must give exactly that accumulator."""
    from simulator.config.loader import load_hw
    from simulator.faults.sram_faults import sample_sram_faults
    from simulator.functional.accelerator import FunctionalAccelerator, wrap_int32

    hw = load_hw("edge_32x32", [f"array.dataflow={dataflow}", "array.rows=4", "array.cols=4"])
    gemm = Gemm("g", "qk", 9, 7, 6, count=2)
    rng = np.random.default_rng(3)
    a = rng.integers(-127, 128, (2, 9, 7)).astype(np.int8)
    b = rng.integers(-127, 128, (2, 7, 6)).astype(np.int8)
    spec = FaultSpec(ber=3e-3, seed=4, sites=(Site.SRAM_A, Site.SRAM_B))
    acc = FunctionalAccelerator(hw, [gemm], "none", spec)
    faulty = acc.accumulate(0, a, b)
    s = acc.schedules[0]
    folds = fold_table(hw.array.dataflow, 9, 7, 6, 4, 4, s.order)
    ranges = fold_ranges(s, folds)
    copies = {op: sram_copies(s, folds, op) for op in ("a", "b")}
    both = 0
    for inst in range(2):
        drawn = sample_sram_faults(4, 3e-3, ["a", "b"], copies, Datatype.INT8, {"a": None, "b": None}, 0.0, 2, 0, inst)
        assert all(len(drawn[op]) > 3 for op in ("a", "b"))
        read = {op: np.zeros((len(folds), *m.shape), bool) for op, m in (("a", a[inst]), ("b", b[inst]))}
        masks = {op: np.zeros((len(folds), *m.shape), np.uint8) for op, m in (("a", a[inst]), ("b", b[inst]))}
        for op, f in drawn.items():
            for i in range(len(f)):
                readers, ends = copies[op].readers(int(f.copy[i]))
                hit = readers[ends > f.cycle[i]]
                masks[op][hit, f.row[i], f.col[i]] ^= np.uint8(1 << int(f.bit[i]))
                read[op][hit, f.row[i], f.col[i]] = True
        expected = np.zeros((9, 6), np.int64)
        for j in range(len(folds)):
            m0, m1 = ranges["m"][0][j], ranges["m"][1][j]
            k0, k1 = ranges["k"][0][j], ranges["k"][1][j]
            n0, n1 = ranges["n"][0][j], ranges["n"][1][j]
            aj = (a[inst].view(np.uint8) ^ masks["a"][j]).view(np.int8).astype(np.int64)
            bj = (b[inst].view(np.uint8) ^ masks["b"][j]).view(np.int8).astype(np.int64)
            expected[m0:m1, n0:n1] += aj[m0:m1, k0:k1] @ bj[k0:k1, n0:n1]
            both += int((read["a"][j][m0:m1, k0:k1].astype(np.int64) @ read["b"][j][k0:k1, n0:n1]).sum())
        assert np.array_equal(faulty[inst], wrap_int32(expected))
        assert not np.array_equal(expected, a[inst].astype(np.int64) @ b[inst].astype(np.int64))
    assert both > 0  # the product term of a flipped A[i, k] and a flipped B[k, n] read by one fold was exercised
