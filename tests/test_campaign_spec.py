"""Sweep files: validation with one-line errors, grid / explicit points, seeds, trial counts, identity."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.abft.registry import policy_names
from simulator.campaign.plan import expand_params, plan_sweep, trial_seed
from simulator.campaign.spec import load_sweep
from simulator.errors import ConfigError

SMALL = """
name: small
seed: 11
trials: 4
base:
  hw: edge_32x32
  workload: vit_block_gemms
  policies: [none, abft]
axes:
  faults.ber: [0, 1e-9]
  hw.array.dataflow: [os, ws]
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def plan_of(path: Path, trials: int | None = None):
    spec, source = load_sweep(path)
    return plan_sweep(spec, source, trials)


def test_grid_points_trials_and_seeds(tmp_path):
    plan = plan_of(write(tmp_path, SMALL))
    assert [p.label for p in plan.points] == [
        "faults.ber=0, hw.array.dataflow=os", "faults.ber=0, hw.array.dataflow=ws",
        "faults.ber=1e-09, hw.array.dataflow=os", "faults.ber=1e-09, hw.array.dataflow=ws",
    ]  # fmt: skip
    assert [p.trials for p in plan.points] == [1, 1, 4, 4]  # fault-free points are exact in one trial
    assert plan.points[2].params["faults.ber"] == 1e-9  # YAML 1.1 reads 1e-9 as a string
    assert plan.points[3].config["hw"]["array"]["dataflow"] == "ws"
    assert plan.points[3].config["faults"]["ber"] == 1e-9 and "seed" not in plan.points[3].config["faults"]
    tasks = plan.tasks()
    assert len(tasks) == plan.total_trials == 10
    assert tasks[3].seed == trial_seed(11, 2, 1) and len({t.seed for t in tasks}) == 10
    assert plan.tasks({(2, 0), (3, 3)}) == [t for t in tasks if (t.point, t.trial) not in {(2, 0), (3, 3)}]
    assert plan_of(write(tmp_path, SMALL)).sweep_hash == plan.sweep_hash  # stable
    assert plan_of(write(tmp_path, SMALL.replace("seed: 11", "seed: 12"))).sweep_hash != plan.sweep_hash
    more = plan_of(write(tmp_path, SMALL), trials=5)  # the trial count is not part of the identity
    assert more.sweep_hash == plan.sweep_hash and more.total_trials == 12
    assert more.tasks()[:4] == tasks[:4]  # a trial's seed does not depend on the count


def test_explicit_points_cross_axes_and_policy_axis_shares_seeds(tmp_path):
    text = """
name: tied
base: {workload: vit_block_gemms, faults: {ber: 1.0e-9}}
trials: 2
points:
  - {hw.array.rows: 16, hw.array.cols: 16}
  - {hw.array.rows: 64, hw.array.cols: 64}
axes:
  policy: [abft, approx_abft]
"""
    plan = plan_of(write(tmp_path, text))
    assert [(p.params["hw.array.rows"], p.params["policy"]) for p in plan.points] == [
        (16, "abft"), (16, "approx_abft"), (64, "abft"), (64, "approx_abft"),
    ]  # fmt: skip
    assert [p.config["policies"] for p in plan.points[:2]] == [["abft"], ["approx_abft"]]
    # policies of one hardware point see the same fault draws (common random numbers)
    assert [p.seed_index for p in plan.points] == [0, 0, 1, 1]
    seeds = [t.seed for t in plan.tasks()]
    assert seeds[0:2] == seeds[2:4] and seeds[0:2] != seeds[4:6]


def test_threshold_axis_fills_the_other_threshold(tmp_path):
    text = (
        "name: t\nbase: {workload: vit_block_gemms, policies: [approx_abft]}\n"
        "axes:\n  abft.thresholds.fc1.t1: [0.5, 2]\n"
    )
    plan = plan_of(write(tmp_path, text))
    assert plan.points[1].config["abft"]["thresholds"]["fc1"] == {"t1": 2, "t2": 0.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\ntrails: 3\n", "sweep.yaml: trails: unknown key"),
        ("name: x\nbase: {hw: edge_32x32, fault: {}}\n", "sweep.yaml: base.fault: unknown key"),
        ("name: x\naxes: {hw.array.rowz: [8]}\n", "point 0 (hw.array.rowz=8): hw.array.rowz: unknown key"),
        ("name: x\naxes: {hw.array.rows: [8, -4]}\n", "point 1 (hw.array.rows=-4): hw.array.rows: must be > 0, got -4"),
        ("name: x\naxes: {colour: [red]}\n", "sweep.yaml: axes: colour: unknown axis"),
        ("name: x\naxes: {faults.ber: [2]}\n", "faults.ber: must be <= 1, got 2"),
        ("name: x\naxes: {faults.seed: [1]}\n", "faults.seed cannot be swept"),
        ("name: x\naxes: {policy: [abfft]}\n", "point 0 (policy=abfft): policy: unknown policy 'abfft'"),
        ("name: x\ntrials: 0\n", "sweep.yaml: trials: must be >= 1, got 0"),
        ("name: x\naxes: {faults.ber: []}\n", "axes.faults.ber: must have at least 1 item(s)"),
        ("name: x\npoints: [{faults.ber: 0}]\naxes: {faults.ber: [0]}\n", "points[0].faults.ber: also an axis"),
        ("name: x\nbase: {faults: {seed: 3}}\n", "sweep.yaml: base.faults: seed: set the sweep's top-level `seed`"),
        ("name: x\naxes: {abft.block_rows: [-1]}\n", "abft.block_rows: must be >= 0, got -1"),
        ("name: x\nbase: {hw: no_such_hw}\n", "no_such_hw: not a file and not a bundled hw_configs name"),
        ("- a list\n", "sweep.yaml: expected a mapping at the top level"),
        ("name: x\naxes: {hw.array.rows: [8, 8]}\n", "axes: hw.array.rows: lists a value twice"),
    ],
)
def test_bad_sweeps_give_one_line_errors(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        plan_of(write(tmp_path, text))
    text_ = str(info.value)
    assert message in text_ and "\n" not in text_ and "Traceback" not in text_


def test_bundled_sweeps_are_valid(repo):
    for name in ("paper_ber", "dse_array"):
        spec, path = load_sweep(name)
        assert path == repo / "sweeps" / f"{name}.yaml"
        plan = plan_sweep(spec, path)
        assert plan.points and plan.total_trials >= len(plan.points)
    spec, _ = load_sweep("paper_ber")
    bers = sorted(p["faults.ber"] for p in expand_params(spec))
    assert bers[0] == 1e-11 and bers[-1] == 1e-7
    assert spec.base.workload == "vit_base_16" and set(spec.base.policies or ()) == set(policy_names())
