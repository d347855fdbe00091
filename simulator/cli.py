"""Command line `abftsim`: the only module that prints, writes files or sets exit codes."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from simulator import api
from simulator.abft.registry import policy_names
from simulator.config.loader import (
    DEFAULT_HW,
    DEFAULT_WORKLOAD,
    HW_DIR_NAME,
    WORKLOAD_DIR_NAME,
    ConfigError,
    bundled_names,
)
from simulator.metrics.report import Report

EXIT_OK, EXIT_BAD_INPUT = 0, 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="abftsim", description="Systolic-array ABFT simulator for ViT GEMM workloads.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="simulate a workload on a hardware config under ABFT policies")
    run.add_argument("--hw", default=DEFAULT_HW, help=f"bundled name or YAML path (default {DEFAULT_HW})")
    run.add_argument(
        "--workload", default=DEFAULT_WORKLOAD, help=f"bundled name or YAML path (default {DEFAULT_WORKLOAD})"
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hardware key by its dotted path, e.g. --set array.rows=64 (repeatable)",
    )
    run.add_argument(
        "--policy",
        dest="policies",
        action="append",
        metavar="NAME",
        help=f"ABFT policy (repeatable; default: all of {', '.join(policy_names())})",
    )
    run.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    run.add_argument("--csv", metavar="PATH", help="write one row per policy and layer to PATH")
    run.add_argument("--quiet", action="store_true", help="no table on stdout")
    run.set_defaults(handler=_cmd_run)

    lst = sub.add_parser("list", help="bundled hardware configs, workloads and policies")
    lst.set_defaults(handler=_cmd_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigError as exc:
        print(f"abftsim: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _cmd_list(args: argparse.Namespace) -> int:
    print("hardware:  " + " ".join(bundled_names(HW_DIR_NAME)))
    print("workloads: " + " ".join(bundled_names(WORKLOAD_DIR_NAME)))
    print("policies:  " + " ".join(policy_names()))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    policies = args.policies or policy_names()
    report = api.run(args.hw, args.workload, policies, overrides=args.overrides)
    data = report.to_dict()
    if args.json == "-":
        sys.stdout.write(to_json(data))
    elif args.json:
        write_atomic(Path(args.json), to_json(data))
    if args.csv:
        write_atomic(Path(args.csv), to_csv(data))
    if not args.quiet and args.json != "-":
        sys.stdout.write(format_table(report))
    return EXIT_OK


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


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a failed run never leaves a partial file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


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
    header = f"{'layer':<16}{'M':>6}{'K':>6}{'N':>6}{'count':>6}{'folds':>8}{'compute':>12}{'stall':>11}{'total':>12}{'energy uJ':>11}"
    lines += [f"layers under policy {first.policy}:", header, "-" * len(header)]
    for layer in first.layers:
        lines.append(
            f"{layer.name:<16}{layer.m:>6}{layer.k:>6}{layer.n:>6}{layer.count:>6}{layer.folds:>8}"
            f"{layer.compute_cycles:>12,}{layer.stall_cycles:>11,}{layer.total_cycles:>12,}{layer.energy_pj / 1e6:>11.2f}"
        )
    base = report.baseline
    lines += ["", f"baseline (none, fault-free): {base.cycles:,} cycles, {base.latency_s * 1e3:.3f} ms, {base.energy_pj / 1e6:.1f} uJ", ""]
    summary = f"{'policy':<14}{'cycles':>14}{'latency ms':>12}{'energy uJ':>12}{'lat ovh %':>11}{'en ovh %':>10}"
    lines += [summary, "-" * len(summary)]
    for pol in report.policies:
        d = pol.to_dict(base)
        lines.append(
            f"{pol.policy:<14}{pol.cycles:>14,}{pol.latency_s * 1e3:>12.3f}{pol.energy_pj / 1e6:>12.1f}"
            f"{d['latency_overhead_pct']:>11.2f}{d['energy_overhead_pct']:>10.2f}"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
