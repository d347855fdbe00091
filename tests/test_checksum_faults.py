"""Faults in the checksum hardware: exposure, sampling statistics, exact effects, false alarms in a run."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator import api
from simulator.abft.checksum import block_deviations
from simulator.config.enums import Dataflow, Datatype, Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.faults.checksum_faults import (
    COL_WORD,
    ROW_WORD,
    ChecksumFaults,
    check_geometry,
    checksum_operations,
    sample_checksum_faults,
    word_deltas,
    word_values,
)
from simulator.faults.sampling import sample_gemm_faults
from simulator.kernels.codes import CHK_CMP, CHK_ENC, CHK_PRED, CHK_SUM
from simulator.mapping.fold_table import fold_table
from simulator.verify.checksum_checks import checked_blocks
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload
from tests.test_fault_sampling import P_MIN, chi_square_p

A = np.array([[1, 2], [3, 4]], np.int8)  # r = 2 output rows, k = 2
B = np.array([[5, 6, 7], [8, 9, 10]], np.int8)  # c = 3 output columns; C = [[21, 24, 27], [47, 54, 61]]


def faults(site, axis, line, block, step, bit) -> ChecksumFaults:
    cols = [np.atleast_1d(np.asarray(x, np.int64)) for x in (site, axis, line, block, step, bit)]
    n = cols[0].size
    z = np.zeros(n, np.int64)
    return ChecksumFaults(0, 0, z, z, np.arange(n, dtype=np.int64), *cols)


def test_word_values_by_hand() -> None:
    # B e = [18, 27]: predicted row 0 after step 0 = 1*18, after step 1 = 18 + 2*27 = 72 (= 21 + 24 + 27);
    # e^T A = [4, 6]: predicted column 1 after step 0 = 4*6 = 24; actual row 1 after two adds = 47 + 54;
    # actual column 2 after one add = 27
    f = faults([CHK_PRED, CHK_PRED, CHK_PRED, CHK_SUM, CHK_SUM, CHK_CMP],
               [ROW_WORD, ROW_WORD, COL_WORD, ROW_WORD, COL_WORD, ROW_WORD],
               [0, 0, 1, 1, 2, 0], [0] * 6, [0, 1, 0, 1, 0, 0], [0] * 6)  # fmt: skip
    assert word_values(f, A, B, (0, 0)).tolist() == [18, 72, 24, 101, 27, 0]
    # blocks of 1 column: row 0's predicted word of block column 2 sums B[:, 2] only: 1*7 + 2*10
    g = faults([CHK_PRED, CHK_SUM], [ROW_WORD, ROW_WORD], [0, 1], [2, 1], [1, 0], [0, 0])
    assert word_values(g, A, B, (0, 1)).tolist() == [27, 54]


def test_word_deltas_by_hand() -> None:
    values = np.array([18, 18, 7, -1, 0, 5])
    bits = np.array([1, 0, 1, 31, 31, 2])
    # 18 = 0b10010: bit 1 set -> -2, bit 0 clear -> +1; 7 bit 1 -> -2; -1 bit 31 -> 0x7fffffff: +2^31;
    # 0 bit 31 -> INT32_MIN: -2^31; 5 = 0b101 bit 2 -> 1: -4
    assert word_deltas(values, bits, integer=True).tolist() == [-2, 1, -2, 2**31, -(2**31), -4]
    # fp32: 1.0 with the lowest exponent bit (23) flipped is 0.5 -> -0.5; sign bit: -2.0
    assert word_deltas(np.array([1.0, 1.0]), np.array([23, 31]), integer=False).tolist() == [-0.5, -2.0]


def emulated_deviation(a: np.ndarray, b: np.ndarray, site: int, axis: int, line: int, step: int, bit: int) -> int:
    """Plain int32 emulation of the check with one flip: accumulate the predicted and actual sums term by
    term, flip the word's bit after operation `step`, return actual - predicted of the hit row / column."""
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    c = a64 @ b64

    def wrap(x: int) -> int:
        return ((x + 2**31) % 2**32) - 2**31

    if axis == ROW_WORD:
        pred_terms = [a64[line, t] * b64[t].sum() for t in range(a.shape[1])]
        sum_terms = list(c[line])
    else:
        pred_terms = [a64[:, t].sum() * b64[t, line] for t in range(a.shape[1])]
        sum_terms = list(c[:, line])
    words = {}
    for name, terms in (("pred", pred_terms), ("sum", sum_terms)):
        acc = 0
        for s, term in enumerate(terms):
            acc = wrap(acc + int(term))
            if s == step and name == ("pred" if site == CHK_PRED else "sum"):
                acc = wrap((acc & 0xFFFFFFFF) ^ (1 << bit))
        words[name] = acc
    return words["sum"] - words["pred"]


