"""`calibrate --search bayes` and `accuracy --ber-grid`: the options and glue of the searches and sweeps of issue 14."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from simulator.cli.common import progress_bar
from simulator.cli.tables import format_bayes_calibration
from simulator.errors import ConfigError


def add_bayes_args(cal: argparse.ArgumentParser) -> None:
    """`calibrate --search bayes`: Optuna TPE over per-layer thresholds and check-block sizes."""
    cal.add_argument("--search", choices=("grid", "bayes"), default="grid",
                     help="grid: greedy over --grid per GEMM kind (default); bayes: TPE per layer (pip install "
                          "-e '.[bayes]')")  # fmt: skip
    cal.add_argument("--budget", type=int, default=40, metavar="N", help="bayes: candidates to evaluate (default 40)")
    cal.add_argument("--storage", metavar="PATH", help="a killed search resumes from this file (bayes: Optuna "
                     "SQLite; grid: a JSON-lines journal of finished candidates)")  # fmt: skip
    cal.add_argument("--per", choices=("name", "kind"), default="name",
                     help="bayes: one threshold (and block) per GEMM name (default) or per GEMM kind")  # fmt: skip
    cal.add_argument("--blocks", metavar="LIST", help="bayes: square check-block sizes to choose from per layer, "
                     "0 = the fold (default: 0, rows/2, rows/4 of the array)")  # fmt: skip
    cal.add_argument("--t1-range", metavar="LO,HI", default="0.125,1024",
                     help="bayes: relative T1 range, log-uniform (default 0.125,1024)")  # fmt: skip
    cal.add_argument("--batch", type=int, metavar="N", help="bayes: candidates per batch (default: --workers)")


def _int_list(flag: str, text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"{flag}: expected comma-separated integers, got {text!r}") from None


def bayes_calibration(args: argparse.Namespace, bundle: Any, hw: Any, spec: Any, base: Any, bers: list[float],
                       executor: Any) -> tuple[Any, dict[str, Any], str]:  # fmt: skip
    """The Bayesian search of `calibrate`: its options, JSON record and summary text."""
    try:
        from simulator.functional.bayes import BayesSettings, SearchSpace, bayes_search
        from simulator.functional.calibrate import ScoringProblem
    except ImportError:  # pragma: no cover - optuna missing
        raise ConfigError("--search bayes: needs optuna (pip install -e '.[bayes]')") from None
    try:
        lo, hi = (float(x) for x in args.t1_range.split(","))
    except ValueError:
        raise ConfigError(f"--t1-range: expected LO,HI, got {args.t1_range!r}") from None
    rows = hw.array.rows
    blocks = _int_list("--blocks", args.blocks) if args.blocks else sorted({0, rows // 2, rows // 4} - {1}) or [0]
    if args.budget < 1 or (args.batch is not None and args.batch < 1) or any(b < 0 for b in blocks) or not blocks:
        raise ConfigError("--budget and --batch must be >= 1 and --blocks sizes >= 0")
    gemms = bundle.params.config.gemms(1)
    layers = tuple(dict.fromkeys(g.name if args.per == "name" else g.kind for g in gemms))
    try:
        space = SearchSpace(layers, (lo, hi), tuple(sorted(set(blocks))), args.t2_ratio)
    except ValueError as exc:
        raise ConfigError(f"--t1-range / --blocks: {exc}") from None
    problem = ScoringProblem(bundle, bundle.split("calibration").head(args.limit), hw, tuple(bers), args.trials,
                             args.seed, spec)  # fmt: skip
    clean = problem.clean_accuracy_pct()
    storage = f"sqlite:///{Path(args.storage).resolve()}" if args.storage else None
    settings = BayesSettings(clean, args.delta, args.budget, args.seed, args.batch or args.workers, storage,
                             problem.identity())  # fmt: skip
    with progress_bar(args.budget, "candidates", args.quiet) as bar:
        try:
            result = bayes_search(space, problem.scorer(executor), base, settings, lambda _: bar.update(1))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    data = {**result.to_dict(), "split": problem.data.name, "images": len(problem.data), "bers": list(bers),
            "trials": args.trials, "seed": args.seed}  # fmt: skip
    return result, data, format_bayes_calibration(result)


class GridJournal:
    """`calibrate --search grid --storage PATH`: a header line naming the problem, then one JSON line
    per finished candidate, appended as each finishes; a re-run of the same problem takes them as
    evaluated (functional.calibrate's `known`). A torn last line (a kill mid-write) is dropped."""

    def __init__(self, path: str, problem_key: str) -> None:
        from simulator.functional.calibrate import Candidate

        self.path = Path(path)
        self.known: dict[Any, Any] = {}
        lines = self.path.read_bytes().decode("utf-8", "replace").splitlines() if self.path.exists() else []
        if lines:
            try:
                head = json.loads(lines[0])
            except ValueError:
                head = None
            if not isinstance(head, dict) or "grid_journal" not in head:
                raise ConfigError(f"--storage {path}: not a grid search journal")
            if head["grid_journal"] != problem_key:
                raise ConfigError(f"--storage {path}: a journal of another calibration problem; use another file")
            for line in lines[1:]:
                try:
                    cand = Candidate.from_json(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    break  # torn by a kill: what follows is not trusted either
                self.known[cand.levels] = cand
        kept = [json.dumps({"grid_journal": problem_key})] + [json.dumps(c.to_json()) for c in self.known.values()]
        self.path.write_text("\n".join(kept) + "\n")

    def append(self, candidate: Any) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(candidate.to_json()) + "\n")


def ber_grid(text: str | None) -> list[float]:
    """`--ber-grid LO,HI,N`: N rates spaced geometrically from LO to HI (a finer grid for the tolerable BER)."""
    if not text:
        return []
    try:
        lo, hi, n = text.split(",")
        lo_f, hi_f, count = float(lo), float(hi), int(n)
    except ValueError:
        raise ConfigError(f"--ber-grid: expected LO,HI,N, got {text!r}") from None
    if not (0 < lo_f < hi_f <= 1) or count < 2:
        raise ConfigError(f"--ber-grid: need 0 < LO < HI <= 1 and N >= 2, got {text!r}")
    return [float(f"{lo_f * (hi_f / lo_f) ** (i / (count - 1)):.4g}") for i in range(count)]
