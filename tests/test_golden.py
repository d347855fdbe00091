"""Golden JSON: a small faulty run under every policy must reproduce a committed report byte for
byte. Any change to a cycle, a picojoule or an outcome shows up here; regenerate deliberately with
ABFTSIM_UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

from simulator import cli

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden_tiny.json"
ARGV = ["run", "--hw", "edge_32x32", "--set", "array.rows=8", "--set", "array.cols=8",
        "--workload", str(DATA / "tiny_gemms.yaml"), "--ber", "2e-6", "--seed", "7", "--quiet"]  # fmt: skip


def test_golden_report(tmp_path):
    out = tmp_path / "report.json"
    assert cli.main([*ARGV, "--json", str(out)]) == 0
    text = out.read_text().replace(str(DATA), "tests/data")
    if os.environ.get("ABFTSIM_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