@pytest.mark.parametrize("seed", range(20))
def test_deviation_matches_an_int32_emulation_of_the_check(seed: int) -> None:
    rng = np.random.default_rng(seed)
    r, k, c = rng.integers(1, 6, size=3)
    a = rng.integers(-128, 128, size=(r, k)).astype(np.int8)
    b = rng.integers(-128, 128, size=(k, c)).astype(np.int8)
    site = int(rng.choice([CHK_PRED, CHK_SUM]))
    axis = int(rng.integers(2))
    line = int(rng.integers(r if axis == ROW_WORD else c))
    step = int(rng.integers(k if site == CHK_PRED else (c if axis == ROW_WORD else r)))
    bit = int(rng.integers(32))
    f = faults(site, axis, line, 0, step, bit)
    delta = word_deltas(word_values(f, a, b, (0, 0)), f.bit, integer=True)
    verdict = checked_blocks([], f, delta, (r, c), (0, 0), None, integer=True)
    (block,) = verdict.blocks
    seen = int((block.rsd if axis == ROW_WORD else block.csd)[line])
    # the words are int32: their difference is defined mod 2^32 (a sign-bit flip is +-2^31 alike)
    assert seen != 0 and (seen - emulated_deviation(a, b, site, axis, line, step, bit)) % 2**32 == 0
    assert abs(seen) == 2**bit
    assert verdict.false_alarm.tolist() == [True] and verdict.hidden.tolist() == [False]  # any int flip is seen
    other = block.csd if axis == ROW_WORD else block.rsd
    assert not other.any()  # one word: one row or one column deviates


def test_comparator_flip_raises_or_hides_a_flag() -> None:
    clean = checked_blocks([], faults(CHK_CMP, COL_WORD, 2, 0, 0, 0), np.zeros(1), (2, 3), (0, 0), None, True)
    (b,) = clean.blocks
    assert b.flagged_cols.tolist() == [2] and b.flagged_rows.size == 0 and clean.false_alarm.tolist() == [True]
    # a data error at (1, 2) flags row 1 and column 2; a flipped latch of row 1 hides that row's flag (the
    # column still sees it), two flips of one latch cancel
    data = block_deviations(np.array([1]), np.array([2]), np.array([5], np.int64), (2, 3))
    one = checked_blocks(data, faults(CHK_CMP, ROW_WORD, 1, 0, 0, 0), np.zeros(1), (2, 3), (0, 0), None, True)
    assert one.blocks[0].flagged_rows.size == 0 and one.blocks[0].flagged_cols.tolist() == [2]
    assert one.hidden.tolist() == [True] and one.false_alarm.tolist() == [False]
    two = checked_blocks(data, faults([CHK_CMP] * 2, [ROW_WORD] * 2, [1, 1], [0, 0], [0, 0], [0, 0]),
                         np.zeros(2), (2, 3), (0, 0), None, True)  # fmt: skip
    assert two.blocks[0].flagged_rows.tolist() == [1] and not two.hidden.any()


def test_a_cancelling_flip_hides_a_real_error() -> None:
    # the data error leaves RSD_0 = +4; the predicted row-0 word (18 after step 0, bit 2 clear) gains +4
    data = block_deviations(np.array([0]), np.array([1]), np.array([4], np.int64), (2, 3))
    f = faults(CHK_PRED, ROW_WORD, 0, 0, 0, 2)
    delta = word_deltas(word_values(f, A, B, (0, 0)), f.bit, integer=True)
    assert delta.tolist() == [4]
    v = checked_blocks(data, f, delta, (2, 3), (0, 0), None, True)
    assert v.blocks[0].rsd.tolist() == [0, 0] and v.blocks[0].flagged_cols.tolist() == [1]
    assert v.hidden.tolist() == [True]


