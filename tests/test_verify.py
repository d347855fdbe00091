"""The verify package: the retry loop, partial-pass fault sampling, the write-back stage, fates."""

from __future__ import annotations

import math

import numpy as np
import pytest
from abft_driver import drive, small_hw
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fault_sampling import P_MIN, chi_square_p

from simulator.abft.check_cost import check_extents
from simulator.abft.policies import PolicyContext
from simulator.abft.protocol import ACCEPT, Action, Decision, TileCheck
from simulator.abft.registry import make_policy
from simulator.abft.retry import retry_rounds
from simulator.config.enums import Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw
from simulator.kernels.element_dots import element_dots, element_dots_exact, element_dots_int8, element_dots_reference
from simulator.mapping.fold_table import fold_table
from simulator.mapping.region import Region, Scope
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.fates import CORRECTED, ESCAPED, FATES, MASKED, RECOMPUTED, TOLERATED
from simulator.verify.operand_cache import OperandCache
from simulator.verify.verifier import _joined_spans, make_verifier, output_block_shapes
from simulator.verify.writeback import WriteBack
from simulator.workload.gemm import Gemm

TILE = Decision(Action.RECOMPUTE, Region(Scope.TILE))


def test_retry_rounds_by_hand():
    """a: recompute, recompute, accept; b: accept; c: always recompute, given up after 2 retries.
    Rounds: attempt 0 of a, b, c; attempt 1 of a, c; attempt 2 of a, c (c's last verdict stands)."""
    script = {"a": [TILE, TILE, ACCEPT], "b": [ACCEPT], "c": [TILE, TILE, TILE, TILE]}
    rounds = []

    def check_round(batch):
        rounds.append([(item, attempt, region) for item, attempt, region in batch])
        return [TileCheck(ord(item), 0, 0, attempt) for item, attempt, _ in batch]

    def decide(check):
        return script[chr(check.gemm_index)][check.attempt]

    a, b, c = retry_rounds(["a", "b", "c"], check_round, decide, max_retries=2)
    region = TILE.region
    assert rounds == [
        [("a", 0, None), ("b", 0, None), ("c", 0, None)],
        [("a", 1, region), ("c", 1, region)],
        [("a", 2, region), ("c", 2, region)],
    ]
    assert a.decisions == (TILE, TILE, ACCEPT) and b.decisions == (ACCEPT,) and c.decisions == (TILE, TILE, TILE)
    assert [ch.attempt for ch in c.checks] == [0, 1, 2]


def test_retry_rounds_without_items_checks_nothing():
    """No items: no round is checked (a verifier's check_round needs at least one attempt)."""

    def check_round(batch):
        raise AssertionError("an empty round was checked")

    assert retry_rounds([], check_round, lambda check: ACCEPT, max_retries=2) == []


def test_retry_rounds_without_retries_keeps_the_first_verdict():
    """max_retries = 0: one round; a RECOMPUTE verdict stands (given up), no rerun is asked."""
    rounds = []

    def check_round(batch):
        rounds.append(len(batch))
        return [TileCheck(0, 0, i, attempt) for i, (_, attempt, _) in enumerate(batch)]

    def rerun(item, region):
        raise AssertionError("no retry is allowed")

    (a,) = retry_rounds(["a"], check_round, lambda check: TILE, max_retries=0, rerun=rerun)
    assert rounds == [1] and a.decisions == (TILE,) and len(a.checks) == 1


def _verifier(hw, gemm, spec):
    schedules = [schedule_gemm(gemm, hw)]
    policy = make_policy("abft", PolicyContext(hw.checksum_unit.placement))
    return make_verifier(policy, hw, schedules, spec)


