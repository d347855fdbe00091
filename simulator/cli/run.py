"""`abftsim run` and `abftsim list`: one workload on one hardware config under ABFT policies."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from typing import Any

from simulator import api
from simulator.abft.registry import policy_names
from simulator.cli.common import EXIT_OK, add_hw_options, announce_kernel_compile, parse_cycles, progress_bar
from simulator.cli.outputs import STDOUT, check_outputs, write_output, write_text_stream
from simulator.cli.parquet import is_parquet, parquet_bytes, require_pyarrow
from simulator.cli.tables import format_table, to_csv, to_json
from simulator.config.fault_spec import explicit_fields
from simulator.config.loader import (
    DEFAULT_WORKLOAD,
    HW_DIR_NAME,
    SWEEP_DIR_NAME,
    WORKLOAD_DIR_NAME,
    bundled_names,
    load_abft,
    load_fault_spec,
    load_workload,
)
from simulator.engine.chrome_trace import chrome_trace_chunks
from simulator.errors import ConfigError
from simulator.metrics.report import Report
from simulator.workload.kinds import GEMM_KINDS

ORDER = 10  # place in `abftsim --help`
DEFAULT_BER = 1e-9  # the middle of the seed paper's BER sweep (1e-11 to 1e-7)


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="simulate a workload on a hardware config under ABFT policies")
    add_hw_options(run)
    run.add_argument(
        "--workload", default=DEFAULT_WORKLOAD,
        help=f"bundled name, YAML path or ONNX model (.onnx) (default {DEFAULT_WORKLOAD})",
    )  # fmt: skip
    run.add_argument("--batch", type=int, metavar="N", help="batch size of a preset or of an ONNX model's batch axis")
    run.add_argument(
        "--policy",
        dest="policies",
        action="append",
        metavar="NAME",
        help=f"ABFT policy (repeatable; default: all of {', '.join(policy_names())})",
    )
    run.add_argument(
        "--ber", type=float, default=None,
        help=f"bit error rate per bit of a site's word per MAC (default {DEFAULT_BER:g}; 0 = no faults)",
    )  # fmt: skip
    run.add_argument(
        "--sites", metavar="LIST",
        help="fault sites, comma-separated: acc,mult,a_reg,b_reg,chk_pred,chk_sum,chk_cmp (default: these), "
        "sram_a,sram_b,sram_c,drain,chk_enc (opt-in)",
    )  # fmt: skip
    run.add_argument(
        "--mbu-fraction", type=float, default=None, metavar="F",
        help="fraction of upsets that flip 2-4 adjacent bits of one word (default 0)",
    )  # fmt: skip
    run.add_argument("--kind", choices=("transient", "permanent"), help="fault kind (default transient)")
    run.add_argument("--seed", type=int, default=None, help="root seed of every random draw (default 0)")
    run.add_argument("--faults", metavar="PATH", help="fault spec YAML (ber, sites, kind, bits, gemms, kinds, seed)")
    run.add_argument(
        "--fault", dest="explicit", action="append", metavar="K=V,...",
        help="inject this fault (repeatable; replaces the file's `explicit` list; --ber defaults to 0): "
        "gemm=NAME,instance=I,fold=F,row=R,col=C,cycle=T,site=S,bit=B[,kind=transient] (a PE register), "
        "row=R,col=C,site=S,bit=B,kind=stuck0|stuck1 (a stuck-at bit), "
        "gemm=NAME,instance=I,fold=F,row=R|col=C[,block=K][,step=S],site=chk_pred|chk_sum|chk_cmp,bit=B "
        "(a checksum word), gemm=NAME,instance=I,fold=F,row=R|col=C[,step=K],site=chk_enc,bit=B "
        "(the e^T A / B e encoder add bringing in row R / column C at K step K), "
        "gemm=NAME,instance=I,row=R,col=C,[fold=F,]cycle=T,site=sram_a|sram_b,bit=B "
        "(a stored operand element; cycle of the instance, or after fold F starts), "
        "gemm=NAME,instance=I,row=R,col=C,[fold=F,]cycle=T,site=sram_c,bit=B (the C word of output R,C), "
        "gemm=NAME,instance=I,row=R,col=C,[fold=F,][step=S,]site=drain,bit=B (output R,C in the drain registers "
        "as fold F drains it, at drain cycle S)",
    )  # fmt: skip
    run.add_argument("--abft", metavar="PATH", help="ABFT options YAML (thresholds per GEMM kind, blocking)")
    run.add_argument(
        "--trace",
        metavar="PATH",
        help="write the engine timeline (Chrome trace JSON, first policy; gzip if PATH ends in .gz)",
    )
    run.add_argument("--trace-cycles", metavar="START:END",
                     help="trace only spans overlapping this cycle window, every fold in it on its own")  # fmt: skip
    run.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    run.add_argument("--csv", metavar="PATH", help="write one row per policy and layer to PATH ('-' for stdout)")
    run.add_argument(
        "--fault-log", metavar="PATH",
        help="write one CSV row per injected fault and policy: where, the pass, fate, outputs corrupted, error left "
        "(Parquet if PATH ends in .parquet: needs the `parquet` extra, pyarrow)",
    )  # fmt: skip
    run.add_argument("--layers", action="store_true", help="every layer of every policy instead of per-kind totals")
    run.add_argument("--quiet", action="store_true", help="no table on stdout")
    run.set_defaults(handler=cmd_run)

    lst = sub.add_parser("list", help="bundled hardware configs, workloads, policies and sweeps")
    lst.set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    print("hardware:  " + " ".join(bundled_names(HW_DIR_NAME)))
    print("workloads: " + " ".join(bundled_names(WORKLOAD_DIR_NAME)) + " (or any .onnx model)")
    print("kinds:     " + " ".join(GEMM_KINDS) + " (GEMM kinds, for faults.kinds and abft.thresholds)")
    print("policies:  " + " ".join(policy_names()))
    print("sweeps:    " + " ".join(bundled_names(SWEEP_DIR_NAME)))
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    outputs = {"--trace": args.trace, "--json": args.json, "--csv": args.csv, "--fault-log": args.fault_log}
    check_outputs(outputs, (args.hw, args.workload, args.faults, args.abft))
    require_pyarrow("--fault-log", args.fault_log)
    policies = args.policies or policy_names()
    cli_faults: dict[str, Any] = {"ber": args.ber, "sites": args.sites, "kind": args.kind, "seed": args.seed,
                                  "mbu_fraction": args.mbu_fraction}  # fmt: skip
    if args.explicit:
        try:
            cli_faults["explicit"] = [explicit_fields(text) for text in args.explicit]
        except ValueError as exc:
            raise ConfigError(f"--fault: {exc}") from None
    if args.faults is None and args.ber is None:
        cli_faults["ber"] = 0.0 if args.explicit else DEFAULT_BER
    spec = load_fault_spec(args.faults, cli_faults)
    abft = load_abft(args.abft)
    workload = load_workload(args.workload, batch=args.batch)
    window = parse_cycles(args.trace_cycles, "trace_cycles")
    if window is not None and not args.trace:
        raise ConfigError("needs --trace PATH", argument="trace_cycles")
    if spec.injects:
        announce_kernel_compile(args.quiet)
    with progress_bar(len(policies), "policies", args.quiet) as bar:
        report = api.run(args.hw, workload, policies, spec, abft=abft, overrides=args.overrides,
                         trace=policies[0] if args.trace else None, trace_window=window,
                         fault_log=bool(args.fault_log),
                         progress=lambda name: bar.update(1))  # fmt: skip
    data = report.to_dict()
    if args.trace:
        first = report.policies[0]
        chunks = chrome_trace_chunks(first.trace or (), report.baseline.clock_hz, window=window)
        write_text_stream(args.trace, chunks, compress=str(args.trace).endswith(".gz"))
    if args.json:
        write_output(args.json, to_json(data))
    if args.csv:
        write_output(args.csv, to_csv(data))
    if args.fault_log:
        write_output(args.fault_log, fault_log_parquet(report) if is_parquet(args.fault_log) else fault_log_csv(report))
    if not args.quiet and STDOUT not in outputs.values():
        sys.stdout.write(format_table(report, layers=args.layers))
    return EXIT_OK


FAULT_LOG_KEYS = api.FAULT_LOG_KEYS


def fault_log_parquet(report: Report) -> bytes:
    """fault_log_csv's rows and columns as a Parquet file, typed (api.FAULT_LOG_TYPES)."""
    rows = [{"policy": p.policy, **record} for p in report.policies for record in p.fault_log or ()]
    return parquet_bytes(("policy", *FAULT_LOG_KEYS), rows, api.FAULT_LOG_TYPES)


def fault_log_csv(report: Report) -> str:
    """One row per (policy, injected fault), policies in the report's order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("policy", *FAULT_LOG_KEYS))
    for p in report.policies:
        for record in p.fault_log or ():
            writer.writerow((p.policy, *(record[k] for k in FAULT_LOG_KEYS)))
    return out.getvalue()