def test_exposure_counts_by_hand() -> None:
    # OS 8x8 array, 20 x 12 x 10 GEMM: folds (rows, cols) 8x8, 8x2, 8x8, 8x2, 4x8, 4x2; K = 12
    folds = fold_table(Dataflow.OS, 20, 12, 10, 8, 8)
    geom = check_geometry(Dataflow.OS, folds)
    ops = checksum_operations(geom)
    r, c = geom.rows, geom.cols
    assert r.tolist() == [8, 8, 8, 8, 4, 4] and c.tolist() == [8, 2, 8, 2, 8, 2] and set(geom.k.tolist()) == {12}
    assert ops[CHK_PRED].tolist() == (12 * (r + c)).tolist()  # one row and one column word per output line
    assert ops[CHK_SUM].tolist() == (2 * r * c).tolist()
    assert ops[CHK_CMP].tolist() == (r + c).tolist()
    # 4 x 4 check blocks: every block row / column has its own words, 2 x 2 blocks on an 8 x 8 fold
    blocked = check_geometry(Dataflow.OS, folds, (4, 4))
    assert checksum_operations(blocked)[CHK_CMP][0] == 8 * 2 + 8 * 2


@pytest.mark.parametrize("dataflow", [*Dataflow, "os k_chunk=5"])
def test_check_geometry_is_check_extents_for_every_fold(dataflow: str) -> None:
    """The vectorised geometry against abft.check_cost.check_extents (the engine's pricing), fold by fold;
    with K chunks each OS fold's check sums over its own chunk (K = 12, k_chunk 5: 3 chunks of 4)."""
    from simulator.abft.check_cost import check_extents
    from simulator.mapping.schedule import schedule_gemm

    flow, *chunk = dataflow.split(" k_chunk=")
    extra = [f"mapping.k_chunk={chunk[0]}"] if chunk else []
    hw = api.resolve_hw("edge_32x32", [*HW, f"array.dataflow={flow}", *extra])
    dataflow = Dataflow(flow)
    gemm = Gemm("g", "fc1", 20, 12, 10)
    s = schedule_gemm(gemm, hw)
    folds = fold_table(dataflow, 20, 12, 10, 8, 8, s.order)
    geom = check_geometry(dataflow, folds)
    for f in range(len(folds)):
        e = check_extents(s, folds.fold(f))
        assert (geom.rows[f], geom.cols[f], geom.k[f]) == (e.out_rows, e.out_cols, e.k_inner)
    if chunk:
        assert s.k_chunks == 3 and set(geom.k.tolist()) == {4}  # 12 steps in 3 even chunks


def test_counts_are_poisson_and_sites_share_by_exposed_bit_operations() -> None:
    folds = fold_table(Dataflow.OS, 40, 30, 20, 8, 8)
    geom = check_geometry(Dataflow.OS, folds, (0, 4))
    spec = FaultSpec(ber=2e-4, seed=4)
    ops = checksum_operations(geom)
    bits = {CHK_PRED: 32, CHK_SUM: 32, CHK_CMP: 1}
    lam = sum(ops[s] * bits[s] for s in bits) * spec.ber
    counts, per_site = [], np.zeros(3)
    batches = [sample_checksum_faults(spec, geom, Datatype.INT8, 0, i, 0) for i in range(40)]
    for batch in batches:
        counts.append(np.bincount(batch.fold_index, minlength=len(folds)))
        per_site += np.bincount(batch.site - CHK_PRED, minlength=3)
    counts = np.concatenate(counts)
    lam_all = np.tile(lam, 40)
    top = int(counts.max()) + 1
    observed = np.bincount(counts, minlength=top + 1)[: top + 1].astype(float)
    expected = [stats.poisson.pmf(x, lam_all).sum() for x in range(top)] + [stats.poisson.sf(top - 1, lam_all).sum()]
    assert chi_square_p(observed, np.array(expected)) > P_MIN
    share = np.array([ops[s].sum() * bits[s] for s in (CHK_PRED, CHK_SUM, CHK_CMP)])
    assert per_site[2] > 0 and chi_square_p(per_site, share) > P_MIN
    allf = [b for b in batches if len(b)]
    site = np.concatenate([b.site for b in allf])
    axis = np.concatenate([b.axis for b in allf])
    fold = np.concatenate([b.fold_index for b in allf])
    line = np.concatenate([b.line for b in allf])
    block = np.concatenate([b.block for b in allf])
    step = np.concatenate([b.step for b in allf])
    bit = np.concatenate([b.bit for b in allf])
    # predicted words: a row word per (row, block column), a column word per column; K steps uniform
    pred = site == CHK_PRED
    rows_words = geom.rows[fold] * geom.n_block_cols[fold]
    p_row = rows_words / (rows_words + geom.cols[fold] * geom.n_block_rows[fold])
    assert (
        stats.binomtest(int((axis[pred] == ROW_WORD).sum()), int(pred.sum()), float(p_row[pred].mean())).pvalue > P_MIN
    )
    assert chi_square_p(np.bincount(step[pred], minlength=30), np.ones(30)) > P_MIN
    assert chi_square_p(np.bincount(bit[pred], minlength=32), np.ones(32)) > P_MIN
    assert (bit[site == CHK_CMP] == 0).all()
    # every word exists in its fold's check
    limit = np.where(axis == ROW_WORD, geom.rows[fold], geom.cols[fold])
    nblocks = np.where(axis == ROW_WORD, geom.n_block_cols[fold], geom.n_block_rows[fold])
    assert (line < limit).all() and (block < nblocks).all() and (step >= 0).all()
    # actual sums: a row word adds its block row's outputs one by one (step < block width)
    summed = site == CHK_SUM
    width = np.where(axis == ROW_WORD, np.minimum(geom.block_cols[fold], geom.cols[fold] - block * geom.block_cols[fold]),
                     np.minimum(geom.block_rows[fold], geom.rows[fold] - block * geom.block_rows[fold]))  # fmt: skip
    assert (step[summed] < width[summed]).all()


