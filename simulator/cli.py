"""Command line `abftsim`: the only module that prints, writes files or sets exit codes."""

from __future__ import annotations

import argparse
import contextlib
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
    SWEEP_DIR_NAME,
    WORKLOAD_DIR_NAME,
    bundled_names,
    load_abft,
    load_fault_spec,
)
from simulator.engine.chrome_trace import chrome_trace
from simulator.errors import ConfigError
from simulator.metrics.report import Report

DEFAULT_BER = 1e-9  # the middle of the seed paper's BER sweep (1e-11 to 1e-7)

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
    run.add_argument(
        "--ber", type=float, default=None,
        help=f"bit error rate per bit of a site's word per MAC (default {DEFAULT_BER:g}; 0 = no faults)",
    )  # fmt: skip
    run.add_argument("--sites", metavar="LIST", help="fault sites, comma-separated: acc,mult,a_reg,b_reg (default all)")
    run.add_argument("--kind", choices=("transient", "permanent"), help="fault kind (default transient)")
    run.add_argument("--seed", type=int, default=None, help="root seed of every random draw (default 0)")
    run.add_argument("--faults", metavar="PATH", help="fault spec YAML (ber, sites, kind, bits, gemms, kinds, seed)")
    run.add_argument("--abft", metavar="PATH", help="ABFT options YAML (thresholds per GEMM kind, blocking)")
    run.add_argument("--trace", metavar="PATH", help="write the engine timeline (Chrome trace JSON, first policy)")
    run.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    run.add_argument("--csv", metavar="PATH", help="write one row per policy and layer to PATH")
    run.add_argument("--quiet", action="store_true", help="no table on stdout")
    run.set_defaults(handler=_cmd_run)

    lst = sub.add_parser("list", help="bundled hardware configs, workloads, policies and sweeps")
    lst.set_defaults(handler=_cmd_list)
    _add_model_commands(sub)
    _add_campaign_parsers(sub)
    _add_reliability_parser(sub)
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
    print("sweeps:    " + " ".join(bundled_names(SWEEP_DIR_NAME)))
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    policies = args.policies or policy_names()
    cli_faults = {"ber": args.ber, "sites": args.sites, "kind": args.kind, "seed": args.seed}
    if args.faults is None and args.ber is None:
        cli_faults["ber"] = DEFAULT_BER
    spec = load_fault_spec(args.faults, cli_faults)
    abft = load_abft(args.abft)
    with progress_bar(len(policies), "policies", args.quiet) as bar:
        report = api.run(args.hw, args.workload, policies, spec, abft=abft, overrides=args.overrides,
                         trace=policies[0] if args.trace else None,
                         progress=lambda name: bar.update(1))  # fmt: skip
    data = report.to_dict()
    if args.trace:
        first = report.policies[0]
        write_atomic(Path(args.trace), json.dumps(chrome_trace(first.trace or (), report.baseline.clock_hz)) + "\n")
    if args.json == "-":
        sys.stdout.write(to_json(data))
    elif args.json:
        write_atomic(Path(args.json), to_json(data))
    if args.csv:
        write_atomic(Path(args.csv), to_csv(data))
    if not args.quiet and args.json != "-":
        sys.stdout.write(format_table(report))
    return EXIT_OK


