"""Energy = counted actions x the YAML's pJ table + leakage x time, worked by hand."""

from __future__ import annotations

import pytest

from simulator.config.loader import load_hw
from simulator.metrics.actions import ActionCounts
from simulator.metrics.energy import ENERGY_COMPONENTS, energy_breakdown_pj, leakage_pj


def test_breakdown_by_hand():
    hw = load_hw("edge_32x32")
    counts = ActionCounts(
        macs=1000, checksum_macs=10, checksum_adds=20, compares=4,
        sram_a_read_bytes=100, sram_a_write_bytes=10, sram_b_read_bytes=200, sram_b_write_bytes=20,
        sram_c_read_bytes=40, sram_c_write_bytes=40, dram_read_bytes=30, dram_write_bytes=5, cycles=2000,
    )  # fmt: skip
    e = energy_breakdown_pj(counts, hw)
    assert set(e) == set(ENERGY_COMPONENTS)
    assert e["mac"] == pytest.approx(1000 * 0.3)
    assert e["checksum"] == pytest.approx(10 * 0.3 + 20 * 0.1)
    assert e["compare"] == pytest.approx(4 * 0.1)
    # SRAM per byte: Horowitz's 64-bit read energy / 8 B, 20 pJ x (size / 32 KiB)^(log 5 / log 32)
    # (edge_32x32.yaml): A 320 KiB 58.3 pJ -> 7.28, B 64 KiB 27.6 -> 3.45, C 128 KiB 38.1 -> 4.76
    assert e["sram_a"] == pytest.approx(110 * 7.28)
    assert e["sram_b"] == pytest.approx(220 * 3.45)
    assert e["sram_c"] == pytest.approx(80 * 4.76)
    assert e["dram"] == pytest.approx(35 * 104)  # 13 pJ/bit x 8: LPDDR4-class DRAM [Ha18] in edge_32x32.yaml
    # 30 mW for 2000 cycles at 1 GHz = 2 us -> 60 nJ = 60,000 pJ
    assert e["leakage"] == pytest.approx(60_000)


def test_leakage_units():
    assert leakage_pj(1.0, 1000, 1.0) == pytest.approx(1000.0)  # 1 mW x 1 us = 1 nJ
    assert leakage_pj(1.0, 1000, 2.0) == pytest.approx(500.0)


def test_action_counts_add_and_scale():
    a = ActionCounts(macs=2, dram_read_bytes=3, cycles=5)
    assert (a + a).macs == 4 and a.scaled(3).cycles == 15 and (a + a).to_dict()["dram_read_bytes"] == 6