def test_checksum_sites_leave_the_pe_draw_unchanged() -> None:
    gemm = Gemm("g", "fc1", 30, 20, 25, count=2)
    pe_only = FaultSpec(ber=1e-4, seed=9, sites=("acc", "mult", "a_reg", "b_reg"))
    every = FaultSpec(ber=1e-4, seed=9)
    for inst in range(2):
        x = sample_gemm_faults(pe_only, gemm, 0, inst, Dataflow.OS, Datatype.INT8, 8, 8)
        y = sample_gemm_faults(every, gemm, 0, inst, Dataflow.OS, Datatype.INT8, 8, 8)
        assert len(x) > 0 and all(np.array_equal(getattr(x, c), getattr(y, c)) for c in ("fold_index", "row", "bit"))


HW = ["array.rows=8", "array.cols=8"]
WL = Workload("tiny", (Gemm("fc1", "fc1", 16, 24, 16),))  # OS: 2 x 2 folds of 8 x 8 outputs over K = 24


def one_checksum_fault(site: str) -> FaultSpec:
    """A spec (checksum site only) whose draw holds exactly one fault, in attempt 0: the first seed that does."""
    hw = api.resolve_hw("edge_32x32", HW)
    folds = fold_table(Dataflow.OS, 16, 24, 16, 8, 8)
    geom = check_geometry(Dataflow.OS, folds)
    code = {"chk_pred": CHK_PRED, "chk_sum": CHK_SUM, "chk_cmp": CHK_CMP, "chk_enc": CHK_ENC}[site]
    bit_operations = checksum_operations(geom)[code].sum() * Site(site).word_bits(hw.array.datatype)
    for seed in range(500):
        spec = FaultSpec(ber=0.7 / bit_operations, seed=seed, sites=(site,))  # 0.7 faults expected per pass
        first = sample_checksum_faults(spec, geom, hw.array.datatype, 0, 0, 0)
        retry = sample_checksum_faults(spec, geom, hw.array.datatype, 0, 0, 1)
        if len(first) == 1 and len(retry.of_fold(int(first.fold_index[0]))) == 0:
            return spec
    raise AssertionError("no seed found")


@pytest.mark.parametrize("site", ["chk_pred", "chk_sum", "chk_cmp", "chk_enc"])
def test_a_checksum_flip_on_a_clean_fold_is_one_false_alarm_and_one_wasted_recompute(site: str) -> None:
    spec = one_checksum_fault(site)
    policies = ["none", "detect_only", "abft", "dmr"]
    report = api.run(api.resolve_hw("edge_32x32", HW), WL, policies, spec, fault_log=True)
    clean = api.run(api.resolve_hw("edge_32x32", HW), WL, policies, FaultSpec())
    abft, detect = report.policy("abft"), report.policy("detect_only")
    (record,) = abft.fault_log or ()
    assert record["site"] == site and record["false_alarm"] and record["fate"] == "masked"
    assert record["outputs_corrupted"] == 0 and record["fault_id"].endswith("/c0")
    assert abft.outcomes["false_alarms"] == 1 and abft.outcomes["recomputations"] == 1
    assert abft.outcomes["faults_injected"] == 1 and abft.outcomes["escaped"] == 0
    assert detect.outcomes["false_alarms"] == 1 and detect.outcomes["recomputations"] == 0
    # policies without checksums have no checksum hardware to hit
    for name in ("none", "dmr"):
        assert report.policy(name).outcomes["faults_injected"] == 0
        assert report.policy(name).cycles == clean.policy(name).cycles
    assert detect.cycles == clean.policy("detect_only").cycles
    # the wasted recompute costs what recomputing that fold for a real error costs: an explicit acc flip in
    # the same fold (its last MAC cycle: PE (0, 0), K step 23) makes abft recompute the same tile once
    fold = int(record["fold"])
    pe = ExplicitFault(gemm="fc1", fold=fold, row=0, col=0, cycle=23, site=Site.ACC, bit=20)
    real = api.run(api.resolve_hw("edge_32x32", HW), WL, ["abft"], FaultSpec(explicit=[pe]))
    assert real.policy("abft").outcomes["recomputations"] == 1
    assert abft.cycles == real.policy("abft").cycles >= clean.policy("abft").cycles  # (may hide under stalls)
    assert (
        abft.energy_pj == pytest.approx(real.policy("abft").energy_pj)
        and abft.energy_pj > clean.policy("abft").energy_pj
    )
    assert abft.to_dict(report.baseline)["recomputed_macs"] == 8 * 8 * 24  # one 8 x 8 tile over K = 24
    wasted = sum(layer.recompute_cycles for layer in abft.layers)
    assert wasted == sum(layer.recompute_cycles for layer in real.policy("abft").layers) > 0


