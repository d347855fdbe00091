"""The reliability study as plain data (JSON `abftsim.reliability/1`): rates, exposure, AVF, FIT, checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval
from simulator.reliability.assumption import RateCheck
from simulator.reliability.avf import AvfCampaign
from simulator.reliability.checksum_avf import ChecksumCampaign, checksum_fits
from simulator.reliability.drain import DrainFit
from simulator.reliability.fit import FIT_FATES, PolicyFit, RateSummary, targets
from simulator.reliability.memory_avf import MEMORY_FATES, MemoryCampaign
from simulator.reliability.single_fault import FATES
from simulator.reliability.sram import SramFit

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
    checksum: ChecksumCampaign | None = None  # the checksum hardware's own single-fault campaign
    sram: tuple[SramFit, ...] = ()  # the scratchpads' FIT with and without SEC-DED (reliability.sram)
    drain: DrainFit | None = None  # the accumulator drain registers' FIT (reliability.drain)
    memory: MemoryCampaign | None = (
        None  # single-fault AVF of sram_a / sram_b / sram_c / drain (reliability.memory_avf)
    )

    def checksum_fit(self) -> dict[str, dict[str, dict[str, Interval]]]:
        """policy -> "all" or a checksum site -> FIT fate -> interval (empty without checksum sites)."""
        if self.checksum is None:
            return {}
        cycles = {f.policy: f.cost.cycles for f in self.fits}
        return checksum_fits(self.checksum, self.rates.environment.ff_fit_per_mbit, cycles, FIT_FATES, self.confidence)

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
            k = self.checksum
            if by == "site" and k is not None:  # the checksum hardware's sites, from their own campaign
                for site in (str(x) for x in k.exposure.sites):
                    mask = k.mask(site)
                    out[policy][site] = {f: interval_dict(k.avf(policy, f, mask, self.confidence)) for f in FATES}
        return out

    def _checksum_dict(self) -> dict[str, Any] | None:
        """Exposure, injections and FIT of the checksum hardware per policy and site, and each policy's FIT
        with it added to the PE registers' (None when no checksum site is selected)."""
        k = self.checksum
        if k is None:
            return None
        fits = self.checksum_fit()
        site_names = [str(s) for s in k.exposure.sites]
        per_site = dict(zip(site_names, k.exposure.bit_ops_per_site.tolist(), strict=True))
        fit_dicts = {
            p: {site: {f: interval_dict(iv) for f, iv in cells.items()} for site, cells in per.items()}
            for p, per in fits.items()
        }
        return {
            "injections": len(k),
            "bit_ops_per_site": per_site,
            "fit": fit_dicts,
            "fit_with_pe_registers": {
                f.policy: {fate: f.fit[fate].estimate + fits[f.policy]["all"][fate].estimate for fate in FIT_FATES}
                for f in self.fits
            },
        }

    def _memory_dict(self) -> dict[str, Any] | None:
        """Per memory / output-path site: injections, live bit-cycles, P(fate) and FIT per fate (the SRAM rate for
        the scratchpads, the flip-flop rate for the drain registers; policy-independent)."""
        m, env = self.memory, self.rates.environment
        if m is None:
            return None
        sites = {}
        for site in m.sites:
            rate = env.ff_fit_per_mbit if site.value == "drain" else env.sram_fit_per_mbit
            sites[str(site)] = {
                "injections": int(sum(m.counts(site).values())),
                "live_bit_cycles": m.bit_cycles[site],
                "avf": {f: interval_dict(m.avf(site, f, self.confidence)) for f in MEMORY_FATES},
                "fit": {f: interval_dict(m.fit(site, f, rate, self.confidence)) for f in ("sdc", "due")},
            }
        return {"injections": len(m), "cycles": m.cycles, "sites": sites}

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
            "checksum_hardware": self._checksum_dict(),
            "sram": [
                {
                    "sram": x.name,
                    "ecc": x.ecc,
                    "data_bits": x.data_bits,
                    "secded_bits": x.secded_bits,
                    "raw_fit": x.raw_fit,
                    "fit_no_ecc": dict(x.no_ecc),
                    "fit_secded": dict(x.secded),
                    "live_fraction": x.live_fraction,
                    "fit_no_ecc_derated": x.no_ecc_derated,
                    "fit_secded_derated": x.secded_derated,
                }
                for x in self.sram
            ],
            "drain": _drain_dict(self.drain) if self.drain is not None else None,
            "memory_avf": self._memory_dict(),
            "by_kind": self.breakdown("kind"),
            "rate_checks": [_check_dict(x) for x in self.rate_checks],
        }


def _drain_dict(x: DrainFit) -> dict[str, Any]:
    return {
        "register_bits": x.register_bits,
        "exposed_bit_cycles": x.exposed_bit_cycles,
        "cycles": x.cycles,
        "raw_fit": x.raw_fit,
        "avf_sdc": x.avf_sdc,
        "fit_sdc": x.sdc,
        "live_fraction": x.live_fraction,
        "fit_sdc_derated": x.sdc_derated,
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
