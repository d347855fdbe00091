"""Accuracy study: top-1 accuracy per ABFT policy and BER over Monte-Carlo trials, and the tolerable BER.

Trial t of a study injects faults with seed `seed + t` for every policy and BER (common random
numbers: the first-execution faults of a policy differ from another's only through the operands
the upstream residual errors changed). A point's confidence interval is the two-sided 95 %
Student-t interval of the trial accuracies (trials >= 2), or the Wilson score interval of the
single trial's correct count over the split (trials = 1). The accuracy drop against clean
inference has a paired interval over trials and images (functional.paired: the same images and
faults for every policy), and the claim "within `max_drop_points` of clean" is checked against its
upper end, with the trial count that would make it hold. The tolerable BER of a policy is the
largest swept BER b > 0 such that the mean accuracy drop (clean - faulty, in percentage points)
is at most `max_drop_points` at b and at every smaller swept BER (None: not even the smallest);
`tolerable_fit` refines it by a monotone fit of the drop vs BER with a bootstrap interval
(functional.tolerable), and the ratio approx_abft / abft on the same resamples.
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
from simulator.faults.draw_cache import FaultDraws
from simulator.functional.bundle import ModelBundle, Split
from simulator.functional.inference import EvalTask, Evaluation, evaluate, evaluate_all
from simulator.functional.paired import PairedDrop, paired_drop, trials_for_claim
from simulator.functional.tolerable import CorrectnessGrid, Ratio, TolerableBer, tolerable_bers
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
    clean_correct: np.ndarray | None = field(default=None, compare=False)  # per image, the clean run

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

    @property
    def recompute_passes(self) -> float:
        """Recompute passes per inference, mean over trials."""
        return float(np.mean([e.recompute_passes for e in self.evaluations]))

    @property
    def correct_matrix(self) -> np.ndarray | None:
        """(trials, images) per-image correctness, if the evaluations kept it."""
        rows = [e.per_image_correct for e in self.evaluations if e.per_image_correct is not None]
        return np.vstack(rows) if rows and len(rows) == len(self.evaluations) else None

    @property
    def paired(self) -> PairedDrop | None:
        """The drop against clean with its paired interval over trials and images."""
        matrix = self.correct_matrix
        if matrix is None or self.clean_correct is None or matrix.shape[1] < 2:
            return None
        return paired_drop(matrix, self.clean_correct, CONFIDENCE)

    def to_dict(self, claim_points: float | None = None) -> dict[str, Any]:
        lo, hi, method = self.interval_pct
        outcomes = sum((_tallied(e) for e in self.evaluations), Outcomes())
        by_kind: dict[str, int] = {}
        for e in self.evaluations:
            for k, v in e.recomputed_macs_by_kind.items():
                by_kind[k] = by_kind.get(k, 0) + v
        n = len(self.evaluations)
        return {
            "policy": self.policy, "ber": self.ber, "trials": n, "accuracy_pct": self.accuracy_pct,
            "ci_low_pct": lo, "ci_high_pct": hi, "ci_method": method, "drop_points": self.drop_points,
            "recovery_overhead_pct": self.recovery_overhead_pct,
            "check_overhead_pct": 100.0 * float(np.mean([e.check_overhead for e in self.evaluations])),
            "trial_recovery_overhead_pct": [100.0 * e.recovery_overhead for e in self.evaluations],
            "recomputed_macs": float(np.mean([e.recomputed_macs for e in self.evaluations])),
            "recompute_passes": self.recompute_passes,
            "recomputed_macs_by_kind": {k: v / n for k, v in sorted(by_kind.items())},
            "trial_accuracy_pct": self.trial_accuracy_pct, "outcomes_total": outcomes.to_dict(),
        } | self._paired_dict(claim_points)  # fmt: skip

    def _paired_dict(self, claim_points: float | None) -> dict[str, Any]:
        p = self.paired
        if p is None:
            return {}
        out: dict[str, Any] = {"paired_drop": p.to_dict()}
        if claim_points is not None:
            out |= {"claim_points": claim_points, "claim_holds": p.holds(claim_points),
                    "trials_for_claim": trials_for_claim(p, claim_points)}  # fmt: skip
        return out


def _tallied(evaluation: Evaluation) -> Outcomes:
    """The outcomes an accuracy point sums (its passes tally them: inference.evaluate's `outcomes`)."""
    if evaluation.outcomes is None:
        raise ValueError("an accuracy point sums its passes' outcomes: evaluate them with outcomes=True")
    return evaluation.outcomes


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
            "points": [p.to_dict(self.max_drop_points) for p in self.points],
            "tolerable_ber": {pol: self.tolerable_ber(pol) for pol in self.policies},
        } | self._fit_dict()  # fmt: skip

    def tolerable_fit(self, resamples: int = 1000) -> tuple[dict[str, TolerableBer], Ratio | None] | None:
        """Monotone-fit tolerable BERs with bootstrap intervals, and approx_abft / abft if both ran
        (None without per-image results or with fewer than two BERs > 0)."""
        bers = tuple(b for b in self.bers if b > 0)
        if len(bers) < 2 or self.clean.per_image_correct is None:
            return None
        runs = {(p.policy, p.ber): p.correct_matrix for p in self.points if p.ber in bers}
        if any(m is None for m in runs.values()):
            return None
        grid = CorrectnessGrid(bers, self.clean.per_image_correct, runs)  # type: ignore[arg-type]
        pair = ("approx_abft", "abft") if {"approx_abft", "abft"} <= set(self.policies) else None
        return tolerable_bers(grid, self.policies, self.max_drop_points, ratio=pair, resamples=resamples,
                              confidence=CONFIDENCE, seed=self.seed)  # fmt: skip

    def _fit_dict(self) -> dict[str, Any]:
        fit = self.tolerable_fit()
        if fit is None:
            return {}
        found, ratio = fit
        return {"tolerable_ber_fit": {p: t.to_dict() for p, t in found.items()},
                "tolerable_ber_ratio": ratio.to_dict() if ratio else None}  # fmt: skip


def hw_summary(hw: HwConfig) -> dict[str, Any]:
    arr = hw.array
    return {"name": hw.name, "rows": arr.rows, "cols": arr.cols, "dataflow": str(arr.dataflow),
            "datatype": str(arr.datatype), "max_retries": hw.recompute.max_retries}  # fmt: skip


def model_summary(bundle: ModelBundle) -> dict[str, Any]:
    cfg = bundle.params.config
    return {"name": bundle.name, "source": bundle.source, "config": {k: getattr(cfg, k) for k in cfg.__slots__},
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
    draws = {(float(b), t): FaultDraws() for b in bers for t in range(trials)}  # one per trial, shared by its policies
    tasks = [EvalTask(bundle.params, data, hw, p, trial_spec(template, b, seed, t), abft, draws[(b, t)])
             for p, b, t in keys]  # fmt: skip
    results = dict(zip(keys, evaluate_all(tasks, executor, progress), strict=True))
    clean_pct = 100.0 * clean.accuracy

    def point(p: str, b: float) -> AccuracyPoint:
        runs = tuple(results[(p, b, t)] for t in range(trials))
        return AccuracyPoint(p, b, runs, clean_pct, clean.per_image_correct)

    points = [point(p, float(b)) for p in policies for b in bers]
    return AccuracyStudy(
        model=model_summary(bundle), hw=hw_summary(hw), split=data.name, images=len(data), seed=seed, trials=trials,
        max_drop_points=max_drop_points, clean=clean, macs=clean.macs, abft=abft, faults=template,
        points=tuple(points),
    )  # fmt: skip
