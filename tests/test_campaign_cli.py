"""`abftsim sweep` and `abftsim export` end to end on a tiny workload."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from simulator import cli
from simulator.campaign.store import ResultStore

SWEEP = """
name: tiny_cli
seed: 4
trials: 2
base:
  workload: tiny.yaml
  policies: [none, abft]
axes:
  faults.ber: [0, 1.0e-6]
"""


def setup_sweep(tmp_path: Path) -> Path:
    (tmp_path / "tiny.yaml").write_text("name: tiny\ngemms:\n  - {name: fc1, M: 32, K: 64, N: 64}\n")
    path = tmp_path / "tiny_cli.yaml"
    path.write_text(SWEEP)
    return path


def test_sweep_export_and_resume(tmp_path, capsys, monkeypatch):
    sweep = setup_sweep(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", str(sweep), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "0  trials    1" in out and "1  trials    2" in out and out.endswith("2 points, 3 trials\n")
    assert not (tmp_path / "tiny_cli.db").exists()

    assert cli.main(["sweep", str(sweep), "--workers", "1", "--summary-csv", "summary.csv"]) == 0
    captured = capsys.readouterr()
    assert "sweep tiny_cli: 2 points, 3 trials, 3 to run on inline (1 worker) -> tiny_cli.db" in captured.err
    assert "faults.ber=1e-06" in captured.out and "abft" in captured.out
    with ResultStore.read(tmp_path / "tiny_cli.db") as store:
        rows = store.rows()
    assert [(r[0], r[1]) for r in rows] == [(0, 0), (1, 0), (1, 1)]
    summary = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [(r["point"], r["policy"], r["trials"]) for r in summary] == [
        ("0", "none", "1"), ("0", "abft", "1"), ("1", "none", "2"), ("1", "abft", "2"),
    ]  # fmt: skip

    assert cli.main(["sweep", str(sweep), "--workers", "1"]) == 0  # nothing left: resumes to a no-op
    assert "3 trials, 0 to run" in capsys.readouterr().err
    with ResultStore.read(tmp_path / "tiny_cli.db") as store:
        assert store.rows() == rows

    assert cli.main(["export", "tiny_cli.db", "--csv", "-"]) == 0
    raw = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(raw) == 3 * 2 and raw[0]["faults.ber"] == "0" and raw[-1]["policy"] == "abft"
    assert cli.main(["export", "tiny_cli.db", "--csv", "out/raw.csv"]) == 0
    assert (tmp_path / "out" / "raw.csv").read_text().startswith("point,trial,seed,config_hash,faults.ber,policy,")

    # JSON holds the same rows as CSV (CSV's text against JSON's values)
    assert cli.main(["export", "tiny_cli.db", "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["schema"], doc["sweep"], doc["kind"]) == ("abftsim.sweep_export/1", "tiny_cli", "trials")
    assert [(str(r["point"]), str(r["trial"]), r["policy"]) for r in doc["rows"]] == [
        (r["point"], r["trial"], r["policy"]) for r in raw
    ]
    assert cli.main(["sweep", str(sweep), "--workers", "1", "--summary-json", "s.json", "--quiet"]) == 0
    summary_doc = json.loads((tmp_path / "s.json").read_text())
    assert [(str(r["point"]), r["policy"], str(r["trials"])) for r in summary_doc["rows"]] == [
        (r["point"], r["policy"], r["trials"]) for r in summary
    ]
    assert cli.main(["export", "tiny_cli.db"]) == 2
    assert "give --csv PATH, --json PATH and/or --faults PATH" in capsys.readouterr().err
    # this sweep kept no fault log: the export says so and writes the header only
    assert cli.main(["export", "tiny_cli.db", "--faults", "f.csv"]) == 0
    assert "3 stored trial(s) kept no fault log" in capsys.readouterr().err
    assert (tmp_path / "f.csv").read_text().strip() == "point,trial,seed"


def test_sweep_fault_log_and_export_faults(tmp_path, capsys, monkeypatch):
    """`sweep --fault-log` keeps every trial's fault records in the store; `export --faults` writes them, each
    trial's the same as `abftsim run --fault-log` of its config and seed."""
    sweep = setup_sweep(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", str(sweep), "--workers", "1", "--fault-log", "--quiet"]) == 0
    with ResultStore.read(tmp_path / "tiny_cli.db") as store:
        trials = list(store.trials())
    assert cli.main(["export", "tiny_cli.db", "--faults", "faults.csv"]) == 0
    rows = list(csv.DictReader((tmp_path / "faults.csv").open()))
    for t in trials:
        for p in t.results["policies"]:
            mine = [
                r for r in rows if (int(r["point"]), int(r["trial"]), r["policy"]) == (t.point, t.trial, p["policy"])
            ]
            assert len(mine) == p["faults_injected"]
            assert sum(r["fate"] == "escaped" for r in mine) == p["escaped"]
    faulty = next(t for t in trials if t.point == 1 and t.trial == 0)
    assert cli.main(["run", "--workload", "tiny.yaml", "--ber", "1e-6", "--seed", str(faulty.seed), "--policy", "none",
                     "--policy", "abft", "--quiet", "--fault-log", "run.csv"]) == 0  # fmt: skip
    direct = list(csv.DictReader((tmp_path / "run.csv").open()))
    exported = [{k: r[k] for k in direct[0]} for r in rows if (r["point"], r["trial"]) == ("1", "0")]
    assert len(direct) > 3 and exported == direct
    assert rows[0]["faults.ber"] in ("0", "1e-06") and list(rows[0])[:3] == ["point", "trial", "seed"]


def test_bad_arguments_are_clean(tmp_path, capsys):
    sweep = setup_sweep(tmp_path)
    db = tmp_path / "x.db"
    for args, message in [
        (["--workers", "0"], "--workers: must be >= 1"),
        (["--trials", "0"], "--trials: must be >= 1"),
        (["--confidence", "1.5"], "--confidence: must be in (0, 1)"),
    ]:
        assert cli.main(["sweep", str(sweep), "--db", str(db), "--quiet", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not db.exists()  # refused before the store is created
    assert cli.main(["sweep", "no_such_sweep", "--quiet"]) == 2
    assert "not a file and not a bundled sweep (known: dse_array, paper_ber)" in capsys.readouterr().err
