"""Store -> CSV or JSON text: one row per (point, trial, policy), or one per (point, policy) with intervals."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from simulator.api import FAULT_LOG_KEYS, FAULT_LOG_TYPES
from simulator.campaign.store import PointRow, ResultStore, TrialRow
from simulator.campaign.summary import summarize
from simulator.campaign.trial import POLICY_KEYS
from simulator.metrics.stats import DEFAULT_CONFIDENCE


def columns_of(rows: Sequence[dict[str, Any]], fixed: Sequence[str]) -> list[str]:
    """`fixed` columns first, then every other key in first-seen order."""
    columns = list(fixed)
    for row in rows:
        columns += [k for k in row if k not in columns]
    return columns


def _csv(rows: Sequence[dict[str, Any]], fixed: Sequence[str]) -> str:
    """CSV with `fixed` columns first, then every other key in first-seen order."""
    columns = columns_of(rows, fixed)
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def trial_rows(points: Sequence[PointRow], trials: Iterable[TrialRow]) -> list[dict[str, Any]]:
    params = {p.point: p.params for p in points}
    rows = []
    for t in trials:
        res = t.results
        for pol in res["policies"]:
            rows.append({
                "point": t.point, "trial": t.trial, "seed": t.seed, "config_hash": t.config_hash,
                **params.get(t.point, {}), "policy": pol["policy"], **{k: pol.get(k) for k in POLICY_KEYS},
                "baseline_cycles": res["baseline"]["cycles"], "baseline_energy_pj": res["baseline"]["energy_pj"],
                "area_pe": res["area_pe"]["total"],
            })  # fmt: skip
    return rows


def export_csv(store: ResultStore, summary: bool = False, confidence: float = DEFAULT_CONFIDENCE) -> str:
    """The store as CSV: raw trials, or (summary) per-point means with confidence intervals."""
    points = store.points()
    if summary:
        return _csv([s.row() for s in summarize(points, store.trials(), confidence)], ("point",))
    return _csv(trial_rows(points, store.trials()), ("point", "trial", "seed", "config_hash"))


def fault_rows(points: Sequence[PointRow], trials: Iterable[TrialRow]) -> tuple[list[dict[str, Any]], int]:
    """One row per (point, trial, policy, fault) of the trials that kept a fault log (`sweep --fault-log`),
    and how many trials did not."""
    params = {p.point: p.params for p in points}
    rows, missing = [], 0
    for t in trials:
        log = t.results.get("fault_log")
        if log is None:
            missing += 1
            continue
        for entry in log:
            policy, columns = entry["policy"], entry["columns"]
            keys = [k for k in FAULT_LOG_KEYS if k in columns] + sorted(set(columns) - set(FAULT_LOG_KEYS))
            for values in zip(*(columns[k] for k in keys), strict=True):
                rows.append({"point": t.point, "trial": t.trial, "seed": t.seed, **params.get(t.point, {}),
                             "policy": policy, **dict(zip(keys, values, strict=True))})  # fmt: skip
    return rows, missing


FAULT_FIXED = ("point", "trial", "seed")
FAULT_TYPES = {**dict.fromkeys(FAULT_FIXED, "int64"), **FAULT_LOG_TYPES}  # Arrow types of the known columns


def fault_table(store: ResultStore) -> tuple[list[str], list[dict[str, Any]], int]:
    """(columns in export_faults_csv's order, one row per stored fault record, trials without a fault log)."""
    rows, missing = fault_rows(store.points(), store.trials())
    return columns_of(rows, FAULT_FIXED), rows, missing


def export_faults_csv(store: ResultStore) -> tuple[str, int]:
    """(CSV of every stored fault record, trials without a fault log)."""
    rows, missing = fault_rows(store.points(), store.trials())
    return _csv(rows, FAULT_FIXED), missing


EXPORT_SCHEMA = "abftsim.sweep_export/1"


def export_json(store: ResultStore, summary: bool = False, confidence: float = DEFAULT_CONFIDENCE) -> str:
    """The same rows as export_csv in one JSON document (undefined intervals, NaN in CSV, are null)."""
    points = store.points()
    if summary:
        rows = [s.row() for s in summarize(points, store.trials(), confidence)]
    else:
        rows = trial_rows(points, store.trials())
    document = {
        "schema": EXPORT_SCHEMA,
        "sweep": store.meta.get("sweep_name"),
        "kind": "summary" if summary else "trials",
        "confidence": confidence if summary else None,
        "rows": [{k: _plain(v) for k, v in row.items()} for row in rows],
    }
    return json.dumps(document, indent=1, allow_nan=False) + "\n"


def _plain(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value
