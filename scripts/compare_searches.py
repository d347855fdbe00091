"""The README's comparison of the threshold searches at an equal evaluation budget (greedy grid vs Bayesian TPE).

Four arms, every one on the same problem (the calibration split, the same fault seeds for every
candidate, the same BER and accuracy-drop limit):

    grid_kind        greedy grid per GEMM kind (`calibrate --search grid`): its candidate count is the budget B
    tpe_kind         TPE per GEMM kind, fold checks     (`--search bayes --per kind --blocks 0`)
    tpe_name         TPE per GEMM name, fold checks     (`--search bayes --per name --blocks 0`)
    tpe_name_blocks  TPE per GEMM name and check block  (`--search bayes --per name --blocks 0,4,2`)

Stage 1 searches (each arm's files in OUT are a cache: a finished arm is not run again, a TPE arm
resumes from its SQLite storage and the grid from its journal, so a kill loses at most the
candidate being scored); stage 2 scores every result, classical abft and no
protection on the held-out test split with other fault seeds, and keeps per-image correctness,
so differences are paired over trials and images (functional.paired). Everything the numbers
depend on is pinned in CONFIG (fault sites listed, array, dataflow, retries, seeds, grid, ranges,
batch 1 so the TPE proposals do not depend on --workers) and recorded with the git commit in
OUT/manifest.json; the table goes to OUT/table.md.

    nice -n 10 python scripts/compare_searches.py --out cmp --workers 1     # about 30 CPU minutes
    python scripts/compare_searches.py --out cmp --quick                    # a 2-minute dry run of the pipeline
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# imported up front, so a long run uses the code it started with even if the tree is edited meanwhile
import simulator.cli.calibration
import simulator.functional.bayes  # noqa: F401
from simulator import api, cli
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_abft
from simulator.executors import make_executor
from simulator.functional.accuracy import accuracy_study
from simulator.functional.bundle import load_bundle
from simulator.functional.calibrate import DEFAULT_GRID
from simulator.functional.paired import crossed_mean_interval, paired_reduction
from simulator.metrics.stats import t_interval

# Everything the result depends on. Other work changes the default fault sites and the fold mapping,
# so nothing here is left to a default that may move.
CONFIG: dict[str, Any] = {
    "hw": "edge_32x32",
    "set": [
        "array.rows=8",
        "array.cols=8",
        "array.dataflow=os",
        "array.datatype=int8",
        "recompute.max_retries=3",
        "checksum_unit.placement=checksum_pe",
    ],
    "sites": ["acc", "mult", "a_reg", "b_reg"],
    "ber": 2e-6,
    "delta_points": 0.5,
    "trials": 3,  # fault trials per candidate on the calibration split (seeds 0, 1, 2)
    "seed": 0,
    "grid": list(DEFAULT_GRID),
    "t2_ratio": 1.0,
    "t1_range": [0.125, 1024.0],
    "blocks": [0, 2, 4],  # tpe_name_blocks: 0 = the fold (8x8), 4x4, 2x2
    "batch": 1,
    "validate_trials": 10,
    "validate_seed": 1000,  # the test split sees other faults than the calibration (seeds 0..)
}
QUICK = {"trials": 1, "validate_trials": 2, "limit": 40, "grid": [0.0, 8.0, 64.0, 1024.0]}
ARMS = {
    "grid_kind": ["--search", "grid"],
    "tpe_kind": ["--search", "bayes", "--per", "kind", "--blocks", "0"],
    "tpe_name": ["--search", "bayes", "--per", "name", "--blocks", "0"],
    "tpe_name_blocks": ["--search", "bayes", "--per", "name"],  # --blocks from CONFIG
}
LABELS = {
    "grid_kind": "greedy grid per kind (`--search grid`)",
    "tpe_kind": "TPE per kind, fold checks (`--per kind --blocks 0`)",
    "tpe_name": "TPE per GEMM name, fold checks (`--per name --blocks 0`)",
    "tpe_name_blocks": "TPE per GEMM name + block 8/4/2 (`--per name --blocks 0,4,2`)",
}


def _cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _common(cfg: dict[str, Any], workers: int) -> list[str]:
    argv = ["--hw", cfg["hw"], "--sites", ",".join(cfg["sites"]), "--ber", f"{cfg['ber']:g}",
            "--delta", f"{cfg['delta_points']:g}", "--trials", str(cfg["trials"]), "--seed", str(cfg["seed"]),
            "--t2-ratio", f"{cfg['t2_ratio']:g}", "--workers", str(workers)]  # fmt: skip
    for s in cfg["set"]:
        argv += ["--set", s]
    if cfg.get("limit"):
        argv += ["--limit", str(cfg["limit"])]
    return argv


class Manifest:
    """OUT/manifest.json: the configuration, the code it ran on and the CPU time of every stage."""

    def __init__(self, path: Path, cfg: dict[str, Any]) -> None:
        self.path = path
        old = json.loads(path.read_text()) if path.exists() else {}
        if old and old.get("config") != cfg:
            raise SystemExit(f"{path}: made with another configuration; use another --out")
        import numba
        import optuna

        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        runs = old.get("runs", [])
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        runs.append({"commit": commit, "dirty": dirty, "started_utc": started,
                     "python": platform.python_version(), "numpy": np.__version__, "optuna": optuna.__version__,
                     "numba": numba.__version__, "stages": {}})  # fmt: skip
        self.data = {"schema": "abftsim.compare_searches/1", "config": cfg, "runs": runs}
        self.save()

    def stage(self, name: str, cpu_s: float, **extra: Any) -> None:
        self.data["runs"][-1]["stages"][name] = {"cpu_s": round(cpu_s, 1), **extra}
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=1) + "\n")


def _search(out: Path, name: str, cfg: dict[str, Any], workers: int, budget: int | None, man: Manifest) -> dict:
    report = out / f"{name}.json"
    if report.exists():
        return json.loads(report.read_text())
    extra = list(ARMS[name])
    if name == "grid_kind":
        extra += ["--grid", ",".join(f"{g:g}" for g in cfg["grid"]), "--storage", str(out / f"{name}.jsonl")]
    else:
        lo, hi = cfg["t1_range"]
        extra += ["--budget", str(budget), "--storage", str(out / f"{name}.db"), "--batch", str(cfg["batch"]),
                  "--t1-range", f"{lo:g},{hi:g}"]  # fmt: skip
        if name == "tpe_name_blocks":
            extra += ["--blocks", ",".join(str(b) for b in cfg["blocks"])]
    argv = ["calibrate", *_common(cfg, workers), *extra, "--validate-trials", "0", "--out", str(out / f"{name}.yaml"),
            "--json", str(out / f"{name}.partial.json"), "--quiet"]  # fmt: skip
    t0 = _cpu_s()
    if cli.main(argv) != 0:
        raise SystemExit(f"calibrate {name} failed")
    (out / f"{name}.partial.json").replace(report)
    man.stage(f"search:{name}", _cpu_s() - t0, budget=budget)
    return json.loads(report.read_text())


def _validate(out: Path, name: str, policies: list[str], options: Path | None, cfg: dict[str, Any], executor,
              man: Manifest) -> dict[str, dict]:  # fmt: skip
    """Per policy: the test-split point's summary plus per-trial overheads and the per-image matrix."""
    path = out / f"{name}_test.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = _cpu_s()
    bundle = load_bundle(None)
    hw = api.resolve_hw(cfg["hw"], cfg["set"])
    split = bundle.split("test").head(cfg.get("limit"))
    study = accuracy_study(bundle, hw, policies, [cfg["ber"]], trials=cfg["validate_trials"],
                           seed=cfg["validate_seed"], abft=load_abft(str(options)) if options else None,
                           faults=FaultSpec(sites=tuple(cfg["sites"])), split=split,
                           max_drop_points=cfg["delta_points"], executor=executor)  # fmt: skip
    result: dict[str, dict] = {}
    for p in study.points:
        d = p.to_dict(cfg["delta_points"])
        d["trial_check_overhead_pct"] = [100.0 * e.check_overhead for e in p.evaluations]
        d["correct_matrix"] = p.correct_matrix.astype(int).tolist()  # type: ignore[union-attr]
        d["clean_correct"] = study.clean.per_image_correct.astype(int).tolist()  # type: ignore[union-attr]
        d["clean_accuracy_pct"] = study.clean_accuracy_pct
        result[p.policy] = d
    path.write_text(json.dumps(result) + "\n")
    man.stage(f"validate:{name}", _cpu_s() - t0)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="cmp", help="directory for the searches' files (default cmp)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (the result does not depend on it)")
    p.add_argument("--quick", action="store_true", help="a tiny configuration to check the pipeline end to end")
    args = p.parse_args(argv)
    cfg = {**CONFIG, **(QUICK if args.quick else {})}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    man = Manifest(out / "manifest.json", cfg)
    grid = _search(out, "grid_kind", cfg, args.workers, None, man)
    budget = len(grid["search"])
    searches = {"grid_kind": grid}
    for name in ("tpe_kind", "tpe_name", "tpe_name_blocks"):
        searches[name] = _search(out, name, cfg, args.workers, budget, man)
    executor = make_executor(args.workers)
    try:
        tests = {"reference": _validate(out, "reference", ["none", "abft"], None, cfg, executor, man)}
        for name in searches:
            tests[name] = _validate(out, name, ["approx_abft"], out / f"{name}.yaml", cfg, executor, man)["approx_abft"]
    finally:
        executor.close()
    table = _table(searches, tests, budget, cfg, man.data["runs"])
    (out / "table.md").write_text(table)
    sys.stdout.write(table)
    return 0


