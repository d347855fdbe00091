"""Engine speed on fault-free ViT-B/16 (issue 3): engine seconds, folds, SimPy events, events/s.

Cases: edge_32x32 (27,416 folds) and the same hardware shrunk to an 8x8 array (380,525 folds)
with coalescing (the default), the 32x32 run uncoalesced (one SimPy event per fold), and a
32x32 run where 1 % of the folds are forced to recompute their tile once (every flagged fold
costs SimPy events and breaks repeat skipping around it). Times are the best of --repeat runs
of `simulate()` alone (schedules are built beforehand). Ratios are against the uncoalesced
32x32 run measured in the same invocation. Not a test: it prints figures.

Usage (from the repository root):
    /work/venv/bin/python benchmarks/bench_engine.py [--repeat 3] [--uncoalesced-8x8]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from simulator.abft.policies import PolicyBase
from simulator.abft.protocol import Action, Decision
from simulator.config.loader import load_hw, load_workload
from simulator.engine import EngineResult, simulate
from simulator.engine.testing import forced
from simulator.mapping.region import Region, Scope
from simulator.mapping.schedule import schedule_gemm


@dataclass
class Case:
    label: str
    overrides: tuple[str, ...]
    coalesce: bool
    recompute_fraction: float = 0.0


def run_case(case: Case, repeat: int) -> tuple[float, EngineResult]:
    hw = load_hw("edge_32x32", list(case.overrides))
    schedules = [schedule_gemm(g, hw) for g in load_workload("vit_base_16").gemms]
    best, result = float("inf"), None
    for _ in range(repeat):
        policy, verifier = PolicyBase(), None
        if case.recompute_fraction:
            rng = random.Random(0)
            script = {}
            for li, s in enumerate(schedules):
                for inst in range(s.gemm.count):
                    for f in range(s.folds_per_instance):
                        if rng.random() < case.recompute_fraction:
                            script[(li, inst, f)] = [
                                Decision(Action.RECOMPUTE, Region(Scope.TILE)),
                                Decision(Action.ACCEPT),
                            ]
            policy, verifier = forced(script)
        start = time.perf_counter()
        result = simulate(hw, schedules, policy, verifier, coalesce=case.coalesce)
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best time is kept")
    parser.add_argument("--uncoalesced-8x8", action="store_true", help="also time the 8x8 array uncoalesced")
    args = parser.parse_args()
    small = ("array.rows=8", "array.cols=8")
    cases = [
        Case("32x32 uncoalesced", (), False),
        Case("32x32 coalesced", (), True),
        Case("8x8 coalesced", small, True),
        Case("32x32 coalesced, 1% recomputes", (), True, 0.01),
    ]
    if args.uncoalesced_8x8:
        cases.append(Case("8x8 uncoalesced", small, False))
    print(
        f"{'case':34} {'engine s':>9} {'folds':>8} {'skipped':>8} {'events':>8} {'events/s':>10} "
        f"{'folds/s':>10} {'speedup':>8} {'cycles':>12}"
    )
    reference = None
    totals: dict[tuple[str, ...], int] = {}
    for case in cases:
        seconds, r = run_case(case, args.repeat)
        if reference is None:
            reference = seconds / r.folds  # uncoalesced 32x32 seconds per fold
        speedup = reference * r.folds / seconds
        print(
            f"{case.label:34} {seconds:9.3f} {r.folds:8d} {r.skipped_folds:8d} {r.events_processed:8d} "
            f"{r.events_processed / seconds:10.0f} {r.folds / seconds:10.0f} {speedup:7.1f}x {r.total_cycles:12d}"
        )
        if not case.recompute_fraction:
            if case.overrides in totals and totals[case.overrides] != r.total_cycles:
                raise SystemExit(f"{case.label}: {r.total_cycles} cycles differ from the other mode's")
            totals[case.overrides] = r.total_cycles
    print("speedup: folds per second relative to the uncoalesced 32x32 run; skipped: folds timed by repeat skipping")


if __name__ == "__main__":
    main()
