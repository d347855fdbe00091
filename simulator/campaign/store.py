"""Result store: one SQLite file per sweep, one row per (point, trial), crash-safe and resumable.

Schema (`abftsim.store/1`):

* `meta(key, value)`: schema, sweep_name, sweep_hash, sweep_seed, plan_scheme, spec (JSON).
* `points(point, label, params, config_hash, seed_index, trials, config)`: the planned points
  (`trials`: the count of the latest run, which may raise or lower it on resume);
  params is a JSON list of [axis key, value] pairs in sweep order, config JSON of the resolved
  config (hw, workload, faults without seed, abft, policies).
* `trials(point, trial, seed, config_hash, results)`: one finished run; results is JSON text of
  plain values (campaign.results). Primary key (point, trial): a trial is stored once.

Every trial is committed in its own transaction (WAL journal), so a process killed at any moment
leaves every finished trial and no partial one. The file is created under a temporary name and
renamed into place, so a kill during creation leaves no half-made store. An existing file is
checked read-only (SQLite header, integrity, schema, sweep identity) before it is opened for
writing: a corrupt or foreign file, or another sweep's store, is refused and never modified.
Stores hold plain values only (no pickles): a file from elsewhere cannot run code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.campaign.plan import PLAN_SCHEME, SweepPlan, canonical_json
from simulator.errors import ConfigError

STORE_SCHEMA = "abftsim.store/1"
SQLITE_MAGIC = b"SQLite format 3\x00"
TABLES = ("meta", "points", "trials")
_DDL = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE points (point INTEGER PRIMARY KEY, label TEXT NOT NULL, params TEXT NOT NULL, "
    "config_hash TEXT NOT NULL, seed_index INTEGER NOT NULL, trials INTEGER NOT NULL, config TEXT NOT NULL)",
    "CREATE TABLE trials (point INTEGER NOT NULL REFERENCES points(point), trial INTEGER NOT NULL, "
    "seed INTEGER NOT NULL, config_hash TEXT NOT NULL, results TEXT NOT NULL, "
    "PRIMARY KEY (point, trial)) WITHOUT ROWID",
)
_BUSY_TIMEOUT_S = 30.0


class StoreError(ConfigError):
    """The store file cannot be used; the message names the file; the file was not modified."""


@dataclass(frozen=True, slots=True)
class PointRow:
    point: int
    label: str
    params: dict[str, Any]
    config_hash: str
    seed_index: int
    trials: int
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TrialRow:
    point: int
    trial: int
    seed: int
    config_hash: str
    results: dict[str, Any]


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no file: a WAL database without a -wal file (no writer,
    nothing to recover) is opened immutable, since read-only WAL access would create -wal / -shm."""
    with path.open("rb") as fh:
        header = fh.read(20)
    wal_mode = len(header) == 20 and header[18] == 2
    quiet = wal_mode and not path.with_name(path.name + "-wal").exists()
    flags = "immutable=1" if quiet else "mode=ro"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{flags}", uri=True, timeout=_BUSY_TIMEOUT_S)


def inspect_store(path: Path) -> dict[str, str]:
    """The meta table of an existing store, checked without writing; StoreError if it is not one."""
    if not path.exists():
        raise StoreError(f"{path}: no such result store")
    if not path.is_file():
        raise StoreError(f"{path}: not a regular file, so not an abftsim result store")
    try:
        with path.open("rb") as fh:
            header = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if header != SQLITE_MAGIC:
        raise StoreError(f"{path}: not an SQLite file, so not an abftsim result store (left untouched)")
    try:
        conn = _connect_readonly(path)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot open read-only: {exc} (left untouched)") from None
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()
        if check is None or check[0] != "ok":
            raise StoreError(f"{path}: corrupt SQLite file ({check[0] if check else 'no answer'}; left untouched)")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not set(TABLES) <= tables:
            raise StoreError(
                f"{path}: a foreign SQLite database (tables {sorted(tables)}), "
                "not an abftsim result store (left untouched)"
            )
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: corrupt or unreadable SQLite file: {exc} (left untouched)") from None
    finally:
        conn.close()
    if meta.get("schema") != STORE_SCHEMA:
        raise StoreError(
            f"{path}: not an abftsim result store (schema {meta.get('schema')!r}, "
            f"expected {STORE_SCHEMA!r}; left untouched)"
        )
    return meta


def _plan_meta(plan: SweepPlan) -> dict[str, str]:
    return {
        "schema": STORE_SCHEMA,
        "sweep_name": plan.name,
        "sweep_hash": plan.sweep_hash,
        "sweep_seed": str(plan.seed),
        "plan_scheme": PLAN_SCHEME,
        "spec": canonical_json(plan.spec),
    }


def _create(path: Path, plan: SweepPlan) -> None:
    """Build the empty store under a temporary name, then rename it into place (atomic)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN")
            for statement in _DDL:
                conn.execute(statement)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(_plan_meta(plan).items()))
            conn.executemany(
                "INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(p.index, p.label, canonical_json(list(p.params.items())), p.config_hash, p.seed_index, p.trials,
                  canonical_json(p.config)) for p in plan.points],
            )  # fmt: skip
            conn.execute("COMMIT")
        finally:
            conn.close()
        os.replace(tmp, path)
    except (OSError, sqlite3.Error) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StoreError(f"{path}: cannot create the result store: {exc}") from None


def _lock(path: Path) -> int:
    """An exclusive lock on the store file for one writing sweep, refused at once if another holds
    it (two copies of a sweep would both compute everything). flock locks are separate from
    SQLite's POSIX locks; the descriptor stays open until the store's connection has closed."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise StoreError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if fcntl is None:  # not POSIX: no lock, as before
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(
            f"{path}: another abftsim sweep is writing this result store; wait for it to finish or stop it"
        ) from None
    return fd


