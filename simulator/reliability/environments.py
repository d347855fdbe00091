"""Named radiation environments: raw upset rates of flip-flops and SRAM bits, each with its source."""

from __future__ import annotations

from dataclasses import dataclass

HOURS_PER_DAY = 24.0
BITS_PER_MBIT = 1e6  # FIT per Mbit with the SI megabit (a binary Mbit, 2^20 bits, lowers per-bit rates by 4.6 %)
FIT_HOURS = 1e9  # 1 FIT = one failure per 10^9 device-hours

# Sea level, New York City: JEDEC JESD89A's reference flux of neutrons above 10 MeV is 13 n/cm^2/h.
# Against it, embedded SRAM upsets at 700 to 1,200 FIT per Mbit (the reference range of IEC 61508-2:2010,
# Annex F, citing Autran et al., IEEE TNS 54(4), 2007 and Baumann, IEEE TDMR 5(3), 2005); 1,000 is taken.
SEA_LEVEL_SRAM_FIT_PER_MBIT = 1000.0
# No standard gives a per-bit rate for flip-flops; Baumann (2005) reports sequential elements per bit in the
# same range as SRAM cells, so the same rate is assumed (override with --ff-fit-per-mbit).
SEA_LEVEL_FF_FIT_PER_MBIT = 1000.0
# Commercial avionics altitude (~12 km, 40,000 ft): the atmospheric neutron flux is about 300 times the sea-level
# flux (Normand, "Single event upset at ground level", IEEE TNS 43(6), 1996; the altitude model of JESD89A Annex A).
AVIONICS_FLUX_FACTOR = 300.0
# Low Earth orbit: 4.04e-7 upsets per bit per day measured over 8 years in commercial memories on board Alsat-1
# (686 km, sun-synchronous; Bentoutou, "A review of in-orbit observations of radiation-induced effects in
# commercial memories onboard Alsat-1"), South Atlantic Anomaly and solar events included.
LEO_UPSETS_PER_BIT_DAY = 4.04e-7


def fit_per_mbit_from_upsets_per_bit_day(upsets_per_bit_day: float) -> float:
    """Upsets per bit per day -> FIT per Mbit: x / 24 h x 10^9 h x 10^6 bits."""
    return upsets_per_bit_day / HOURS_PER_DAY * FIT_HOURS * BITS_PER_MBIT


@dataclass(frozen=True, slots=True)
class Environment:
    """Raw (underated) upset rates of one environment, in FIT per Mbit, and where they come from."""

    name: str
    ff_fit_per_mbit: float  # PE registers, checksum registers, drain registers (flip-flops)
    sram_fit_per_mbit: float  # A, B, C scratchpads
    source: str


ENVIRONMENTS: dict[str, Environment] = {
    "sea_level": Environment(
        "sea_level",
        SEA_LEVEL_FF_FIT_PER_MBIT,
        SEA_LEVEL_SRAM_FIT_PER_MBIT,
        "JESD89A NYC reference flux 13 n/cm^2/h; IEC 61508-2 SRAM 700-1,200 FIT/Mbit",
    ),
    "avionics": Environment(
        "avionics",
        SEA_LEVEL_FF_FIT_PER_MBIT * AVIONICS_FLUX_FACTOR,
        SEA_LEVEL_SRAM_FIT_PER_MBIT * AVIONICS_FLUX_FACTOR,
        "sea level x 300 (neutron flux at ~12 km; Normand, IEEE TNS 1996)",
    ),
    "leo": Environment(
        "leo",
        fit_per_mbit_from_upsets_per_bit_day(LEO_UPSETS_PER_BIT_DAY),
        fit_per_mbit_from_upsets_per_bit_day(LEO_UPSETS_PER_BIT_DAY),
        "4.04e-7 upsets/bit/day in orbit (Alsat-1, 686 km)",
    ),
}


def environment(name: str) -> Environment:
    """A named environment; ValueError lists the known names."""
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        raise ValueError(f"unknown environment {name!r} (known: {', '.join(ENVIRONMENTS)})") from None


def custom_environment(ff_fit_per_mbit: float, sram_fit_per_mbit: float) -> Environment:
    """Raw rates given directly (FIT per Mbit, both >= 0)."""
    for label, value in (("ff_fit_per_mbit", ff_fit_per_mbit), ("sram_fit_per_mbit", sram_fit_per_mbit)):
        if not value >= 0.0 or value == float("inf"):
            raise ValueError(f"{label} must be a finite rate >= 0, got {value}")
    return Environment("custom", ff_fit_per_mbit, sram_fit_per_mbit, "given rates")
