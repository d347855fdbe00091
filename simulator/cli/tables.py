"""Presentation of a run's report: the text tables, the JSON and the CSV the CLI writes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from simulator.metrics.report import LayerReport, Report
from simulator.workload.gemm import GEMM_KINDS


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n"


CSV_LAYER_KEYS = (
    "name", "kind", "M", "K", "N", "count", "folds", "macs", "compute_cycles", "memory_stall_cycles",
    "checksum_stall_cycles", "recompute_cycles", "total_cycles", "energy_pj", "writeback_stall_cycles",
)  # fmt: skip


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("policy", *CSV_LAYER_KEYS))
    for pol in data["policies"]:
        for layer in pol["layers"]:
            writer.writerow((pol["policy"], *(layer[k] for k in CSV_LAYER_KEYS)))
    return out.getvalue()


def format_table(report: Report, layers: bool = False) -> str:
    """The policy comparison first, then per GEMM kind for each protected policy (all layers
    of a kind summed: the blocks of a ViT aggregate), or every layer of every policy (`layers`)."""
    hw, wl = report.hw, report.workload
    arr = hw["array"]
    base, run = report.baseline, report.run
    faults = run.get("faults", {})
    lines = [
        f"{wl['name']} ({len(wl['gemms'])} GEMMs, {wl['macs'] / 1e9:.3f} GMAC) on {hw['name']} "
        f"({arr['rows']}x{arr['cols']} {arr['dataflow'].upper()} {arr['datatype']}, {hw['clock_ghz']} GHz)",
        f"baseline (none, fault-free): {base.cycles:,} cycles, {base.latency_s * 1e3:.3f} ms, "
        f"{base.energy_pj / 1e6:.1f} uJ",
        f"faults: {faults.get('kind', 'transient')}, ber {faults.get('ber', 0):g}, sites "
        f"{','.join(faults.get('sites', ()))}, seed {run.get('seed', 0)}",
        _dram_line(report),
        "",
        *_comparison(report),
    ]
    if layers:
        for pol in report.policies:
            lines += [
                "",
                f"layers under policy {pol.policy}:",
                *_rows(LAYER_HEADER, [_layer_cells(x) for x in pol.layers]),
            ]
    else:
        for pol in report.policies:
            if pol.policy != "none":
                kinds = [_kind_cells(kind, group) for kind, group in _by_kind(pol.layers)]
                lines += ["", f"per GEMM kind under policy {pol.policy} (--layers for every layer):"]
                lines += _rows(KIND_HEADER, kinds)
    return "\n".join(lines) + "\n"


COMPARISON_HEADER = (
    ("policy", "<12"), ("cycles", ">13"), ("lat ovh %", ">10"), ("energy uJ", ">11"), ("en ovh %", ">9"),
    ("recomp MACs", ">15"), ("faults", ">8"), ("masked", ">7"), ("detect", ">7"), ("corr", ">6"), ("recomp", ">7"),
    ("toler", ">6"), ("escaped", ">8"), ("bad out", ">8"), ("max rel", ">9"),
)  # fmt: skip
_CYCLE_COLUMNS = (
    ("folds", ">8"), ("compute", ">12"), ("mem stall", ">11"), ("wb stall", ">10"), ("chk stall", ">10"),
    ("recompute", ">11"), ("total", ">12"), ("energy uJ", ">11"), ("DRAM MB", ">9"), ("/compul", ">8"),
    ("faults", ">8"), ("escaped", ">8"),
)  # fmt: skip
LAYER_HEADER = (("layer", "<16"), ("M", ">6"), ("K", ">6"), ("N", ">6"), ("count", ">6"), *_CYCLE_COLUMNS)
KIND_HEADER = (("kind", "<12"), ("GEMMs", ">6"), ("GMAC", ">9"), *_CYCLE_COLUMNS)


def _dram_line(report: Report) -> str:
    """DRAM bytes of the first policy against the compulsory bytes (A and B read once, C written once)."""
    first = report.policies[0]
    dram_bytes = sum(layer.dram_bytes for layer in first.layers)
    compulsory_bytes = sum(layer.compulsory_dram_bytes for layer in first.layers)
    return (
        f"DRAM traffic under {first.policy}: {dram_bytes / 1e6:,.1f} MB, compulsory {compulsory_bytes / 1e6:,.1f} MB "
        f"({dram_bytes / max(compulsory_bytes, 1):.2f}x; mapping {report.hw.get('mapping', {}).get('policy', '?')})"
    )


def _comparison(report: Report) -> list[str]:
    rows = []
    for pol in report.policies:
        d = pol.to_dict(report.baseline)
        rows.append((pol.policy, f"{pol.cycles:,}", f"{d['latency_overhead_pct']:.3f}", f"{pol.energy_pj / 1e6:.1f}",
                     f"{d['energy_overhead_pct']:.3f}", f"{d['recomputed_macs']:,}", d["faults_injected"],
                     d.get("masked", 0), d["detected"], d["corrected"], d.get("recomputed", 0), d.get("tolerated", 0),
                     d["escaped"], d.get("corrupted_outputs", 0), f"{d.get('max_rel_error', 0.0):.3g}"))  # fmt: skip
    return _rows(COMPARISON_HEADER, rows)


def _by_kind(layers: Sequence[LayerReport]) -> list[tuple[str, list[LayerReport]]]:
    groups: dict[str, list[LayerReport]] = {}
    for layer in layers:
        groups.setdefault(layer.kind, []).append(layer)
    rank = {kind: i for i, kind in enumerate(GEMM_KINDS)}
    return sorted(groups.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _cycle_cells(layers: Sequence[LayerReport]) -> tuple[Any, ...]:
    def total(attr: str) -> int:
        return sum(getattr(x, attr) for x in layers)

    def outcome(key: str) -> int:
        return sum(int(x.outcomes.get(key, 0)) for x in layers)

    energy_uj = sum(x.energy_pj for x in layers) / 1e6
    dram_bytes, compulsory_bytes = total("dram_bytes"), total("compulsory_dram_bytes")
    return (
        f"{total('folds'):,}", f"{total('compute_cycles'):,}", f"{total('memory_stall_cycles'):,}",
        f"{total('writeback_stall_cycles'):,}", f"{total('checksum_stall_cycles'):,}",
        f"{total('recompute_cycles'):,}", f"{total('total_cycles'):,}",
        f"{energy_uj:.2f}", f"{dram_bytes / 1e6:.2f}", f"{dram_bytes / max(compulsory_bytes, 1):.2f}",
        f"{outcome('faults_injected'):,}", f"{outcome('escaped'):,}",
    )  # fmt: skip


def _layer_cells(layer: LayerReport) -> tuple[Any, ...]:
    return (layer.name, layer.m, layer.k, layer.n, layer.count, *_cycle_cells([layer]))


def _kind_cells(kind: str, layers: Sequence[LayerReport]) -> tuple[Any, ...]:
    macs = sum(x.m * x.k * x.n * x.count for x in layers)
    return (kind, len(layers), f"{macs / 1e9:.3f}", *_cycle_cells(layers))


def _rows(header: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A header, a rule and one line per row, each cell formatted by its column's alignment."""
    title = "".join(f"{name:{spec}}" for name, spec in header)
    return [
        title,
        "-" * len(title),
        *("".join(f"{cell!s:{spec}}" for cell, (_, spec) in zip(row, header, strict=True)) for row in rows),
    ]
