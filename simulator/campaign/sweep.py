"""Sweep orchestration: plan the trials, skip the stored ones, run the rest, store each as it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.campaign.plan import SweepPlan, TrialTask, plan_sweep
from simulator.campaign.spec import SweepSpec, load_sweep
from simulator.campaign.store import ResultStore
from simulator.campaign.trial import run_trial
from simulator.executors import Executor, make_executor

TrialRunner = Callable[[TrialTask], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class SweepProgress:
    """Reported after every stored trial."""

    done: int  # trials stored by this call so far
    remaining: int  # trials this call still has to run
    point: int
    trial: int


@dataclass(frozen=True, slots=True)
class SweepOutcome:
    points: int
    total_trials: int
    already_stored: int  # trials found in the store (resumed)
    ran: int  # trials run and stored by this call


def run_sweep(
    plan: SweepPlan,
    store: ResultStore,
    executor: Executor,
    *,
    runner: TrialRunner = run_trial,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Run every trial of `plan` not yet in `store`; each result is committed as soon as it arrives.

    `on_start` gets the number of trials to run; `progress` is called after each stored trial.
    Interrupted (an exception, Ctrl-C, kill -9), the store holds every finished trial; running
    again resumes. The results do not depend on the executor or on completion order.
    """
    done = store.done()
    tasks = plan.tasks(done)
    if on_start is not None:
        on_start(len(tasks))
    ran = 0
    try:
        with contextlib.closing(executor.map_unordered(runner, tasks)) as results_stream:
            for task, results in results_stream:
                store.add(task.point, task.trial, task.seed, task.config_hash, results)
                ran += 1
                if progress is not None:
                    progress(SweepProgress(ran, len(tasks) - ran, task.point, task.trial))
    except BaseException:  # Ctrl-C, SIGTERM, a failed trial: keep what finished meanwhile
        for task, results in executor.finished():
            store.add(task.point, task.trial, task.seed, task.config_hash, results)
        raise
    return SweepOutcome(len(plan.points), plan.total_trials, len(done), ran)


def sweep(
    sweep_file: str | Path | SweepSpec,
    db_path: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    trials: int | None = None,
    source: str | Path = "sweep",
    runner: TrialRunner = run_trial,
    on_start: Callable[[int], None] | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
) -> SweepOutcome:
    """Python API: run (or resume) a sweep file or spec into the SQLite store at `db_path`.

    `workers` local processes (default: all cores; 1 runs in this process) or a Dask cluster at
    `scheduler` (tcp://host:port). `trials` overrides the file's trial count.
    """
    if isinstance(sweep_file, SweepSpec):
        spec, path = sweep_file, Path(source)
    else:
        spec, path = load_sweep(sweep_file)
    plan = plan_sweep(spec, path, trials)
    with ResultStore.for_sweep(db_path, plan) as store:
        executor = make_executor(workers, scheduler)
        try:
            return run_sweep(plan, store, executor, runner=runner, on_start=on_start, progress=progress)
        finally:
            executor.close()