def test_checksum_campaign_exposure_fates_and_fit_by_hand() -> None:
    from simulator.abft.policies import PolicyContext
    from simulator.abft.registry import make_policy
    from simulator.config.abft_options import AbftConfig
    from simulator.mapping.schedule import schedule_gemm
    from simulator.reliability.checksum_avf import checksum_fits, run_checksum_campaign
    from simulator.reliability.rates import fit_from_exposure
    from simulator.reliability.single_fault import FATE_CODE
    from simulator.verify.operand_cache import OperandCache

    hw = api.resolve_hw("edge_32x32", HW)
    schedules = [schedule_gemm(g, hw) for g in WL.gemms]
    abft = AbftConfig()
    names = ["none", "detect_only", "abft", "dmr"]
    policies = [make_policy(n, PolicyContext(hw.checksum_unit.placement, abft)) for n in names]
    campaign = run_checksum_campaign(hw, schedules, FaultSpec(), abft, policies, 300, 0, OperandCache(hw, schedules, 0))
    assert campaign is not None and len(campaign) == 300
    # 4 folds of 8 x 8 outputs over K = 24: predicted words 24 x 16 ops, actual sums 2 x 64, 16 verdict bits
    assert campaign.exposure.bit_ops_per_site.tolist() == [4 * 384 * 32, 4 * 128 * 32, 4 * 16 * 1]
    assert np.bincount(campaign.site - CHK_PRED).tolist() == [100, 100, 100]  # stratified by site
    codes = {n: campaign.fate[i] for i, n in enumerate(names)}
    assert (codes["none"] == FATE_CODE["masked"]).all() and (codes["dmr"] == FATE_CODE["masked"]).all()
    assert (codes["detect_only"] == FATE_CODE["due"]).all()  # every int flip is seen and signalled
    assert (codes["abft"] == FATE_CODE["recomputed"]).all()  # ... or recomputed: a false alarm
    fits = checksum_fits(campaign, 1000.0, dict.fromkeys(names, 5000), ("sdc", "due"))
    for site, bit_ops in zip(("chk_pred", "chk_sum", "chk_cmp"), (49152, 16384, 64), strict=True):
        assert fits["detect_only"][site]["due"].estimate == pytest.approx(fit_from_exposure(1000.0, bit_ops, 5000))
    assert fits["detect_only"]["all"]["due"].estimate == pytest.approx(fit_from_exposure(1000.0, 65600, 5000))
    assert fits["abft"]["all"]["due"].estimate == 0 == fits["abft"]["all"]["sdc"].estimate


def test_checksum_sites_are_transient_and_the_campaign_needs_a_pe_site() -> None:
    from simulator.reliability.exposure import workload_exposure

    with pytest.raises(ValueError, match="stuck-at faults hit PE registers"):
        FaultSpec(kind="permanent", sites=("chk_pred",))
    with pytest.raises(ValueError, match="kind: a chk_sum fault is transient"):  # (placed: tests/test_explicit_sites)
        ExplicitFault(gemm="fc1", fold=0, row=0, site=Site.CHK_SUM, bit=0, kind="stuck1")
    with pytest.raises(ValueError, match="at least one PE register site"):
        from simulator.mapping.schedule import schedule_gemm

        hw = api.resolve_hw("edge_32x32", HW)
        workload_exposure([schedule_gemm(WL.gemms[0], hw)], FaultSpec(sites=("chk_cmp",)), Datatype.INT8)
