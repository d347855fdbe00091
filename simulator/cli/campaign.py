"""`abftsim sweep`, `export` and `plot`: Monte-Carlo campaigns into a result store, and their figures."""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from simulator.cli.common import EXIT_INTERRUPTED, EXIT_OK, announce_kernel_compile, parse_cycles, progress_bar
from simulator.cli.outputs import STDOUT, check_output_dir, check_outputs, write_output
from simulator.cli.parquet import is_parquet, parquet_bytes, require_pyarrow
from simulator.cli.tables import format_sweep_summary
from simulator.errors import ConfigError
from simulator.metrics.stats import check_confidence

ORDER = 20  # place in `abftsim --help`
MIN_DPI, MAX_DPI = 10, 1200  # 1200 dpi: print quality; a 6x4 in figure is then 7200x4800 pixels
PLOT_KINDS = ("overhead_vs_ber", "layer_breakdown", "pareto", "timeline")


def register(sub: Any) -> None:
    sw = sub.add_parser("sweep", help="run (or resume) a sweep of Monte-Carlo trials into an SQLite store")
    sw.add_argument("sweep", metavar="SWEEP", help="sweep YAML path or bundled sweep name (paper_ber, dse_array)")
    sw.add_argument("--db", metavar="PATH", help="result store (default: NAME.db in the working directory)")
    sw.add_argument("--workers", type=int, default=None, help=f"local worker processes (default {os.cpu_count()})")
    sw.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on a Dask cluster (needs abftsim[dask])")
    sw.add_argument("--trials", type=int, default=None, help="trials per faulty point (overrides the file)")
    sw.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    sw.add_argument("--summary-csv", metavar="PATH", help="write per-point means and intervals to PATH")
    sw.add_argument("--summary-json", metavar="PATH", help="the same summary as JSON ('-' for stdout)")
    sw.add_argument(
        "--fault-log", action="store_true",
        help="store every trial's per-fault records in the result store (`abftsim export --faults`)",
    )  # fmt: skip
    sw.add_argument("--dry-run", action="store_true", help="list the points and trial counts; run nothing")
    sw.add_argument("--quiet", action="store_true", help="no progress bar, no summary table")
    sw.set_defaults(handler=_cmd_sweep)

    ex = sub.add_parser("export", help="export a sweep's result store to CSV or JSON")
    ex.add_argument("db", metavar="DB", help="result store written by `abftsim sweep`")
    ex.add_argument("--csv", metavar="PATH", help="output CSV ('-' for stdout)")
    ex.add_argument("--json", metavar="PATH", help="output JSON ('-' for stdout)")
    ex.add_argument(
        "--faults",
        metavar="PATH",
        help="one CSV row per stored fault record (sweeps run with --fault-log; Parquet if PATH ends in .parquet)",
    )
    ex.add_argument("--summary", action="store_true", help="one row per point and policy with intervals")
    ex.add_argument("--confidence", type=float, default=0.95, help="confidence level (with --summary)")
    ex.set_defaults(handler=_cmd_export)

    pl = sub.add_parser("plot", help="figures (PNG and SVG) from a result store or a run's Chrome trace")
    pl.add_argument("source", metavar="DB|TRACE", help="result store, or a trace JSON (--kind timeline)")
    pl.add_argument("--kind", choices=PLOT_KINDS, required=True, help="which figure")
    pl.add_argument("--out", metavar="DIR", default="plots", help="output folder (default plots)")
    pl.add_argument("--name", metavar="STEM", help="file name stem (default: SOURCE stem + kind)")
    pl.add_argument("--policy", metavar="NAME", help="pareto: the protecting policy (default: first not `none`)")
    pl.add_argument("--point", type=int, default=None, help="layer_breakdown: point index (default: the last)")
    pl.add_argument("--cycles", metavar="START:END", help="timeline: window in cycles (default: the whole run)")
    pl.add_argument("--confidence", type=float, default=0.95, help="confidence level of the bands")
    pl.add_argument("--dpi", type=int, default=100, help="PNG resolution (default 100)")
    pl.add_argument("--quiet", action="store_true", help="do not list the files written")
    pl.set_defaults(handler=_cmd_plot)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from simulator.campaign.export import export_csv, export_json
    from simulator.campaign.plan import plan_sweep
    from simulator.campaign.spec import load_sweep
    from simulator.campaign.store import ResultStore
    from simulator.campaign.summary import summarize
    from simulator.campaign.sweep import run_sweep
    from simulator.campaign.trial import run_trial, run_trial_with_fault_log
    from simulator.executors import make_executor

    confidence = check_confidence(args.confidence)
    spec, path = load_sweep(args.sweep)
    plan = plan_sweep(spec, path, args.trials)
    if args.dry_run:
        for p in plan.points:
            print(f"{p.index:>5}  trials {p.trials:>4}  seed index {p.seed_index:>4}  {p.label}")
        print(f"{len(plan.points)} points, {plan.total_trials} trials")
        return EXIT_OK
    db = Path(args.db) if args.db else Path(f"{plan.name}.db")
    check_outputs({"--db": db}, (path,))
    check_outputs({"--summary-csv": args.summary_csv, "--summary-json": args.summary_json}, (path, db))
    executor = make_executor(args.workers, args.scheduler)  # a bad --scheduler fails before the store exists
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(executor.close)
        store = cleanup.enter_context(ResultStore.for_sweep(db, plan))  # locked: one sweep per store
        remaining = plan.total_trials - len(store.done())
        if remaining:
            announce_kernel_compile(args.quiet)
        if not args.quiet:
            print(f"sweep {plan.name}: {len(plan.points)} points, {plan.total_trials} trials, {remaining} to run "
                  f"on {executor.description} -> {db}", file=sys.stderr)  # fmt: skip
        try:
            with progress_bar(remaining, "trials", args.quiet) as bar:
                runner = run_trial_with_fault_log if args.fault_log else run_trial
                run_sweep(plan, store, executor, runner=runner, progress=lambda _: bar.update(1))
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (cli.Terminated)
            signum = getattr(exc, "signum", None)
            what = "interrupted" if signum is None else f"stopped by signal {signal.Signals(signum).name}"
            print(f"abftsim: {what}; finished trials are in {db}; run the same command to resume", file=sys.stderr)
            return EXIT_INTERRUPTED if signum is None else 128 + signum
        with store.interpreting():
            if args.summary_csv:
                write_output(args.summary_csv, export_csv(store, summary=True, confidence=confidence))
            if args.summary_json:
                write_output(args.summary_json, export_json(store, summary=True, confidence=confidence))
            if not args.quiet and STDOUT not in (args.summary_csv, args.summary_json):
                summaries = summarize(store.points(), store.trials(), confidence)
                sys.stdout.write(format_sweep_summary(summaries, confidence))
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from simulator.campaign.export import FAULT_TYPES, export_csv, export_faults_csv, export_json, fault_table
    from simulator.campaign.store import ResultStore

    confidence = check_confidence(args.confidence)
    if not (args.csv or args.json or args.faults):
        raise ConfigError("export: give --csv PATH, --json PATH and/or --faults PATH ('-' for stdout)")
    check_outputs({"--csv": args.csv, "--json": args.json, "--faults": args.faults}, (args.db,))
    require_pyarrow("--faults", args.faults)
    with ResultStore.read(args.db) as store, store.interpreting():
        texts: list[tuple[str, str | bytes]] = [
            (target, make(store, summary=args.summary, confidence=confidence))
            for target, make in ((args.csv, export_csv), (args.json, export_json))
            if target
        ]
        if args.faults:
            if is_parquet(args.faults):
                columns, rows, missing = fault_table(store)
                texts.append((args.faults, parquet_bytes(columns, rows, FAULT_TYPES)))
            else:
                faults_text, missing = export_faults_csv(store)
                texts.append((args.faults, faults_text))
            if missing:
                print(f"abftsim: {missing} stored trial(s) kept no fault log (run with `sweep --fault-log`)",
                      file=sys.stderr)  # fmt: skip
    for target, text in texts:
        write_output(target, text)
    return EXIT_OK


