"""ABFT policies on real PE faults: detection, exact correction, ApproxABFT's guarantee, DMR."""

from __future__ import annotations

import numpy as np
import pytest
from abft_driver import drive, small_hw
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.abft.checksum import BlockDeviation, block_deviations
from simulator.abft.policies import ApproxAbft, ClassicalAbft, CorrectingAbft, PolicyContext
from simulator.abft.protocol import Action, Decision, FoldVerification, TileCheck
from simulator.abft.registry import POLICIES, make_policy
from simulator.config.abft_options import AbftConfig, Thresholds
from simulator.config.fault_spec import FaultSpec
from simulator.mapping.region import Region, Scope
from simulator.workload.gemm import Gemm

shapes = st.tuples(st.integers(1, 14), st.integers(1, 20), st.integers(1, 14))
flows = st.sampled_from(["os", "ws", "is"])


def _check(blocks, kind="fc1", scale=100.0, differ=False) -> TileCheck:
    return TileCheck(0, 0, 0, 0, FoldVerification(kind, scale, tuple(blocks), differ))


def _dev(rows, cols, delta, shape=(4, 4)):
    return block_deviations(np.array(rows), np.array(cols), np.array(delta, np.int64), shape)


def test_registry_holds_every_policy():
    assert list(POLICIES) == ["none", "detect_only", "abft", "abft_correct", "approx_abft", "dmr"]
    with pytest.raises(ValueError, match="unknown policy 'tmr'"):
        make_policy("tmr")


def test_decisions_by_hand():
    single = _dev([1], [2], [-5])
    segment = _dev([1, 1], [2, 3], [7, 7])  # a row segment: one row, two columns
    assert ClassicalAbft().decide(_check([])).action is Action.ACCEPT
    assert ClassicalAbft().decide(_check(single)).region.scope is Scope.TILE
    gemm = ClassicalAbft(PolicyContext(abft=AbftConfig(recompute_scope="gemm")))
    assert gemm.decide(_check(single)).region.scope is Scope.GEMM
    assert CorrectingAbft().decide(_check(single)).action is Action.CORRECT
    assert CorrectingAbft().decide(_check(segment)).region.scope is Scope.TILE
    # ApproxABFT, absolute thresholds T1 = 10, T2 = 6: MSD 5 accepted; MSD 14 with RSD_1 = 14 >
    # T2 and CSD = 7, 7 > T2 -> rows and columns -> the tile; a lone big row -> that row only
    approx = ApproxAbft(
        PolicyContext(abft=AbftConfig(threshold_mode="absolute", thresholds={"fc1": Thresholds(t1=10, t2=6)}))
    )
    assert approx.decide(_check(single)).action is Action.ACCEPT
    # one element 9 over T2 in both its row and its column: the cheaper line, not the tile
    lone = approx.decide(_check(_dev([1], [2], [12])))
    assert lone.region == Region(Scope.LINES, rows=(1,), cols=(2,))
    assert approx.decide(_check(segment)).region.scope is Scope.TILE
    spread = _dev([0, 0, 0], [0, 1, 2], [4, 4, 4])  # RSD_0 = 12 > 6, CSD = 4 each <= 6
    decision = approx.decide(_check(spread))
    assert decision.region.scope is Scope.ROWS and decision.region.rows == (0,)
    # relative mode: thresholds scale with the clean output scale (here 100 -> T1 = 100)
    rel = ApproxAbft(PolicyContext(abft=AbftConfig(thresholds={"fc1": Thresholds(t1=1.0, t2=0.5)})))
    assert rel.decide(_check(_dev([0], [0], [99]))).action is Action.ACCEPT
    assert rel.decide(_check(_dev([0], [0], [101]))).action is Action.RECOMPUTE


def test_clean_runs_flag_nothing():
    for policy in POLICIES:
        verifier, decisions = drive(small_hw(), [Gemm("fc1", "fc1", 9, 20, 11)], policy, FaultSpec(ber=0.0))
        assert decisions == [] and verifier.outcomes().faults_injected == 0


