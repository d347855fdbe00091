"""Accuracy-driven ApproxABFT thresholds: per GEMM kind (T1, T2), least recovery work at a bounded accuracy drop.

Objective: minimise approx_abft's recovery overhead (recomputed MACs / clean MACs, mean over the
calibration BERs and trials) subject to: at every calibration BER, the mean top-1 accuracy drop
on the calibration split (clean int8 accuracy - faulty accuracy, percentage points) is <= delta.
Thresholds are relative (multiples of each GEMM instance's clean output scale
sqrt(K mean(A^2) mean(B^2)), AbftConfig threshold_mode "relative"), T2 = t2_ratio x T1.

Search (greedy on a geometric grid, every candidate evaluated with the same fault seeds):
1. uniform: every grid value T, the same for every kind; the feasible one with the least overhead
   is kept (no monotonicity is assumed: very small thresholds can cost accuracy too, because more
   recompute passes are themselves hit and give up after max_retries);
2. per kind: kinds in decreasing order of the recomputed MACs they cost at the uniform solution
   (kinds that cost nothing are left alone); each is raised one grid step at a time while the
   constraint holds and its overhead falls; the first step that breaks either stops that kind.
If no uniform value meets the constraint, the smallest grid value is returned and `feasible` is false.

Resuming: the search is deterministic, so candidates finished by an earlier, killed run of the same
problem (`known`, e.g. read back from the journal the CLI keeps, `Candidate.to_json`) are taken
as evaluated: the search takes the same path and the same history, evaluating only the rest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import yaml

from simulator.config.abft_options import AbftConfig, Thresholds
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.executors import Executor
from simulator.faults.draw_cache import FaultDraws
from simulator.functional import inference
from simulator.functional.accuracy import admit, hw_summary, model_summary, trial_spec
from simulator.functional.bayes import Score
from simulator.functional.bundle import ModelBundle, Split
from simulator.metrics.stats import check_trials

SCHEMA = "abftsim.calibration/1"
DEFAULT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0)


@dataclass(frozen=True)
class Candidate:
    """One evaluated threshold assignment (grid indices per kind) on the calibration split."""

    levels: tuple[tuple[str, int], ...]
    accuracy_pct: dict[float, float]  # per BER, mean over trials
    overhead_pct: dict[float, float]  # per BER, mean recomputed MACs / clean MACs, percent
    recomputed_macs_by_kind: dict[str, float]
    feasible: bool

    @property
    def mean_overhead_pct(self) -> float:
        return float(np.mean(list(self.overhead_pct.values())))

    def to_json(self) -> dict[str, Any]:
        """Plain values (a journal line); `from_json` reads it back exactly."""
        return {"levels": [list(kv) for kv in self.levels],
                "accuracy_pct": {repr(b): v for b, v in self.accuracy_pct.items()},
                "overhead_pct": {repr(b): v for b, v in self.overhead_pct.items()},
                "recomputed_macs_by_kind": self.recomputed_macs_by_kind, "feasible": self.feasible}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Candidate:
        def per_ber(key: str) -> dict[float, float]:
            return {float(b): float(v) for b, v in d[key].items()}

        by_kind = {str(k): float(v) for k, v in d["recomputed_macs_by_kind"].items()}
        levels = tuple((str(k), int(i)) for k, i in d["levels"])
        return cls(levels, per_ber("accuracy_pct"), per_ber("overhead_pct"), by_kind, bool(d["feasible"]))


@dataclass(frozen=True)
class Calibration:
    """The chosen thresholds and how the search got there."""

    abft: AbftConfig
    best: Candidate
    clean_accuracy_pct: float
    delta_points: float
    bers: tuple[float, ...]
    trials: int
    seed: int
    grid: tuple[float, ...]
    t2_ratio: float
    model: dict[str, Any]
    hw: dict[str, Any]
    split: str
    images: int
    history: tuple[Candidate, ...] = field(default_factory=tuple)

    @property
    def feasible(self) -> bool:
        return self.best.feasible

    def thresholds_yaml(self) -> str:
        """An AbftConfig YAML that `abftsim run/accuracy --abft PATH` loads."""
        header = (
            f"# ApproxABFT thresholds from `abftsim calibrate`: accuracy drop <= {self.delta_points:g} points on the "
            f"{self.split} split ({self.images} images)\n# at BER {', '.join(f'{b:g}' for b in self.bers)}, "
            f"{self.trials} trial(s), seed {self.seed}, on {self.hw['name']} ({self.hw['rows']}x{self.hw['cols']} "
            f"{self.hw['dataflow']}); feasible: {str(self.feasible).lower()}; recovery overhead "
            f"{self.best.mean_overhead_pct:.3f} % of the model's MACs\n"
        )
        return options_yaml(self.abft, header)

    def to_dict(self) -> dict[str, Any]:
        def cand(c: Candidate) -> dict[str, Any]:
            return {
                "thresholds": {k: self.grid[i] for k, i in c.levels},
                "accuracy_pct": {f"{b:g}": v for b, v in c.accuracy_pct.items()},
                "recovery_overhead_pct": {f"{b:g}": v for b, v in c.overhead_pct.items()},
                "recomputed_macs_by_kind": c.recomputed_macs_by_kind, "feasible": c.feasible,
            }  # fmt: skip

        return {
            "schema": SCHEMA, "model": self.model, "hw": self.hw, "split": self.split, "images": self.images,
            "bers": list(self.bers), "trials": self.trials, "seed": self.seed, "delta_points": self.delta_points,
            "grid": list(self.grid), "t2_ratio": self.t2_ratio, "clean_accuracy_pct": self.clean_accuracy_pct,
            "feasible": self.feasible, "abft": self.abft.model_dump(mode="json"), "best": cand(self.best),
            "search": [cand(c) for c in self.history],
        }  # fmt: skip


def options_yaml(abft: AbftConfig, header: str) -> str:
    """An ABFT options file (`--abft PATH`) holding `abft`, after the comment lines of `header`."""
    return header + yaml.safe_dump({"abft": abft.model_dump(mode="json")}, sort_keys=False)


class _Evaluator:
    """Evaluates (and memoises) threshold assignments with fixed fault seeds."""

    def __init__(
        self, bundle, data, hw, bers, trials, seed, base, faults, grid, t2_ratio, clean_pct, delta, progress, executor,
        known,
    ):  # fmt: skip
        self.executor = executor
        self.known: dict[tuple[tuple[str, int], ...], Candidate] = dict(known or {})
        self.bundle, self.data, self.hw, self.bers = bundle, data, hw, bers
        self.trials, self.seed, self.base, self.faults = trials, seed, base, faults
        self.grid, self.t2_ratio, self.clean_pct, self.delta = grid, t2_ratio, clean_pct, delta
        self.progress = progress
        self.cache: dict[tuple[tuple[str, int], ...], Candidate] = {}
        self.history: list[Candidate] = []
        # one draw cache per (BER, trial), kept for every candidate (their passes share the fault draws)
        self.draws = {(b, t): FaultDraws() for b in bers for t in range(trials)}

    def config(self, levels: dict[str, int]) -> AbftConfig:
        thresholds = {
            k: Thresholds(t1=self.grid[i], t2=self.grid[i] * self.t2_ratio) for k, i in sorted(levels.items())
        }
        return self.base.model_copy(update={"threshold_mode": "relative", "thresholds": thresholds})

    def __call__(self, levels: dict[str, int]) -> Candidate:
        key = tuple(sorted(levels.items()))
        if key in self.cache:
            return self.cache[key]
        if key in self.known:  # finished by an earlier run of this search: same result, same history
            self.cache[key] = self.known[key]
            self.history.append(self.known[key])
            return self.known[key]
        abft = self.config(levels)
        acc: dict[float, float] = {}
        ovh: dict[float, float] = {}
        by_kind: dict[str, float] = {}
        keys = [(ber, t) for ber in self.bers for t in range(self.trials)]
        specs = {(b, t): trial_spec(self.faults, b, self.seed, t) for b, t in keys}
        params, data, hw = self.bundle.params, self.data, self.hw
        tasks = [inference.EvalTask(params, data, hw, "approx_abft", specs[k], abft, self.draws[k], outcomes=False)
                 for k in keys]  # fmt: skip
        results = inference.evaluate_all(tasks, self.executor)
        for ber in self.bers:
            evals = [r for (b, _), r in zip(keys, results, strict=True) if b == ber]
            acc[ber] = 100.0 * float(np.mean([e.accuracy for e in evals]))
            ovh[ber] = 100.0 * float(np.mean([e.recovery_overhead for e in evals]))
            for e in evals:
                for k, v in e.recomputed_macs_by_kind.items():
                    by_kind[k] = by_kind.get(k, 0.0) + v / (self.trials * len(self.bers))
        feasible = all(self.clean_pct - a <= self.delta + 1e-9 for a in acc.values())
        cand = Candidate(key, acc, ovh, dict(sorted(by_kind.items())), feasible)
        self.cache[key] = cand
        self.history.append(cand)
        if self.progress is not None:
            self.progress(cand)
        return cand


def calibrate_thresholds(
    bundle: ModelBundle,
    hw: HwConfig,
    bers: Sequence[float],
    *,
    delta_points: float = 1.0,
    trials: int = 2,
    seed: int = 0,
    base: AbftConfig | None = None,
    faults: FaultSpec | None = None,
    split: str | Split = "calibration",
    grid: Sequence[float] = DEFAULT_GRID,
    t2_ratio: float = 1.0,
    progress: Callable[[Candidate], None] | None = None,
    executor: Executor | None = None,
    known: Mapping[tuple[tuple[str, int], ...], Candidate] | None = None,
) -> Calibration:
    """Search per-kind relative (T1, T2) for approx_abft (see the module docstring); evaluations run
    on `executor` (campaign.executors; default inline). `known`: candidates an earlier run of the
    same problem finished (keyed by their levels); `progress` is called for each newly evaluated one."""
    bers = tuple(float(b) for b in bers)
    if not bers or any(b <= 0 for b in bers):
        raise ValueError("calibration needs at least one BER > 0")
    grid = tuple(sorted(float(g) for g in grid))
    if not grid or grid[0] < 0:
        raise ValueError("the threshold grid needs at least one value >= 0")
    check_trials(trials)
    if t2_ratio < 0 or delta_points < 0:
        raise ValueError("t2_ratio and delta must be >= 0")
    data = split if isinstance(split, Split) else bundle.split(split)
    admit(bundle, hw, faults or FaultSpec(), bers, len(data))
    base = base or AbftConfig()
    clean_pct = 100.0 * inference.evaluate(bundle.params, data, hw).accuracy
    kinds = sorted({g.kind for g in bundle.params.config.gemms(1)})
    ev = _Evaluator(bundle, data, hw, bers, trials, seed, base, faults or FaultSpec(), grid, t2_ratio, clean_pct,
                    delta_points, progress, executor, known)  # fmt: skip

    def uniform(i: int) -> dict[str, int]:
        return dict.fromkeys(kinds, i)

    # 1. every uniform grid level; keep the feasible one with the least overhead (the first if none is)
    uniform_candidates = [ev(uniform(i)) for i in range(len(grid))]
    feasible = [i for i, c in enumerate(uniform_candidates) if c.feasible]
    level = min(feasible, key=lambda i: (uniform_candidates[i].mean_overhead_pct, -i)) if feasible else 0
    best = uniform_candidates[level]
    if best.feasible:
        # 2. raise kinds one at a time, the most expensive first
        levels = uniform(level)
        order = sorted((k for k in kinds if best.recomputed_macs_by_kind.get(k, 0) > 0),
                       key=lambda k: (-best.recomputed_macs_by_kind[k], k))  # fmt: skip
        for kind in order:
            while levels[kind] + 1 < len(grid):
                trial_levels = {**levels, kind: levels[kind] + 1}
                cand = ev(trial_levels)
                if not cand.feasible or cand.mean_overhead_pct >= best.mean_overhead_pct:
                    break
                levels, best = trial_levels, cand
    return Calibration(
        abft=ev.config(dict(best.levels)), best=best, clean_accuracy_pct=clean_pct, delta_points=delta_points,
        bers=bers, trials=trials, seed=seed, grid=grid, t2_ratio=t2_ratio, model=model_summary(bundle),
        hw=hw_summary(hw), split=data.name, images=len(data), history=tuple(ev.history),
    )  # fmt: skip


@dataclass(frozen=True)
class ScoringProblem:
    """What every candidate is scored on: the model, the split, the hardware, BERs and fault seeds."""

    bundle: ModelBundle
    data: Split
    hw: HwConfig
    bers: tuple[float, ...]
    trials: int
    seed: int
    faults: FaultSpec

    def identity(self) -> tuple[tuple[str, Any], ...]:
        """What identifies a stored search of this problem (bayes.BayesSettings.problem)."""
        return (("model", model_summary(self.bundle)), ("hw", self.hw.model_dump(mode="json")),
                ("split", self.data.name), ("images", len(self.data)), ("bers", self.bers), ("trials", self.trials),
                ("seed", self.seed), ("faults", self.faults.model_dump(mode="json")))  # fmt: skip

    def clean_accuracy_pct(self) -> float:
        return 100.0 * inference.evaluate(self.bundle.params, self.data, self.hw).accuracy

    def scorer(self, executor: Executor | None = None) -> Callable[[Sequence[AbftConfig]], list[Score]]:
        """Scores a batch of options with approx_abft; every (option, BER, trial) runs on `executor`."""

        draws = {(b, t): FaultDraws() for b in self.bers for t in range(self.trials)}  # shared by every batch

        def score(configs: Sequence[AbftConfig]) -> list[Score]:
            keys = [(c, b, t) for c in range(len(configs)) for b in self.bers for t in range(self.trials)]
            specs = {(b, t): trial_spec(self.faults, b, self.seed, t) for b in self.bers for t in range(self.trials)}
            params, data, hw = self.bundle.params, self.data, self.hw
            tasks = [inference.EvalTask(params, data, hw, "approx_abft", specs[(b, t)], configs[c], draws[(b, t)],
                                        outcomes=False) for c, b, t in keys]  # fmt: skip
            results = dict(zip(keys, inference.evaluate_all(tasks, executor), strict=True))

            def mean(c: int, b: float, metric: Callable[[inference.Evaluation], float]) -> float:
                return 100.0 * float(np.mean([metric(results[(c, b, t)]) for t in range(self.trials)]))

            def one(c: int) -> Score:
                acc = {b: mean(c, b, lambda e: e.accuracy) for b in self.bers}
                recovery = {b: mean(c, b, lambda e: e.recovery_overhead) for b in self.bers}
                return Score(acc, recovery, {b: mean(c, b, lambda e: e.check_overhead) for b in self.bers})

            return [one(c) for c in range(len(configs))]

        return score


def grid_problem_key(problem: dict[str, Any]) -> str:
    """A digest of everything a grid candidate's score depends on (a journal is reused only for it)."""
    return hashlib.sha256(json.dumps(problem, sort_keys=True, default=str).encode()).hexdigest()
