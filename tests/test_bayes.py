"""Bayesian calibration (simulator.functional.bayes): constraint handling, per-layer options, resumable storage."""

from __future__ import annotations

import dataclasses
import json

import pytest

pytest.importorskip("optuna")

from simulator.config.abft_options import AbftConfig, Blocking, Thresholds
from simulator.functional.bayes import BayesSettings, Score, SearchSpace, bayes_search

BER = 1e-6
LIMITS = {"l0": 8.0, "l1": 64.0}  # a layer loses 2 points when its T1 exceeds its limit


def synthetic(calls: list[int] | None = None, fail_on_call: int | None = None):
    """An evaluator: work 100 / (1 + T1) per layer plus 5 points of checking per blocked layer;
    accuracy 100 minus 2 per layer above its limit (blocks of 2 double a layer's limit)."""

    def evaluate(configs):
        if calls is not None:
            calls.append(len(configs))
            if fail_on_call is not None and len(calls) == fail_on_call:
                raise KeyboardInterrupt  # a kill in the middle of a batch
        out = []
        for c in configs:
            drop = recovery = check = 0.0
            for layer, limit in LIMITS.items():
                t1, block = c.layer_thresholds[layer].t1, c.blocking[layer].rows
                recovery += 100.0 / (1.0 + t1)
                check += 5.0 if block else 0.0
                drop += 2.0 if t1 > limit * (2 if block else 1) else 0.0
            out.append(Score({BER: 100.0 - drop}, {BER: recovery}, {BER: check}))
        return out

    return evaluate


SPACE = SearchSpace(("l0", "l1"), blocks=(0, 2), t2_ratio=0.5)


def test_space_writes_per_layer_thresholds_and_blocks():
    base = AbftConfig(thresholds={"fc1": Thresholds(t1=3, t2=3)})
    cfg = SPACE.config(base, {"l0/t1": 4.0, "l0/block": 2, "l1/t1": 0.5, "l1/block": 0})
    assert cfg.threshold_mode == "relative"
    assert cfg.thresholds == {"fc1": Thresholds(t1=3, t2=3)}  # kinds stay; GEMM names go per layer
    assert cfg.layer_thresholds == {"l0": Thresholds(t1=4, t2=2), "l1": Thresholds(t1=0.5, t2=0.25)}
    assert cfg.blocking == {"l0": Blocking(rows=2, cols=2), "l1": Blocking(rows=0, cols=0)}
    assert set(SPACE.distributions()) == {"l0/t1", "l0/block", "l1/t1", "l1/block"}
    assert set(SearchSpace(("l0",)).distributions()) == {"l0/t1"}  # one block size: not a variable
    with pytest.raises(ValueError, match="0 < low < high"):
        SearchSpace(("l0",), t1_range=(0.0, 1.0))


def test_search_respects_the_constraint_and_is_seeded():
    settings = BayesSettings(clean_pct=100.0, delta_points=1.0, budget=24, seed=3, batch=2)
    result = bayes_search(SPACE, synthetic(), AbftConfig(), settings)
    again = bayes_search(SPACE, synthetic(), AbftConfig(), settings)
    assert [t.params for t in result.trials] == [t.params for t in again.trials]
    assert len(result.trials) == 24
    # infeasible candidates (T1 above a limit) have less work; the best is still a feasible one
    # and no feasible candidate does less work
    assert result.feasible and result.best.score.drop_points(100.0) <= 1.0
    assert any(not t.feasible for t in result.trials)
    assert result.best.score.work_pct == min(t.score.work_pct for t in result.trials if t.feasible)
    l0 = result.abft.layer_thresholds["l0"].t1
    assert l0 <= LIMITS["l0"] * (2 if result.abft.blocking["l0"].rows else 1)


def test_infeasible_everywhere_returns_the_least_violation():
    settings = BayesSettings(clean_pct=100.0, delta_points=-1.0, budget=5, seed=0)
    result = bayes_search(SPACE, synthetic(), AbftConfig(), settings)
    assert not result.feasible
    assert result.best.score.drop_points(100.0) == min(t.score.drop_points(100.0) for t in result.trials) == 0.0


def test_a_killed_search_resumes_to_the_same_candidates(tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    settings = BayesSettings(clean_pct=100.0, delta_points=1.0, budget=10, seed=1, batch=2, storage=url, startup=4)
    calls: list[int] = []
    with pytest.raises(KeyboardInterrupt):  # killed while scoring the third batch
        bayes_search(SPACE, synthetic(calls, fail_on_call=3), AbftConfig(), settings)
    resumed_calls: list[int] = []
    resumed = bayes_search(SPACE, synthetic(resumed_calls), AbftConfig(), settings)
    # the two candidates left running are scored again first, together, then the search goes on
    assert calls == [2, 2, 2] and resumed_calls == [2, 2, 2]
    uninterrupted = bayes_search(SPACE, synthetic(), AbftConfig(), dataclasses.replace(settings, storage=None))
    assert [t.params for t in resumed.trials] == [t.params for t in uninterrupted.trials]
    assert (resumed.best.params, resumed.best.score) == (uninterrupted.best.params, uninterrupted.best.score)
    assert resumed.abft == uninterrupted.abft
    # a finished search does no more work when run again
    assert bayes_search(SPACE, synthetic(calls), AbftConfig(), settings).trials == resumed.trials
    assert calls == [2, 2, 2]


def test_cli_bayes_calibration_resumes_from_its_storage(tmp_path, capsys):
    from simulator import cli
    from simulator.config.loader import load_abft

    out, report, db = tmp_path / "th.yaml", tmp_path / "cal.json", tmp_path / "search.db"
    argv = ["calibrate", "--search", "bayes", "--budget", "2", "--limit", "8", "--set", "array.rows=8", "--set",
            "array.cols=8", "--ber", "2e-6", "--trials", "1", "--validate-trials", "0", "--blocks", "0,4",
            "--storage", str(db), "--out", str(out), "--json", str(report), "--quiet"]  # fmt: skip
    assert cli.main(argv) == 0 and capsys.readouterr().out == ""
    first = json.loads(report.read_text())
    assert first["schema"] == "abftsim.bayes_calibration/1" and len(first["search"]) == 2
    opts = load_abft(out)
    names = {f"block{i}.{k}" for i in range(2) for k in ("qkv", "qk", "av", "proj", "fc1", "fc2")}
    assert set(opts.thresholds) == {"patch_embed", "head"} and set(opts.layer_thresholds) == names
    assert {b.rows for b in opts.blocking.values()} <= {0, 4}
    assert cli.main(argv) == 0  # the stored search is complete: nothing is evaluated again
    assert json.loads(report.read_text())["search"] == first["search"]
    assert cli.main(["accuracy", "--limit", "8", "--set", "array.rows=8", "--set", "array.cols=8", "--ber", "2e-6",
                     "--trials", "1", "--policy", "approx_abft", "--abft", str(out), "--quiet"]) == 0  # fmt: skip
