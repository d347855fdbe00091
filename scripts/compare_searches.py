"""The README's comparison of the threshold searches at equal evaluation budgets (greedy grid vs Bayesian).

Stage 1 (cached in OUT: a search whose files exist is not run again; the Bayesian ones resume from
their SQLite storage): the greedy grid (`calibrate --search grid`, per GEMM kind) counts its
candidates B; then TPE per GEMM kind (fold-granularity checks) and TPE per GEMM name with a
block size per layer, each with budget B. Stage 2: every result on the held-out test split with
paired intervals of the accuracy drop (simulator.functional.paired), against classical abft.

    python scripts/compare_searches.py --out cmp --workers 2        # about an hour on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from simulator import cli
from simulator.metrics.stats import t_quantile


def _calibrate(out: Path, name: str, extra: list[str], common: list[str]) -> dict:
    report = out / f"{name}.json"
    if not report.exists():
        argv = ["calibrate", *common, *extra, "--validate-trials", "0", "--out", str(out / f"{name}.yaml"),
                "--json", str(report), "--quiet"]  # fmt: skip
        if cli.main(argv) != 0:
            raise SystemExit(f"calibrate {name} failed")
    return json.loads(report.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="cmp", help="directory for the searches' files (default cmp)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ber", type=float, default=2e-6)
    p.add_argument("--delta", type=float, default=0.5)
    p.add_argument("--trials", type=int, default=3, help="fault trials per candidate (calibration split)")
    p.add_argument("--validate-trials", type=int, default=10, help="fault trials on the test split")
    p.add_argument("--limit", type=int, help="images per split (default: all)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    common = ["--set", "array.rows=8", "--set", "array.cols=8", "--ber", f"{args.ber:g}", "--delta", f"{args.delta:g}",
              "--trials", str(args.trials), "--workers", str(args.workers)]  # fmt: skip
    if args.limit:
        common += ["--limit", str(args.limit)]
    grid = _calibrate(out, "grid", ["--search", "grid"], common)
    budget = len(grid["search"])
    searches = {"grid": grid}
    for name, extra in (("bayes_kind", ["--per", "kind", "--blocks", "0"]), ("bayes_layer", ["--per", "name"])):
        storage = ["--storage", str(out / f"{name}.db")]
        searches[name] = _calibrate(out, name, ["--search", "bayes", "--budget", str(budget), *storage, *extra], common)
    # the test split sees other faults than the calibration did: seeds from 1000 on (calibration: 0, 1, ...)
    validate = ["accuracy", "--set", "array.rows=8", "--set", "array.cols=8", "--ber", f"{args.ber:g}", "--seed",
                "1000", "--trials", str(args.validate_trials), "--workers", str(args.workers), "--quiet"]  # fmt: skip
    if args.limit:
        validate += ["--limit", str(args.limit)]
    rows = []
    for name in searches:
        report = out / f"{name}_test.json"
        if not report.exists():
            argv_v = [*validate, "--policy", "approx_abft", "--abft", str(out / f"{name}.yaml"), "--json", str(report)]
            if cli.main(argv_v) != 0:
                raise SystemExit(f"validation of {name} failed")
        rows.append((name, searches[name], json.loads(report.read_text())))
    abft_report = out / "abft_test.json"
    if not abft_report.exists() and cli.main([*validate, "--policy", "abft", "--json", str(abft_report)]) != 0:
        raise SystemExit("validation of abft failed")
    abft = json.loads(abft_report.read_text())["points"][0]
    sys.stdout.write(_table(rows, abft, budget, args))
    return 0


def _paired_reduction(point: dict, abft: dict) -> str:
    """Student-t 95 % interval of the per-trial reduction 1 - approx / abft (same fault seeds per trial)."""
    ours, theirs = point.get("trial_recovery_overhead_pct"), abft.get("trial_recovery_overhead_pct")
    if not ours or not theirs or len(ours) != len(theirs) or len(ours) < 2 or min(theirs) <= 0:
        return ""
    r = [100.0 * (1 - a / b) for a, b in zip(ours, theirs, strict=True)]
    n = len(r)
    mean = sum(r) / n
    sd = (sum((x - mean) ** 2 for x in r) / (n - 1)) ** 0.5
    half = t_quantile(0.975, n - 1) * sd / n**0.5
    return f" [{mean - half:.1f}, {mean + half:.1f}]"


def _table(rows: list, abft: dict, budget: int, args: argparse.Namespace) -> str:
    lines = [
        "| search | candidates | calibration drop (points) | calibration recovery % | test drop (points) "
        "[95 % paired CI] | test recovery % | test checking % | recovery vs abft |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, search, test in rows:
        best = search["best"]
        ber = f"{args.ber:g}"
        clean = search["clean_accuracy_pct"]
        acc = best["accuracy_pct"][ber]
        rec = best["recovery_overhead_pct" if "recovery_overhead_pct" in best else "recovery_pct"][ber]
        point = test["points"][0]
        paired = point.get("paired_drop", {})
        ci = f" [{paired['lo']:.2f}, {paired['hi']:.2f}]" if paired else ""
        reduction = 100.0 * (1 - point["recovery_overhead_pct"] / abft["recovery_overhead_pct"])
        paired_reduction = _paired_reduction(point, abft)
        lines.append(
            f"| {name} | {len(search['search'])} | {clean - acc:.2f} | {rec:.2f} | {point['drop_points']:.2f}{ci} | "
            f"{point['recovery_overhead_pct']:.2f} | {point['check_overhead_pct']:.2f} | {reduction:.1f} % less"
            f"{paired_reduction} |"
        )
    lines.append(f"\nbudget {budget} candidates; classical abft on the test split: drop {abft['drop_points']:.2f} "
                 f"points, recovery {abft['recovery_overhead_pct']:.2f} %")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