def _cmd_plot(args: argparse.Namespace) -> int:
    from simulator.viz.figures import make_figure, render

    source = Path(args.source)
    confidence = check_confidence(args.confidence)
    if not MIN_DPI <= args.dpi <= MAX_DPI:
        raise ConfigError(f"--dpi: must be in [{MIN_DPI}, {MAX_DPI}], got {args.dpi}")
    check_output_dir("--out", args.out)
    if args.kind == "timeline":
        try:
            opener = gzip.open if source.name.endswith(".gz") else open  # --trace PATH.gz writes gzip
            with opener(source, "rt", encoding="utf-8") as fh:
                trace = json.load(fh)
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{source}: not a Chrome trace JSON file: {exc}") from None
        figure = make_figure("timeline", trace=trace, source=str(source), cycles=parse_cycles(args.cycles))
    else:
        from simulator.campaign.store import ResultStore
        from simulator.campaign.summary import summarize

        with ResultStore.read(source) as store, store.interpreting():
            summaries = summarize(store.points(), store.trials(), confidence)
            figure = make_figure(args.kind, summaries=summaries, source=str(source), policy=args.policy,
                                 point=args.point, confidence=confidence)  # fmt: skip
    stem = args.name or f"{source.stem}_{args.kind}"
    for fmt in ("png", "svg"):
        path = Path(args.out) / f"{stem}.{fmt}"
        write_output(path, render(figure, fmt, args.dpi))
        if not args.quiet:
            print(path)
    return EXIT_OK