@pytest.mark.parametrize(
    ("dataflow", "region", "active_macs"),
    [
        # OS 8x8 fold, K = 40: rows 1 and 3 of the tile use 2 PE rows x 8 PE cols x 40 steps
        ("os", Region(Scope.ROWS, rows=(1, 3)), 2 * 8 * 40),
        # OS columns 0, 5, 6: 8 PE rows x 3 PE cols x 40 steps
        ("os", Region(Scope.COLS, cols=(0, 5, 6)), 8 * 3 * 40),
        # WS (K = 40 > 8: fold 0 uses 8 x 8 PEs), rows = streamed M steps 2 and 7: 8 x 8 x 2
        ("ws", Region(Scope.ROWS, rows=(2, 7)), 8 * 8 * 2),
        # IS, cols = streamed N steps 0, 1, 2: 8 x 8 x 3
        ("is", Region(Scope.COLS, cols=(0, 1, 2)), 8 * 8 * 3),
    ],
)
def test_partial_pass_faults_are_poisson_over_the_slots_it_uses(dataflow, region, active_macs):
    """Issue 10 section 2: a partial pass draws Poisson(active MACs x exposed bits x ber) flips,
    all in slots it uses. int8: 64 exposed bits per MAC (acc 32 + mult 16 + a 8 + b 8)."""
    hw = small_hw(dataflow, rows=8, cols=8)
    gemm = Gemm("g", "fc1", 8, 40, 8, count=600)
    spec = FaultSpec(ber=2e-4, seed=3)
    verifier = _verifier(hw, gemm, spec)
    mean = active_macs * 64 * spec.ber  # e.g. OS rows: 640 x 64 x 2e-4 = 8.19 flips per pass
    counts = []
    for instance in range(gemm.count):
        batch = verifier.pass_batch(spec, 0, instance, 1, {0: region}, permanent=False)
        assert np.all(batch.fold_index == 0) and np.all(batch.attempt == 1)
        tau = batch.cycle - batch.row - batch.col - (0 if dataflow == "os" else 8)
        out_row = {"os": batch.row, "ws": tau, "is": batch.col}[dataflow]
        out_col = {"os": batch.col, "ws": batch.col, "is": tau}[dataflow]
        assert np.all(np.isin(out_row, region.rows) if region.scope is Scope.ROWS else np.isin(out_col, region.cols))
        counts.append(len(batch))
    top = int(mean * 3) + 10
    observed = np.bincount(np.minimum(counts, top), minlength=top + 1)
    pmf = np.array([math.exp(-mean) * mean**x / math.factorial(x) for x in range(top)])
    expected = np.append(pmf, 1 - pmf.sum())
    assert chi_square_p(observed, expected) > P_MIN
    assert abs(np.mean(counts) - mean) < 4 * math.sqrt(mean / gemm.count)


def test_a_tile_pass_keeps_the_whole_attempt_draw_of_its_fold():
    hw = small_hw("os", rows=8, cols=8)
    gemm = Gemm("g", "fc1", 20, 30, 20)
    spec = FaultSpec(ber=1e-3, seed=9)
    verifier = _verifier(hw, gemm, spec)
    batch = verifier.pass_batch(spec, 0, 0, 2, {1: Region(Scope.TILE), 4: Region(Scope.TILE)}, permanent=False)
    assert set(batch.fold_index.tolist()) == {1, 4} and np.all(np.diff(batch.fold_index) >= 0)
    again = verifier.pass_batch(spec, 0, 0, 2, {4: Region(Scope.TILE)}, permanent=False)
    assert np.array_equal(again.bit, batch.bit[batch.fold_index == 4])  # other folds never change a fold's draw


def test_int8_write_back_by_hand():
    # rms = 127 / 6 -> step = 6 x rms / 127 = 1 accumulator unit per code: round half to even, saturate at 127
    wb = WriteBack(Datatype.INT8, 127 / 6)
    assert wb.step == pytest.approx(1.0)
    assert wb.store(np.array([2.5, 3.5, -2.5, 200.0, -200.0])).tolist() == [2, 4, -2, 127, -127]
    # step 4: clean 10 -> rint(2.5) = 2, +1 -> 2.75 -> 3: corrupted; clean 9 -> 2.25 -> 2, +1 -> 2.5 -> 2: masked
    wb4 = WriteBack(Datatype.INT8, 4 * 127 / 6)
    corrupted, rel = wb4.judge(np.array([10.0, 9.0]), np.array([1, 1], np.int64))
    assert corrupted.tolist() == [True, False]
    # relative to max(|clean stored| = 2, rms in codes = 127 / 6): 1 / 21.17
    assert rel.tolist() == pytest.approx([6 / 127, 0.0])
    # the accumulator wraps like int32: 2^31 - 1 + 1 -> -2^31, stored -127
    corrupted, _ = wb.judge(np.array([2.0**31 - 1]), np.array([1], np.int64))
    assert corrupted.tolist() == [True]


