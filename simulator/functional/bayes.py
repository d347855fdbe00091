"""Bayesian calibration of ApproxABFT: per-layer thresholds and check-block sizes by Optuna's TPE, resumable.

The paper's method (Xue et al., arXiv 2302.10469: "optimized per-layer thresholds via Bayesian
search", and Block-ApproxABFT's per-layer block granularity). Decision variables, per layer (a
GEMM name, or a GEMM kind with `per="kind"`): the relative threshold T1 (log-uniform on
`t1_range`, T2 = t2_ratio x T1) and the square check-block size (one of `blocks`; 0 = one block
per fold). Objective: the mean over the calibration BERs of the ABFT work overhead = (recomputed
MACs + checking MACs) / clean MACs, so a finer block pays for its checksums; constraint: at every
BER the mean accuracy drop on the calibration split is at most `delta` points. Every candidate
is evaluated with the same fault seeds (seed + trial), as the grid search does.

Sampler: TPE (Bergstra et al., NeurIPS 2011) with Optuna's constraint handling (drop - delta <= 0), `constant_liar`
for batches, seeded per batch with seed + the number of finished candidates; with a SQLite
`storage` every finished candidate is kept, and a killed search resumes: candidates left running
are marked failed and evaluated again first, so a resumed search proposes exactly what an
uninterrupted one would. Optuna is the optional extra `bayes`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.config.abft_options import AbftConfig, Blocking, Thresholds
from simulator.workload.kinds import BUILTIN_KINDS

SCHEMA = "abftsim.bayes_calibration/1"
DEFAULT_T1_RANGE = (0.125, 1024.0)


@dataclass(frozen=True)
class Score:
    """One candidate on the calibration split: per BER, mean accuracy and overheads (percent)."""

    accuracy_pct: dict[float, float]
    recovery_pct: dict[float, float]  # recomputed MACs / clean MACs
    check_pct: dict[float, float]  # checking MACs / clean MACs

    @property
    def work_pct(self) -> float:
        """The objective: mean over BERs of recovery + checking overhead."""
        return float(np.mean([self.recovery_pct[b] + self.check_pct[b] for b in self.recovery_pct]))

    def drop_points(self, clean_pct: float) -> float:
        """The worst accuracy drop over the BERs."""
        return max(clean_pct - a for a in self.accuracy_pct.values())


_FIELDS = ("accuracy_pct", "recovery_pct", "check_pct")


# scores a batch of candidate options (same fault seeds for all); the search's only contact with the model
Evaluate = Callable[[Sequence[AbftConfig]], list[Score]]


@dataclass(frozen=True)
class SearchSpace:
    """Per layer: log-uniform relative T1 and a square check-block size."""

    layers: tuple[str, ...]  # GEMM names or kinds: the keys written to the options
    t1_range: tuple[float, float] = DEFAULT_T1_RANGE
    blocks: tuple[int, ...] = (0,)
    t2_ratio: float = 1.0

    def __post_init__(self) -> None:
        lo, hi = self.t1_range
        if not 0 < lo < hi < float("inf"):
            raise ValueError(f"t1 range must satisfy 0 < low < high, got {self.t1_range}")
        if not self.layers or not self.blocks or any(b < 0 for b in self.blocks) or self.t2_ratio < 0:
            raise ValueError("need layers, block sizes >= 0 and t2_ratio >= 0")

    def distributions(self) -> dict[str, Any]:
        import optuna

        out: dict[str, Any] = {}
        for layer in self.layers:
            out[f"{layer}/t1"] = optuna.distributions.FloatDistribution(*self.t1_range, log=True)
            if len(self.blocks) > 1:
                out[f"{layer}/block"] = optuna.distributions.CategoricalDistribution(list(self.blocks))
        return out

    def config(self, base: AbftConfig, params: dict[str, Any]) -> AbftConfig:
        """The ABFT options of one candidate (relative thresholds; blocks per layer)."""
        thresholds = dict(base.thresholds)  # keyed by kind
        by_name = dict(base.layer_thresholds)  # keyed by GEMM name
        blocking = dict(base.blocking)
        for layer in self.layers:
            t1 = float(params[f"{layer}/t1"])
            target = thresholds if layer in BUILTIN_KINDS.threshold_keys else by_name
            target[layer] = Thresholds(t1=t1, t2=t1 * self.t2_ratio)
            size = int(params.get(f"{layer}/block", self.blocks[0]))
            blocking[layer] = Blocking(rows=size, cols=size)
        update = {"threshold_mode": "relative", "thresholds": thresholds, "layer_thresholds": by_name,
                  "blocking": blocking}  # fmt: skip
        return base.model_copy(update=update)


@dataclass(frozen=True)
class Trial:
    """One finished candidate of the search."""

    number: int
    params: dict[str, Any]
    score: Score
    feasible: bool


Progress = Callable[[Trial], None]


@dataclass(frozen=True)
class BayesResult:
    """The best candidate (feasible first, then least work; else least violation) and the search history."""

    abft: AbftConfig
    best: Trial
    trials: tuple[Trial, ...]
    clean_accuracy_pct: float
    delta_points: float
    study_name: str

    @property
    def feasible(self) -> bool:
        return self.best.feasible

    def to_dict(self) -> dict[str, Any]:
        def trial(t: Trial) -> dict[str, Any]:
            return {"number": t.number, "params": t.params, "feasible": t.feasible, "work_pct": t.score.work_pct,
                    **_score_json(t.score)}  # fmt: skip

        return {
            "schema": SCHEMA, "study": self.study_name, "clean_accuracy_pct": self.clean_accuracy_pct,
            "delta_points": self.delta_points, "feasible": self.feasible, "abft": self.abft.model_dump(mode="json"),
            "best": trial(self.best), "search": [trial(t) for t in self.trials],
        }  # fmt: skip


def study_name(problem: dict[str, Any]) -> str:
    """A name that changes with anything that changes a candidate's score (a stored study is reused
    only for the same problem)."""
    digest = hashlib.sha256(json.dumps(problem, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"abftsim-bayes-{digest}"


@dataclass(frozen=True)
class BayesSettings:
    """How a search runs: the constraint, the budget, the seed, batching and where it is stored.

    `storage`: an Optuna storage URL (`sqlite:///search.db`) or None (in memory); `problem`: what
    identifies the search in the storage besides the space (model, hardware, BERs, trials, ...)."""

    clean_pct: float
    delta_points: float
    budget: int
    seed: int = 0
    batch: int = 1
    storage: str | None = None
    problem: tuple[tuple[str, Any], ...] = ()
    startup: int | None = None  # random candidates before TPE (default: budget / 4, 2 to 10)

    def __post_init__(self) -> None:
        if self.budget < 1 or self.batch < 1:
            raise ValueError("budget and batch must be >= 1")

    def feasible(self, score: Score) -> bool:
        return score.drop_points(self.clean_pct) <= self.delta_points + 1e-9


def bayes_search(
    space: SearchSpace,
    evaluate: Evaluate,
    base: AbftConfig,
    settings: BayesSettings,
    progress: Callable[[Trial], None] | None = None,
) -> BayesResult:
    """Run (or resume) the TPE search until `settings.budget` candidates have finished (module docstring)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the core is silent
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # multivariate TPE
        return _search(space, evaluate, base, settings, progress)


