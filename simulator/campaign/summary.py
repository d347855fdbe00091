"""Per-point statistics of a store: means with t-intervals for overheads, rates with intervals over trials.

The escape rate per fault is pooled over trials, but its interval treats the trial as the unit
(metrics.stats.clustered_rate_interval): escapes cluster within a trial, so Wilson over pooled
faults would be too narrow. The per-run rate counts independent trials: Wilson.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from simulator.campaign.plan import injects_faults
from simulator.campaign.store import PointRow, TrialRow
from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval, clustered_rate_interval, t_interval, wilson_interval

MEAN_KEYS = ("latency_overhead_pct", "energy_overhead_pct", "faults_injected", "escaped", "recomputed_macs")
# counts cannot be negative: their intervals are truncated at 0 (metrics.stats.t_interval)
SUPPORT_MIN = {"faults_injected": 0.0, "escaped": 0.0, "recomputed_macs": 0.0}
KIND_KEYS = (
    "compute_cycles", "memory_stall_cycles", "checksum_stall_cycles", "recompute_cycles", "total_cycles",
    "writeback_stall_cycles",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PolicySummary:
    """One policy at one point over its trials."""

    point: int
    label: str
    params: dict[str, Any]
    policy: str
    trials: int
    exact: bool  # no faults: one trial is the exact value (zero-width intervals)
    means: dict[str, Interval]  # MEAN_KEYS -> t-interval of the per-trial values
    escape_per_fault: Interval  # escaped faults / injected faults (pooled; interval over trials)
    escape_per_run: Interval  # trials with >= 1 escaped fault / trials (Wilson)
    baseline_latency_s: float
    baseline_energy_pj: float
    latency_s: float  # mean
    energy_pj: float  # mean
    area_pe: float
    kinds: dict[str, dict[str, float]]  # GEMM kind -> mean cycles per component

    def row(self) -> dict[str, Any]:
        """Flat plain values for CSV export."""
        out: dict[str, Any] = {"point": self.point, **self.params, "policy": self.policy, "trials": self.trials}
        for key, iv in self.means.items():
            out.update({f"{key}_mean": iv.estimate, f"{key}_lo": iv.lo, f"{key}_hi": iv.hi})
        for name, iv in (("escape_per_fault", self.escape_per_fault), ("escape_per_run", self.escape_per_run)):
            out.update({name: iv.estimate, f"{name}_lo": iv.lo, f"{name}_hi": iv.hi, f"{name}_n": iv.n})
        out.update({
            "latency_s_mean": self.latency_s, "energy_pj_mean": self.energy_pj,
            "baseline_latency_s": self.baseline_latency_s, "baseline_energy_pj": self.baseline_energy_pj,
            "area_pe": self.area_pe,
        })  # fmt: skip
        return out


def _exact(values: Sequence[float]) -> Interval:
    mean = math.fsum(values) / len(values)
    return Interval(mean, mean, mean, len(values))


def _mean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.fsum(vals) / len(vals) if vals else math.nan


def _interval(values: list[float], key: str, exact: bool, confidence: float) -> Interval:
    return _exact(values) if exact else t_interval(values, confidence, support_min=SUPPORT_MIN.get(key))


def summarize(
    points: Sequence[PointRow], trials: Iterable[TrialRow], confidence: float = DEFAULT_CONFIDENCE
) -> list[PolicySummary]:
    """One PolicySummary per (point, policy) that has at least one stored trial, point-major."""
    by_point: dict[int, list[TrialRow]] = defaultdict(list)
    for row in trials:
        by_point[row.point].append(row)
    out = []
    for point in points:
        rows = by_point.get(point.point, [])
        if not rows:
            continue
        exact = not injects_faults(point.config["faults"])
        policies = [p["policy"] for p in rows[0].results["policies"]]
        for i, name in enumerate(policies):
            per_trial = [r.results["policies"][i] for r in rows]
            means = {key: _interval([float(p[key]) for p in per_trial], key, exact, confidence) for key in MEAN_KEYS}
            faults = [int(p["faults_injected"]) for p in per_trial]
            escaped = [min(f, int(p["escaped"])) for f, p in zip(faults, per_trial, strict=True)]
            runs_escaped = sum(1 for p in per_trial if p["escaped"] > 0)
            kinds: dict[str, dict[str, float]] = {}
            for kind in per_trial[0]["kinds"]:
                kinds[kind] = {k: _mean(p["kinds"][kind].get(k, 0) for p in per_trial) for k in KIND_KEYS}
            out.append(
                PolicySummary(
                    point=point.point,
                    label=point.label,
                    params=point.params,
                    policy=name,
                    trials=len(rows),
                    exact=exact,
                    means=means,
                    escape_per_fault=clustered_rate_interval(escaped, faults, confidence),
                    escape_per_run=_exact([0.0]) if exact else wilson_interval(runs_escaped, len(rows), confidence),
                    baseline_latency_s=_mean(r.results["baseline"]["latency_s"] for r in rows),
                    baseline_energy_pj=_mean(r.results["baseline"]["energy_pj"] for r in rows),
                    latency_s=_mean(p["latency_s"] for p in per_trial),
                    energy_pj=_mean(p["energy_pj"] for p in per_trial),
                    area_pe=float(rows[0].results["area_pe"]["total"]),
                    kinds=kinds,
                )
            )
    return out
