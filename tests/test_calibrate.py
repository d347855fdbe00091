"""Accuracy-driven ApproxABFT thresholds (simulator.functional.calibrate) and `abftsim calibrate`."""

from __future__ import annotations

import json

import pytest

from simulator import cli
from simulator.cli.tables import format_calibration
from simulator.config.loader import load_abft, load_hw
from simulator.functional import inference
from simulator.functional.bundle import load_bundle
from simulator.functional.calibrate import Candidate, calibrate_thresholds
from simulator.functional.inference import Evaluation

GRID = (0.0, 1.0, 2.0, 4.0, 8.0)
TOTAL = 1000


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


def _fake_evaluate(penalty):
    """An `evaluate` stand-in: accuracy falls by penalty(kind, T1) points per kind; every kind's
    recomputed MACs fall as 100 / (1 + T1)."""

    def evaluate(params, data, hw, policy="none", faults=None, abft=None, draws=None, outcomes=True):
        assert outcomes is (abft is None)  # the search's passes tally no fates (it reads none); the clean one may
        if abft is None:
            return Evaluation(TOTAL, TOTAL, 10_000, 0, 0)
        drop = sum(penalty(kind, th.t1) for kind, th in abft.thresholds.items())
        by_kind = {kind: round(100 / (1 + th.t1)) for kind, th in abft.thresholds.items()}
        return Evaluation(TOTAL - round(10 * drop), TOTAL, 10_000, sum(by_kind.values()), 1, by_kind)

    return evaluate


def test_greedy_search_uniform_then_per_kind(monkeypatch, bundle):
    # fc2 costs 2 points above T = 2, head 0.5 above T = 1; the rest is free
    def penalty(kind, t):
        return {"fc2": 2.0 if t > 2 else 0.0, "head": 0.5 if t > 1 else 0.0}.get(kind, 0.0)

    monkeypatch.setattr(inference, "evaluate", _fake_evaluate(penalty))
    hw = load_hw("edge_32x32")
    cal = calibrate_thresholds(bundle, hw, [1e-6], delta_points=1.0, trials=1, grid=GRID)
    t1 = {kind: th.t1 for kind, th in cal.abft.thresholds.items()}
    # uniform stage: 2 is the cheapest feasible value (4 and 8 break fc2); then every kind but fc2 climbs
    assert t1 == {**dict.fromkeys(("av", "fc1", "head", "patch_embed", "proj", "qk", "qkv"), 8.0), "fc2": 2.0}
    assert all(th.t2 == th.t1 for th in cal.abft.thresholds.values())
    assert cal.feasible and cal.abft.threshold_mode == "relative"
    assert cal.clean_accuracy_pct - cal.best.accuracy_pct[1e-6] == pytest.approx(0.5)
    # the search never evaluates a candidate twice
    assert len({c.levels for c in cal.history}) == len(cal.history)


def test_infeasible_constraint_returns_the_smallest_thresholds(monkeypatch, bundle):
    monkeypatch.setattr(inference, "evaluate", _fake_evaluate(lambda kind, t: 0.5))
    cal = calibrate_thresholds(bundle, load_hw("edge_32x32"), [1e-6], delta_points=1.0, trials=1, grid=GRID)
    assert not cal.feasible and len(cal.history) == len(GRID)
    assert all(th.t1 == 0.0 for th in cal.abft.thresholds.values())
    assert "warning" in format_calibration(cal)


def test_calibration_on_the_real_model_writes_a_loadable_abft_yaml(tmp_path, bundle):
    hw = load_hw("edge_32x32", ["array.rows=8", "array.cols=8"])
    split = bundle.split("calibration").head(24)
    cal = calibrate_thresholds(bundle, hw, [1e-6], trials=1, grid=(0.0, 1024.0), split=split)
    assert cal.split == "calibration" and cal.images == 24 and 2 <= len(cal.history) <= 10
    path = tmp_path / "thresholds.yaml"
    path.write_text(cal.thresholds_yaml(), encoding="utf-8")
    loaded = load_abft(path)
    assert loaded == cal.abft
    assert set(loaded.thresholds) == {"patch_embed", "qkv", "qk", "av", "proj", "fc1", "fc2", "head"}
    assert cal.to_dict()["schema"] == "abftsim.calibration/1"


def test_cli_calibrate_writes_thresholds_that_run_accepts(tmp_path, capsys):
    out, report = tmp_path / "th.yaml", tmp_path / "cal.json"
    code = cli.main(["calibrate", "--limit", "16", "--set", "array.rows=8", "--set", "array.cols=8", "--ber", "1e-6",
                     "--grid", "0,1024", "--trials", "1", "--validate-trials", "1", "--out", str(out),
                     "--json", str(report), "--quiet"])  # fmt: skip
    assert code == 0 and capsys.readouterr().out == ""
    data = json.loads(report.read_text())
    assert data["validation"]["split"] == "test" and data["validation"]["images"] == 16
    assert {p["policy"] for p in data["validation"]["points"]} == {"none", "abft", "approx_abft"}
    run = ["run", "--workload", "vit_block_gemms", "--policy", "approx_abft", "--ber", "0", "--abft", str(out)]
    assert cli.main([*run, "--quiet"]) == 0


