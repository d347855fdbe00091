"""The price of an SRAM ECC refetch: an A / B block reloaded from DRAM after SEC-DED detected an error in it.

One refetch of a block of `size_bytes` (verify.sram_effects: the whole resident copy the upset hit):

* traffic: `size_bytes` DRAM bytes read and written into the operand's SRAM (`sram_a_write_bytes` /
  `sram_b_write_bytes`), priced like every other byte (metrics.energy: memory.dram.energy_pj_per_byte and
  memory.sram.<a|b>.write_energy_pj_per_byte);
* time: the reading fold waits for the reload, ceil(size_bytes / DRAM bytes per cycle) +
  memory.dram.latency_cycles cycles, a stall of its layer (the channel's bandwidth and latency, as the engine
  times a transfer that does not pipeline behind another); leakage is paid over those cycles.

An analytic post-pass (api.run adds the counts to the layer's and the run's totals): the engine never sees a
fault, and a refetch only delays the layer by its own transfer (no other work waits on it in this model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from simulator.config.schema import HwConfig
from simulator.metrics.actions import ActionCounts
from simulator.metrics.energy import energy_breakdown_pj


def refetch_cycles(size_bytes: int, hw: HwConfig) -> int:
    """Stall cycles of one refetch: ceil(its bytes / the DRAM bytes per cycle) + the DRAM latency (the bandwidth
    as the engine's channel holds it: a fraction with denominator <= 10**6, mapping.region.channel_bandwidth)."""
    bandwidth = Fraction(hw.dram_bytes_per_cycle).limit_denominator(10**6)
    return math.ceil(Fraction(size_bytes) / bandwidth) + hw.memory.dram.latency_cycles


@dataclass(frozen=True, slots=True)
class RefetchCost:
    """What a layer's (or run's) ECC refetches cost: counts, bytes, stall cycles, and the actions they add."""

    refetches: int
    size_bytes: int
    cycles: int
    actions: ActionCounts

    def energy_pj(self, hw: HwConfig) -> float:
        return sum(energy_breakdown_pj(self.actions, hw).values())

    def __add__(self, other: RefetchCost) -> RefetchCost:
        return RefetchCost(self.refetches + other.refetches, self.size_bytes + other.size_bytes,
                           self.cycles + other.cycles, self.actions + other.actions)  # fmt: skip


def refetch_cost(blocks: Sequence[tuple[str, int]], hw: HwConfig) -> RefetchCost:
    """The cost of refetching `blocks` ((operand 'a' / 'b', bytes) each), one after another."""
    a_bytes = sum(size for op, size in blocks if op == "a")
    b_bytes = sum(size for op, size in blocks if op == "b")
    cycles = sum(refetch_cycles(size, hw) for _, size in blocks)
    actions = ActionCounts(sram_a_write_bytes=a_bytes, sram_b_write_bytes=b_bytes,
                           dram_read_bytes=a_bytes + b_bytes, cycles=cycles)  # fmt: skip
    return RefetchCost(len(blocks), a_bytes + b_bytes, cycles, actions)
