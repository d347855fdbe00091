"""Real sweeps: killed with SIGKILL and resumed, and on a Dask LocalCluster, equal an uninterrupted local run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_probe import stored_trials

from simulator.campaign.store import ResultStore
from simulator.campaign.sweep import sweep

WORKLOAD = """
name: tiny
gemms:
  - {name: fc1, M: 64, K: 256, N: 128}
  - {name: fc2, M: 64, K: 128, N: 64}
"""
SWEEP = """
name: kill_resume
seed: 9
trials: 6
base: {workload: tiny.yaml, policies: [none, abft, approx_abft]}
axes:
  faults.ber: [0, 1.0e-6]
  hw.array.rows: [8, 16]
"""
TOTAL_TRIALS = 2 * 1 + 2 * 6


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "tiny.yaml").write_text(WORKLOAD)
    (folder / "kill.yaml").write_text(SWEEP)
    return folder


@pytest.fixture(scope="module")
def reference(sweep_dir: Path) -> list[tuple]:
    """The uninterrupted run: one worker, in this process."""
    db = sweep_dir / "reference.db"
    outcome = sweep(sweep_dir / "kill.yaml", db, workers=1)
    assert outcome.ran == outcome.total_trials == TOTAL_TRIALS
    with ResultStore.read(db) as store:
        return store.rows()


def test_sigkill_mid_run_then_resume_equals_uninterrupted(sweep_dir, reference):
    db = sweep_dir / "killed.db"
    cmd = [sys.executable, "-m", "simulator.cli", "sweep", "kill.yaml", "--db", str(db), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=sweep_dir, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while stored_trials(db) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep, its forkserver and its workers
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = stored_trials(db)
    assert 3 <= partial < TOTAL_TRIALS  # killed mid-run, finished trials kept
    outcome = sweep(sweep_dir / "kill.yaml", db, workers=1)
    assert (outcome.already_stored, outcome.ran) == (partial, TOTAL_TRIALS - partial)
    with ResultStore.read(db) as store:
        assert store.rows() == reference  # nothing lost, nothing duplicated, same values
    assert not [p.name for p in sweep_dir.iterdir() if p.name.endswith(".tmp")]


def test_dask_local_cluster_equals_local_executor(sweep_dir, reference):
    distributed = pytest.importorskip("distributed", reason="needs dask[distributed] (pip install 'abftsim[dask]')")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=logging.ERROR) as cluster:  # fmt: skip
        db = sweep_dir / "dask.db"
        outcome = sweep(sweep_dir / "kill.yaml", db, scheduler=cluster.scheduler_address)
    assert outcome.ran == TOTAL_TRIALS
    with ResultStore.read(db) as store:
        assert store.rows() == reference


def test_unreachable_scheduler_is_a_clean_error():
    pytest.importorskip("distributed")
    from simulator.errors import ConfigError
    from simulator.executors import DaskExecutor

    with pytest.raises(ConfigError, match=r"^scheduler: tcp://127.0.0.1:9: cannot connect"):
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=1.0)