def _best_so_far(search: dict, at: int, delta: float, clean: float, grid: bool) -> float | None:
    """The recovery % of the best candidate (by the arm's own objective: recovery for the grid,
    recovery + checking for TPE) among the first `at` that meet the drop limit."""
    best = None
    for c in search["search"][:at]:
        if clean - min(c["accuracy_pct"].values()) > delta + 1e-9:
            continue
        rec = _mean(c["recovery_overhead_pct" if grid else "recovery_pct"])
        objective = rec if grid else rec + _mean(c["check_pct"])
        if best is None or objective < best[0]:
            best = (objective, rec)
    return None if best is None else best[1]


def _mean(d: dict[str, float]) -> float:
    return float(np.mean(list(d.values())))


def _calibration_row(search: dict) -> tuple[float, float, float | None]:
    best = search["best"]
    drop = search["clean_accuracy_pct"] - min(best["accuracy_pct"].values())
    rec = _mean(best.get("recovery_overhead_pct") or best["recovery_pct"])
    return drop, rec, (_mean(best["check_pct"]) if "check_pct" in best else None)


def _fmt_ci(lo: float, hi: float, digits: int = 2) -> str:
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _table(searches: dict, tests: dict, budget: int, cfg: dict[str, Any], runs: list[dict]) -> str:
    ref = tests["reference"]
    abft, none = ref["abft"], ref["none"]
    clean = np.asarray(abft["clean_correct"], bool)
    abft_ok = np.asarray(abft["correct_matrix"], float)
    grid = tests["grid_kind"]
    grid_work = np.add(grid["trial_recovery_overhead_pct"], grid["trial_check_overhead_pct"])
    lines = [
        f"Searches at an equal budget of {budget} candidates (the greedy grid's count). Calibration split: "
        f"{searches['grid_kind']['images']} images, BER {cfg['ber']:g}, drop limit {cfg['delta_points']:g} points, "
        f"{cfg['trials']} trials per candidate (fault seeds {cfg['seed']}..{cfg['seed'] + cfg['trials'] - 1}).",
        "",
        "| search | calibration: drop (points) | recovery % | checking % | recovery % of the best feasible after "
        f"{budget // 4} / {budget // 2} / {budget} candidates |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, search in searches.items():
        drop, rec, chk = _calibration_row(search)
        clean_cal = search["clean_accuracy_pct"]
        at = (budget // 4, budget // 2, budget)
        curve = [_best_so_far(search, n, cfg["delta_points"], clean_cal, name == "grid_kind") for n in at]
        curve_s = " / ".join("-" if v is None else f"{v:.2f}" for v in curve)
        chk_s = "-" if chk is None else f"{chk:.2f}"
        lines.append(f"| {LABELS[name]} | {drop:.2f} | {rec:.2f} | {chk_s} | {curve_s} |")
    lines += ["", "The grid minimises recovery; TPE minimises recovery + checking (the grid's search does not record "
              "checking; with fold checks it is about the same for every candidate)."]  # fmt: skip
    n_t = cfg["validate_trials"]
    lines += [
        "",
        f"Held-out test split ({len(clean)} images, clean {abft['clean_accuracy_pct']:.2f} %), BER {cfg['ber']:g}, "
        f"{n_t} trials on fault seeds {cfg['validate_seed']}..{cfg['validate_seed'] + n_t - 1}; 95 % intervals paired "
        "over trials and images (accuracy) or over trials (overheads, delta method):",
        "",
        "| policy / search | drop vs clean (points) [CI] | drop minus abft's (points) [CI] | recovery % [CI] | "
        "checking % | recovery saved vs abft [CI] | work (rec. + check.) vs grid, points [CI] |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, point in (("no protection (`none`)", none), ("classical `abft`", abft)):
        pd = point["paired_drop"]
        rec = t_interval(point["trial_recovery_overhead_pct"], 0.95, support_min=0.0)
        lines.append(f"| {label} | {pd['drop_points']:.2f} {_fmt_ci(pd['lo'], pd['hi'])} | | "
                     f"{point['recovery_overhead_pct']:.2f} {_fmt_ci(rec.lo, rec.hi)} | "
                     f"{point['check_overhead_pct']:.2f} | | |")  # fmt: skip
    for name in searches:
        point = tests[name]
        pd = point["paired_drop"]
        vs_abft = crossed_mean_interval(100.0 * (abft_ok - np.asarray(point["correct_matrix"], float)))
        rec_trials = point["trial_recovery_overhead_pct"]
        rec = t_interval(rec_trials, 0.95, support_min=0.0)
        saved = paired_reduction(np.asarray(rec_trials), np.asarray(abft["trial_recovery_overhead_pct"]))
        work = np.add(rec_trials, point["trial_check_overhead_pct"])
        d_work = t_interval(list(work - grid_work), 0.95) if name != "grid_kind" else None
        work_s = "" if d_work is None else f"{d_work.estimate:+.2f} {_fmt_ci(d_work.lo, d_work.hi)}"
        lines.append(f"| approx_abft, {LABELS[name]} | {pd['drop_points']:.2f} {_fmt_ci(pd['lo'], pd['hi'])} | "
                     f"{vs_abft.drop_points:+.2f} {_fmt_ci(vs_abft.lo, vs_abft.hi)} | "
                     f"{point['recovery_overhead_pct']:.2f} {_fmt_ci(rec.lo, rec.hi)} | "
                     f"{point['check_overhead_pct']:.2f} | {saved.reduction_pct:.1f} % "
                     f"{_fmt_ci(saved.lo, saved.hi, 1)} | {work_s} |")  # fmt: skip
    cpu = sum(s["cpu_s"] for r in runs for s in r["stages"].values())
    measured = [r for r in runs if r["stages"]] or runs  # a run that found everything cached measured nothing
    last = measured[-1]
    commits = sorted({r["commit"] + (" (dirty)" if r["dirty"] else "") for r in measured})
    lines += ["", f"Measured on commit {', '.join(commits)} (optuna {last['optuna']}, numpy {last['numpy']}); hardware "
              f"{cfg['hw']} with {', '.join(cfg['set'])}; fault sites {', '.join(cfg['sites'])}; "
              f"{cpu / 60:.1f} CPU minutes over {len(measured)} run(s)."]  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
