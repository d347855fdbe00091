"""The method's assumption, checked: outcome fractions per upset do not depend on the upset rate.

AVF from injections at accelerated rates transfers to natural rates while upsets are independent and rare
enough not to meet in one fold or retry. Two Monte-Carlo runs a decade apart in BER give, per policy, the
fraction of injected faults ending in each fate; the assumption holds where their Wilson intervals overlap.
The single-fault campaign's fractions are mapped to the run's fates (escaped = sdc + due) for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval, wilson_interval

RUN_FATES = ("masked", "corrected", "recomputed", "tolerated", "escaped")


def run_fractions(outcomes: Mapping[str, int], confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Interval]:
    """Fraction of a run's injected faults in each fate (a run's outcome counts as the report gives them)."""
    n = int(outcomes.get("faults_injected", 0))
    return {fate: wilson_interval(int(outcomes.get(fate, 0)), n, confidence) for fate in RUN_FATES}


def campaign_fractions(counts: Mapping[str, int], confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Interval]:
    """A single-fault campaign's fates in a run's terms (escaped = silent + detected-unrecoverable)."""
    n = sum(counts.values())
    merged = {fate: counts.get(fate, 0) for fate in RUN_FATES}
    merged["escaped"] = counts.get("sdc", 0) + counts.get("due", 0)
    return {fate: wilson_interval(merged[fate], n, confidence) for fate in RUN_FATES}


def overlap(a: Interval, b: Interval) -> bool:
    """Whether two intervals share a point (an empty sample overlaps everything)."""
    if a.n == 0 or b.n == 0:
        return True
    return a.lo <= b.hi and b.lo <= a.hi


@dataclass(frozen=True)
class RateCheck:
    """One policy at two BERs: fractions per fate at each, and whether every fate's intervals overlap."""

    policy: str
    bers: tuple[float, float]
    fractions: tuple[dict[str, Interval], dict[str, Interval]]
    single_fault: dict[str, Interval] | None

    @property
    def agree(self) -> bool:
        low, high = self.fractions
        return all(overlap(low[f], high[f]) for f in RUN_FATES)

    @property
    def agrees_with_single_fault(self) -> bool | None:
        if self.single_fault is None:
            return None
        return all(overlap(self.single_fault[f], x[f]) for x in self.fractions for f in RUN_FATES)
