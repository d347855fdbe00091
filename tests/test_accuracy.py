"""Accuracy studies (simulator.functional.accuracy) and `abftsim accuracy`."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from simulator import cli
from simulator.abft.registry import policy_names
from simulator.cli.tables import format_accuracy_study
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw
from simulator.functional.accuracy import AccuracyPoint, AccuracyStudy, accuracy_study, trial_spec
from simulator.functional.bundle import load_bundle
from simulator.functional.inference import Evaluation, evaluate
from simulator.verify.verifier import FaultVerifier

SMALL_ARRAY = ["array.rows=8", "array.cols=8"]


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


def test_ber_zero_gives_every_policy_the_clean_accuracy(bundle):
    hw = load_hw("edge_32x32")
    study = accuracy_study(bundle, hw, policy_names(), [0.0], trials=1)
    recorded = 100.0 * bundle.recorded["test_int8_accuracy"]
    assert study.clean_accuracy_pct == pytest.approx(recorded, abs=1e-9)
    for policy in policy_names():
        point = study.point(policy, 0.0)
        assert point.accuracy_pct == study.clean_accuracy_pct and point.recovery_overhead_pct == 0.0
        assert point.evaluations[0].outcomes.faults_injected == 0
    assert study.tolerable_ber("none") is None  # no BER > 0 was swept


def _fake_point(policy: str, ber: float, correct: list[int], total: int = 200, clean_pct: float = 98.0):
    evals = tuple(Evaluation(c, total, 1000, 10 * (total - c), 1) for c in correct)
    return AccuracyPoint(policy, ber, evals, clean_pct)


def _fake_study(points: list[AccuracyPoint]) -> AccuracyStudy:
    clean = Evaluation(196, 200, 1000, 0, 0)
    hw = {"name": "x", "rows": 8, "cols": 8, "dataflow": "os", "datatype": "int8"}
    return AccuracyStudy({"name": "m"}, hw, "test", 200, 0, len(points[0].evaluations), 1.0, clean, 1000,
                         AbftConfig(), FaultSpec(), tuple(points))  # fmt: skip


def test_tolerable_ber_is_the_largest_ber_before_the_first_excess_drop():
    # clean 98 %: drops 0.5, 1.0 (tolerable), 3.0, then 0.5 again (not tolerable: a larger BER failed first)
    study = _fake_study([
        _fake_point("p", 1e-8, [195]), _fake_point("p", 1e-7, [194]), _fake_point("p", 1e-6, [190]),
        _fake_point("p", 1e-5, [195]), _fake_point("q", 1e-8, [150]), _fake_point("q", 1e-7, [196]),
    ])  # fmt: skip
    assert study.tolerable_ber("p") == 1e-7
    assert study.tolerable_ber("q") is None
    assert study.to_dict()["tolerable_ber"] == {"p": 1e-7, "q": None}
    assert "tolerable BER" in format_accuracy_study(study)


def test_confidence_intervals_wilson_for_one_trial_t_for_several():
    one = _fake_point("p", 1e-7, [180])
    lo, hi, method = one.interval_pct
    assert method == "wilson" and lo < 90.0 < hi and lo > 85.0 and hi < 94.0
    many = _fake_point("p", 1e-7, [180, 184, 176])
    lo, hi, method = many.interval_pct
    assert method == "t" and lo < many.accuracy_pct < hi and many.accuracy_pct == pytest.approx(90.0)
    assert many.recovery_overhead_pct == pytest.approx(100.0 * 10 * 20 / 1000)


def test_faulty_study_is_deterministic_and_shares_fault_draws(bundle):
    hw = load_hw("edge_32x32", SMALL_ARRAY)
    split = bundle.split("test").head(40)
    kwargs = {"trials": 2, "seed": 3, "split": split}
    first = accuracy_study(bundle, hw, ["none", "abft"], [1e-6], **kwargs).to_dict()
    again = accuracy_study(bundle, hw, ["none", "abft"], [1e-6], **kwargs).to_dict()
    assert first == again
    none, abft = first["points"]
    assert none["outcomes_total"]["escaped"] > 0 and none["recovery_overhead_pct"] == 0.0
    assert abft["recovery_overhead_pct"] > 0 and abft["outcomes_total"]["recomputed"] > 0
    assert abft["ci_method"] == "t" and len(abft["trial_accuracy_pct"]) == 2


def test_a_study_sharing_draws_per_trial_equals_fresh_passes_per_policy(bundle):
    # the study hands every policy of a trial one FaultDraws; each pass alone draws its own faults
    hw = load_hw("edge_32x32", SMALL_ARRAY)
    split = bundle.split("test").head(24)
    study = accuracy_study(bundle, hw, policy_names(), [2e-6], trials=2, seed=4, split=split)
    recomputing = 0
    for point in study.points:
        for t, shared in enumerate(point.evaluations):
            fresh = evaluate(bundle.params, split, hw, point.policy, trial_spec(FaultSpec(), 2e-6, 4, t))
            assert shared == fresh  # correct count, recomputed MACs and passes (per kind), checks, outcomes
            assert np.array_equal(shared.per_image_correct, fresh.per_image_correct)
            recomputing += shared.recompute_passes > 0
    assert recomputing >= 4 and study.point("none", 2e-6).evaluations[0].outcomes.escaped > 0


def test_a_pass_without_its_fate_tally_is_the_same_pass(bundle, monkeypatch):
    # evaluate(outcomes=False) (a threshold search's passes) skips every GEMM call's fate classification
    # and changes nothing else: the correct count, per-image results and recovery cost are the tallied pass's
    hw = load_hw("edge_32x32", SMALL_ARRAY)
    split = bundle.split("test").head(12)
    spec = trial_spec(FaultSpec(), 4e-6, 3, 0)
    tallied = evaluate(bundle.params, split, hw, "approx_abft", spec)
    classified = []
    real = FaultVerifier.outcomes
    monkeypatch.setattr(FaultVerifier, "outcomes", lambda self: classified.append(1) or real(self))
    untallied = evaluate(bundle.params, split, hw, "approx_abft", spec, outcomes=False)
    assert untallied.outcomes is None and not classified
    assert tallied.outcomes is not None and tallied.outcomes.faults_injected > 0 and tallied.recompute_passes > 0
    assert untallied == dataclasses.replace(tallied, outcomes=None)
    assert np.array_equal(untallied.per_image_correct, tallied.per_image_correct)
    with pytest.raises(ValueError, match="outcomes=True"):
        AccuracyPoint("approx_abft", 4e-6, (untallied,), 100.0).to_dict()


def test_paired_drop_and_tolerable_fit_come_from_per_image_results(bundle):
    hw = load_hw("edge_32x32", SMALL_ARRAY)
    split = bundle.split("test").head(30)
    study = accuracy_study(bundle, hw, ["none", "abft"], [1e-6, 4e-6], trials=2, seed=1, split=split)
    clean = study.clean.per_image_correct
    assert clean.shape == (30,) and int(clean.sum()) == study.clean.correct
    for point in study.points:
        matrix = point.correct_matrix
        assert matrix.shape == (2, 30)
        assert [int(r.sum()) for r in matrix] == [e.correct for e in point.evaluations]
        # the mean paired difference is the drop of the means, and the interval holds it
        assert point.paired.drop_points == pytest.approx(point.drop_points)
        assert point.paired.lo <= point.drop_points <= point.paired.hi
    data = study.to_dict()
    none_hi = data["points"][1]["paired_drop"]
    assert none_hi["method"] == "two-way" and data["points"][1]["claim_points"] == 1.0
    assert set(data["tolerable_ber_fit"]) == {"none", "abft"} and data["tolerable_ber_ratio"] is None
    for fit in data["tolerable_ber_fit"].values():
        assert len(fit["fitted_drop_points"]) == 2 and fit["fitted_drop_points"][0] <= fit["fitted_drop_points"][1]
    assert "paired 95% CI" in format_accuracy_study(study)


ACCURACY_ARGS = [
    "accuracy", "--policy", "none", "--policy", "approx_abft", "--ber", "0", "--ber", "1e-6",
    "--trials", "1", "--limit", "24", "--set", "array.rows=8", "--set", "array.cols=8", "--quiet",
]  # fmt: skip


def test_cli_accuracy_json(capsys):
    assert cli.main([*ACCURACY_ARGS, "--json", "-"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "abftsim.accuracy/1" and data["images"] == 24 and data["hw"]["rows"] == 8
    assert {(p["policy"], p["ber"]) for p in data["points"]} == {
        ("none", 0.0), ("none", 1e-6), ("approx_abft", 0.0), ("approx_abft", 1e-6)}  # fmt: skip
    assert set(data["tolerable_ber"]) == {"none", "approx_abft"}


def test_cli_accuracy_plots(tmp_path):
    pytest.importorskip("matplotlib")
    assert cli.main([*ACCURACY_ARGS, "--limit", "8", "--plot", str(tmp_path)]) == 0
    for name in ("accuracy_vs_ber", "accuracy_vs_overhead"):
        for ext in ("png", "svg"):
            assert (tmp_path / f"{name}.{ext}").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ber", "2"], "--ber: must be a probability in [0, 1]"),
        (["--policy", "bogus"], "--policy: unknown policy 'bogus'"),
        (["--trials", "0"], "--trials: must be >= 1"),
        (["--limit", "0"], "--limit: must be >= 1"),
        (["--model", "missing.npz"], "--model: missing.npz: cannot read"),
        (["--hw", "nope"], "nope: not a file and not a bundled hw_configs name"),
    ],
)
def test_cli_accuracy_bad_input_is_one_line_exit_2(capsys, args, message):
    assert cli.main(["accuracy", "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_worker_processes_give_identical_results(bundle):
    from simulator.executors import make_executor

    hw = load_hw("edge_32x32", SMALL_ARRAY)
    kwargs = {"trials": 2, "seed": 1, "split": bundle.split("test").head(8)}
    inline = accuracy_study(bundle, hw, ["none", "approx_abft"], [1e-6], **kwargs).to_dict()
    executor = make_executor(2)
    try:
        pooled = accuracy_study(bundle, hw, ["none", "approx_abft"], [1e-6], executor=executor, **kwargs).to_dict()
    finally:
        executor.close()
    assert json.dumps(pooled) == json.dumps(inline)


def test_cli_ber_grid_is_geometric_and_validated(capsys):
    from simulator.cli.calibration import ber_grid as _ber_grid

    # 1e-7 .. 1e-5 in 3 steps: ratio (1e-5 / 1e-7)^(1/2) = 10
    assert _ber_grid("1e-7,1e-5,3") == [1e-7, 1e-6, 1e-5]
    assert cli.main(["accuracy", "--ber-grid", "1e-5,1e-7,3", "--quiet"]) == 2
    assert "--ber-grid: need 0 < LO < HI <= 1 and N >= 2" in capsys.readouterr().err
