"""Result store: create, resume, one row per (point, trial); foreign, corrupt or other-sweep files refused untouched."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from simulator import cli
from simulator.campaign.plan import plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.campaign.store import STORE_SCHEMA, ResultStore, StoreError, inspect_store
from simulator.errors import ConfigError

SWEEP = """
name: store_test
seed: 3
trials: 3
base: {workload: vit_block_gemms, policies: [abft]}
axes:
  faults.ber: [0, 1.0e-9]
"""


def plan_for(tmp_path: Path, text: str = SWEEP):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    spec, source = load_sweep(path)
    return plan_sweep(spec, source)


def fingerprint(path: Path) -> tuple[bytes, int, list[str]]:
    """Bytes, mtime and sibling files: what 'left untouched' compares."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


def test_create_add_resume(tmp_path):
    plan = plan_for(tmp_path)
    db = tmp_path / "r.db"
    with ResultStore.for_sweep(db, plan) as store:
        assert store.done() == set() and store.meta["schema"] == STORE_SCHEMA
        assert [p.trials for p in store.points()] == [1, 3]
        task = plan.tasks()[1]
        store.add(task.point, task.trial, task.seed, task.config_hash, {"x": 1.5, "tag": "a"})
    with ResultStore.for_sweep(db, plan) as store:  # reopen = resume
        assert store.done() == {(1, 0)}
        (row,) = store.trials()
        assert (row.point, row.trial, row.seed, row.results) == (1, 0, task.seed, {"x": 1.5, "tag": "a"})
        with pytest.raises(StoreError, match="cannot store results"):  # never twice
            store.add(task.point, task.trial, task.seed, task.config_hash, {"x": 2})
        assert len(store.rows()) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_read_only_store_refuses_writes(tmp_path):
    plan = plan_for(tmp_path)
    db = tmp_path / "r.db"
    ResultStore.for_sweep(db, plan).close()
    before = fingerprint(db)
    with ResultStore.read(db) as store, pytest.raises(StoreError, match="read-only"):
        store.add(0, 0, 1, "h", {})
    assert fingerprint(db)[:2] == before[:2]


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'ada')")
    conn.commit()
    conn.close()


def _corrupt(path: Path) -> None:
    plan_db = path.with_name("good.db")
    conn = sqlite3.connect(plan_db)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(500),) for _ in range(50)])
    conn.commit()
    conn.close()
    data = bytearray(plan_db.read_bytes())
    data[100:4096] = os.urandom(3996)  # smash the schema page, keep the SQLite header
    path.write_bytes(bytes(data))
    plan_db.unlink()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a database at all\n" * 40), "not an SQLite file"),
        (lambda p: p.write_bytes(b""), "not an SQLite file"),
        (_foreign, "a foreign SQLite database"),
        (_corrupt, "corrupt"),
    ],
)
def test_foreign_or_corrupt_files_are_refused_untouched(tmp_path, make, message):
    plan = plan_for(tmp_path)
    db = tmp_path / "r.db"
    make(db)
    before = fingerprint(db)
    with pytest.raises(StoreError, match=message) as info:
        ResultStore.for_sweep(db, plan)
    assert "\n" not in str(info.value) and str(db) in str(info.value)
    with pytest.raises(StoreError):
        ResultStore.read(db)
    assert fingerprint(db) == before


def test_other_sweeps_store_is_refused_untouched(tmp_path):
    db = tmp_path / "r.db"
    with ResultStore.for_sweep(db, plan_for(tmp_path)) as store:
        store.add(0, 0, 1, "h", {"x": 1})
    before = fingerprint(db)
    other = plan_for(tmp_path, SWEEP.replace("seed: 3", "seed: 4"))
    with pytest.raises(StoreError, match="holds results of another sweep"):
        ResultStore.for_sweep(db, other)
    assert fingerprint(db) == before


def test_store_with_wrong_schema_version_is_refused(tmp_path):
    db = tmp_path / "r.db"
    ResultStore.for_sweep(db, plan_for(tmp_path)).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = 'abftsim.store/99' WHERE key = 'schema'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an abftsim result store"):
        inspect_store(db)


def test_cli_refuses_bad_store_and_bad_sweep_without_touching_the_db(tmp_path, capsys):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP)
    db = tmp_path / "r.db"
    _foreign(db)
    before = fingerprint(db)
    assert cli.main(["sweep", str(sweep), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("abftsim: error: ") and err.count("\n") == 1 and "foreign" in err
    assert cli.main(["export", str(db), "--csv", str(tmp_path / "x.csv")]) == 2
    assert cli.main(["plot", str(db), "--kind", "pareto", "--out", str(tmp_path / "p")]) == 2
    capsys.readouterr()
    # a sweep file with an unknown key is refused before the store is opened
    good_db = tmp_path / "good.db"
    with ResultStore.for_sweep(good_db, plan_for(tmp_path)) as store:
        store.add(0, 0, 1, "h", {"x": 1})
    good_before = fingerprint(good_db)
    sweep.write_text(SWEEP + "retries: 3\n")
    assert cli.main(["sweep", str(sweep), "--db", str(good_db), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err == f"abftsim: error: {sweep}: retries: unknown key\n"
    assert fingerprint(db)[:2] == before[:2] and fingerprint(good_db) == good_before
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "p").exists()


def test_missing_store_is_a_clean_error(tmp_path):
    with pytest.raises(ConfigError, match="no such result store"):
        ResultStore.read(tmp_path / "absent.db")