def test_fp_write_back_rounds_to_the_output_format():
    wb = WriteBack(Datatype.FP16, 1.0)
    # fp16 has 10 fraction bits: 1 + 2^-12 rounds back to 1, 1 + 2^-9 is representable
    corrupted, rel = wb.judge(np.array([1.0, 1.0]), np.array([2.0**-12, 2.0**-9]))
    assert corrupted.tolist() == [False, True] and rel[1] == pytest.approx(2.0**-9)
    bf = WriteBack(Datatype.BF16, 1.0)  # bf16: 7 fraction bits
    assert bf.judge(np.array([1.0, 1.0]), np.array([2.0**-9, 2.0**-6]))[0].tolist() == [False, True]
    fp32 = WriteBack(Datatype.FP32, 1.0)  # stored as accumulated: any fp32 change shows
    assert fp32.judge(np.array([1.0]), np.array([2.0**-23]))[0].tolist() == [True]
    assert WriteBack(Datatype.FP16, 1.0).judge(np.array([1.0]), np.array([np.inf]))[1].tolist() == [np.inf]


def test_element_dots_match_their_twin():
    rng = np.random.default_rng(0)
    a = rng.integers(-127, 128, (7, 3072)).astype(np.float32)
    bt = rng.integers(-127, 128, (9, 3072)).astype(np.float32)
    rows, cols = rng.integers(0, 7, 40), rng.integers(0, 9, 40)
    exact = (a.astype(np.int64) @ bt.T.astype(np.int64))[rows, cols]
    assert np.array_equal(element_dots(a, bt, rows, cols), exact)
    assert np.array_equal(element_dots_exact(a, bt, rows, cols), exact)
    assert np.array_equal(element_dots_reference(a, bt, rows, cols), exact)
    a8 = rng.integers(-128, 128, (7, 5000)).astype(np.int8)  # -128 * -128 products, K past 3072
    bt8 = np.full((9, 5000), -128, np.int8)
    bt8[::2] = rng.integers(-128, 128, (5, 5000))
    exact8 = (a8.astype(np.int64) @ bt8.T.astype(np.int64))[rows, cols]
    assert np.array_equal(element_dots_int8(a8, bt8, rows, cols), exact8)


def test_low_accumulator_bits_are_masked_at_output_and_high_ones_escape():
    """Unprotected int8: a flip of accumulator bit 0 changes an output by 1, a small fraction of
    a stored code (1 / step), so it reaches a stored output only when the clean value sits next to
    a rounding boundary; bit 30 saturates the output, masked only where the summed error of every
    flip of that output (two flips of bit 30 cancel) leaves the stored code unchanged."""
    hw, g = small_hw(), [Gemm("fc1", "fc1", 9, 64, 11)]
    low, _ = drive(hw, g, "none", FaultSpec(ber=5e-3, sites="acc", bits=(0, 0), seed=1))
    out = low.outcomes()
    step = low.operands.writeback(0, 0).step
    assert step > 20 and out.faults_injected > 20
    assert out.masked == out.masked_at_output and out.escaped == out.faults_injected - out.masked
    assert out.escaped <= 3 + 3 * out.faults_injected / step  # P(crossing a boundary) ~ 1 / step
    high, _ = drive(hw, g, "none", FaultSpec(ber=5e-3, sites="acc", bits=(30, 30), seed=1))
    out, table, fates = high.outcomes(), high.table(), high.fates()
    assert out.escaped + out.masked_at_output == out.faults_injected > 20 and out.masked == out.masked_at_output
    wb, ops = high.operands.writeback(0, 0), high.operands.operands(0, 0)
    summed: dict[tuple[int, int], int] = {}
    for e in range(len(table.delta)):
        key = (int(table.grows[e]), int(table.gcols[e]))
        summed[key] = summed.get(key, 0) + int(table.delta[e])
    for f in np.flatnonzero(fates.fate == MASKED):
        for e in np.flatnonzero(table.owner == f):
            i, j = int(table.grows[e]), int(table.gcols[e])
            clean = float(np.dot(ops.a[i].astype(np.int64), ops.b[:, j].astype(np.int64)))
            assert not wb.judge(np.array([clean]), np.array([summed[(i, j)]]))[0][0], f
    assert out.corrupted_outputs > 0 and out.max_rel_error > 1


