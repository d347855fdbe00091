"""The checksum operand encoders e^T A / B e as a fault site (chk_enc): exact effect, exposure, the draw
staying out of every default run, explicit faults, and what a run counts."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator import api
from simulator.config.enums import Dataflow, Datatype, Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.faults.checksum_faults import (
    COL_WORD,
    ROW_WORD,
    check_geometry,
    checksum_operations,
    encoder_adds,
    sample_checksum_faults,
    word_deltas,
    word_values,
)
from simulator.kernels.codes import CHK_ENC
from simulator.mapping.fold_table import fold_table
from simulator.verify.checksum_checks import checked_blocks
from tests.test_checksum_faults import HW, WL, faults, one_checksum_fault
from tests.test_fault_sampling import P_MIN, chi_square_p

# 4 x 4 outputs over K = 2 in 2 x 2 check blocks of 2 x 2
A4 = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], np.int8)
B4 = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.int8)


def check(a: np.ndarray, b: np.ndarray, f, block: tuple[int, int]):
    deltas = word_deltas(word_values(f, a, b, block), f.bit, integer=True)
    shape = (a.shape[0], b.shape[1])
    return checked_blocks([], f, deltas, shape, block, None, True, (a, b))


def test_row_group_encoder_flip_by_hand() -> None:
    # e^T A over block row 1 (rows 2, 3) at K step 0: 5, then the add that brings row 3 in gives 12 = 0b1100;
    # bit 0 flips it to 13 (+1), so every predicted column word of block row 1 gains B[0, n] = 1, 2, 3, 4
    f = faults(CHK_ENC, ROW_WORD, 3, 1, 0, 0)
    assert word_values(f, A4, B4, (2, 2)).tolist() == [12]
    v = check(A4, B4, f, (2, 2))
    by_origin = {(b.row0, b.col0): b for b in v.blocks}
    assert sorted(by_origin) == [(2, 0), (2, 2)]  # block row 1 only; block row 0's words are not fed by it
    assert by_origin[(2, 0)].csd.tolist() == [-1, -2] and by_origin[(2, 2)].csd.tolist() == [-3, -4]
    assert not by_origin[(2, 0)].rsd.any() and not by_origin[(2, 2)].rsd.any()  # a predicted row word is unaffected
    assert v.false_alarm.tolist() == [True] and v.hidden.tolist() == [False]
    # B e over block column 0 (columns 0, 1) at K step 1: 5 + 6 = 11 = 0b1011; bit 2 makes it 15 (+4), so the
    # predicted row words of block column 0 gain A[m, 1] x 4 = 8, 16, 24, 32
    g = faults(CHK_ENC, COL_WORD, 1, 0, 1, 2)
    assert word_values(g, A4, B4, (2, 2)).tolist() == [11]
    w = {(b.row0, b.col0): b for b in check(A4, B4, g, (2, 2)).blocks}
    assert sorted(w) == [(0, 0), (2, 0)]
    assert w[(0, 0)].rsd.tolist() == [-8, -16] and w[(2, 0)].rsd.tolist() == [-24, -32]
    assert not w[(0, 0)].csd.any() and not w[(2, 0)].csd.any()


def numpy_int32_check(a: np.ndarray, b: np.ndarray, axis: int, line: int, step: int, bit: int, block: tuple[int, int]):
    """Plain numpy int32 recomputation of a fold's blocked check with one encoder word corrupted: the encoder
    summed in int32 up to the add that brings `line` in, its bit flipped, the rest added; predicted and
    actual words in int32 (numpy wraps); returns the row and column deviations per block as (r x nb_c),
    (nb_r x c) arrays."""
    a32, b32 = a.astype(np.int32), b.astype(np.int32)
    r, c = a.shape[0], b.shape[1]
    br, bc = block
    c32 = a32 @ b32
    rsd = np.zeros((r, c // bc), np.int64)
    csd = np.zeros((r // br, c), np.int64)
    for i in range(r // br):
        enc = a32[i * br : (i + 1) * br].sum(axis=0)
        if axis == ROW_WORD and line // br == i:
            partial = a32[i * br : line + 1, step].sum()
            flipped = np.array([partial], np.int32).view(np.uint32) ^ np.uint32(1 << bit)
            enc[step] = flipped.view(np.int32)[0] + a32[line + 1 : (i + 1) * br, step].sum()
        pred = enc @ b32
        csd[i] = (c32[i * br : (i + 1) * br].sum(axis=0) - pred).astype(np.int32)
    for j in range(c // bc):
        enc = b32[:, j * bc : (j + 1) * bc].sum(axis=1)
        if axis == COL_WORD and line // bc == j:
            partial = b32[step, j * bc : line + 1].sum()
            flipped = np.array([partial], np.int32).view(np.uint32) ^ np.uint32(1 << bit)
            enc[step] = flipped.view(np.int32)[0] + b32[step, line + 1 : (j + 1) * bc].sum()
        pred = a32 @ enc
        rsd[:, j] = (c32[:, j * bc : (j + 1) * bc].sum(axis=1) - pred).astype(np.int32)
    return rsd, csd


@pytest.mark.parametrize("seed", range(25))
def test_encoder_flip_matches_a_numpy_int32_recomputation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    br, bc = (int(x) for x in rng.integers(2, 4, size=2))
    nbr, nbc, k = (int(x) for x in rng.integers(1, 4, size=3))
    a = rng.integers(-128, 128, size=(br * nbr, k)).astype(np.int8)
    b = rng.integers(-128, 128, size=(k, bc * nbc)).astype(np.int8)
    axis = int(rng.integers(2))
    size, extent = (br, br * nbr) if axis == ROW_WORD else (bc, bc * nbc)
    line = int(rng.choice([x for x in range(extent) if x % size]))  # an add exists for this line
    step, bit = int(rng.integers(k)), int(rng.integers(32))
    f = faults(CHK_ENC, axis, line, line // size, step, bit)
    v = check(a, b, f, (br, bc))
    rsd, csd = numpy_int32_check(a, b, axis, line, step, bit, (br, bc))
    seen_r, seen_c = np.zeros_like(rsd), np.zeros_like(csd)
    for blk in v.blocks:
        i, j = blk.row0 // br, blk.col0 // bc
        seen_r[blk.row0 : blk.row0 + br, j] = blk.rsd
        seen_c[i, blk.col0 : blk.col0 + bc] = blk.csd
    # int32 words: a deviation is defined mod 2^32 (a sign-bit change is +-2^31 alike), as for chk_pred
    assert not ((seen_r - rsd) % 2**32).any() and not ((seen_c - csd) % 2**32).any()
    fed = seen_c[line // br] if axis == ROW_WORD else seen_r[:, line // bc]
    assert not (seen_r if axis == ROW_WORD else seen_c).any()  # the other axis' words are untouched
    assert v.false_alarm.tolist() == [bool(fed.any())] and not v.hidden.any()


def test_an_encoder_flip_can_hide_a_real_error() -> None:
    # a data error of -10 at output (3, 0) leaves a deviation of -10 on row 3 and on column 0 (block row 1);
    # e^T A_1 at K step 1 is 6 + 8 = 14 = 0b1110 after the add of row 3, bit 1 makes it 12 (delta -2): the
    # predicted column words of block row 1 change by -2 x B[1, n] = -10, -12, -14, -16, so the deviations
    # gain +10 ... +16: column 0's flag is hidden, column 1 (and 2, 3) newly flagged; row 3 still flags
    from simulator.abft.checksum import block_deviations

    data = block_deviations(np.array([3]), np.array([0]), np.array([-10], np.int64), (4, 4), (2, 2))
    f = faults(CHK_ENC, ROW_WORD, 3, 1, 1, 1)
    deltas = word_deltas(word_values(f, A4, B4, (2, 2)), f.bit, integer=True)
    assert deltas.tolist() == [-2]
    v = checked_blocks(data, f, deltas, (4, 4), (2, 2), None, True, (A4, B4))
    by_origin = {(b.row0, b.col0): b for b in v.blocks}
    assert by_origin[(2, 0)].csd.tolist() == [0, 12]  # column 0's real error cancelled, column 1 newly flagged
    assert by_origin[(2, 0)].rsd.tolist() == [0, -10] and by_origin[(2, 2)].csd.tolist() == [14, 16]
    assert v.hidden.tolist() == [True] and v.false_alarm.tolist() == [True]


def test_exposure_is_check_costs_encoding_adds() -> None:
    from simulator.abft.check_cost import abft_check_work
    from simulator.config.enums import Placement
    from simulator.mapping.schedule import schedule_gemm
    from simulator.workload.gemm import Gemm

    hw = api.resolve_hw("edge_32x32", HW)
    gemm = Gemm("g", "fc1", 20, 12, 10)
    s = schedule_gemm(gemm, hw)
    folds = fold_table(Dataflow.OS, 20, 12, 10, 8, 8, s.order)
    for block in ((0, 0), (4, 4), (3, 0)):
        geom = check_geometry(Dataflow.OS, folds, block)
        ops = checksum_operations(geom)[CHK_ENC]
        for f in range(len(folds)):
            r, c, k = int(geom.rows[f]), int(geom.cols[f]), int(geom.k[f])
            nbr, nbc = int(geom.n_block_rows[f]), int(geom.n_block_cols[f])
            assert ops[f] == k * (r - nbr + c - nbc)  # the module doc's formula
            for placement in Placement:  # every placement encodes the same words with the same adds
                work = abft_check_work(s, folds.fold(f), placement, block)
                verify_adds = r * (c - nbc) + c * (r - nbr)
                assert work.checksum_adds - verify_adds == ops[f]
    # 8 x 8 fold over K = 12 in one block: 12 x (7 + 7) adds; 1-row blocks have no row encoder
    assert checksum_operations(check_geometry(Dataflow.OS, folds))[CHK_ENC][0] == 12 * 14
    assert encoder_adds(check_geometry(Dataflow.OS, folds, (1, 0)))[0] == 7


def test_counts_are_poisson_in_the_exposure_and_uniform_over_the_adds() -> None:
    folds = fold_table(Dataflow.OS, 40, 30, 20, 8, 8)
    geom = check_geometry(Dataflow.OS, folds, (3, 0))  # row groups of 3 (the last 2), one column group
    spec = FaultSpec(ber=3e-4, seed=5, sites=("chk_enc",))
    lam = checksum_operations(geom)[CHK_ENC] * 32 * spec.ber
    batches = [sample_checksum_faults(spec, geom, Datatype.INT8, 0, i, 0) for i in range(60)]
    counts = np.concatenate([np.bincount(b.fold_index, minlength=len(folds)) for b in batches])
    lam_all = np.tile(lam, 60)
    top = int(counts.max()) + 1
    observed = np.bincount(counts, minlength=top + 1)[: top + 1].astype(float)
    expected = [stats.poisson.pmf(x, lam_all).sum() for x in range(top)] + [stats.poisson.sf(top - 1, lam_all).sum()]
    assert chi_square_p(observed, np.array(expected)) > P_MIN
    allf = [b for b in batches if len(b)]
    site, axis, fold, line, block, step, bit = (
        np.concatenate([getattr(b, c) for b in allf])
        for c in ("site", "axis", "fold_index", "line", "block", "step", "bit")
    )
    assert (site == CHK_ENC).all()
    row_adds = geom.rows[fold] - geom.n_block_rows[fold]
    share = row_adds / (row_adds + geom.cols[fold] - geom.n_block_cols[fold])
    assert stats.binomtest(int((axis == ROW_WORD).sum()), len(axis), float(share.mean())).pvalue > P_MIN
    size = np.where(axis == ROW_WORD, geom.block_rows[fold], geom.block_cols[fold])
    extent = np.where(axis == ROW_WORD, geom.rows[fold], geom.cols[fold])
    assert (line % size != 0).all() and (line < extent).all() and (block == line // size).all()
    assert (step < geom.k[fold]).all() and chi_square_p(np.bincount(step, minlength=30), np.ones(30)) > P_MIN
    assert chi_square_p(np.bincount(bit, minlength=32), np.ones(32)) > P_MIN
    # full 8-row folds: rows 1, 2, 4, 5, 7 carry the adds (0, 3, 6 are loaded), each equally often
    rows8 = (axis == ROW_WORD) & (geom.rows[fold] == 8)
    hits = np.bincount(line[rows8], minlength=8)
    assert hits[[0, 3, 6]].sum() == 0 and chi_square_p(hits[[1, 2, 4, 5, 7]], np.ones(5)) > P_MIN


def test_selecting_the_encoders_leaves_the_other_checksum_draw_unchanged() -> None:
    assert Site.CHK_ENC not in FaultSpec().sites and Site.CHK_ENC.opt_in
    folds = fold_table(Dataflow.OS, 40, 30, 20, 8, 8)
    geom = check_geometry(Dataflow.OS, folds, (4, 4))
    base = FaultSpec(ber=2e-4, seed=3)
    more = FaultSpec(ber=2e-4, seed=3, sites=(*base.sites, Site.CHK_ENC))
    for inst in range(5):
        x = sample_checksum_faults(base, geom, Datatype.INT8, 0, inst, 0)
        y = sample_checksum_faults(more, geom, Datatype.INT8, 0, inst, 0)
        enc = y.site == CHK_ENC
        assert len(x) > 0 and enc.any() and not (x.site == CHK_ENC).any()
        kept = y.select(~enc)
        cols = ("fold_index", "ordinal", "site", "axis", "line", "block", "step", "bit")
        assert all(np.array_equal(getattr(x, c), getattr(kept, c)) for c in cols)
        assert (np.diff(y.fold_index) >= 0).all()  # fold order, each fold's encoder faults after the others
        for f in np.unique(y.fold_index[enc]):
            mine = y.of_fold(int(f))
            assert mine.ordinal.tolist() == list(range(len(mine)))
            assert (np.diff((mine.site == CHK_ENC).astype(int)) >= 0).all()


def one_encoder_record():
    spec = one_checksum_fault("chk_enc")
    report = api.run(api.resolve_hw("edge_32x32", HW), WL, ["abft", "detect_only"], spec, fault_log=True)
    (record,) = report.policy("abft").fault_log or ()
    return spec, report, record


def test_an_explicit_encoder_fault_is_the_random_one_with_its_coordinates() -> None:
    _, report, record = one_encoder_record()
    assert record["site"] == "chk_enc" and record["false_alarm"]
    coords = {"row": int(record["row"])} if int(record["row"]) >= 0 else {"col": int(record["col"])}
    given = ExplicitFault(gemm="fc1", fold=int(record["fold"]), step=int(record["cycle"]), site=Site.CHK_ENC,
                          bit=int(record["bit"]), **coords)  # fmt: skip
    explicit = api.run(api.resolve_hw("edge_32x32", HW), WL, ["abft", "detect_only"], FaultSpec(explicit=[given]),
                       fault_log=True)  # fmt: skip
    for name in ("abft", "detect_only"):
        x, y = report.policy(name), explicit.policy(name)
        assert x.outcomes == y.outcomes and x.cycles == y.cycles and x.energy_pj == pytest.approx(y.energy_pj)
    (again,) = explicit.policy("abft").fault_log or ()
    keys = ("site", "fold", "row", "col", "cycle", "bit", "fate", "false_alarm", "hidden")
    assert {k: again[k] for k in keys if k in again} == {k: record[k] for k in keys if k in record}


def test_explicit_encoder_faults_are_checked_against_the_check() -> None:
    from simulator.faults.explicit_sites import check_explicit_sites
    from simulator.mapping.schedule import schedule_gemm

    hw = api.resolve_hw("edge_32x32", HW)
    schedules = [schedule_gemm(g, hw) for g in WL.gemms]

    def placed(**kw: int) -> None:
        f = ExplicitFault(gemm="fc1", fold=0, site=Site.CHK_ENC, bit=kw.pop("bit", 3), **kw)
        check_explicit_sites(FaultSpec(explicit=[f]), schedules, Datatype.INT8, {"fc1": (4, 0)})

    placed(row=5, step=23)  # row 5 is added into block row 1 (rows 4-7) at the last K step
    with pytest.raises(ValueError, match="row: 4 is the first of its block row"):
        placed(row=4)
    with pytest.raises(ValueError, match="block: 0, but row 5 lies in block row 1"):
        placed(row=5, block=0)
    with pytest.raises(ValueError, match="step: 24 of 24 K steps"):
        placed(col=3, step=24)
    with pytest.raises(ValueError, match="col: 0 is the first of its block column"):
        placed(col=0)
    with pytest.raises(ValueError, match="less than 32"):
        ExplicitFault(gemm="fc1", fold=0, row=1, site=Site.CHK_ENC, bit=32)
    with pytest.raises(ValueError, match="needs row=R"):
        ExplicitFault(gemm="fc1", fold=0, row=1, col=1, site=Site.CHK_ENC, bit=0)


def test_run_counts_every_encoder_false_alarm() -> None:
    """A run with only encoder faults (clean data): every fault that shifts a word past the check is one
    false alarm in the fault log, the outcomes add them up, and abft recomputes each flagged fold once."""
    hw = api.resolve_hw("edge_32x32", HW)
    folds = fold_table(Dataflow.OS, 16, 24, 16, 8, 8)
    ops = checksum_operations(check_geometry(Dataflow.OS, folds))[CHK_ENC].sum()
    spec = FaultSpec(ber=3.0 / (ops * 32), seed=2, sites=("chk_enc",))
    report = api.run(hw, WL, ["abft", "detect_only", "none"], spec, fault_log=True)
    abft = report.policy("abft")
    log = abft.fault_log or ()
    assert len(log) >= 2 and all(r["site"] == "chk_enc" and r["fate"] == "masked" for r in log)
    alarms = sum(bool(r["false_alarm"]) for r in log)
    detect = report.policy("detect_only")
    first = [r for r in log if int(r["attempt"]) == 0]  # detect_only never recomputes: its faults are these
    assert abft.outcomes["false_alarms"] == alarms and abft.outcomes["faults_injected"] == len(log)
    assert detect.outcomes["false_alarms"] == sum(bool(r["false_alarm"]) for r in first)
    assert detect.outcomes["faults_injected"] == len(first) and detect.outcomes["recomputations"] == 0
    assert abft.outcomes["escaped"] == 0 and report.policy("none").outcomes["faults_injected"] == 0
    # every check attempt an encoder flip flagged is recomputed once (a retry can draw a flip of its own)
    alarmed = {(int(r["fold"]), int(r["attempt"])) for r in log if r["false_alarm"]}
    assert abft.outcomes["recomputations"] == len(alarmed) > 0


def test_checksum_campaign_covers_the_encoders() -> None:
    from simulator.abft.policies import PolicyContext
    from simulator.abft.registry import make_policy
    from simulator.config.abft_options import AbftConfig
    from simulator.mapping.schedule import schedule_gemm
    from simulator.reliability.checksum_avf import run_checksum_campaign
    from simulator.reliability.single_fault import FATE_CODE
    from simulator.verify.operand_cache import OperandCache

    hw = api.resolve_hw("edge_32x32", HW)
    schedules = [schedule_gemm(g, hw) for g in WL.gemms]
    abft = AbftConfig()
    names = ["detect_only", "abft"]
    policies = [make_policy(n, PolicyContext(hw.checksum_unit.placement, abft)) for n in names]
    spec = FaultSpec(sites=("chk_pred", "chk_enc"))
    campaign = run_checksum_campaign(hw, schedules, spec, abft, policies, 200, 1, OperandCache(hw, schedules, 0))
    assert campaign is not None and campaign.exposure.sites == (Site.CHK_PRED, Site.CHK_ENC)
    # 4 folds of 8 x 8 outputs over K = 24 in one block: 24 x (7 + 7) encoder adds per fold, 32-bit words
    assert campaign.exposure.bit_ops_per_site.tolist() == [4 * 384 * 32, 4 * 24 * 14 * 32]
    enc = campaign.mask("chk_enc")
    assert enc.sum() == 100
    detect, recomputed = campaign.fate[0][enc], campaign.fate[1][enc]
    # a flagged encoder flip is a DUE under detect_only and a recompute under abft; one that every fed word
    # absorbs (a sign-bit flip times even operands wraps to 0 mod 2^32) is masked under both
    assert set(detect.tolist()) <= {FATE_CODE["due"], FATE_CODE["masked"]}
    assert np.array_equal(detect == FATE_CODE["due"], recomputed == FATE_CODE["recomputed"])
    assert (detect == FATE_CODE["due"]).mean() > 0.9


def test_checksum_campaign_leaves_out_a_site_with_no_exposure() -> None:
    """One-output check blocks need no encoder add (each encoded word is a single operand): chk_enc has
    no exposed bit-operation, so the campaign strikes only chk_pred (and with chk_enc alone, nothing)."""
    from simulator.abft.policies import PolicyContext
    from simulator.abft.registry import make_policy
    from simulator.config.abft_options import AbftConfig
    from simulator.mapping.schedule import schedule_gemm
    from simulator.reliability.checksum_avf import run_checksum_campaign
    from simulator.verify.operand_cache import OperandCache

    hw = api.resolve_hw("edge_32x32", HW)
    schedules = [schedule_gemm(g, hw) for g in WL.gemms]
    abft = AbftConfig(block_rows=1, block_cols=1)
    policies = [make_policy("abft", PolicyContext(hw.checksum_unit.placement, abft))]
    ops = OperandCache(hw, schedules, 0)
    both = run_checksum_campaign(hw, schedules, FaultSpec(sites=("chk_pred", "chk_enc")), abft, policies, 50, 1, ops)
    assert both is not None and both.exposure.sites == (Site.CHK_PRED,)
    # chk_pred: k (r nb_c + c nb_r) operations per fold = 24 x (8 x 8 + 8 x 8), 4 folds, 32-bit words
    assert both.exposure.bit_ops_per_site.tolist() == [4 * 24 * 128 * 32]
    assert len(both) == 50 and not both.mask("chk_enc").any()
    assert run_checksum_campaign(hw, schedules, FaultSpec(sites=("chk_enc",)), abft, policies, 50, 1, ops) is None