@settings(max_examples=60, deadline=None)
@given(
    df=flows,
    shape=shapes,
    seed=st.integers(0, 10**6),
    sites=st.sampled_from(["acc", "mult", "a_reg", "b_reg", "acc,mult,a_reg,b_reg"]),
)
def test_abft_detects_every_unmasked_fault(df, shape, seed, sites):
    m, k, n = shape
    spec = FaultSpec(ber=2e-4, sites=sites, seed=seed)
    verifier, _ = drive(small_hw(df), [Gemm("g", "fc1", m, k, n)], "abft", spec)
    for state in verifier.ledger.folds.values():
        touched = state.touched_faults()
        if touched.sum() == 1:  # several faults in one fold could cancel in a row and a column
            assert state.detected[touched][0]


@settings(max_examples=60, deadline=None)
@given(shape=shapes, seed=st.integers(0, 10**6))
def test_abft_correct_restores_single_element_errors_exactly(shape, seed):
    """OS acc / mult faults corrupt one element: the correction leaves no residual error."""
    m, k, n = shape
    spec = FaultSpec(ber=2e-5, sites="acc,mult", seed=seed)
    verifier, _ = drive(small_hw("os", retries=10), [Gemm("g", "fc1", m, k, n)], "abft_correct", spec)
    out = verifier.outcomes()
    assert out.escaped == out.tolerated == 0
    assert out.masked + out.corrected + out.recomputed == out.faults_injected
    assert verifier.layer_outcomes(0)["residual_max_abs"] == 0
    for state in verifier.ledger.folds.values():
        if state.fault_count == 1 and state.touched_faults()[0]:  # one error in the fold: fixed in place
            assert state.corrected[0]


@settings(max_examples=60, deadline=None)
@given(df=flows, shape=shapes, seed=st.integers(0, 10**6), t1=st.floats(0, 3), t2=st.floats(0, 3))
def test_approx_abft_never_leaves_a_deviation_above_its_thresholds(df, shape, seed, t1, t2):
    m, k, n = shape
    abft = AbftConfig(thresholds={"fc1": Thresholds(t1=t1, t2=t2)})
    # PE faults: the rule is about the true deviations (a flip in the checksum hardware itself can make the
    # check see less than is there: tests/test_checksum_faults.py)
    spec = FaultSpec(ber=3e-4, seed=seed, sites=("acc", "mult", "a_reg", "b_reg"))
    verifier, _ = drive(small_hw(df, retries=20), [Gemm("g", "fc1", m, k, n)], "approx_abft", abft=abft, spec=spec)
    for state in verifier.ledger.folds.values():
        if state.gave_up:
            continue
        live = state.alive
        rows, cols, delta = state.rows[live], state.cols[live], state.delta[live]
        for block in block_deviations(rows, cols, delta, state.shape):
            big_t1, big_t2 = t1 * state.scale, t2 * state.scale
            assert block.msd_abs <= big_t1 or (
                np.all(np.abs(block.rsd) <= big_t2) and np.all(np.abs(block.csd) <= big_t2)
            )


def test_approx_abft_recovers_less_than_classical():
    gemms = [Gemm("fc1", "fc1", 40, 64, 48), Gemm("fc2", "fc2", 40, 96, 32)]
    spec = FaultSpec(ber=1e-6, seed=11)  # ~0.07 faults per 4x4 fold pass: retries mostly clean
    classical, _ = drive(small_hw(), gemms, "abft", spec)
    approx, _ = drive(small_hw(), gemms, "approx_abft", spec)
    c, a = classical.outcomes(), approx.outcomes()
    assert a.recomputations < c.recomputations and a.tolerated > 0
    assert c.escaped == 0  # classical recovers everything it can see


def test_dmr_catches_transients_but_not_permanent_faults():
    g = [Gemm("fc1", "fc1", 8, 16, 8)]
    verifier, _ = drive(small_hw(), g, "dmr", FaultSpec(ber=2e-5, seed=3))
    out = verifier.outcomes()
    assert out.faults_injected > 0 and out.escaped == 0 and out.recomputations > 0
    # a stuck-at bit corrupts both copies alike: they agree, the error escapes
    verifier, _ = drive(small_hw(), g, "dmr", FaultSpec(kind="permanent", sites="acc", bits=(20, 20), seed=3))
    assert verifier.outcomes().recomputations == 0 and verifier.outcomes().escaped > 0


