"""Sweep orchestration with a stub trial runner: resume, executor independence, summary and export."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from simulator.campaign.export import export_csv
from simulator.campaign.plan import TrialTask, plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.campaign.store import ResultStore
from simulator.campaign.summary import summarize
from simulator.campaign.sweep import run_sweep
from simulator.cli.tables import format_sweep_summary
from simulator.errors import ConfigError
from simulator.executors import InlineExecutor, LocalExecutor, make_executor

SWEEP = """
name: stub
seed: 5
trials: 6
base: {workload: vit_block_gemms, policies: [none, abft, approx_abft]}
axes:
  faults.ber: [0, 1.0e-10, 1.0e-9, 1.0e-8]
  hw.array.rows: [16, 32]
"""


def stub_trial(task: TrialTask) -> dict:
    """Deterministic fake results in the trial schema, drawn from the trial's seed."""
    rng = np.random.default_rng(task.seed)
    ber = task.config["faults"]["ber"]
    rows = task.config["hw"]["array"]["rows"]
    faults = int(rng.poisson(ber * 1e10)) if ber else 0
    policies = []
    for name in task.config["policies"]:
        cost = 0.0 if name == "none" else (1.0 if name == "abft" else 0.4) * (faults + 1) * 0.1 + rng.random()
        escaped = faults if name == "none" else int(rng.binomial(faults, 0.01))
        kinds = {k: {"compute_cycles": 1e6 * rows, "memory_stall_cycles": 1e5, "checksum_stall_cycles": 1e3 * cost,
                     "recompute_cycles": 1e4 * cost, "total_cycles": 1.2e6 * rows, "energy_pj": 1e6}
                 for k in ("qkv", "qk", "fc1")}  # fmt: skip
        policies.append({
            "policy": name, "cycles": 1000 + cost, "latency_s": 1e-3 * (1 + cost / 100), "energy_pj": 1e9,
            "latency_overhead_pct": cost, "energy_overhead_pct": cost / 2, "faults_injected": faults,
            "detected": faults - escaped, "masked": 0, "corrected": 0, "recomputed": 0, "tolerated": 0,
            "escaped": escaped, "recomputations": 0, "recomputed_macs": 0, "energy_breakdown_pj": {}, "kinds": kinds,
        })  # fmt: skip
    return {
        "schema": "abftsim.trial/1",
        "area_pe": {"array": rows * 32.0, "checksum": 10.0, "total": rows * 32.0 + 10},
        "baseline": {"cycles": 1000, "latency_s": 1e-3, "energy_pj": 1e9},
        "policies": policies,
    }


class Boom(RuntimeError):
    pass


def failing_after(n: int):
    calls = {"n": 0}

    def run(task: TrialTask) -> dict:
        calls["n"] += 1
        if calls["n"] > n:
            raise Boom("simulated crash")
        return stub_trial(task)

    return run


@pytest.fixture
def plan(tmp_path: Path):
    path = tmp_path / "stub.yaml"
    path.write_text(SWEEP)
    spec, source = load_sweep(path)
    return plan_sweep(spec, source)


def run_into(db: Path, plan, executor, runner=stub_trial) -> list[tuple]:
    with ResultStore.for_sweep(db, plan) as store:
        run_sweep(plan, store, executor, runner=runner)
        return store.rows()


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, plan):
    reference = run_into(tmp_path / "ref.db", plan, InlineExecutor())
    assert len(reference) == plan.total_trials == 2 + 6 * 6
    db = tmp_path / "resumed.db"
    with pytest.raises(Boom):
        run_into(db, plan, InlineExecutor(), failing_after(7))
    with ResultStore.read(db) as store:
        assert len(store.rows()) == 7  # every finished trial kept
    seen = []
    with ResultStore.for_sweep(db, plan) as store:
        outcome = run_sweep(plan, store, InlineExecutor(), runner=stub_trial, on_start=seen.append)
        assert store.rows() == reference
    assert seen == [plan.total_trials - 7] and (outcome.already_stored, outcome.ran) == (7, plan.total_trials - 7)
    with ResultStore.for_sweep(db, plan) as store:  # a finished sweep runs nothing
        assert run_sweep(plan, store, InlineExecutor(), runner=stub_trial).ran == 0


