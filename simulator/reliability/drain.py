"""FIT of the accumulator drain registers (an FMEDA line, not an injection).

The drain registers are flip-flops: they upset at the environment's flip-flop rate. Exposure is the drain
sampler's (faults.output_faults.drain_geometry, summed over an inference by faults.sram_residency): every output
word spends DataflowGeometry.drain_cycles cycles in them, accumulator bits wide. Undated, the registers
(accumulator words for the most outputs the drain path holds at once) are taken to hold data all the time;
derated, the FIT is multiplied by their live fraction, the share of their bit-cycles that carry an output on its
way to C: FIT = 10^9 h x rate per bit-hour x exposed bit-cycles per inference / cycles per inference.

AVF 1: every flip of a drained word escapes ABFT. The drain follows the fold's check (the check taps the output
before it leaves the array) and DMR compares its copies there too, so no policy sees it
(verify.output_effects); some flips of low-order bits round away at an int8 write-back, so 1 is an upper bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.faults.sram_residency import Residency
from simulator.reliability.environments import FIT_HOURS, Environment
from simulator.reliability.rates import per_bit_hour

DRAIN_AVF_SDC = 1.0  # module doc: past every check


@dataclass(frozen=True)
class DrainFit:
    """The drain registers' bits, exposure and FIT (silent corruption at AVF 1), undated and derated."""

    register_bits: int
    exposed_bit_cycles: int  # per inference
    cycles: int  # per inference (the residency's time base)
    raw_fit: float  # register bits x the flip-flop rate
    live_fraction: float
    avf_sdc: float = DRAIN_AVF_SDC

    @property
    def sdc(self) -> float:
        return self.raw_fit * self.avf_sdc

    @property
    def sdc_derated(self) -> float:
        return self.sdc * self.live_fraction


def drain_fit(env: Environment, residency: Residency) -> DrainFit:
    """The drain registers' FMEDA line under a schedule's residency (module doc)."""
    bits = residency.drain_register_bits
    raw = FIT_HOURS * per_bit_hour(env.ff_fit_per_mbit) * bits
    return DrainFit(bits, residency.drain_bit_cycles, residency.cycles, raw, residency.drain_live_fraction)