def test_permanent_fault_defeats_recomputation():
    """The same PE fails again on every retry, so classical ABFT gives up after max_retries."""
    spec = FaultSpec(kind="permanent", sites="acc", bits=(20, 20), seed=5)
    verifier, decisions = drive(small_hw(retries=2), [Gemm("fc1", "fc1", 4, 8, 4)], "abft", spec)
    out = verifier.outcomes()
    assert out.gave_up_folds >= 1 and out.escaped >= 1
    assert max(d[3] for d in decisions) == 2  # attempts 0, 1, 2


def _approx_reference(check: TileCheck, t1: float, t2: float) -> Decision:
    """ApproxAbft.decide as first written (the spec of the lines it recomputes): every line of every
    block above T1 compared with max(T2, its tolerance) by numpy."""
    rows: set[int] = set()
    cols: set[int] = set()
    for b in check.details.blocks:
        if not b.detected or b.msd_abs <= t1:
            continue
        rows.update((b.row0 + np.flatnonzero(~(np.abs(b.rsd) <= np.maximum(t2, b.row_tolerance)))).tolist())
        cols.update((b.col0 + np.flatnonzero(~(np.abs(b.csd) <= np.maximum(t2, b.col_tolerance)))).tolist())
    if len(rows) == 1 and len(cols) == 1:
        return Decision(Action.RECOMPUTE, Region(Scope.LINES, rows=tuple(rows), cols=tuple(cols)))
    if rows and cols:
        return Decision(Action.RECOMPUTE, Region(Scope.TILE))
    if rows:
        return Decision(Action.RECOMPUTE, Region(Scope.ROWS, rows=tuple(sorted(rows))))
    if cols:
        return Decision(Action.RECOMPUTE, Region(Scope.COLS, cols=tuple(sorted(cols))))
    return Decision(Action.ACCEPT)


_SPECIAL = [0.0, -1.0, np.inf, np.nan, 0.5, 3.0]  # tolerances: exact, flipped comparators, fp round-off


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 10**6), integer=st.booleans(), scale=st.sampled_from([1.0, 0.0, np.inf, np.nan, 7.5]),
       t1=st.sampled_from([0.0, 0.5, 2.0, 40.0]), t2=st.sampled_from([0.0, 0.5, 2.0, 40.0]))  # fmt: skip
def test_approx_abft_looks_only_at_flagged_lines_and_decides_as_numpy_would(seed, integer, scale, t1, t2):
    """decide reads only a block's flagged lines when T2 (times the relative unit) is a number >= 0 (a
    line above max(T2, tol) is above tol); the decision equals the whole-block numpy comparison for
    integer and fp deviations, NaN and inf among them, tolerances 0 / -1 / inf / NaN / positive, and
    a NaN or inf output scale (T2 x scale NaN: every line is compared)."""
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(int(rng.integers(1, 4))):
        n, m = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        if integer:
            rsd, csd = (rng.integers(-60, 61, k) * (rng.random(k) < 0.4) for k in (n, m))
        else:
            rsd, csd = (rng.normal(0, 20, k) * (rng.random(k) < 0.4) for k in (n, m))
            for dev in (rsd, csd):
                dev[rng.random(dev.size) < 0.1] = rng.choice([np.nan, np.inf, -np.inf])
        row_tol, col_tol = (np.where(rng.random(k) < 0.5, rng.choice(_SPECIAL, k), 0.0) for k in (n, m))
        blocks.append(BlockDeviation(int(rng.integers(0, 9)), int(rng.integers(0, 9)), rsd, csd, row_tol, col_tol))
    abft = AbftConfig(threshold_mode="relative", thresholds={"qkv": Thresholds(t1=t1, t2=t2)})
    check = TileCheck(0, 0, 0, 0, FoldVerification("qkv", scale, tuple(blocks), False, "blocks.0.qkv"))
    got = ApproxAbft(PolicyContext(abft=abft)).decide(check)
    assert got == _approx_reference(check, t1 * scale, t2 * scale)
