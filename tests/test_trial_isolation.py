"""Two trials run one after the other in one process, in either order, give what each gives in a
fresh process: no state carries across trials (the premise of resuming a sweep with any number
of workers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.campaign.plan import plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.campaign.trial import run_trial

WORKLOAD = """
name: tiny
gemms:
  - {name: fc1, M: 64, K: 256, N: 128}
  - {name: fc2, M: 64, K: 128, N: 64}
"""
SWEEP = """
name: isolation
seed: 9
trials: 2
base: {workload: tiny.yaml, policies: [abft, dmr]}
axes:
  faults.ber: [1.0e-6]
  hw.array.rows: [8, 16]
"""
FRESH = """
import json, sys
from simulator.campaign.plan import plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.campaign.trial import run_trial
spec, path = load_sweep(sys.argv[1])
print(json.dumps(run_trial(plan_sweep(spec, path).tasks()[int(sys.argv[2])]), sort_keys=True, default=str))
"""


def _canonical(result: dict) -> str:
    return json.dumps(result, sort_keys=True, default=str)


@pytest.mark.slow  # two fresh interpreters (~3 s each) and four small trials
def test_trials_in_one_process_in_either_order_equal_fresh_processes(tmp_path: Path) -> None:
    (tmp_path / "tiny.yaml").write_text(WORKLOAD)
    (tmp_path / "s.yaml").write_text(SWEEP)
    spec, path = load_sweep(tmp_path / "s.yaml")
    tasks = plan_sweep(spec, path).tasks()
    first, second = 1, 2  # point 0 trial 1 and point 1 trial 0: different arrays and seeds
    forward = {i: _canonical(run_trial(tasks[i])) for i in (first, second)}
    backward = {i: _canonical(run_trial(tasks[i])) for i in (second, first)}
    for i in (first, second):
        fresh = subprocess.run(
            [sys.executable, "-c", FRESH, str(tmp_path / "s.yaml"), str(i)],
            capture_output=True, text=True, check=True, timeout=300,
        )  # fmt: skip
        assert forward[i] == backward[i] == fresh.stdout.strip(), f"trial task {i} depends on what ran before"
    assert forward[first] != forward[second]
