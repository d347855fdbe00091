"""Accuracy study: top-1 accuracy per ABFT policy and BER over Monte-Carlo trials, and the tolerable BER.

Trial t of a study injects faults with seed `seed + t` for every policy and BER (common random
numbers: the first-execution faults of a policy differ from another's only through the operands
the upstream residual errors changed). A point's confidence interval is the two-sided 95 %
Student-t interval of the trial accuracies (trials >= 2), or the Wilson score interval of the
single trial's correct count over the split (trials = 1). The tolerable BER of a policy is the
largest swept BER b > 0 such that the mean accuracy drop (clean - faulty, in percentage points)
is at most `max_drop_points` at b and at every smaller swept BER (None: not even the smallest).
Recovery overhead = recomputed MACs / clean MACs of the forward pass (mean over trials).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.admission import check_memory, estimate_memory
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.executors import Executor
from simulator.functional.bundle import ModelBundle, Split
from simulator.functional.inference import EvalTask, Evaluation, evaluate, evaluate_all
from simulator.metrics.stats import check_trials, t_interval, wilson_interval
from simulator.verify.outcomes import Outcomes

SCHEMA = "abftsim.accuracy/1"
CONFIDENCE = 0.95


@dataclass(frozen=True)
class AccuracyPoint:
    """One policy at one BER over all trials (accuracies in percent)."""

    policy: str
    ber: float
    evaluations: tuple[Evaluation, ...]
    clean_accuracy_pct: float

    @property
    def trial_accuracy_pct(self) -> list[float]:
        return [100.0 * e.accuracy for e in self.evaluations]

    @property
    def accuracy_pct(self) -> float:
        return float(np.mean(self.trial_accuracy_pct))

    @property
    def interval_pct(self) -> tuple[float, float, str]:
        if len(self.evaluations) >= 2:
            ci = t_interval(self.trial_accuracy_pct, CONFIDENCE)
            return max(0.0, ci.lo), min(100.0, ci.hi), "t"
        e = self.evaluations[0]
        ci = wilson_interval(e.correct, e.total, CONFIDENCE)
        return 100.0 * ci.lo, 100.0 * ci.hi, "wilson"

    @property
    def drop_points(self) -> float:
        return self.clean_accuracy_pct - self.accuracy_pct

    @property
    def recovery_overhead_pct(self) -> float:
        return 100.0 * float(np.mean([e.recovery_overhead for e in self.evaluations]))

    def to_dict(self) -> dict[str, Any]:
        lo, hi, method = self.interval_pct
        outcomes = sum((e.outcomes for e in self.evaluations), Outcomes())
        by_kind: dict[str, int] = {}
        for e in self.evaluations:
            for k, v in e.recomputed_macs_by_kind.items():
                by_kind[k] = by_kind.get(k, 0) + v
        n = len(self.evaluations)
        return {
            "policy": self.policy, "ber": self.ber, "trials": n, "accuracy_pct": self.accuracy_pct,
            "ci_low_pct": lo, "ci_high_pct": hi, "ci_method": method, "drop_points": self.drop_points,
            "recovery_overhead_pct": self.recovery_overhead_pct,
            "recomputed_macs": float(np.mean([e.recomputed_macs for e in self.evaluations])),
            "recompute_passes": float(np.mean([e.recompute_passes for e in self.evaluations])),
            "recomputed_macs_by_kind": {k: v / n for k, v in sorted(by_kind.items())},
            "trial_accuracy_pct": self.trial_accuracy_pct, "outcomes_total": outcomes.to_dict(),
        }  # fmt: skip


@dataclass(frozen=True)
class AccuracyStudy:
    """Every (policy, BER) point of a study, with its context."""

    model: dict[str, Any]
    hw: dict[str, Any]
    split: str
    images: int
    seed: int
    trials: int
    max_drop_points: float
    clean: Evaluation
    macs: int
    abft: AbftConfig
    faults: FaultSpec
    points: tuple[AccuracyPoint, ...] = field(default_factory=tuple)

    @property
    def clean_accuracy_pct(self) -> float:
        return 100.0 * self.clean.accuracy

    def point(self, policy: str, ber: float) -> AccuracyPoint:
        for p in self.points:
            if p.policy == policy and p.ber == ber:
                return p
        raise KeyError((policy, ber))

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(p.policy for p in self.points))

    @property
    def bers(self) -> list[float]:
        return sorted({p.ber for p in self.points})

    def tolerable_ber(self, policy: str) -> float | None:
        best = None
        for ber in self.bers:
            if ber <= 0:
                continue
            if self.point(policy, ber).drop_points > self.max_drop_points:
                break
            best = ber
        return best

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "model": self.model, "hw": self.hw, "split": self.split, "images": self.images,
            "seed": self.seed, "trials": self.trials, "faults": self.faults.model_dump(mode="json"),
            "abft": self.abft.model_dump(mode="json"), "clean_accuracy_pct": self.clean_accuracy_pct,
            "clean_correct": self.clean.correct, "macs_per_pass": self.macs, "max_drop_points": self.max_drop_points,
            "points": [p.to_dict() for p in self.points],
            "tolerable_ber": {pol: self.tolerable_ber(pol) for pol in self.policies},
        }  # fmt: skip

    def format_table(self) -> str:
        """A plain-text table: one line per policy and BER, then the tolerable BER per policy."""
        hw = self.hw
        lines = [
            f"{self.model.get('name', 'model')} on {hw['name']} ({hw['rows']}x{hw['cols']} {hw['dataflow'].upper()} "
            f"{hw['datatype']}): {self.split} split, {self.images} images, {self.trials} trial(s), seed {self.seed}",
            f"clean accuracy {self.clean_accuracy_pct:.2f} % ({self.clean.correct}/{self.images}); "
            f"{self.macs:,} MACs per pass",
            "",
        ]
        header = (
            f"{'policy':<13}{'ber':>10}{'accuracy %':>12}{'95% CI':>17}{'drop pts':>10}{'recovery %':>12}{'passes':>9}"
        )
        lines += [header, "-" * len(header)]
        for p in self.points:
            lo, hi, _ = p.interval_pct
            passes = float(np.mean([e.recompute_passes for e in p.evaluations]))
            lines.append(
                f"{p.policy:<13}{p.ber:>10.3g}{p.accuracy_pct:>12.2f}{f'[{lo:.2f}, {hi:.2f}]':>17}"
                f"{p.drop_points:>10.2f}{p.recovery_overhead_pct:>12.3f}{passes:>9.1f}"
            )
        lines += ["", f"tolerable BER (accuracy drop <= {self.max_drop_points:g} points):"]
        for pol in self.policies:
            tol = self.tolerable_ber(pol)
            lines.append(f"  {pol:<13}{'< smallest swept BER' if tol is None else f'{tol:g}'}")
        return "\n".join(lines) + "\n"


def hw_summary(hw: HwConfig) -> dict[str, Any]:
    arr = hw.array
    return {"name": hw.name, "rows": arr.rows, "cols": arr.cols, "dataflow": str(arr.dataflow),
            "datatype": str(arr.datatype), "max_retries": hw.recompute.max_retries}  # fmt: skip


def model_summary(bundle: ModelBundle) -> dict[str, Any]:
    cfg = bundle.params.config
    return {"name": "digits_vit", "source": bundle.source, "config": {k: getattr(cfg, k) for k in cfg.__slots__},
            "recorded": bundle.recorded}  # fmt: skip


def trial_spec(template: FaultSpec, ber: float, seed: int, trial: int) -> FaultSpec:
    return template.model_copy(update={"ber": ber, "seed": seed + trial})


def admit(bundle: ModelBundle, hw: HwConfig, template: FaultSpec, bers: Sequence[float], images: int) -> None:
    """Refuse up front (ConfigError naming faults.ber) a study whose highest BER cannot fit in memory."""
    workload = bundle.params.config.workload(images)
    worst = template.model_copy(update={"ber": max(float(b) for b in bers)})
    check_memory(estimate_memory(worst, hw, workload, recomputing=True))


def accuracy_study(
    bundle: ModelBundle,
    hw: HwConfig,
    policies: Sequence[str],
    bers: Sequence[float],
    *,
    trials: int = 1,
    seed: int = 0,
    abft: AbftConfig | None = None,
    faults: FaultSpec | None = None,
    split: str | Split = "test",
    max_drop_points: float = 1.0,
    progress: Callable[[], None] | None = None,
    executor: Executor | None = None,
) -> AccuracyStudy:
    """Accuracy of every policy at every BER (`faults` supplies sites / kind / bits; ber and seed vary).

    Evaluations run on `executor` (campaign.executors; default inline); `progress` is called once
    per finished evaluation."""
    check_trials(trials)
    if not policies or not bers:
        raise ValueError("need at least one policy and one BER")
    abft = abft or AbftConfig()
    template = faults or FaultSpec()
    data = split if isinstance(split, Split) else bundle.split(split)
    admit(bundle, hw, template, bers, len(data))
    clean = evaluate(bundle.params, data, hw)
    keys = [(policy, float(ber), t) for policy in policies for ber in bers for t in range(trials)]
    tasks = [EvalTask(bundle.params, data, hw, p, trial_spec(template, b, seed, t), abft) for p, b, t in keys]
    results = dict(zip(keys, evaluate_all(tasks, executor, progress), strict=True))
    points = [
        AccuracyPoint(p, float(b), tuple(results[(p, float(b), t)] for t in range(trials)), 100.0 * clean.accuracy)
        for p in policies
        for b in bers
    ]
    return AccuracyStudy(
        model=model_summary(bundle), hw=hw_summary(hw), split=data.name, images=len(data), seed=seed, trials=trials,
        max_drop_points=max_drop_points, clean=clean, macs=clean.macs, abft=abft, faults=template,
        points=tuple(points),
    )  # fmt: skip
