"""The reliability study as plain data (JSON `abftsim.reliability/1`): rates, exposure, AVF, FIT, checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval
from simulator.reliability.assumption import RateCheck
from simulator.reliability.avf import AvfCampaign
from simulator.reliability.fit import PolicyFit, RateSummary, targets

SCHEMA = "abftsim.reliability/1"


def interval_dict(iv: Interval) -> dict[str, float | int]:
    return {"estimate": iv.estimate, "lo": iv.lo, "hi": iv.hi, "n": iv.n}


@dataclass(frozen=True)
class ReliabilityReport:
    """Everything `abftsim reliability` reports, for one environment."""

    workload: str
    hw: str
    rates: RateSummary
    campaign: AvfCampaign
    fits: tuple[PolicyFit, ...]
    seed: int
    margin: float | None
    confidence: float = DEFAULT_CONFIDENCE
    rate_checks: tuple[RateCheck, ...] = ()

    def breakdown(self, by: str) -> dict[str, dict[str, dict[str, Any]]]:
        """policy -> site (or GEMM kind) -> fate -> interval, over the faults of that site (kind)."""
        c = self.campaign
        groups = [str(s) for s in c.exposure.sites] if by == "site" else sorted(set(c.kinds.tolist()))
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for policy in c.policies:
            out[policy] = {}
            for g in groups:
                mask = c.mask(site=g) if by == "site" else c.mask(kind=g)
                fates = c.counts(policy, mask)
                out[policy][g] = {f: interval_dict(c.avf(policy, f, mask, self.confidence)) for f in fates}
        return out

    def to_dict(self) -> dict[str, Any]:
        r, c, env = self.rates, self.campaign, self.rates.environment
        return {
            "schema": SCHEMA,
            "workload": self.workload,
            "hw": self.hw,
            "environment": {
                "name": env.name,
                "ff_fit_per_mbit": env.ff_fit_per_mbit,
                "sram_fit_per_mbit": env.sram_fit_per_mbit,
                "source": env.source,
            },
            "rates": {
                "clock_hz": r.clock_hz,
                "ff_per_bit_cycle": r.ff_per_bit_cycle,
                "sram_per_bit_cycle": r.sram_per_bit_cycle,
                "study_bers": [
                    {"ber": x.study_ber, "acceleration": x.acceleration, "decades": x.decades} for x in r.comparisons
                ],
            },
            "exposure": {
                "bit_macs_per_inference": c.exposure.bit_macs,
                "bit_macs_per_site": dict(
                    zip((str(s) for s in c.exposure.sites), c.exposure.bit_macs_per_site.tolist(), strict=True)
                ),
                "register_bits": r.register_bits,
                "register_raw_fit": r.register_raw_fit,
                "sram_bits": r.sram_bits,
                "sram_raw_fit": r.sram_raw_fit,
            },
            "campaign": {
                "injections": len(c),
                "seed": self.seed,
                "margin": self.margin,
                "confidence": self.confidence,
                "settled_one_at_a_time": c.generic,
            },
            "targets_fit": targets(),
            "policies": [_policy_dict(f) for f in self.fits],
            "by_site": self.breakdown("site"),
            "by_kind": self.breakdown("kind"),
            "rate_checks": [_check_dict(x) for x in self.rate_checks],
        }


def _policy_dict(f: PolicyFit) -> dict[str, Any]:
    return {
        "policy": f.policy,
        "cycles": f.cost.cycles,
        "latency_overhead_pct": f.cost.latency_overhead_pct,
        "energy_overhead_pct": f.cost.energy_overhead_pct,
        "avf": {k: interval_dict(v) for k, v in f.avf.items()},
        "fit": {k: interval_dict(v) for k, v in f.fit.items()},
        "register_avf": dict(f.register_avf),
        "meets": f.asil,
    }


def _check_dict(x: RateCheck) -> dict[str, Any]:
    return {
        "policy": x.policy,
        "bers": list(x.bers),
        "fractions": [{k: interval_dict(v) for k, v in side.items()} for side in x.fractions],
        "single_fault": None if x.single_fault is None else {k: interval_dict(v) for k, v in x.single_fault.items()},
        "agree": x.agree,
        "agrees_with_single_fault": x.agrees_with_single_fault,
    }