@pytest.mark.parametrize(("policy", "dataflow"), [("abft", "ws"), ("approx_abft", "os"), ("abft_correct", "is")])
def test_fates_match_a_per_fault_reference(policy, dataflow):
    """verify.fates (vectorised) against a fault-by-fault loop over the ledger written from the rules."""
    hw = small_hw(dataflow, retries=1)
    verifier, _ = drive(hw, [Gemm("fc1", "fc1", 13, 18, 10, count=2)], policy, FaultSpec(ber=3e-4, seed=4))
    table, fates = verifier.table(), verifier.fates()
    assert len(table) > 20
    # summed live error per output, then the stored-output judgement one output at a time
    errors: dict[tuple[int, int, int], float] = {}
    for f in range(len(table)):
        for e in np.flatnonzero((table.owner == f) & table.alive & (table.delta != 0)):
            key = (int(table.instance[f]), int(table.grows[e]), int(table.gcols[e]))
            errors[key] = errors.get(key, 0) + int(table.delta[e])
    corrupted = {}
    for (inst, i, j), err in errors.items():
        ops = verifier.operands.operands(0, inst)
        clean = float(np.dot(ops.a[i].astype(np.int64), ops.b[:, j].astype(np.int64)))
        corrupted[(inst, i, j)] = bool(
            verifier.operands.writeback(0, inst).judge(np.array([clean]), np.array([err]))[0][0]
        )
    tolerates = make_policy(policy).contract.tolerates
    for f in range(len(table)):
        mine = np.flatnonzero(table.owner == f)
        live = [e for e in mine if table.alive[e] and table.delta[e] != 0]
        visible = any(corrupted[(int(table.instance[f]), int(table.grows[e]), int(table.gcols[e]))] for e in live)
        if not np.any(table.delta[mine] != 0) or (live and not visible):
            want = MASKED
        elif not live:
            want = CORRECTED if table.corrected[f] else RECOMPUTED
        elif tolerates and table.detected[f] and table.accepted[f] and not table.gave_up[f]:
            want = TOLERATED
        else:
            want = ESCAPED
        assert FATES[fates.fate[f]] == FATES[want], f
    out = verifier.outcomes()
    parts = out.masked + out.corrected + out.recomputed + out.tolerated + out.escaped
    assert parts == out.faults_injected == len(table)
    assert out.corrupted_outputs == sum(corrupted.values())


def test_explicit_faults_come_back_as_records_with_their_fates():
    """An explicit OS accumulator flip of bit 30 at PE (1, 2) of fold 0 under `none`: one fault,
    one corrupted output (GEMM row 1, col 2), escaped; under `abft` it is recomputed."""
    from simulator.config.fault_spec import ExplicitFault
    from simulator.kernels.codes import ACC, FLIP

    hw, gemm = small_hw("os", rows=4, cols=4), Gemm("g", "fc1", 4, 16, 4)
    fault = ExplicitFault(gemm="g", instance=0, fold=0, row=1, col=2, cycle=1 + 2 + 5, site="acc", bit=30)  # tau = 5
    spec = FaultSpec(ber=1e-12, seed=0, explicit=[fault])  # 4 x 4 x 16 MACs x 64 bits x 1e-12: no sampled fault
    for name, fate in (("none", ESCAPED), ("abft", RECOMPUTED)):
        policy = make_policy(name, PolicyContext(hw.checksum_unit.placement))
        verifier = make_verifier(policy, hw, [schedule_gemm(gemm, hw)], spec)
        assert verifier.flagged_folds(0) == frozenset({(0, 0)})
        history = verifier.attempts(0, 0, verifier.operands.folds(0).fold(0))
        assert len(history.decisions) == (1 if name == "none" else 2)
        rec = verifier.records()
        assert len(rec) == 1  # the recompute pass (1e-12) draws no flip
        assert (rec.row[0], rec.col[0], rec.cycle[0], rec.site[0], rec.bit[0], rec.mode[0]) == (1, 2, 8, ACC, 30, FLIP)
        assert rec.fate[0] == fate and rec.attempt[0] == 0
        assert rec.outputs_corrupted[0] == (1 if name == "none" else 0)
        assert rec.max_abs_error[0] == (2.0**30 if name == "none" else 0.0)


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("extra", [[], ["mapping.policy=fixed", "mapping.k_chunk=16"]])
def test_output_block_shapes_match_check_extents(dataflow, extra):
    """The verifier's one-pass fold shapes against abft.check_cost.check_extents fold by fold
    (edge folds, K split into chunks)."""
    hw = load_hw("edge_32x32", [f"array.dataflow={dataflow}", "array.rows=8", "array.cols=4", *extra])
    for gemm in (Gemm("g", "fc1", 19, 37, 11), Gemm("h", "qkv", 8, 4, 30)):
        s = schedule_gemm(gemm, hw)
        folds = fold_table(hw.array.dataflow, gemm.m, gemm.k, gemm.n, hw.array.rows, hw.array.cols, s.order)
        expected = [(e.out_rows, e.out_cols) for e in (check_extents(s, folds.fold(i)) for i in range(len(folds)))]
        assert output_block_shapes(hw.array.dataflow, folds) == expected