@contextlib.contextmanager
def progress_bar(total: int, unit: str, quiet: bool):
    """A tqdm bar on stderr, or a silent stand-in when quiet or stderr is not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield _NoBar()
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, file=sys.stderr, leave=False) as bar:
        yield bar


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


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


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write text (UTF-8) or bytes via a temporary file and rename, so a failed run never leaves
    a partial file; the file gets the usual mode (mkstemp would leave it 0600)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        f"{'chk stall':>10}{'recompute':>11}{'total':>12}{'energy uJ':>11}"
    )
    lines += [f"layers under policy {first.policy}:", header, "-" * len(header)]
    for layer in first.layers:
        lines.append(
            f"{layer.name:<16}{layer.m:>6}{layer.k:>6}{layer.n:>6}{layer.count:>6}{layer.folds:>8}"
            f"{layer.compute_cycles:>12,}{layer.memory_stall_cycles:>11,}{layer.checksum_stall_cycles:>10,}"
            f"{layer.recompute_cycles:>11,}{layer.total_cycles:>12,}{layer.energy_pj / 1e6:>11.2f}"
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


# ---- campaigns: sweep, export, plot -------------------------------------------------------------

PLOT_KINDS = ("overhead_vs_ber", "layer_breakdown", "pareto", "timeline")
EXIT_INTERRUPTED = 130


def _add_campaign_parsers(sub: Any) -> None:
    sw = sub.add_parser("sweep", help="run (or resume) a sweep of Monte-Carlo trials into an SQLite store")
    sw.add_argument("sweep", metavar="SWEEP", help="sweep YAML path or bundled sweep name (paper_ber, dse_array)")
    sw.add_argument("--db", metavar="PATH", help="result store (default: NAME.db in the working directory)")
    sw.add_argument("--workers", type=int, default=None, help=f"local worker processes (default {os.cpu_count()})")
    sw.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on a Dask cluster (needs abftsim[dask])")
    sw.add_argument("--trials", type=int, default=None, help="trials per faulty point (overrides the file)")
    sw.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    sw.add_argument("--summary-csv", metavar="PATH", help="write per-point means and intervals to PATH")
    sw.add_argument("--dry-run", action="store_true", help="list the points and trial counts; run nothing")
    sw.add_argument("--quiet", action="store_true", help="no progress bar, no summary table")
    sw.set_defaults(handler=_cmd_sweep)

    ex = sub.add_parser("export", help="export a sweep's result store to CSV")
    ex.add_argument("db", metavar="DB", help="result store written by `abftsim sweep`")
    ex.add_argument("--csv", metavar="PATH", required=True, help="output CSV ('-' for stdout)")
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


def _check_confidence(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"--confidence: must be in (0, 1), got {value}")
    return value


def _cmd_sweep(args: argparse.Namespace) -> int:
    from simulator.campaign.export import export_csv
    from simulator.campaign.plan import plan_sweep
    from simulator.campaign.spec import load_sweep
    from simulator.campaign.store import ResultStore
    from simulator.campaign.summary import format_summary, summarize
    from simulator.campaign.sweep import run_sweep
    from simulator.executors import make_executor

    confidence = _check_confidence(args.confidence)
    spec, path = load_sweep(args.sweep)
    plan = plan_sweep(spec, path, args.trials)
    if args.dry_run:
        for p in plan.points:
            print(f"{p.index:>5}  trials {p.trials:>4}  seed index {p.seed_index:>4}  {p.label}")
        print(f"{len(plan.points)} points, {plan.total_trials} trials")
        return EXIT_OK
    db = Path(args.db) if args.db else Path(f"{plan.name}.db")
    executor = make_executor(args.workers, args.scheduler)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(executor.close)
        store = cleanup.enter_context(ResultStore.for_sweep(db, plan))
        remaining = plan.total_trials - len(store.done())
        if not args.quiet:
            print(f"sweep {plan.name}: {len(plan.points)} points, {plan.total_trials} trials, {remaining} to run "
                  f"on {executor.description} -> {db}", file=sys.stderr)  # fmt: skip
        try:
            with progress_bar(remaining, "trials", args.quiet) as bar:
                run_sweep(plan, store, executor, progress=lambda _: bar.update(1))
        except KeyboardInterrupt:
            print(f"abftsim: interrupted; finished trials are in {db}; run the same command to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
        if args.summary_csv:
            write_atomic(Path(args.summary_csv), export_csv(store, summary=True, confidence=confidence))
        if not args.quiet:
            sys.stdout.write(format_summary(summarize(store.points(), store.trials(), confidence), confidence))
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from simulator.campaign.export import export_csv
    from simulator.campaign.store import ResultStore

    confidence = _check_confidence(args.confidence)
    with ResultStore.read(args.db) as store:
        text = export_csv(store, summary=args.summary, confidence=confidence)
    if args.csv == "-":
        sys.stdout.write(text)
    else:
        write_atomic(Path(args.csv), text)
    return EXIT_OK


def _parse_cycles(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    start, sep, end = text.partition(":")
    try:
        window = (float(start) if start else 0.0, float(end) if end else float("inf"))
    except ValueError:
        raise ConfigError(f"--cycles {text}: expected START:END in cycles") from None
    if not sep or window[1] <= window[0]:
        raise ConfigError(f"--cycles {text}: expected START:END with START < END")
    return window


def _cmd_plot(args: argparse.Namespace) -> int:
    from simulator.viz.figures import make_figure, render

    source = Path(args.source)
    confidence = _check_confidence(args.confidence)
    if args.dpi < 10:
        raise ConfigError(f"--dpi: must be >= 10, got {args.dpi}")
    if args.kind == "timeline":
        try:
            trace = json.loads(source.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{source}: cannot read: {exc}") from None
        except ValueError as exc:
            raise ConfigError(f"{source}: not a Chrome trace JSON file: {exc}") from None
        figure = make_figure("timeline", trace=trace, source=str(source), cycles=_parse_cycles(args.cycles))
    else:
        from simulator.campaign.store import ResultStore
        from simulator.campaign.summary import summarize

        with ResultStore.read(source) as store:
            summaries = summarize(store.points(), store.trials(), confidence)
        figure = make_figure(args.kind, summaries=summaries, source=str(source), policy=args.policy,
                             point=args.point, confidence=confidence)  # fmt: skip
    stem = args.name or f"{source.stem}_{args.kind}"
    for fmt in ("png", "svg"):
        path = Path(args.out) / f"{stem}.{fmt}"
        write_atomic(path, render(figure, fmt, args.dpi))
        if not args.quiet:
            print(path)
    return EXIT_OK


DEFAULT_ACCURACY_BERS = (1e-7, 5e-7, 1e-6, 2e-6)  # the digits ViT's range: from harmless to > 10 points lost
DEFAULT_CALIBRATION_BER = 2e-6


def _add_model_commands(sub: Any) -> None:
    """`accuracy` and `calibrate`: functional ViT inference through the faulty accelerator."""

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--hw", default=DEFAULT_HW, help=f"bundled name or YAML path (default {DEFAULT_HW})")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a hardware key, e.g. --set array.rows=8 (repeatable)")  # fmt: skip
        p.add_argument("--model", metavar="PATH", help="model bundle .npz (default: the bundled digits ViT)")
        p.add_argument("--sites", metavar="LIST", help="fault sites, comma-separated: acc,mult,a_reg,b_reg")
        p.add_argument("--faults", metavar="PATH", help="fault spec YAML (sites, kind, bits, kinds; ber and seed vary)")
        p.add_argument("--abft", metavar="PATH", help="ABFT options YAML (thresholds per GEMM kind, blocking)")
        p.add_argument(
            "--trials", type=int, default=3, help="Monte-Carlo trials per point (default 3; fault seed SEED + trial)"
        )
        p.add_argument("--seed", type=int, default=0, help="first fault seed (default 0)")
        p.add_argument("--limit", type=int, metavar="N", help="use only the first N images of each split")
        p.add_argument("--workers", type=int, default=1, help="worker processes for the evaluations (default 1)")
        p.add_argument("--json", metavar="PATH", help="write the JSON result to PATH ('-' for stdout)")
        p.add_argument("--quiet", action="store_true", help="no progress bar and no table on stdout")

    acc = sub.add_parser("accuracy", help="top-1 accuracy of the bundled digits ViT per ABFT policy and BER")
    common(acc)
    acc.add_argument("--policy", dest="policies", action="append", metavar="NAME",
                     help=f"ABFT policy (repeatable; default all of {', '.join(policy_names())})")  # fmt: skip
    acc.add_argument(
        "--ber",
        dest="bers",
        type=float,
        action="append",
        metavar="X",
        help=f"bit error rate (repeatable; default {' '.join(f'{b:g}' for b in DEFAULT_ACCURACY_BERS)})",
    )
    acc.add_argument("--split", choices=("test", "calibration"), default="test", help="held-out split (default test)")
    acc.add_argument(
        "--max-drop",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="largest accuracy drop (percentage points) a tolerable BER may cost (default 1)",
    )
    acc.add_argument("--plot", metavar="DIR", help="write accuracy_vs_ber and accuracy_vs_overhead (.png, .svg) to DIR")
    acc.set_defaults(handler=_cmd_accuracy)

    cal = sub.add_parser("calibrate", help="per-GEMM-kind approx_abft thresholds from model accuracy")
    common(cal)
    cal.add_argument(
        "--ber",
        dest="bers",
        type=float,
        action="append",
        metavar="X",
        help=f"calibration bit error rate (repeatable; default {DEFAULT_CALIBRATION_BER:g})",
    )
    cal.add_argument(
        "--delta",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="largest accuracy drop on the calibration split, percentage points (default 1)",
    )
    cal.add_argument("--grid", metavar="LIST", help="comma-separated relative threshold values to search")
    cal.add_argument("--t2-ratio", type=float, default=1.0, help="T2 = ratio x T1 (default 1)")
    cal.add_argument(
        "--validate-trials",
        type=int,
        default=5,
        metavar="N",
        help="then compare none, abft and calibrated approx_abft on the test split (0: skip; default 5)",
    )
    cal.add_argument("--out", required=True, metavar="PATH", help="thresholds YAML to write (an --abft file)")
    cal.set_defaults(handler=_cmd_calibrate)


def _model_inputs(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    """Model bundle, hardware, fault-spec template and ABFT options of `accuracy` / `calibrate`."""
    from simulator.functional.bundle import load_bundle

    if args.trials < 1:
        raise ConfigError(f"--trials: must be >= 1, got {args.trials}")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: must be >= 1, got {args.limit}")
    bad = [b for b in args.bers or () if not 0.0 <= b <= 1.0]
    if bad:
        raise ConfigError(f"--ber: must be a probability in [0, 1], got {bad[0]:g}")
    try:
        bundle = load_bundle(args.model)
    except ValueError as exc:
        raise ConfigError(f"--model: {exc}") from None
    hw = api.resolve_hw(args.hw, args.overrides)
    spec = load_fault_spec(args.faults, {"sites": args.sites, "seed": args.seed})
    return bundle, hw, spec, load_abft(args.abft)


@contextlib.contextmanager
def _model_executor(args: argparse.Namespace):
    from simulator.executors import make_executor

    executor = make_executor(args.workers)
    try:
        yield executor
    finally:
        executor.close()


def _cmd_accuracy(args: argparse.Namespace) -> int:
    from simulator.functional.accuracy import accuracy_study

    bundle, hw, spec, abft = _model_inputs(args)
    policies = args.policies or policy_names()
    unknown = [p for p in policies if p not in policy_names()]
    if unknown:
        raise ConfigError(f"--policy: unknown policy {unknown[0]!r} (known: {', '.join(policy_names())})")
    bers = args.bers or list(DEFAULT_ACCURACY_BERS)
    split = bundle.split(args.split).head(args.limit)
    with _model_executor(args) as executor, progress_bar(len(policies) * len(bers) * args.trials, "runs",
                                                          args.quiet) as bar:  # fmt: skip
        study = accuracy_study(bundle, hw, policies, bers, trials=args.trials, seed=args.seed, abft=abft, faults=spec,
                               split=split, max_drop_points=args.max_drop, progress=lambda: bar.update(1),
                               executor=executor)  # fmt: skip
    data = study.to_dict()
    if args.plot:
        from simulator.viz.accuracy import accuracy_vs_ber, accuracy_vs_overhead
        from simulator.viz.figures import render

        for name, make in (("accuracy_vs_ber", accuracy_vs_ber), ("accuracy_vs_overhead", accuracy_vs_overhead)):
            figure = make(data)
            for fmt in ("png", "svg"):
                write_atomic(Path(args.plot) / f"{name}.{fmt}", render(figure, fmt, 150))
    if args.json == "-":
        sys.stdout.write(to_json(data))
    elif args.json:
        write_atomic(Path(args.json), to_json(data))
    if not args.quiet and args.json != "-":
        sys.stdout.write(study.format_table())
    return EXIT_OK


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from simulator.functional.accuracy import accuracy_study
    from simulator.functional.calibrate import DEFAULT_GRID, calibrate_thresholds

    bundle, hw, spec, base = _model_inputs(args)
    bers = args.bers or [DEFAULT_CALIBRATION_BER]
    if any(b <= 0 for b in bers):
        raise ConfigError("--ber: calibration needs bit error rates > 0")
    try:
        grid = [float(x) for x in args.grid.split(",") if x.strip()] if args.grid else list(DEFAULT_GRID)
    except ValueError:
        raise ConfigError(f"--grid: expected comma-separated numbers, got {args.grid!r}") from None
    if not grid or any(not 0.0 <= g < float("inf") for g in grid):
        raise ConfigError("--grid: values must be finite and >= 0")
    if args.delta < 0 or args.t2_ratio < 0 or args.validate_trials < 0:
        raise ConfigError("--delta, --t2-ratio and --validate-trials must be >= 0")
    with _model_executor(args) as executor:
        with progress_bar(None, "candidates", args.quiet) as bar:  # type: ignore[arg-type]
            cal = calibrate_thresholds(bundle, hw, bers, delta_points=args.delta, trials=args.trials, seed=args.seed,
                                       base=base, faults=spec, split=bundle.split("calibration").head(args.limit),
                                       grid=grid, t2_ratio=args.t2_ratio, progress=lambda _: bar.update(1),
                                       executor=executor)  # fmt: skip
        data = cal.to_dict()
        text = cal.format_summary()
        if args.validate_trials:
            policies = ["none", "abft", "approx_abft"]
            with progress_bar(len(policies) * len(bers) * args.validate_trials, "runs", args.quiet) as bar:
                study = accuracy_study(bundle, hw, policies, cal.bers, trials=args.validate_trials, seed=args.seed,
                                       abft=cal.abft, faults=spec, split=bundle.split("test").head(args.limit),
                                       progress=lambda: bar.update(1), executor=executor)  # fmt: skip
            data["validation"] = study.to_dict()
            text += "\ntest split with the calibrated thresholds:\n" + study.format_table()
    write_atomic(Path(args.out), cal.thresholds_yaml())
    if args.json == "-":
        sys.stdout.write(to_json(data))
    elif args.json:
        write_atomic(Path(args.json), to_json(data))
    if not args.quiet and args.json != "-":
        sys.stdout.write(text + f"wrote {args.out}\n")
    return EXIT_OK


def _add_reliability_parser(sub: Any) -> None:
    from simulator.reliability.environments import ENVIRONMENTS

    rel = sub.add_parser("reliability", help="FIT, AVF and SDC/DUE rates per policy in a radiation environment")
    rel.add_argument("--hw", default=DEFAULT_HW, help=f"bundled name or YAML path (default {DEFAULT_HW})")
    rel.add_argument(
        "--workload", default=DEFAULT_WORKLOAD, help=f"bundled name or YAML path (default {DEFAULT_WORKLOAD})"
    )
    rel.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a hardware key, e.g. --set array.rows=64 (repeatable)",
    )
    rel.add_argument(
        "--policy",
        dest="policies",
        action="append",
        metavar="NAME",
        help=f"ABFT policy (repeatable; default: all of {', '.join(policy_names())})",
    )
    rel.add_argument(
        "--environment",
        default="sea_level",
        choices=tuple(ENVIRONMENTS),
        help="named radiation environment (default sea_level)",
    )
    rel.add_argument("--ff-fit-per-mbit", type=float, help="raw flip-flop upset rate (replaces the environment's)")
    rel.add_argument("--sram-fit-per-mbit", type=float, help="raw SRAM upset rate (replaces the environment's)")
    rel.add_argument("--sites", metavar="LIST", help="fault sites, comma-separated (default all)")
    rel.add_argument("--faults", metavar="PATH", help="fault spec YAML: sites, bits, gemms, kinds restrict the slots")
    rel.add_argument("--abft", metavar="PATH", help="ABFT options YAML (thresholds per GEMM kind, blocking)")
    rel.add_argument("--injections", type=int, help="single faults to inject (default: Leveugle's count for --margin)")
    rel.add_argument("--margin", type=float, default=0.01, help="AVF margin for Leveugle's count (default 0.01)")
    rel.add_argument("--confidence", type=float, default=0.95, help="confidence of intervals (default 0.95)")
    rel.add_argument("--seed", type=int, default=0, help="root seed of the fault draw and operands (default 0)")
    rel.add_argument(
        "--check-ber",
        type=float,
        metavar="BER",
        help="also run Monte-Carlo at BER and 10 x BER and check that outcome fractions agree",
    )
    rel.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    rel.add_argument("--quiet", action="store_true", help="no table on stdout")
    rel.set_defaults(handler=_cmd_reliability)


def _reliability_study(args: argparse.Namespace):
    """Rates, a single-fault campaign, fault-free costs and the optional BER check (no output)."""
    from simulator.abft.policies import PolicyContext
    from simulator.abft.registry import make_policy
    from simulator.config.fault_spec import FaultSpec
    from simulator.mapping.schedule import schedule_gemm
    from simulator.metrics.stats import trials_needed
    from simulator.reliability import assumption, environments, fit
    from simulator.reliability.avf import run_avf_campaign
    from simulator.reliability.exposure import workload_exposure
    from simulator.reliability.report import ReliabilityReport

    confidence = _check_confidence(args.confidence)
    env = environments.environment(args.environment)
    if args.ff_fit_per_mbit is not None or args.sram_fit_per_mbit is not None:
        try:
            env = environments.custom_environment(
                env.ff_fit_per_mbit if args.ff_fit_per_mbit is None else args.ff_fit_per_mbit,
                env.sram_fit_per_mbit if args.sram_fit_per_mbit is None else args.sram_fit_per_mbit,
            )
        except ValueError as exc:
            raise ConfigError(f"--ff-fit-per-mbit / --sram-fit-per-mbit: {exc}") from None
    hw = api.resolve_hw(args.hw, args.overrides)
    wl = api.resolve_workload(args.workload)
    spec = load_fault_spec(args.faults, {"sites": args.sites, "seed": args.seed}).model_copy(update={"ber": 0.0})
    abft = load_abft(args.abft)
    names = args.policies or policy_names()
    context = PolicyContext(hw.checksum_unit.placement, abft)
    try:
        policies = [make_policy(name, context) for name in names]
    except ValueError as exc:
        raise ConfigError(f"--policy: {exc}") from None
    schedules = [schedule_gemm(g, hw) for g in wl.gemms]
    try:
        exposure = workload_exposure(schedules, spec, hw.array.datatype)
    except ValueError as exc:
        raise ConfigError(f"faults: {exc}") from None
    margin = None
    injections = args.injections
    if injections is None:
        if not 0.0 < args.margin < 1.0:
            raise ConfigError(f"--margin: must be in (0, 1), got {args.margin}")
        margin = args.margin
        injections = trials_needed(margin, confidence, population=exposure.bit_macs)
    if injections < 1:
        raise ConfigError(f"--injections: must be >= 1, got {injections}")
    campaign = run_avf_campaign(hw, schedules, spec, abft, policies, injections, args.seed)
    clean = api.run(hw, wl, names, FaultSpec(ber=0.0), abft=abft)
    base = clean.baseline
    costs = {}
    for p in clean.policies:
        d = p.to_dict(base)
        costs[p.policy] = fit.PolicyCost(p.policy, p.cycles, d["latency_overhead_pct"], d["energy_overhead_pct"])
    rates = fit.rate_summary(env, hw, exposure.sites)
    checks = []
    if args.check_ber is not None:
        if not 0.0 < args.check_ber <= 0.1:
            raise ConfigError(f"--check-ber: must be in (0, 0.1], got {args.check_ber}")
        bers = (args.check_ber, 10.0 * args.check_ber)
        # independent draws at the two rates (seed, seed + 1): the same seed would correlate them
        runs = [
            api.run(hw, wl, names, spec.model_copy(update={"ber": b, "seed": args.seed + i}), abft=abft)
            for i, b in enumerate(bers)
        ]
        for name in names:
            fractions = tuple(assumption.run_fractions(r.policy(name).outcomes, confidence) for r in runs)
            single = assumption.campaign_fractions(campaign.counts(name), confidence)
            checks.append(assumption.RateCheck(name, bers, fractions, single))  # type: ignore[arg-type]
    fits = tuple(fit.policy_fits(campaign, rates, costs, confidence))
    return ReliabilityReport(wl.name, hw.name, rates, campaign, fits, args.seed, margin, confidence, tuple(checks))


def _cmd_reliability(args: argparse.Namespace) -> int:
    report = _reliability_study(args)
    data = report.to_dict()
    if args.json == "-":
        sys.stdout.write(to_json(data))
    elif args.json:
        write_atomic(Path(args.json), to_json(data))
    if not args.quiet and args.json != "-":
        sys.stdout.write(format_reliability(data))
    return EXIT_OK


def format_reliability(d: dict[str, Any]) -> str:
    """The rates, the FIT table per policy, AVF by site and GEMM kind, and the rate check."""
    env, rates, exp, camp = d["environment"], d["rates"], d["exposure"], d["campaign"]
    study = rates["study_bers"]
    how = f"Leveugle: margin {camp['margin']} at {camp['confidence']:.0%}" if camp["margin"] else "as given"
    lines = [
        f"{d['workload']} on {d['hw']}, environment {env['name']} ({env['source']})",
        f"raw rates: flip-flops {env['ff_fit_per_mbit']:.4g} FIT/Mbit, SRAM {env['sram_fit_per_mbit']:.4g} FIT/Mbit"
        f" = {rates['ff_per_bit_cycle']:.3g} / {rates['sram_per_bit_cycle']:.3g} per bit per cycle at "
        f"{rates['clock_hz'] / 1e9:g} GHz",
        "study BERs "
        + ", ".join(f"{s['ber']:g} ({s['acceleration']:.2g}x, {s['decades']:.1f} decades higher)" for s in study),
        f"exposed PE-register bit-MACs per inference {exp['bit_macs_per_inference']:.4g}; PE registers "
        f"{exp['register_bits']:,} bits (raw {exp['register_raw_fit']:.4g} FIT); SRAM {exp['sram_bits']:,} bits "
        f"(raw {exp['sram_raw_fit']:.4g} FIT, SRAM faults not modelled: not derated)",
        f"single-fault campaign: {camp['injections']:,} injections ({how}), seed {camp['seed']}",
        "",
    ]
    header = (
        f"{'policy':<13}{'lat ovh %':>10}{'en ovh %':>9}  {'AVF sdc [95 % CI]':<24}{'SDC FIT [95 % CI]':<29}"
        f"{'DUE FIT':>10}{'toler FIT':>11}  ASIL D  ASIL B"
    )
    lines += [header, "-" * len(header)]
    for p in d["policies"]:
        a, s = p["avf"]["sdc"], p["fit"]["sdc"]
        lines.append(
            f"{p['policy']:<13}{p['latency_overhead_pct']:>10.3f}{p['energy_overhead_pct']:>9.3f}  "
            f"{_iv(a):<24}{_iv(s):<29}{p['fit']['due']['estimate']:>10.3g}{p['fit']['tolerated']['estimate']:>11.3g}"
            f"  {'meets' if p['meets']['ASIL D'] else 'fails':>6}  {'meets' if p['meets']['ASIL B'] else 'fails':>6}"
        )
    lines.append("ASIL verdicts use the SDC FIT's upper bound; PMHF targets: ASIL D < 10 FIT, ASIL B/C < 100 FIT")
    for by in ("by_site", "by_kind"):
        lines += ["", f"P(sdc) / P(due) in % {by.replace('_', ' ')}:"]
        policies = list(d[by])
        groups = list(d[by][policies[0]]) if policies else []
        lines.append(f"{'':<12}" + "".join(f"{p:>16}" for p in policies))
        for g in groups:
            cells = []
            for p in policies:
                cell = d[by][p][g]
                n = cell["sdc"]["n"]
                cells.append(f"{100 * cell['sdc']['estimate']:.1f}/{100 * cell['due']['estimate']:.1f}" if n else "-")
            lines.append(f"{g:<12}" + "".join(f"{c:>16}" for c in cells))
    for c in d["rate_checks"]:
        if c is d["rate_checks"][0]:
            lines += [
                "",
                f"rate check: outcome fractions at BER {c['bers'][0]:g} and {c['bers'][1]:g} (95 % CI overlap)",
            ]
        frac = " ".join(f"{k} {side[k]['estimate']:.3f}" for side in c["fractions"][:1] for k in side)
        lines.append(
            f"{c['policy']:<13}{'agree' if c['agree'] else 'DIFFER':<8} single-fault "
            f"{'agrees' if c['agrees_with_single_fault'] else 'differs':<8} {frac}"
        )
    return "\n".join(lines) + "\n"


def _iv(iv: dict[str, float]) -> str:
    return f"{iv['estimate']:.3g} [{iv['lo']:.3g}, {iv['hi']:.3g}]"


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
