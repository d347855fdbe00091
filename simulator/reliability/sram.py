"""FIT of the A, B and C SRAMs with and without SEC-DED ECC (an FMEDA line per scratchpad, not an injection).

Every stored bit (data, plus the check bits under ECC: faults.ecc) upsets at the environment's SRAM rate.
An upset flips one bit, or with probability `mbu_fraction` a burst of 2..`mbu_max_bits` adjacent bits of one
word (width uniform, as faults.mbu). Two figures per fate: undated (AVF = 1: every upset is taken to be
read afterwards, an upper bound) and derated by residency (given a faults.sram_residency.Residency: the FIT
times the scratchpad's live fraction, the share of its bit-cycles that hold data a later read uses under the
schedule, the residency the sram_a / sram_b / sram_c samplers draw over; an upset of a word holding nothing live
is overwritten before any read). The drain registers are a line of their own (reliability.drain). What a read
of a live word returns:

* no ECC: every upset is a silent corruption (`sdc`): ABFT cannot see it, because a corrupted A or B word
  feeds the checksums and the data alike (they agree), and a C word is read after its fold's check;
* SEC-DED: faults.ecc's decoder on the burst (data-independent): a single flip is `corrected`; a detected
  pattern is a `refetch` for A and B (the word is loaded again from DRAM: recovered, at the price of a
  refetch of its block) and a `due` for C (outputs and partial sums have no other copy); miscorrected and
  undetected patterns are `sdc`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.schema import HwConfig
from simulator.faults.ecc import CORRECTED, DETECTED, MISCORRECTED, UNDETECTED, SecDed
from simulator.faults.sram_residency import Residency
from simulator.reliability.environments import FIT_HOURS, Environment
from simulator.reliability.rates import per_bit_hour

SRAM_FATES = ("sdc", "due", "refetch", "corrected")
_REFETCHABLE = ("a", "b")  # operands have a copy in DRAM; C holds the only copy of outputs / partial sums


@dataclass(frozen=True)
class SramFit:
    """One scratchpad's stored bits, raw FIT and FIT per fate, without ECC and with SEC-DED."""

    name: str
    ecc: str  # as configured
    data_bits: int
    secded_bits: int  # stored bits with SEC-DED (data + check bits)
    raw_fit: float  # without ECC
    no_ecc: dict[str, float]
    secded: dict[str, float]
    live_fraction: float = 1.0  # residency derating (1: not derated)

    @property
    def configured(self) -> dict[str, float]:
        return self.secded if self.ecc == "secded" else self.no_ecc

    @property
    def no_ecc_derated(self) -> dict[str, float]:
        return {f: x * self.live_fraction for f, x in self.no_ecc.items()}

    @property
    def secded_derated(self) -> dict[str, float]:
        return {f: x * self.live_fraction for f, x in self.secded.items()}


def upset_fates(code: SecDed, refetchable: bool, mbu_fraction: float, mbu_max_bits: int) -> dict[str, float]:
    """P(fate | one upset in a SEC-DED-protected word)."""
    fates = dict.fromkeys(SRAM_FATES, 0.0)
    widths = [(1, 1.0 - mbu_fraction)] + [
        (w, mbu_fraction / (mbu_max_bits - 1)) for w in range(2, mbu_max_bits + 1) if mbu_fraction > 0
    ]
    for width, weight in widths:
        for outcome, share in code.burst_outcomes(min(width, code.word_bits)).items():
            if outcome == CORRECTED:
                fate = "corrected"
            elif outcome == DETECTED:
                fate = "refetch" if refetchable else "due"
            else:
                assert outcome in (MISCORRECTED, UNDETECTED)
                fate = "sdc"
            fates[fate] += weight * share
    return fates


def sram_fits(
    hw: HwConfig,
    env: Environment,
    mbu_fraction: float = 0.0,
    mbu_max_bits: int = 4,
    residency: Residency | None = None,
) -> list[SramFit]:
    """The A, B and C scratchpads' FIT per fate (continuous operation), with each one's live fraction under the
    schedule when `residency` is given (else 1: see the module doc)."""
    out = []
    for name in ("a", "b", "c"):
        cfg = getattr(hw.memory.sram, name)
        code = SecDed(cfg.ecc_data_bits)
        data_bits = 8 * cfg.size_bytes
        words = -(-data_bits // code.data_bits)
        secded_bits = words * code.word_bits

        def fit(bits: int) -> float:
            return FIT_HOURS * per_bit_hour(env.sram_fit_per_mbit) * bits

        raw = fit(data_bits)
        no_ecc = {f: (raw if f == "sdc" else 0.0) for f in SRAM_FATES}
        fates = upset_fates(code, name in _REFETCHABLE, mbu_fraction, mbu_max_bits)
        secded = {f: fit(secded_bits) * p for f, p in fates.items()}
        live = residency.live_fraction(name, data_bits) if residency is not None else 1.0
        out.append(SramFit(name, cfg.ecc, data_bits, secded_bits, raw, no_ecc, secded, live))
    return out
