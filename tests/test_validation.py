"""Each input check exists once on the library side; the api, the sweep planner, the functional
studies and the CLI all call it (the CLI only adds its flag spelling)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.abft.registry import POLICIES, check_policy_names, make_policy
from simulator.campaign.plan import plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.config.enums import Datatype, Site
from simulator.config.fault_spec import FaultSpec
from simulator.errors import ConfigError
from simulator.faults.sampling import check_faults_fit
from simulator.metrics.stats import check_confidence, check_trials


def test_trials_and_confidence_checks_name_their_argument():
    assert check_trials(1) == 1
    with pytest.raises(ValueError, match=r"^trials: must be >= 1, got 0$"):
        check_trials(0)
    assert check_confidence(0.95) == 0.95
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=rf"^confidence: must be in \(0, 1\), got {bad}$"):
            check_confidence(bad)


def test_policy_names_are_checked_in_order_by_the_registry():
    assert check_policy_names(["dmr", "none"]) == ["dmr", "none"]
    with pytest.raises(ValueError, match=r"^unknown policy 'tmr' \(known: none, detect_only, "):
        check_policy_names(["none", "tmr", "also_unknown"])
    # make_policy refuses with the same message
    with pytest.raises(ValueError, match="unknown policy 'tmr'"):
        make_policy("tmr")
    assert list(POLICIES) == ["none", "detect_only", "abft", "abft_correct", "approx_abft", "dmr"]


def test_faults_fit_the_array_by_hand():
    # a 2 x 2 int8 array exposes per PE 32 acc + 16 mult + 8 + 8 register bits = 64: 4 x 64 = 256
    check_faults_fit(FaultSpec(kind="permanent", permanent_count=256), Datatype.INT8, 2, 2)
    with pytest.raises(ValueError, match="permanent_count 257 exceeds the 256 exposed PE bits"):
        check_faults_fit(FaultSpec(kind="permanent", permanent_count=257), Datatype.INT8, 2, 2)
    # bits 16..31 exist in the accumulator only; an int8 a_reg has none of them
    with pytest.raises(ValueError, match="leaves no bit"):
        check_faults_fit(FaultSpec(sites=(Site.A_REG,), bits=(16, 31)), Datatype.INT8, 2, 2)


def test_the_sweep_planner_uses_the_same_fit_check(tmp_path: Path):
    # one point with more stuck-at bits than a 2 x 2 array has is refused at plan time
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "name: x\nbase: {hw: edge_32x32, faults: {kind: permanent, permanent_count: 257}}\n"
        "points: [{hw.array.rows: 2, hw.array.cols: 2}]\n"
    )
    spec, _ = load_sweep(str(path))
    with pytest.raises(ConfigError, match="faults: permanent_count 257 exceeds the 256 exposed PE bits"):
        plan_sweep(spec, path)
    with pytest.raises(ConfigError, match=r"^trials: must be >= 1, got 0$"):
        plan_sweep(spec, path, trials=0)