def test_resume_with_more_or_fewer_trials(tmp_path, plan):
    reference = run_into(tmp_path / "ref.db", plan, InlineExecutor())
    spec, source = load_sweep(tmp_path / "stub.yaml")
    fewer, more = plan_sweep(spec, source, trials=3), plan_sweep(spec, source, trials=9)
    db = tmp_path / "grow.db"
    assert len(run_into(db, fewer, InlineExecutor())) == 2 + 6 * 3
    with ResultStore.for_sweep(db, plan) as store:
        assert run_sweep(plan, store, InlineExecutor(), runner=stub_trial).ran == 6 * 3
        assert store.rows() == reference  # the first 3 trials are reused, never rerun
    with ResultStore.for_sweep(db, more) as store:
        assert run_sweep(more, store, InlineExecutor(), runner=stub_trial).ran == 6 * 3
        assert len(store.rows()) == 2 + 6 * 9 and [r for r in store.rows() if r[1] < 6] == reference
    with ResultStore.for_sweep(db, fewer) as store:  # fewer: extra trials stay stored, unreported
        assert run_sweep(fewer, store, InlineExecutor(), runner=stub_trial).ran == 0
        assert len(store.rows()) == 2 + 6 * 9 and len(list(store.trials())) == 2 + 6 * 3
        assert {s.trials for s in summarize(store.points(), store.trials())} == {1, 3}


def test_process_pool_gives_the_same_store(tmp_path, plan):
    reference = run_into(tmp_path / "ref.db", plan, InlineExecutor())
    pool = LocalExecutor(2)
    try:
        assert run_into(tmp_path / "pool.db", plan, pool) == reference
    finally:
        pool.close()


def test_make_executor_choices():
    assert isinstance(make_executor(1), InlineExecutor)
    with pytest.raises(ConfigError, match=r"^workers: must be >= 1"):
        make_executor(0)


def test_summary_intervals_and_export(tmp_path, plan):
    db = tmp_path / "s.db"
    run_into(db, plan, InlineExecutor())
    with ResultStore.read(db) as store:
        summaries = summarize(store.points(), store.trials())
        raw = list(csv.DictReader(io.StringIO(export_csv(store))))
        rows = list(csv.DictReader(io.StringIO(export_csv(store, summary=True))))
    assert len(summaries) == 8 * 3 and len(rows) == 24 and len(raw) == plan.total_trials * 3
    free = [s for s in summaries if s.point == 0]
    assert all(s.exact and s.trials == 1 for s in free)
    assert free[1].means["latency_overhead_pct"].lo == free[1].means["latency_overhead_pct"].hi  # exact point
    noisy = next(s for s in summaries if s.point == 7 and s.policy == "abft")
    values = [float(r["latency_overhead_pct"]) for r in raw if r["point"] == "7" and r["policy"] == "abft"]
    iv = noisy.means["latency_overhead_pct"]
    assert len(values) == 6 and iv.estimate == pytest.approx(sum(values) / 6) and iv.lo < iv.estimate < iv.hi
    faults = sum(int(r["faults_injected"]) for r in raw if r["point"] == "7" and r["policy"] == "abft")
    assert noisy.escape_per_fault.n == faults and noisy.escape_per_run.n == 6
    none = next(s for s in summaries if s.point == 7 and s.policy == "none")
    assert none.escape_per_fault.estimate == 1.0
    assert raw[0].keys() >= {"point", "trial", "seed", "config_hash", "faults.ber", "hw.array.rows", "policy"}
    assert rows[0].keys() >= {"latency_overhead_pct_mean", "latency_overhead_pct_lo", "escape_per_fault_hi"}
    assert not math.isnan(float(rows[-1]["energy_overhead_pct_hi"]))
    table = format_sweep_summary(summaries)
    assert "faults.ber=1e-08, hw.array.rows=32" in table and "approx_abft" in table