def test_a_runs_policies_share_each_gemms_output_block_shapes():
    """The shapes are built once per GEMM for the whole run (the run's operand cache), and each
    policy's verifier reads them: two verifiers on one cache get the same list, equal to a fresh
    build; a verifier with a cache of its own builds its own."""
    hw = small_hw()
    context = PolicyContext(hw.checksum_unit.placement)
    schedules = [schedule_gemm(Gemm("g", "fc1", 19, 37, 11), hw), schedule_gemm(Gemm("h", "qkv", 8, 4, 30), hw)]
    spec = FaultSpec(ber=1e-3, seed=3)
    cache = OperandCache(hw, schedules, spec.seed)
    first, second = (make_verifier(make_policy(name, context), hw, schedules, spec, operands=cache)
                     for name in ("abft", "dmr"))  # fmt: skip
    alone = make_verifier(make_policy("abft", context), hw, schedules, spec)
    for g in range(len(schedules)):
        shapes = first._block_shapes(g)
        assert second._block_shapes(g) is shapes
        assert shapes == output_block_shapes(hw.array.dataflow, cache.folds(g))
        assert alone._block_shapes(g) == shapes and alone._block_shapes(g) is not shapes


@pytest.mark.parametrize(("policy", "dataflow", "datatype", "sites"),
                         [("none", "os", "int8", None), ("approx_abft", "ws", "int8", None),
                          ("abft_correct", "is", "fp16", None),
                          ("abft", "os", "int8", ("acc", "mult", "sram_a", "sram_b", "sram_c", "drain"))])  # fmt: skip
def test_residual_errors_are_each_folds_live_errors_summed_per_output(policy, dataflow, datatype, sites):
    """FaultVerifier.residual_errors (every instance of the GEMM at once: the folds' element spans, a
    segment's consecutive ones joined) against the ledger read part by part, instance by instance: every
    live error of the instance's folds, summed per output in fold order (the same additions, so fp sums
    are bit-identical)."""
    hw = small_hw(dataflow, retries=1, datatype=datatype)
    gemm = Gemm("fc1", "fc1", 23, 18, 21, count=3)
    spec = FaultSpec(ber=3e-4, seed=6) if sites is None else FaultSpec(ber=3e-4, seed=6, sites=sites)
    verifier, _ = drive(hw, [gemm], policy, spec)
    instances, all_rows, all_cols, all_delta = verifier.residual_errors(0)
    assert np.all(np.diff((instances * gemm.m + all_rows) * gemm.n + all_cols) > 0)  # instance-major, row-major
    for instance in range(gemm.count):
        sums: dict[int, float] = {}
        for key in sorted(k for k in verifier.ledger.folds if k[:2] == (0, instance)):
            part = verifier.ledger.folds[key]
            live = part.alive & (part.delta != 0)
            codes = (part.grows[live] * gemm.n + part.gcols[live]).tolist()
            for code, d in zip(codes, part.delta[live].tolist(), strict=True):
                sums[code] = sums.get(code, 0) + d
        upsets = [
            r for r in verifier.sram.rows() + verifier.output_path.rows() if (r.gemm, r.instance) == (0, instance)
        ]
        for r in upsets:  # then the SRAM upsets', then the C words' and the drain's
            codes = (r.grows[r.alive] * gemm.n + r.gcols[r.alive]).tolist()
            for code, d in zip(codes, r.delta[r.alive].tolist(), strict=True):
                sums[code] = sums.get(code, 0) + d
        if sites is not None:
            assert any(len(r.delta) for r in upsets)
        kept = sorted((c, v) for c, v in sums.items() if v != 0)
        mine = instances == instance
        rows, cols, delta = all_rows[mine], all_cols[mine], all_delta[mine]
        assert len(kept) > 3
        assert (rows * gemm.n + cols).tolist() == [c for c, _ in kept]
        assert np.array_equal(delta, np.array([v for _, v in kept], delta.dtype), equal_nan=True)  # (fp16 flips: NaN)


