"""faults.draw_cache.FaultDraws: one trial's fault draws, shared by its passes (accuracy, calibration)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

import simulator.faults.draw_cache as draw_cache
from simulator.abft.policies import PolicyContext
from simulator.abft.registry import make_policy
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Dataflow, Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw
from simulator.faults.checksum_faults import check_geometry, sample_checksum_faults
from simulator.faults.draw_cache import DirectDraws, FaultDraws, ScreenedDraws
from simulator.faults.sampling import FaultBatch, sample_attempt_faults, sample_gemm_faults
from simulator.functional.accuracy import trial_spec
from simulator.functional.bundle import load_bundle
from simulator.functional.inference import EvalTask, evaluate, work_units
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.verifier import make_verifier
from simulator.workload.gemm import Gemm

GEMM = Gemm("g", m=40, k=24, n=36, kind="fc1", count=3)
ARRAY = (Dataflow.OS, Datatype.INT8, 8, 8)
SPEC = FaultSpec(ber=2e-4, seed=5)
COLUMNS = ("fold_index", "attempt", "ordinal", "row", "col", "cycle", "site", "bit", "mode")


def _folds() -> FoldTable:
    return fold_table(Dataflow.OS, GEMM.m, GEMM.k, GEMM.n, 8, 8)


def _same(a: FaultBatch, b: FaultBatch) -> bool:
    return all(np.array_equal(getattr(a, c), getattr(b, c)) for c in COLUMNS)


def test_a_draw_is_the_samplers_and_is_drawn_once_per_key():
    draws, folds = FaultDraws(), _folds()
    first = draws.gemm_faults(SPEC, GEMM, 0, 1, *ARRAY, folds)
    assert len(first) > 0 and _same(first, sample_gemm_faults(SPEC, GEMM, 0, 1, *ARRAY, folds))
    assert draws.gemm_faults(SPEC, GEMM, 0, 1, *ARRAY, folds) is first
    retry = draws.attempt_faults(SPEC, GEMM, 0, 1, 2, *ARRAY, folds)
    assert _same(retry, sample_attempt_faults(SPEC, GEMM, 0, 1, 2, *ARRAY, folds))
    assert draws.attempt_faults(SPEC, GEMM, 0, 1, 2, *ARRAY, folds) is retry
    # every key element tells draws apart: instance, attempt, seed, GEMM index
    assert not _same(draws.gemm_faults(SPEC, GEMM, 0, 2, *ARRAY, folds), first)
    assert not _same(draws.attempt_faults(SPEC, GEMM, 0, 1, 3, *ARRAY, folds), retry)
    other_seed = SPEC.model_copy(update={"seed": 6})
    assert not _same(draws.gemm_faults(other_seed, GEMM, 0, 1, *ARRAY, folds), first)
    assert not _same(draws.gemm_faults(SPEC, GEMM, 1, 1, *ARRAY, folds), first)
    assert draws.entries == 6


def test_equal_fold_tables_share_a_draw_and_other_tables_do_not():
    draws, folds = FaultDraws(), _folds()
    first = draws.gemm_faults(SPEC, GEMM, 0, 0, *ARRAY, folds)
    twin = FoldTable(folds.table.copy(), folds.temporal)  # another pass's equal table
    assert draws.gemm_faults(SPEC, GEMM, 0, 0, *ARRAY, twin) is first
    reordered = FoldTable(folds.table[::-1].copy(), folds.temporal)
    again = draws.gemm_faults(SPEC, GEMM, 0, 0, *ARRAY, reordered)
    assert again is not first and _same(again, sample_gemm_faults(SPEC, GEMM, 0, 0, *ARRAY, reordered))


def test_equal_specs_and_gemms_share_a_draw_though_keys_name_them_by_identity():
    draws, folds = FaultDraws(), _folds()
    first = draws.gemm_faults(SPEC, GEMM, 0, 0, *ARRAY, folds)
    spec_twin, gemm_twin = SPEC.model_copy(), dataclasses.replace(GEMM)  # equal values, other objects
    assert spec_twin is not SPEC and gemm_twin is not GEMM
    assert draws.gemm_faults(spec_twin, gemm_twin, 0, 0, *ARRAY, folds) is first
    other = dataclasses.replace(GEMM, name=GEMM.name + "_other")
    assert draws.gemm_faults(SPEC, other, 0, 0, *ARRAY, folds) is not first
    assert draws.entries == 2


def test_checksum_draws_are_keyed_by_their_check_geometry():
    draws, folds = FaultDraws(), _folds()
    whole, blocked = check_geometry(Dataflow.OS, folds), check_geometry(Dataflow.OS, folds, (4, 4))
    first = draws.checksum_faults(SPEC, whole, Datatype.INT8, 0, 1, 0)
    reference = sample_checksum_faults(SPEC, whole, Datatype.INT8, 0, 1, 0)
    assert len(first) > 0 and all(np.array_equal(getattr(first, c), getattr(reference, c)) for c in ("fold_index",
                                  "site", "axis", "line", "block", "step", "bit"))  # fmt: skip
    assert draws.checksum_faults(SPEC, check_geometry(Dataflow.OS, folds), Datatype.INT8, 0, 1, 0) is first
    assert draws.checksum_faults(SPEC, blocked, Datatype.INT8, 0, 1, 0) is not first


def test_a_pickled_cache_travels_empty():
    draws = FaultDraws()
    draws.gemm_faults(SPEC, GEMM, 0, 0, *ARRAY, _folds())
    assert draws.entries == 1 and pickle.loads(pickle.dumps(draws)).entries == 0


@pytest.fixture(scope="module")
def small():
    bundle = load_bundle()
    return bundle, load_hw("edge_32x32", ["array.rows=8", "array.cols=8"]), bundle.split("test").head(12)


def test_a_trials_later_passes_draw_no_fault_again(small, monkeypatch):
    bundle, hw, split = small
    calls = []
    direct = draw_cache.sample_gemm_faults

    def counting(*args, **kwargs):
        calls.append(args[2:4])
        return direct(*args, **kwargs)

    monkeypatch.setattr(draw_cache, "sample_gemm_faults", counting)
    draws, spec = FaultDraws(), trial_spec(FaultSpec(), 2e-6, 0, 0)
    evaluate(bundle.params, split, hw, "none", spec, draws=draws)
    first, entries = len(calls), draws.entries
    instances = sum(g.count for g in bundle.params.config.gemms(len(split)))
    assert len(set(calls)) == first  # each instance drawn at most once ...
    # ... the empty ones screened for the whole GEMM in one call (never drawn, never asked for one by one)
    assert 0 < first == entries < instances
    evaluate(bundle.params, split, hw, "abft", spec, draws=draws)
    assert len(calls) == first  # abft's first passes were all looked up


SCREENED = [  # about one fault per instance (17 x 16 x 17 MACs), so about a third of the draws are empty
    FaultSpec(ber=2.5e-6, seed=5),
    FaultSpec(ber=3e-6, seed=2**40 + 7, sites=("acc", "mult", "chk_pred", "chk_sum", "chk_cmp")),  # a two-word seed
    FaultSpec(ber=1.5e-5, seed=0, sites=("a_reg", "chk_cmp"), mbu_fraction=0.5),
]
PE_SCREENED = [  # the checksum words are not (the encoders' stream follows theirs)
    FaultSpec(ber=3e-6, seed=1, sites=("acc", "chk_pred", "chk_enc")),
]
NOT_SCREENED = [
    FaultSpec(
        ber=2.5e-6,
        seed=1,
        explicit=[{"gemm": "g", "instance": 1, "fold": 2, "site": "acc", "row": 0, "col": 0, "cycle": 3, "bit": 5}],
    ),
    FaultSpec(ber=0.5, seed=1),  # means >= 10: numpy draws them another way
]


@pytest.mark.parametrize("kind", [FaultDraws, ScreenedDraws])
@pytest.mark.parametrize("spec", SCREENED + PE_SCREENED + NOT_SCREENED)
def test_every_cached_draw_is_the_samplers_whether_screened_or_drawn(spec, kind, monkeypatch):
    """Key by key (PE draws of attempt 0 and 1, checksum words of attempt 0 and 1, every instance of a
    small GEMM at a rate where many draws are empty): a FaultDraws (or a verifier's ScreenedDraws)
    result is the sampler's own, and the sampler ran only for the keys the screen could not rule out
    (for specs it screens)."""
    calls = []
    direct = draw_cache.sample_gemm_faults
    monkeypatch.setattr(draw_cache, "sample_gemm_faults", lambda *a: calls.append(a) or direct(*a))
    gemm = Gemm("g", m=17, k=16, n=17, kind="qk", count=40)
    folds = fold_table(Dataflow.OS, gemm.m, gemm.k, gemm.n, 8, 8)
    geom = check_geometry(Dataflow.OS, folds)
    draws = kind()
    empty = 0
    for instance in range(gemm.count):
        got = draws.gemm_faults(spec, gemm, 3, instance, *ARRAY, folds)
        assert _same(got, sample_gemm_faults(spec, gemm, 3, instance, *ARRAY, folds))
        empty += not len(got)
        for attempt in (1, 2):
            got = draws.attempt_faults(spec, gemm, 3, instance, attempt, *ARRAY, folds)
            assert _same(got, sample_attempt_faults(spec, gemm, 3, instance, attempt, *ARRAY, folds))
        for attempt in (0, 1):
            words = draws.checksum_faults(spec, geom, Datatype.INT8, 3, instance, attempt)
            reference = sample_checksum_faults(spec, geom, Datatype.INT8, 3, instance, attempt)
            for c in ("fold_index", "attempt", "ordinal", "site", "axis", "line", "block", "step", "bit"):
                assert np.array_equal(getattr(words, c), getattr(reference, c)), c
    assert 0 < empty < gemm.count or spec.ber >= 0.5
    assert len(calls) == (gemm.count - empty if spec in SCREENED + PE_SCREENED else gemm.count)


@pytest.mark.parametrize("kind", [DirectDraws, ScreenedDraws, FaultDraws])
@pytest.mark.parametrize("spec", SCREENED + PE_SCREENED + NOT_SCREENED)
def test_a_gemms_empty_draws_screened_at_once_are_the_samplers_empty_draws(spec, kind):
    """empty_gemm_draws / empty_checksum_draws (every instance of a GEMM in one kernel call) mark an
    instance empty only where the sampler draws nothing, and mark every such instance for the specs the
    screen covers (PE draws: all but NOT_SCREENED; checksum words: SCREENED); DirectDraws marks none."""
    gemm = Gemm("g", m=17, k=16, n=17, kind="qk", count=40)
    folds = fold_table(Dataflow.OS, gemm.m, gemm.k, gemm.n, 8, 8)
    geom = check_geometry(Dataflow.OS, folds)
    draws = kind()
    pe = draws.empty_gemm_draws(spec, gemm, 3, gemm.count, Datatype.INT8, folds)
    pe_empty = [len(sample_gemm_faults(spec, gemm, 3, i, *ARRAY, folds)) == 0 for i in range(gemm.count)]
    for attempt in (0, 1):
        words = draws.empty_checksum_draws(spec, geom, Datatype.INT8, 3, gemm.count, attempt)
        words_empty = [len(sample_checksum_faults(spec, geom, Datatype.INT8, 3, i, attempt)) == 0
                       for i in range(gemm.count)]  # fmt: skip
        screened = kind is not DirectDraws and spec in SCREENED
        assert words.tolist() == (words_empty if screened else [False] * gemm.count)
    screened = kind is not DirectDraws and spec in SCREENED + PE_SCREENED
    assert pe.tolist() == (pe_empty if screened else [False] * gemm.count)
    assert not screened or 0 < sum(pe_empty) < gemm.count


def test_tasks_sharing_draws_run_as_one_unit_unless_workers_would_idle():
    a, b = FaultDraws(), FaultDraws()
    tasks = [EvalTask(None, None, None, p, draws=d) for p, d in  # type: ignore[arg-type]
             (("none", a), ("abft", b), ("dmr", a), ("none", None), ("abft", b))]  # fmt: skip
    assert [[i for i, _ in unit] for unit in work_units(tasks)] == [[0, 2], [1, 4], [3]]
    assert [[i for i, _ in unit] for unit in work_units(tasks, workers=4)] == [[0], [1], [2], [3], [4]]


@pytest.mark.parametrize("policy", ["none", "abft", "dmr"])
@pytest.mark.parametrize("spec", SCREENED + PE_SCREENED + NOT_SCREENED[:1])
def test_a_verifier_visiting_only_screened_instances_flags_what_one_visiting_all_flags(policy, spec):
    """FaultVerifier._drawn_instances skips the instances whose every attempt-0 draw (PE, DMR's
    copy, checksum words) screens empty: every flagged fold, every ledger fault and every verdict
    equal those of a verifier on DirectDraws (no screening: it visits every instance)."""
    hw = load_hw("edge_32x32", ["array.rows=8", "array.cols=8"])
    gemms = [Gemm("g", m=17, k=16, n=17, kind="qk", count=40), Gemm("h", m=9, k=16, n=23, kind="qkv", count=3)]
    schedules = [schedule_gemm(g, hw) for g in gemms]
    pol = make_policy(policy, PolicyContext(hw.checksum_unit.placement, AbftConfig()))
    screened, direct = (make_verifier(pol, hw, schedules, spec, draws=d) for d in (None, DirectDraws()))
    flagged = 0
    for gi in range(len(gemms)):
        assert screened.flagged_folds(gi) == direct.flagged_folds(gi)
        flagged += len(direct.flagged_folds(gi))
        folds = screened.operands.folds(gi)
        for instance, f in sorted(direct.flagged_folds(gi)):
            a, b = (v.attempts(gi, instance, folds.fold(f)).decisions for v in (screened, direct))
            assert a == b
    assert flagged > 0 and screened.outcomes() == direct.outcomes()
    mine, theirs = screened.table(), direct.table()
    for column in ("gemm", "instance", "fold", "detected", "false_alarm", "hidden", "delta", "alive"):
        assert np.array_equal(getattr(mine, column), getattr(theirs, column)), column
    for column, values in theirs.faults.items():
        assert np.array_equal(mine.faults[column], values), column
