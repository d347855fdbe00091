"""Parquet fault logs (cli.parquet): the CSV's rows and columns, typed; a clear error without pyarrow."""

from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path
from typing import Any

import pytest

from simulator import api
from simulator.cli import main
from tests.test_campaign_cli import setup_sweep

FAULTS = ["--fault", "gemm=fc2,instance=0,fold=12,row=3,col=5,cycle=100,site=acc,bit=30",
          "--fault", "gemm=fc2,instance=0,fold=3,row=1,block=0,step=2,site=chk_pred,bit=12",
          "--fault", "gemm=fc1,instance=0,row=0,col=7,cycle=40,site=sram_a,bit=7"]  # fmt: skip
RUN = ["run", "--workload", "vit_block_gemms", "--policy", "none", "--policy", "abft", "--quiet", *FAULTS]


def same_value(text: str, value: Any) -> bool:
    """A CSV cell and the Parquet value of the same cell agree (a missing value is an empty cell)."""
    if value is None:
        return text == ""
    if isinstance(value, bool):
        return text == str(value)
    if isinstance(value, float):
        return math.isnan(value) if text == "nan" else float(text) == value
    if isinstance(value, int):
        return int(text) == value
    return text == str(value)


def assert_round_trip(csv_path: Path, parquet_path: Path) -> list[dict[str, Any]]:
    pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow) is not installed")
    table = pq.read_table(parquet_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert table.column_names == list(rows[0]) and table.num_rows == len(rows) > 0
    parquet_rows = table.to_pylist()
    for text_row, row in zip(rows, parquet_rows, strict=True):
        assert all(same_value(text_row[k], row[k]) for k in text_row), (text_row, row)
    return parquet_rows


def test_run_fault_log_parquet_equals_the_csv(tmp_path) -> None:
    pytest.importorskip("pyarrow", reason="the parquet extra (pyarrow) is not installed")
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert main([*RUN, "--fault-log", str(tmp_path / "f.csv")]) == 0
    assert main([*RUN, "--fault-log", str(tmp_path / "f.parquet")]) == 0
    rows = assert_round_trip(tmp_path / "f.csv", tmp_path / "f.parquet")
    assert {r["site"] for r in rows} == {"acc", "chk_pred", "sram_a"}  # (none has no checksum hardware)
    schema = pq.read_schema(tmp_path / "f.parquet")
    types = {"policy": "string", **api.FAULT_LOG_TYPES}
    assert schema.names == ["policy", *api.FAULT_LOG_KEYS]
    assert {name: schema.field(name).type for name in schema.names} == {
        name: pa.type_for_alias(types[name]) for name in schema.names
    }


def test_export_faults_parquet_equals_the_csv(tmp_path, monkeypatch) -> None:
    pytest.importorskip("pyarrow", reason="the parquet extra (pyarrow) is not installed")
    sweep = setup_sweep(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(sweep), "--workers", "1", "--fault-log", "--quiet"]) == 0
    assert main(["export", "tiny_cli.db", "--faults", "faults.csv"]) == 0
    assert main(["export", "tiny_cli.db", "--faults", "faults.parquet"]) == 0
    rows = assert_round_trip(tmp_path / "faults.csv", tmp_path / "faults.parquet")
    assert list(rows[0])[:3] == ["point", "trial", "seed"] and isinstance(rows[0]["point"], int)


def test_parquet_without_pyarrow_names_the_extra(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    out = tmp_path / "f.parquet"
    assert main([*RUN, "--fault-log", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--fault-log" in err and "abftsim[parquet]" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["export", str(tmp_path / "no.db"), "--faults", str(out)]) == 2
    assert "abftsim[parquet]" in capsys.readouterr().err