def _search(
    space: SearchSpace,
    evaluate: Evaluate,
    base: AbftConfig,
    cfg: BayesSettings,
    progress: Callable[[Trial], None] | None,
) -> BayesResult:
    import optuna

    states = optuna.trial.TrialState
    name = study_name({**dict(cfg.problem), "space": space.__dict__, "delta": cfg.delta_points, "seed": cfg.seed})
    try:
        study = optuna.create_study(study_name=name, storage=cfg.storage, load_if_exists=True, direction="minimize")
    except Exception as exc:  # optuna / SQLAlchemy raise many types for a file that is not a study store
        raise ValueError(f"storage {cfg.storage}: not a usable Optuna study store ({type(exc).__name__})") from None
    dists = space.distributions()
    n_startup = cfg.startup if cfg.startup is not None else max(2, min(10, cfg.budget // 4))

    def sampler(offset: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(
            seed=cfg.seed + offset, n_startup_trials=n_startup, constant_liar=True, multivariate=True
        )  # fmt: skip

    # candidates a killed run left running are evaluated again first, alone, with the same parameters
    for t in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        study.tell(t.number, state=states.FAIL)
        study.enqueue_trial(t.params)
    while True:
        done = len(study.get_trials(deepcopy=False, states=(states.COMPLETE,)))
        waiting = len(study.get_trials(deepcopy=False, states=(states.WAITING,)))
        size = min(waiting or cfg.batch, cfg.budget - done)
        if size <= 0:
            break
        study.sampler = sampler(done)
        asked = [study.ask(dists) for _ in range(size)]
        scores = evaluate([space.config(base, t.params) for t in asked])
        for trial, score in zip(asked, scores, strict=True):
            trial.set_user_attr("drop_points", score.drop_points(cfg.clean_pct))
            trial.set_constraint("drop_over_delta", score.drop_points(cfg.clean_pct) - cfg.delta_points)  # <= 0: ok
            trial.set_user_attr("score", _score_json(score))
            study.tell(trial, score.work_pct)
            if progress is not None:
                progress(Trial(trial.number, dict(trial.params), score, cfg.feasible(score)))
    finished = study.get_trials(deepcopy=False, states=(states.COMPLETE,))
    scored = [(t, _score_from_json(t.user_attrs["score"])) for t in finished]
    trials = tuple(Trial(t.number, dict(t.params), s, cfg.feasible(s)) for t, s in scored)
    best = min(trials, key=lambda t: (not t.feasible, 0.0 if t.feasible else t.score.drop_points(cfg.clean_pct),
                                      t.score.work_pct, t.number))  # fmt: skip
    return BayesResult(space.config(base, best.params), best, trials, cfg.clean_pct, cfg.delta_points, name)


def _score_json(s: Score) -> dict[str, Any]:
    return {k: {repr(b): v for b, v in getattr(s, k).items()} for k in _FIELDS}


def _score_from_json(d: dict[str, Any]) -> Score:
    return Score(
        *({float(b): float(v) for b, v in d[k].items()} for k in ("accuracy_pct", "recovery_pct", "check_pct"))
    )
