"""Presentation of a run's report: the text tables, the JSON and the CSV the CLI writes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from simulator.metrics.report import Report


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n"


CSV_LAYER_KEYS = (
    "name", "kind", "M", "K", "N", "count", "folds", "macs", "compute_cycles", "memory_stall_cycles",
    "checksum_stall_cycles", "recompute_cycles", "total_cycles", "energy_pj",
)  # fmt: skip


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("policy", *CSV_LAYER_KEYS))
    for pol in data["policies"]:
        for layer in pol["layers"]:
            writer.writerow((pol["policy"], *(layer[k] for k in CSV_LAYER_KEYS)))
    return out.getvalue()


def format_table(report: Report) -> str:
    """Per-layer table of the first policy, then one summary line per policy."""
    hw, wl = report.hw, report.workload
    arr = hw["array"]
    lines = [
        f"{wl['name']} ({len(wl['gemms'])} GEMMs, {wl['macs'] / 1e9:.3f} GMAC) on {hw['name']} "
        f"({arr['rows']}x{arr['cols']} {arr['dataflow'].upper()} {arr['datatype']}, {hw['clock_ghz']} GHz)",
        "",
    ]
    first = report.policies[0]
    header = (
        f"{'layer':<16}{'M':>6}{'K':>6}{'N':>6}{'count':>6}{'folds':>8}{'compute':>12}{'mem stall':>11}"
        f"{'chk stall':>10}{'recompute':>11}{'total':>12}{'energy uJ':>11}{'DRAM MB':>9}{'/compul':>8}"
    )
    lines += [f"layers under policy {first.policy}:", header, "-" * len(header)]
    for layer in first.layers:
        lines.append(
            f"{layer.name:<16}{layer.m:>6}{layer.k:>6}{layer.n:>6}{layer.count:>6}{layer.folds:>8}"
            f"{layer.compute_cycles:>12,}{layer.memory_stall_cycles:>11,}{layer.checksum_stall_cycles:>10,}"
            f"{layer.recompute_cycles:>11,}{layer.total_cycles:>12,}{layer.energy_pj / 1e6:>11.2f}"
            f"{layer.dram_bytes / 1e6:>9.2f}{layer.dram_bytes / max(layer.compulsory_dram_bytes, 1):>8.2f}"
        )
    dram_bytes = sum(layer.dram_bytes for layer in first.layers)
    compulsory_bytes = sum(layer.compulsory_dram_bytes for layer in first.layers)
    lines.append(
        f"DRAM traffic: {dram_bytes / 1e6:,.1f} MB, compulsory {compulsory_bytes / 1e6:,.1f} MB "
        f"({dram_bytes / max(compulsory_bytes, 1):.2f}x; mapping {hw.get('mapping', {}).get('policy', '?')})"
    )
    base = report.baseline
    run = report.run
    faults = run.get("faults", {})
    lines += [
        "",
        f"baseline (none, fault-free): {base.cycles:,} cycles, {base.latency_s * 1e3:.3f} ms, "
        f"{base.energy_pj / 1e6:.1f} uJ",
        f"faults: {faults.get('kind', 'transient')}, ber {faults.get('ber', 0):g}, sites "
        f"{','.join(faults.get('sites', ()))}, seed {run.get('seed', 0)}",
        "",
    ]
    summary = (
        f"{'policy':<12}{'cycles':>13}{'lat ovh %':>10}{'energy uJ':>11}{'en ovh %':>9}{'recomp MACs':>15}"
        f"{'faults':>8}{'masked':>7}{'detect':>7}{'corr':>6}{'recomp':>7}{'toler':>6}{'escaped':>8}"
    )
    lines += [summary, "-" * len(summary)]
    for pol in report.policies:
        d = pol.to_dict(base)
        lines.append(
            f"{pol.policy:<12}{pol.cycles:>13,}{d['latency_overhead_pct']:>10.3f}{pol.energy_pj / 1e6:>11.1f}"
            f"{d['energy_overhead_pct']:>9.3f}{d['recomputed_macs']:>15,}{d['faults_injected']:>8}"
            f"{d.get('masked', 0):>7}{d['detected']:>7}{d['corrected']:>6}{d.get('recomputed', 0):>7}"
            f"{d.get('tolerated', 0):>6}{d['escaped']:>8}"
        )
    return "\n".join(lines) + "\n"
