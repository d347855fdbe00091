"""`abftsim accuracy`, `calibrate` and `import-model`: functional ViT inference through the faulty accelerator."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from simulator import api
from simulator.abft.registry import check_policy_names, policy_names
from simulator.cli.calibration import GridJournal, add_bayes_args, bayes_calibration, ber_grid
from simulator.cli.common import EXIT_OK, add_hw_options, announce_kernel_compile, progress_bar
from simulator.cli.import_model import add_import_command
from simulator.cli.outputs import STDOUT, check_output_dir, check_outputs, write_output
from simulator.cli.tables import format_accuracy_study, format_calibration, to_json
from simulator.config.loader import load_abft, load_fault_spec
from simulator.errors import ConfigError
from simulator.metrics.stats import check_trials

ORDER = 30  # place in `abftsim --help`
DEFAULT_ACCURACY_BERS = (1e-7, 5e-7, 1e-6, 2e-6)  # the digits ViT's range: from harmless to > 10 points lost
DEFAULT_CALIBRATION_BER = 2e-6


def register(sub: Any) -> None:
    """`accuracy` and `calibrate`: functional ViT inference through the faulty accelerator."""

    def common(p: argparse.ArgumentParser) -> None:
        add_hw_options(p)
        p.add_argument("--model", metavar="PATH", help="model bundle .npz (default: the bundled digits ViT)")
        p.add_argument("--sites", metavar="LIST", help="fault sites, comma-separated: acc,mult,a_reg,b_reg")
        p.add_argument("--faults", metavar="PATH", help="fault spec YAML (sites, kind, bits, kinds; ber and seed vary)")
        p.add_argument("--abft", metavar="PATH", help="ABFT options YAML (thresholds, blocking per GEMM kind or name)")
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
    acc.add_argument("--ber-grid", metavar="LO,HI,N",
                     help="N bit error rates spaced geometrically from LO to HI (added to --ber)")  # fmt: skip
    acc.add_argument("--split", choices=("test", "calibration"), default="test", help="held-out split (default test)")
    acc.add_argument("--data", metavar="PATH",
                     help=".npz of `images` (float32 model inputs) and `labels` to evaluate, not a split")  # fmt: skip
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
        help="then compare none, abft and calibrated approx_abft on the test split, with fault seeds after the "
        "calibration's (SEED + --trials on; 0: skip; default 5)",
    )
    cal.add_argument("--out", required=True, metavar="PATH", help="thresholds YAML to write (an --abft file)")
    add_bayes_args(cal)
    cal.set_defaults(handler=_cmd_calibrate)
    add_import_command(sub)


def _model_inputs(args: argparse.Namespace, outputs: dict[str, str | None]) -> tuple[Any, Any, Any, Any]:
    """Model bundle, hardware, fault-spec template and ABFT options of `accuracy` / `calibrate`,
    after checking the `outputs` (flag -> path) can be written and are none of the inputs."""
    from simulator.functional.bundle import load_bundle

    check_outputs(outputs, (args.hw, args.model, args.faults, args.abft, getattr(args, "data", None)))

    check_trials(args.trials)
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
    if spec.explicit:
        raise ConfigError("faults: explicit faults apply to `abftsim run`; drop `explicit`")
    announce_kernel_compile(args.quiet)
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

    if args.plot:
        check_output_dir("--plot", args.plot)
    bundle, hw, spec, abft = _model_inputs(args, {"--json": args.json})
    try:
        policies = check_policy_names(args.policies or policy_names())
    except ValueError as exc:
        raise ConfigError(str(exc), argument="policies") from None
    bers = sorted(set(args.bers or []) | set(ber_grid(args.ber_grid))) or list(DEFAULT_ACCURACY_BERS)
    split = _eval_split(args, bundle).head(args.limit)
    with _model_executor(args) as executor, progress_bar(len(policies) * len(bers) * args.trials, "runs",
                                                          args.quiet) as bar:  # fmt: skip
        study = accuracy_study(bundle, hw, policies, bers, trials=args.trials, seed=args.seed, abft=abft, faults=spec,
                               split=split, max_drop_points=args.max_drop, progress=lambda: bar.update(1),
                               executor=executor)  # fmt: skip
    data = study.to_dict()
    if args.json:  # the results first: a figure that fails to render must not lose them
        write_output(args.json, to_json(data))
    if not args.quiet and args.json != STDOUT:
        sys.stdout.write(format_accuracy_study(study))
    if args.plot:
        from simulator.viz.accuracy import accuracy_vs_ber, accuracy_vs_overhead
        from simulator.viz.figures import render

        for name, make in (("accuracy_vs_ber", accuracy_vs_ber), ("accuracy_vs_overhead", accuracy_vs_overhead)):
            figure = make(data)
            for fmt in ("png", "svg"):
                write_output(Path(args.plot) / f"{name}.{fmt}", render(figure, fmt, 150))
    return EXIT_OK


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from simulator.functional.accuracy import accuracy_study
    from simulator.functional.calibrate import DEFAULT_GRID, calibrate_thresholds, options_yaml

    bundle, hw, spec, base = _model_inputs(args, {"--out": args.out, "--json": args.json})
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
        if args.search == "bayes":
            result, data, text = bayes_calibration(args, bundle, hw, spec, base, list(bers), executor)
            abft = result.abft
            header = (
                f"# ApproxABFT options from `abftsim calibrate --search bayes` (study {result.study_name}): accuracy "
                f"drop <= {args.delta:g} points on the calibration split; feasible: {str(result.feasible).lower()}\n"
            )
            options = options_yaml(abft, header)
        else:
            split = bundle.split("calibration").head(args.limit)
            journal = _grid_journal(args, bundle, hw, spec, base, bers, grid, len(split)) if args.storage else None

            def progress(cand: Any) -> None:
                bar.update(1)
                if journal is not None:
                    journal.append(cand)

            with progress_bar(None, "candidates", args.quiet) as bar:
                cal = calibrate_thresholds(bundle, hw, bers, delta_points=args.delta, trials=args.trials,
                                           seed=args.seed, base=base, faults=spec, split=split, grid=grid,
                                           t2_ratio=args.t2_ratio, progress=progress, executor=executor,
                                           known=journal.known if journal else None)  # fmt: skip
            abft, data, text, options = cal.abft, cal.to_dict(), format_calibration(cal), cal.thresholds_yaml()
        if args.validate_trials:
            policies = ["none", "abft", "approx_abft"]
            with progress_bar(len(policies) * len(bers) * args.validate_trials, "runs", args.quiet) as bar:
                # other faults than the calibration saw: seeds from SEED + --trials on
                study = accuracy_study(bundle, hw, policies, bers, trials=args.validate_trials,
                                       seed=args.seed + args.trials,
                                       abft=abft, faults=spec, split=bundle.split("test").head(args.limit),
                                       progress=lambda: bar.update(1), executor=executor)  # fmt: skip
            data["validation"] = study.to_dict()
            text += "\ntest split with the calibrated thresholds:\n" + format_accuracy_study(study)
    write_output(args.out, options)
    if args.json:
        write_output(args.json, to_json(data))
    if not args.quiet and args.json != STDOUT:
        sys.stdout.write(text + f"wrote {args.out}\n")
    return EXIT_OK


def _grid_journal(args: argparse.Namespace, bundle: Any, hw: Any, spec: Any, base: Any, bers: list[float],
                  grid: list[float], images: int) -> Any:  # fmt: skip
    from simulator.functional.accuracy import model_summary
    from simulator.functional.calibrate import grid_problem_key

    problem = {"model": model_summary(bundle), "hw": hw.model_dump(mode="json"), "images": images,
               "bers": [float(b) for b in bers], "trials": args.trials, "seed": args.seed,
               "faults": spec.model_dump(mode="json"), "grid": sorted(grid), "t2_ratio": args.t2_ratio,
               "delta": args.delta, "base": base.model_dump(mode="json")}  # fmt: skip
    return GridJournal(args.storage, grid_problem_key(problem))


def _eval_split(args: argparse.Namespace, bundle: Any) -> Any:
    """`--data PATH` if given, else the bundle's `--split`; image shapes are checked against the model."""
    from simulator.functional.bundle import load_images

    try:
        split = load_images(args.data) if args.data else bundle.split(args.split)
    except ValueError as exc:
        raise ConfigError(f"--data: {exc}" if args.data else f"--split: {exc}") from None
    cfg = bundle.params.config
    want = (cfg.channels, cfg.image_size, cfg.image_size)
    got = split.images.shape[1:] if split.images.ndim == 4 else (1, *split.images.shape[1:])
    if tuple(got) != want:
        raise ConfigError(f"--data: images are {tuple(got)}, the model takes {want}")
    return split
