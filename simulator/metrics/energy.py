"""Energy model: ActionCounts x the YAML's per-action pJ table + leakage power x time."""

from __future__ import annotations

from simulator.config.schema import HwConfig
from simulator.metrics.actions import ActionCounts

ENERGY_COMPONENTS = ("mac", "checksum", "compare", "sram_a", "sram_b", "sram_c", "dram", "leakage")


def leakage_pj(leakage_mw: float, cycles: int, clock_ghz: float) -> float:
    """Static energy: P[mW] x t[ns] = pJ, with t = cycles / f[GHz]."""
    return leakage_mw * cycles / clock_ghz


def energy_breakdown_pj(actions: ActionCounts, hw: HwConfig) -> dict[str, float]:
    """Energy per component in pJ; every term is a count times a YAML value."""
    e, sram, dram = hw.energy, hw.memory.sram, hw.memory.dram

    def sram_pj(read_bytes: int, write_bytes: int, buf) -> float:
        return read_bytes * buf.read_energy_pj_per_byte + write_bytes * buf.write_energy_pj_per_byte

    return {
        "mac": actions.macs * e.mac_pj,
        "checksum": actions.checksum_macs * e.mac_pj + actions.checksum_adds * e.checksum_add_pj,
        "compare": actions.compares * e.compare_pj,
        "sram_a": sram_pj(actions.sram_a_read_bytes, actions.sram_a_write_bytes, sram.a),
        "sram_b": sram_pj(actions.sram_b_read_bytes, actions.sram_b_write_bytes, sram.b),
        "sram_c": sram_pj(actions.sram_c_read_bytes, actions.sram_c_write_bytes, sram.c),
        "dram": (actions.dram_read_bytes + actions.dram_write_bytes) * dram.energy_pj_per_byte,
        "leakage": leakage_pj(e.leakage_mw, actions.cycles, hw.clock_ghz),
    }
