"""Signals on a sweep: SIGTERM and Ctrl-C stop it cleanly keeping finished trials, and no worker
outlives its parent, whatever killed it (SIGKILL included); one sweep per store at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from store_probe import stored_trials

from simulator.campaign.plan import plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.campaign.store import ResultStore, StoreError

WORKLOAD = "name: tiny\ngemms:\n  - {name: fc1, M: 64, K: 256, N: 128}\n"
SWEEP = """
name: signals
seed: 3
trials: 400
base: {workload: tiny.yaml, policies: [none, abft]}
axes:
  faults.ber: [1.0e-6]
"""


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    (tmp_path / "tiny.yaml").write_text(WORKLOAD)
    (tmp_path / "sig.yaml").write_text(SWEEP)
    return tmp_path


def _session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`: the sweep, its forkserver and workers."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(sweep_dir: Path, db: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "simulator", "sweep", "sig.yaml", "--db", str(db), "--workers", "2", "--quiet"]
    # Ctrl-C as a terminal delivers it: SIGINT at its default disposition in the sweep, even where the
    # test itself runs with SIGINT ignored (a background job of a non-interactive shell inherits that).
    proc = subprocess.Popen(cmd, cwd=sweep_dir, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_default_sigint)  # fmt: skip
    deadline = time.monotonic() + 120
    while stored_trials(db) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"sweep ended before the signal: {proc.stderr.read().decode()}"
    return proc


def _no_process_left(sid: int, within_s: float = 10.0) -> bool:
    deadline = time.monotonic() + within_s
    while _session_members(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _session_members(sid)


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "to_group", "code"), [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)])
def test_sigterm_and_ctrl_c_stop_cleanly_keep_trials_and_leave_no_worker(sweep_dir, signum, to_group, code):
    db = sweep_dir / "sig.db"
    proc = _start(sweep_dir, db)
    try:
        stored_before = stored_trials(db)
        (os.killpg if to_group else os.kill)(proc.pid, signum)  # Ctrl-C reaches the whole group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == code
    lines = err.decode().splitlines()
    assert len(lines) == 1 and "finished trials are in" in lines[0], lines
    assert stored_trials(db) >= stored_before
    assert _no_process_left(proc.pid)


@pytest.mark.slow
def test_sigkill_of_the_parent_leaves_no_worker(sweep_dir):
    proc = _start(sweep_dir, sweep_dir / "sig.db")
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers must notice by themselves
    proc.wait()
    try:
        assert _no_process_left(proc.pid)
    finally:
        for pid in _session_members(proc.pid):
            os.kill(pid, signal.SIGKILL)


def test_one_sweep_per_store(sweep_dir):
    spec, path = load_sweep(sweep_dir / "sig.yaml")
    plan = plan_sweep(spec, path, 1)
    db = sweep_dir / "sig.db"
    with (
        ResultStore.for_sweep(db, plan),
        pytest.raises(StoreError, match="another abftsim sweep is writing this result store"),
    ):
        ResultStore.for_sweep(db, plan)
    with ResultStore.for_sweep(db, plan):  # released on close
        pass
