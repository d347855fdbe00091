"""Failure rates per policy: raw upset rate x exposed bit-cycles x P(fate | upset), against ISO 26262 targets.

For continuous inference, a policy whose fault-free inference takes `cycles` fails at
FIT = 10^9 h x lambda (upsets per bit-hour) x exposed bit-MACs per inference x P(fate | upset) / cycles
(rates.fit_from_exposure). The classical AVF of the PE registers (Mukherjee et al., MICRO 2003: the fraction
of bit-time that matters) is that product over (register bits x cycles), so FIT = lambda x register bits x AVF.
SDC counts silent corruptions (the PMHF-relevant residual failures), DUE detected unrecoverable errors (a
safe state, an availability loss), tolerated the deviations a tolerant policy accepts by design. Faults in
DMR's duplicate copy only cause recomputation, and the checksum hardware and SRAMs are not in the fault model
yet: their SRAM rate is shown raw, underated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from simulator.config.enums import Site
from simulator.config.schema import HwConfig
from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval
from simulator.reliability.avf import AvfCampaign
from simulator.reliability.environments import FIT_HOURS, Environment
from simulator.reliability.rates import (
    ASIL_TARGET_FIT,
    STUDY_BERS,
    RateComparison,
    asil_verdicts,
    fit_from_exposure,
    per_bit_cycle,
    per_bit_hour,
)

FIT_FATES = ("sdc", "due", "tolerated")


@dataclass(frozen=True, slots=True)
class PolicyCost:
    """What a policy costs in a fault-free inference (engine cycles and overheads against `none`)."""

    policy: str
    cycles: int
    latency_overhead_pct: float
    energy_overhead_pct: float


@dataclass(frozen=True)
class RateSummary:
    """An environment's raw rates in the fault model's units and the accelerator's raw exposure."""

    environment: Environment
    clock_hz: float
    ff_per_bit_cycle: float
    sram_per_bit_cycle: float
    comparisons: tuple[RateComparison, ...]  # study BERs against the flip-flop rate
    register_bits: int  # PE register bits of the selected sites (rows x cols x word bits)
    sram_bits: int  # A, B, C scratchpads

    @property
    def register_raw_fit(self) -> float:
        return FIT_HOURS * per_bit_hour(self.environment.ff_fit_per_mbit) * self.register_bits

    @property
    def sram_raw_fit(self) -> float:
        return FIT_HOURS * per_bit_hour(self.environment.sram_fit_per_mbit) * self.sram_bits


def register_bits(hw: HwConfig, sites: Sequence[Site]) -> int:
    """Flip-flops of the PE registers the fault model covers: rows x cols x sum of the sites' word widths."""
    return hw.array.rows * hw.array.cols * sum(s.word_bits(hw.array.datatype) for s in sites)


def sram_bits(hw: HwConfig) -> int:
    sram = hw.memory.sram
    return 8 * (sram.a.size_bytes + sram.b.size_bytes + sram.c.size_bytes)


def rate_summary(env: Environment, hw: HwConfig, sites: Sequence[Site]) -> RateSummary:
    ff = per_bit_cycle(env.ff_fit_per_mbit, hw.clock_hz)
    return RateSummary(
        env, hw.clock_hz, ff, per_bit_cycle(env.sram_fit_per_mbit, hw.clock_hz),
        tuple(RateComparison(ber, ff) for ber in STUDY_BERS), register_bits(hw, sites), sram_bits(hw),
    )  # fmt: skip


@dataclass(frozen=True)
class PolicyFit:
    """One policy's vulnerability and failure rates (FIT intervals map the AVF's Wilson interval)."""

    policy: str
    cost: PolicyCost
    avf: dict[str, Interval]  # P(fate | one upset in an exposed slot), every fate
    fit: dict[str, Interval]  # FIT_FATES
    register_avf: dict[str, float]  # classical AVF of the PE registers per FIT fate

    @property
    def asil(self) -> dict[str, bool]:
        """ISO 26262 PMHF targets met by the SDC rate's upper confidence bound (conservative)."""
        return asil_verdicts(self.fit["sdc"].hi)


def policy_fits(
    campaign: AvfCampaign,
    rates: RateSummary,
    costs: Mapping[str, PolicyCost],
    confidence: float = DEFAULT_CONFIDENCE,
) -> list[PolicyFit]:
    """FIT per fate of every policy of the campaign, at the environment's flip-flop rate."""
    fits = []
    lam = rates.environment.ff_fit_per_mbit
    for name in campaign.policies:
        cost = costs[name]
        avf = {fate: campaign.avf(name, fate, confidence=confidence) for fate in campaign.counts(name)}

        def fit(p: float, cycles: int = cost.cycles) -> float:
            return fit_from_exposure(lam, campaign.exposure.bit_macs * p, cycles)

        fit_iv = {f: Interval(fit(avf[f].estimate), fit(avf[f].lo), fit(avf[f].hi), avf[f].n) for f in FIT_FATES}
        bit_cycles = rates.register_bits * cost.cycles
        reg = {f: campaign.exposure.bit_macs * avf[f].estimate / bit_cycles for f in FIT_FATES}
        fits.append(PolicyFit(name, cost, avf, fit_iv, reg))
    return fits


def targets() -> dict[str, float]:
    return dict(ASIL_TARGET_FIT)