def test_joined_spans_by_hand():
    """Consecutive spans of one segment's columns join; a gap, another segment or a part's own arrays do not."""
    from simulator.verify.ledger import ElementSpan

    def span(cols, lo, hi):
        return ElementSpan(cols[0], cols[1], cols[2], cols[3], cols[0], lo, hi, cols[3], cols[0], cols[1])

    seg = [np.arange(10), np.arange(10), np.arange(10), np.ones(10, bool)]
    own = [np.arange(3), np.arange(3), np.arange(3), np.ones(3, bool)]
    alias = [seg[0], seg[1], seg[2], np.ones(10, bool)]  # another `alive`: not the same segment
    spans = [span(seg, 0, 2), span(seg, 2, 5), span(seg, 5, 6), span(seg, 7, 9), span(own, 0, 3),
             span(seg, 9, 10), span(alias, 0, 1), span(alias, 1, 4)]  # fmt: skip
    got = [(e.lo, e.hi, e.alive is seg[3]) for e in _joined_spans(spans)]
    assert got == [(0, 6, True), (7, 9, True), (0, 3, False), (9, 10, True), (0, 4, False)]
    assert _joined_spans([]) == []


def _fates_equal(a, b) -> None:
    for name in ("fate", "masked_at_output", "outputs_corrupted", "max_abs_error", "max_rel_error", "out_gemm",
                 "out_error", "out_corrupted", "out_rel"):  # fmt: skip
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def _random_table(rng, n_faults: int, integer: bool, gemm_sorted: bool):
    """A ledger table of `n_faults` faults over few GEMMs, instances, rows and columns (outputs
    shared by several faults), errors zero or not, alive or not, NaN among fp ones."""
    from simulator.verify.ledger import FAULT_COLUMNS, LedgerTable

    gemm, instance = rng.integers(0, 3, n_faults), rng.integers(0, 3, n_faults)
    if gemm_sorted:
        order = np.lexsort((instance, gemm))
        gemm, instance = gemm[order], instance[order]
    sizes = rng.integers(0, 4, n_faults)
    e = int(sizes.sum())
    if integer:
        delta = rng.integers(-40, 40, e) * rng.integers(0, 2, e) * rng.choice([1, 1 << 20, 1 << 30], e)
    else:
        delta = rng.normal(0, 30, e) * rng.integers(0, 2, e)
        delta[rng.random(e) < 0.05] = np.nan
    return LedgerTable(
        gemm=gemm, instance=instance, fold=np.zeros(n_faults, np.int64),
        faults={c: np.zeros(n_faults, np.int64) for c in FAULT_COLUMNS},
        detected=rng.random(n_faults) < 0.5, corrected=rng.random(n_faults) < 0.3,
        accepted=rng.random(n_faults) < 0.6, gave_up=rng.random(n_faults) < 0.2,
        owner=np.repeat(np.arange(n_faults), sizes), grows=rng.integers(0, 4, e), gcols=rng.integers(0, 5, e),
        delta=delta, alive=rng.random(e) < 0.7, false_alarm=np.zeros(n_faults, bool), hidden=np.zeros(n_faults, bool),
    )  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_faults=st.integers(0, 60), integer=st.booleans(),
       gemm_sorted=st.booleans(), tolerates=st.booleans())  # fmt: skip
def test_classify_equals_its_numpy_twin(seed, n_faults, integer, gemm_sorted, tolerates):
    """verify.fates.classify (kernels.output_damage) against classify_reference (whole-array numpy):
    every per-fault and per-output column equal, NaN errors included, for integer and fp errors,
    tables in ledger order or not; the write-back and clean values differ per GEMM instance."""
    from simulator.verify.fates import classify, classify_reference

    rng = np.random.default_rng(seed)
    table = _random_table(rng, n_faults, integer, gemm_sorted)
    datatype = Datatype.INT8 if integer else Datatype.FP16

    def writeback(g, i):
        return WriteBack(datatype, 3.0 + 5 * g + i)

    def clean(g, i, rows, cols):
        return ((rows * 7 + cols * 3 + g * 11 + i) % 23 - 11).astype(np.float64) * (8 if integer else 0.37)

    fast = classify(table, tolerates, writeback, clean)
    _fates_equal(fast, classify_reference(table, tolerates, writeback, clean))


