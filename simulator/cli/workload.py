"""`abftsim workload import` and `abftsim workload show`: ONNX models as workloads, any workload's GEMMs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simulator.cli.common import EXIT_OK, Parser
from simulator.cli.outputs import check_outputs, write_output
from simulator.config.loader import load_workload
from simulator.config.workload_yaml import import_comments, workload_yaml
from simulator.errors import ConfigError
from simulator.workload.workload import Workload

ORDER = 15  # place in `abftsim --help`: after run and list


def register(sub: Any) -> None:
    wl = sub.add_parser("workload", help="import an ONNX model as a workload; show a workload's GEMMs")
    wl_sub = wl.add_subparsers(dest="workload_command", required=True, parser_class=Parser)
    imp = wl_sub.add_parser("import", help="ONNX model -> workload YAML (a GEMM list with names and kinds)")
    imp.add_argument("model", help="ONNX model file (.onnx); its weights are not read")
    imp.add_argument("-o", "--out", metavar="PATH", help="write the YAML to PATH (default: stdout)")
    imp.add_argument("--name", help="workload name (default: the model file's stem)")
    show = wl_sub.add_parser("show", help="a workload's GEMMs, kinds and MACs as a table")
    show.add_argument("workload", help="bundled name, YAML path or ONNX model")
    for p in (imp, show):
        p.add_argument("--batch", type=int, metavar="N", help="batch size (a preset's, or an ONNX model's batch axis)")
        p.add_argument("--dim", dest="dims", action="append", default=[], metavar="NAME=SIZE",
                       help="size of a named symbolic input dimension of an ONNX model (repeatable)")  # fmt: skip
    imp.set_defaults(handler=cmd_import)
    show.set_defaults(handler=cmd_show)


def parse_dims(items: Sequence[str]) -> dict[str, int]:
    """`--dim NAME=SIZE` values as a mapping."""
    dims = {}
    for item in items:
        name, _, size = item.partition("=")
        if not name.strip() or not size.strip().isdigit() or int(size) <= 0:
            raise ConfigError(f"--dim {item}: expected NAME=SIZE with a positive integer size")
        dims[name.strip()] = int(size)
    return dims


def cmd_import(args: argparse.Namespace) -> int:
    model = Path(args.model)
    if model.suffix != ".onnx":
        raise ConfigError(f"{model}: expected an ONNX model (.onnx)")
    check_outputs({"--out": args.out}, (model,))
    wl = load_workload(model, batch=args.batch, dims=parse_dims(args.dims))
    if args.name:
        wl = Workload(args.name, wl.gemms)
    text = workload_yaml(wl, import_comments(wl, model.name))
    if args.out:
        write_output(args.out, text)
        print(f"abftsim: wrote {args.out}: {len(wl.gemms)} GEMMs, {wl.macs / 1e9:.3f} GMAC", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    wl = load_workload(args.workload, batch=args.batch, dims=parse_dims(args.dims))
    width = max(4, *(len(g.name) for g in wl.gemms))
    header = f"{'GEMM':<{width}}  {'kind':<11} {'M':>8} {'K':>7} {'N':>7} {'count':>6} {'MACs':>16}"
    lines = [f"{wl.name}: {len(wl.gemms)} GEMMs, {wl.macs:,} MACs ({wl.macs / 1e9:.3f} G)", "", header]
    lines.append("-" * len(header))
    for g in wl.gemms:
        lines.append(f"{g.name:<{width}}  {g.kind:<11} {g.m:>8} {g.k:>7} {g.n:>7} {g.count:>6} {g.macs:>16,}")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK
