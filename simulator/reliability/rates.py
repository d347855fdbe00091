"""Upset rates in the fault model's unit: FIT per Mbit -> probability per bit per cycle, and back to FIT."""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.reliability.environments import BITS_PER_MBIT, FIT_HOURS

SECONDS_PER_HOUR = 3600.0
# ISO 26262-5:2018 Table 6: probabilistic metric for random hardware failures (PMHF) targets
ASIL_TARGET_FIT = {"ASIL D": 10.0, "ASIL C": 100.0, "ASIL B": 100.0}
# the per-bit per-MAC BERs of accelerated fault-injection studies (ApproxABFT's sweep, the seed paper)
STUDY_BERS = (1e-11, 1e-7)


def per_bit_hour(fit_per_mbit: float) -> float:
    """Upsets per bit per hour: FIT per Mbit / 10^9 h / 10^6 bits."""
    return fit_per_mbit / FIT_HOURS / BITS_PER_MBIT


def per_bit_cycle(fit_per_mbit: float, clock_hz: float) -> float:
    """Probability that one bit flips in one clock cycle: per-bit per-hour rate / (3600 s x clock).

    The fault model's `ber` is per bit of a register word per MAC; a PE does one MAC per cycle while it
    is active, so this is the `ber` an unaccelerated run in this environment would use."""
    return per_bit_hour(fit_per_mbit) / (SECONDS_PER_HOUR * clock_hz)


@dataclass(frozen=True, slots=True)
class RateComparison:
    """How far a natural per-bit per-cycle rate lies below an accelerated study BER."""

    study_ber: float
    natural_ber: float

    @property
    def acceleration(self) -> float:
        return self.study_ber / self.natural_ber if self.natural_ber > 0 else math.inf

    @property
    def decades(self) -> float:
        return math.log10(self.acceleration) if self.natural_ber > 0 else math.inf


def fit_from_exposure(fit_per_mbit: float, vulnerable_bit_cycles: float, cycles: float) -> float:
    """Failures per 10^9 hours of continuous inference.

    `vulnerable_bit_cycles` = sum over exposed (bit, cycle) slots of one inference of P(failure | a flip there)
    (= exposed bit-cycles x AVF). Failures per inference = p_cycle x vulnerable_bit_cycles with
    p_cycle = lambda_h / (3600 f); inferences per hour = 3600 f / cycles; so
    FIT = 10^9 x lambda_h x vulnerable_bit_cycles / cycles: the clock cancels."""
    if cycles <= 0:
        raise ValueError(f"cycles must be > 0, got {cycles}")
    return FIT_HOURS * per_bit_hour(fit_per_mbit) * vulnerable_bit_cycles / cycles


def asil_verdicts(fit: float) -> dict[str, bool]:
    """Whether a failure rate meets each ISO 26262 PMHF target (strictly below it)."""
    return {name: fit < target for name, target in ASIL_TARGET_FIT.items()}
