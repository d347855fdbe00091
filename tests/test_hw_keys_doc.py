"""docs/hw_config_keys.md is the schema's own reference: generated, current, every key explained."""

from __future__ import annotations

from pathlib import Path

from simulator.config.hw_keys_doc import hw_keys_markdown, unit_of

DOC = Path(__file__).resolve().parent.parent / "docs" / "hw_config_keys.md"


def _rows() -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in hw_keys_markdown().splitlines()
        if line.startswith("| `")
    ]


def test_committed_doc_equals_the_generated_one():
    assert DOC.read_text(encoding="utf-8") == hw_keys_markdown(), "run: python scripts/hw_config_keys.py"


def test_every_key_has_a_meaning_and_every_number_a_unit():
    rows = _rows()
    assert len(rows) >= 37  # base + 36 schema keys today
    assert [r[0] for r in rows if not r[5]] == []
    assert [r[0] for r in rows if r[1] == "number" and not r[3]] == []


def test_units_follow_the_key_names():
    assert unit_of("memory.sram.a.read_energy_pj_per_byte") == "pJ/byte"
    assert unit_of("memory.dram.bandwidth_bytes_per_cycle") == "bytes/cycle"
    assert unit_of("checksum_unit.extra_cycles_per_fold") == "cycles per fold"
    assert unit_of("energy.leakage_mw") == "mW" and unit_of("array.rows") == ""