def test_cli_calibrate_bad_grid_is_one_line_exit_2(tmp_path, capsys):
    assert cli.main(["calibrate", "--grid", "a,b", "--out", str(tmp_path / "x.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--grid: expected comma-separated numbers" in err and err.count("\n") == 1
    assert not (tmp_path / "x.yaml").exists()


def test_uniform_stage_does_not_assume_feasibility_falls_with_the_threshold(monkeypatch, bundle):
    # tiny qkv thresholds cost accuracy too (more recompute passes that give up); fc2 breaks above 4
    def penalty(kind, t):
        return 2.0 if (kind == "qkv" and t < 1) or (kind == "fc2" and t > 4) else 0.0

    monkeypatch.setattr(inference, "evaluate", _fake_evaluate(penalty))
    cal = calibrate_thresholds(bundle, load_hw("edge_32x32"), [1e-6], delta_points=1.0, trials=1, grid=GRID)
    t1 = {kind: th.t1 for kind, th in cal.abft.thresholds.items()}
    assert cal.feasible and t1["fc2"] == 4.0 and t1["qkv"] == 8.0 and set(t1.values()) == {4.0, 8.0}


class _Killed(Exception):
    pass


def _counting(evaluate, calls):
    def wrapped(params, data, hw, policy="none", faults=None, abft=None, draws=None, outcomes=True):
        calls.append(abft is not None)
        return evaluate(params, data, hw, policy, faults, abft, draws, outcomes)

    return wrapped


def _fc2_breaks_above_2(kind, t):
    return {"fc2": 2.0 if t > 2 else 0.0, "head": 0.5 if t > 1 else 0.0}.get(kind, 0.0)


def test_a_killed_grid_search_resumes_from_its_finished_candidates(monkeypatch, bundle):
    calls: list[bool] = []
    monkeypatch.setattr(inference, "evaluate", _counting(_fake_evaluate(_fc2_breaks_above_2), calls))
    hw = load_hw("edge_32x32")
    full = calibrate_thresholds(bundle, hw, [1e-6], delta_points=1.0, trials=1, grid=GRID)
    finished = []

    def kill_after_four(cand):
        finished.append(cand)
        if len(finished) == 4:
            raise _Killed

    with pytest.raises(_Killed):
        calibrate_thresholds(bundle, hw, [1e-6], delta_points=1.0, trials=1, grid=GRID, progress=kill_after_four)
    # the journal round trip is exact
    known = {c.levels: Candidate.from_json(json.loads(json.dumps(c.to_json()))) for c in finished}
    assert list(known.values()) == finished
    calls.clear()
    new = []
    resumed = calibrate_thresholds(bundle, hw, [1e-6], delta_points=1.0, trials=1, grid=GRID, progress=new.append,
                                   known=known)  # fmt: skip
    assert resumed.abft == full.abft and resumed.best == full.best
    assert [c.levels for c in resumed.history] == [c.levels for c in full.history]
    assert len(new) == len(full.history) - 4 == sum(calls)  # only the unfinished candidates ran


def test_cli_grid_storage_resumes_and_refuses_another_problem(monkeypatch, tmp_path, capsys):
    calls: list[bool] = []
    monkeypatch.setattr(inference, "evaluate", _counting(_fake_evaluate(_fc2_breaks_above_2), calls))
    journal = tmp_path / "grid.jsonl"
    argv = ["calibrate", "--limit", "8", "--ber", "1e-6", "--trials", "1", "--grid", "0,1,2,4,8", "--delta", "1",
            "--validate-trials", "0", "--storage", str(journal), "--quiet"]  # fmt: skip
    assert cli.main([*argv, "--out", str(tmp_path / "a.yaml")]) == 0
    first = sum(calls)
    lines = journal.read_text().splitlines()
    assert first > 0 and len(lines) == 1 + first  # header + one line per candidate
    # a kill mid-write leaves a torn line: it is dropped, and the candidate runs again
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    calls.clear()
    assert cli.main([*argv, "--out", str(tmp_path / "b.yaml")]) == 0
    assert sum(calls) == 1
    assert (tmp_path / "a.yaml").read_text() == (tmp_path / "b.yaml").read_text()
    calls.clear()
    assert cli.main([*argv, "--out", str(tmp_path / "c.yaml")]) == 0
    assert sum(calls) == 0
    # another problem (delta) does not reuse the journal
    capsys.readouterr()
    other = list(argv)
    other[other.index("--delta") + 1] = "2"
    assert cli.main([*other, "--out", str(tmp_path / "d.yaml")]) == 2
    err = capsys.readouterr().err
    assert "another calibration problem" in err and len(err.strip().splitlines()) == 1
    other[other.index("--storage") + 1] = str(tmp_path / "not_a_journal.db")
    (tmp_path / "not_a_journal.db").write_bytes(b"SQLite format 3\x00\xff")
    assert cli.main([*other, "--out", str(tmp_path / "e.yaml")]) == 2
    assert "not a grid search journal" in capsys.readouterr().err