def test_classify_by_hand():
    """Three int8 faults of one instance (output RMS 127: write-back step 6 * 127 / 127 = 6 units per
    code; clean accumulators 0):
    fault 0 leaves +4 at output (0, 0) and +4 at (0, 1); fault 1 leaves -4 at (0, 0) (the sum
    at (0, 0) is 0: masked there) and a dead +100 at (1, 1); fault 2's only error is 0.
    (0, 1) stores round(4 / 6) = 1 instead of 0: corrupted, relative error 1 / max(0, 127 / 6)
    (the RMS in stored codes).
    Fault 0 escapes (one corrupted output), fault 1 is masked at output (its live error sums to
    nothing stored), fault 2 is masked (untouched)."""
    from simulator.verify.fates import classify
    from simulator.verify.ledger import FAULT_COLUMNS, LedgerTable

    zeros = np.zeros(3, np.int64)
    table = LedgerTable(
        gemm=zeros, instance=zeros, fold=zeros, faults={c: zeros for c in FAULT_COLUMNS},
        detected=np.zeros(3, bool), corrected=np.zeros(3, bool), accepted=np.ones(3, bool),
        gave_up=np.zeros(3, bool), owner=np.array([0, 0, 1, 1, 2]), grows=np.array([0, 0, 0, 1, 0]),
        gcols=np.array([0, 1, 0, 1, 2]), delta=np.array([4, 4, -4, 100, 0]),
        alive=np.array([True, True, True, False, True]), false_alarm=np.zeros(3, bool), hidden=np.zeros(3, bool),
    )  # fmt: skip
    fates = classify(table, False, lambda g, i: WriteBack(Datatype.INT8, 127.0),
                     lambda g, i, r, c: np.zeros(r.shape))  # fmt: skip
    assert [FATES[f] for f in fates.fate] == ["escaped", "masked", "masked"]
    assert fates.masked_at_output.tolist() == [False, True, False]
    assert fates.outputs_corrupted.tolist() == [1, 0, 0]
    assert fates.max_abs_error.tolist() == [4.0, 4.0, 0.0]
    assert fates.max_rel_error.tolist() == pytest.approx([1 / (127 / 6), 0, 0])
    assert fates.out_error.tolist() == [4.0] and fates.out_corrupted.tolist() == [True]


def test_classify_sums_each_output_in_element_order():
    """fp errors whose sum depends on the order they are added in (1e16 + 1 - 1e16), 3,000 of them
    on three outputs: the summed error of each output equals the twin's (np.add.at, element
    order) bit for bit, which an unstable sort of the outputs' codes would not give."""
    from simulator.verify.fates import classify, classify_reference
    from simulator.verify.ledger import FAULT_COLUMNS, LedgerTable

    rng = np.random.default_rng(7)
    n = 3000
    delta = rng.choice([1e16, -1e16, 1.0, 3.0, -2.5], n)
    zeros = np.zeros(n, np.int64)
    table = LedgerTable(
        gemm=zeros, instance=zeros, fold=zeros, faults={c: zeros for c in FAULT_COLUMNS},
        detected=np.zeros(n, bool), corrected=np.zeros(n, bool), accepted=np.ones(n, bool),
        gave_up=np.zeros(n, bool), owner=np.arange(n), grows=zeros, gcols=rng.integers(0, 3, n), delta=delta,
        alive=np.ones(n, bool), false_alarm=np.zeros(n, bool), hidden=np.zeros(n, bool),
    )  # fmt: skip
    args = (table, False, lambda g, i: WriteBack(Datatype.FP32, 1.0), lambda g, i, r, c: np.zeros(r.shape))
    fast, slow = classify(*args), classify_reference(*args)
    assert fast.out_error.tolist() == slow.out_error.tolist()
    shuffled = [float(np.sum(rng.permutation(delta[table.gcols == c]))) for c in range(3)]
    assert shuffled != slow.out_error.tolist()  # the order matters for these values
    _fates_equal(fast, slow)


def test_fold_runs_by_hand():
    from simulator.verify.verifier import _fold_runs

    assert _fold_runs(np.array([2, 2, 5, 7, 7, 7])) == [(2, 0, 2), (5, 2, 3), (7, 3, 6)]
    assert _fold_runs(np.array([4])) == [(4, 0, 1)]
    assert _fold_runs(np.zeros(0, np.int64)) == []