class ResultStore:
    """An open store. Use `for_sweep` to write a sweep's trials, `read` to read any store."""

    def __init__(self, path: Path, conn: sqlite3.Connection, meta: dict[str, str], writable: bool) -> None:
        self.path, self._conn, self.meta, self.writable = path, conn, meta, writable
        self._lock_fd: int | None = None  # held while a sweep writes (see _lock)

    @classmethod
    def for_sweep(cls, path: str | Path, plan: SweepPlan) -> ResultStore:
        """Create the store of `plan`, or reopen it to resume; another sweep's store is refused."""
        path = Path(path)
        if not path.exists():
            _create(path, plan)
        lock = _lock(path)
        try:
            return cls._open_for_sweep(path, plan, lock)
        except BaseException:
            os.close(lock)
            raise

    @classmethod
    def _open_for_sweep(cls, path: Path, plan: SweepPlan, lock: int) -> ResultStore:
        meta = inspect_store(path)
        if meta.get("sweep_hash") != plan.sweep_hash:
            raise StoreError(
                f"{path}: holds results of another sweep ({meta.get('sweep_name')!r}, hash "
                f"{meta.get('sweep_hash', '?')[:12]}; this is {plan.name!r}, hash {plan.sweep_hash[:12]}); "
                "use another result store or remove the file (left untouched)"
            )
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a killed process loses no commit
            store = cls(path, conn, meta, writable=True)
            store._lock_fd = lock
            store._retarget_trials(plan)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open for writing: {exc}") from None
        return store

    def _retarget_trials(self, plan: SweepPlan) -> None:
        """Record the plan's trial counts (a resume may ask for more or fewer trials than before)."""
        stored = dict(self._conn.execute("SELECT point, trials FROM points").fetchall())
        changed = [(p.trials, p.index) for p in plan.points if stored.get(p.index) != p.trials]
        if not changed:
            return
        spec = canonical_json(plan.spec)
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.executemany("UPDATE points SET trials = ? WHERE point = ?", changed)
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (spec,))
        self._conn.execute("COMMIT")
        self.meta = {**self.meta, "spec": spec}

    @classmethod
    def read(cls, path: str | Path) -> ResultStore:
        """Open an existing store read-only."""
        path = Path(path)
        meta = inspect_store(path)
        return cls(path, _connect_readonly(path), meta, writable=False)

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()
        if self._lock_fd is not None:  # after SQLite closed its own descriptors
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextlib.contextmanager
    def interpreting(self) -> Iterator[None]:
        """Around code that interprets stored rows (summaries, exports, figures): a row whose
        values do not have the shape `abftsim sweep` writes (a tampered or foreign file) becomes
        one StoreError naming the file instead of an exception deep inside the reader."""
        try:
            yield
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise StoreError(
                f"{self.path}: a stored row is malformed (tampered?): {type(exc).__name__}: {exc}"
            ) from None

    @property
    def spec(self) -> dict[str, Any]:
        return json.loads(self.meta.get("spec", "{}"))

    def done(self) -> set[tuple[int, int]]:
        """(point, trial) of every stored trial."""
        return {(p, t) for p, t in self._conn.execute("SELECT point, trial FROM trials")}

    def add(self, point: int, trial: int, seed: int, config_hash: str, results: dict[str, Any]) -> None:
        """Store one finished trial in its own transaction."""
        self.add_many([(point, trial, seed, config_hash, results)])

    def add_many(self, rows: Sequence[tuple[int, int, int, str, dict[str, Any]]]) -> None:
        """Store finished trials in one transaction (all or none)."""
        if not self.writable:
            raise StoreError(f"{self.path}: opened read-only")
        values = [(p, t, s, h, canonical_json(r)) for p, t, s, h, r in rows]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT INTO trials VALUES (?, ?, ?, ?, ?)", values)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot store results: {exc}") from None

    def points(self) -> list[PointRow]:
        rows = self._conn.execute(
            "SELECT point, label, params, config_hash, seed_index, trials, config FROM points ORDER BY point"
        )
        return [
            PointRow(p, lab, dict(json.loads(par)), h, si, n, json.loads(cfg)) for p, lab, par, h, si, n, cfg in rows
        ]

    def trials(self) -> Iterator[TrialRow]:
        """Stored trials within each point's current trial count (extra ones from a larger earlier
        count stay stored but are not reported)."""
        rows = self._conn.execute(
            "SELECT t.point, t.trial, t.seed, t.config_hash, t.results FROM trials AS t "
            "JOIN points AS p ON p.point = t.point WHERE t.trial < p.trials ORDER BY t.point, t.trial"
        )
        for p, t, s, h, r in rows:
            yield TrialRow(p, t, s, h, json.loads(r))

    def rows(self) -> list[tuple[Any, ...]]:
        """Every stored trial as raw column values, ordered: what 'same results' compares."""
        return self._conn.execute("SELECT * FROM trials ORDER BY point, trial").fetchall()
