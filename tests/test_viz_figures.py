"""`abftsim plot`: every figure kind from a store (or a run's trace) as PNG and SVG; Pareto front."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulator import cli
from simulator.campaign.plan import TrialTask, plan_sweep
from simulator.campaign.spec import load_sweep
from simulator.campaign.store import ResultStore
from simulator.campaign.sweep import run_sweep
from simulator.executors import InlineExecutor
from simulator.viz.pareto import pareto_mask, short_label

BER_SWEEP = """
name: ber
seed: 1
trials: 4
base: {workload: vit_block_gemms, policies: [none, abft, approx_abft]}
axes:
  faults.ber: [1.0e-10, 1.0e-9, 1.0e-8]
"""
DSE_SWEEP = """
name: dse
base: {workload: vit_block_gemms, policies: [abft], faults: {ber: 0.0}}
points:
  - {hw.array.rows: 16, hw.array.cols: 16}
  - {hw.array.rows: 32, hw.array.cols: 32}
axes:
  hw.checksum_unit.placement: [in_array, checksum_pe, side_unit]
"""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def fake_trial(task: TrialTask) -> dict:
    """Plausible plain-value results in the trial schema (no simulation: figures only)."""
    rng = np.random.default_rng(task.seed)
    hw = task.config["hw"]
    ber = task.config["faults"]["ber"]
    rows, placement = hw["array"]["rows"], hw["checksum_unit"]["placement"]
    faults = int(rng.poisson(ber * 1e11)) if ber else 0
    scale = {"in_array": 1.0, "checksum_pe": 0.3, "side_unit": 2.0}[placement] * 32 / rows
    policies = []
    for name in task.config["policies"]:
        ovh = (
            0.0 if name == "none" else scale * (1 + faults * (0.05 if name == "abft" else 0.01)) * rng.uniform(0.8, 1.2)
        )
        escaped = faults if name == "none" else int(rng.binomial(faults, 0.002))
        cycles = {"compute_cycles": 1e6, "memory_stall_cycles": 2e5, "checksum_stall_cycles": 1e4 * ovh,
                  "recompute_cycles": 1e4 * ovh, "total_cycles": 1.3e6, "energy_pj": 1e6}  # fmt: skip
        kinds = {k: dict(cycles) for k in ("qkv", "fc1")}
        policies.append({
            "policy": name, "cycles": 1000, "latency_s": 1e-3 * (1 + ovh / 100) * 32 / rows, "energy_pj": 1e9,
            "latency_overhead_pct": ovh, "energy_overhead_pct": ovh * 0.7, "faults_injected": faults,
            "detected": 0, "masked": 0, "corrected": 0, "recomputed": 0, "tolerated": 0, "escaped": escaped,
            "recomputations": 0, "recomputed_macs": 0, "energy_breakdown_pj": {}, "kinds": kinds,
        })  # fmt: skip
    area = rows * rows + {"in_array": 0, "checksum_pe": 2 * rows + 1, "side_unit": 8}[placement]
    return {"schema": "abftsim.trial/1", "area_pe": {"array": rows * rows, "checksum": 0, "total": area},
            "baseline": {"cycles": 1000, "latency_s": 1e-3, "energy_pj": 1e9}, "policies": policies}  # fmt: skip


def make_store(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    spec, source = load_sweep(path)
    plan = plan_sweep(spec, source)
    db = tmp_path / f"{name}.db"
    with ResultStore.for_sweep(db, plan) as store:
        run_sweep(plan, store, InlineExecutor(), runner=fake_trial)
    return db


def plot(tmp_path: Path, source: Path, kind: str, *extra: str) -> tuple[bytes, bytes]:
    out = tmp_path / "plots"
    assert cli.main(["plot", str(source), "--kind", kind, "--out", str(out), "--quiet", *extra]) == 0
    png, svg = (out / f"{source.stem}_{kind}.png").read_bytes(), (out / f"{source.stem}_{kind}.svg").read_bytes()
    assert png.startswith(PNG_MAGIC) and b"<svg" in svg[:2000]
    return png, svg


def test_overhead_vs_ber_and_layer_breakdown(tmp_path):
    db = make_store(tmp_path, BER_SWEEP, "ber")
    png, svg = plot(tmp_path, db, "overhead_vs_ber")
    assert b"approx_abft" in svg and b"P(escape | fault)" in svg
    assert plot(tmp_path, db, "overhead_vs_ber") == (png, svg)  # reproducible bytes
    _, svg = plot(tmp_path, db, "layer_breakdown", "--point", "1")
    assert b"qkv" in svg and b"recompute" in svg


def test_pareto_from_a_design_space_store(tmp_path):
    db = make_store(tmp_path, DSE_SWEEP, "dse")
    _, svg = plot(tmp_path, db, "pareto")
    assert b"checksum_pe" in svg and b"area proxy" in svg


def test_plot_errors_are_clean(tmp_path, capsys):
    db = make_store(tmp_path, DSE_SWEEP, "dse")
    assert cli.main(["plot", str(db), "--kind", "overhead_vs_ber", "--out", str(tmp_path / "x")]) == 2
    assert "needs points with faults.ber > 0" in capsys.readouterr().err
    assert cli.main(["plot", str(db), "--kind", "pareto", "--policy", "dmr", "--out", str(tmp_path / "x")]) == 2
    assert "--policy: 'dmr' is not in" in capsys.readouterr().err
    bad = tmp_path / "trace.json"
    bad.write_text("{not json")
    assert cli.main(["plot", str(bad), "--kind", "timeline", "--out", str(tmp_path / "x")]) == 2
    assert "not a Chrome trace JSON file" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_timeline_from_a_run_trace(tmp_path):
    workload = tmp_path / "tiny.yaml"
    workload.write_text(
        "name: tiny\ngemms:\n  - {name: fc1, M: 64, K: 256, N: 128}\n  - {name: fc2, M: 64, K: 128, N: 64}\n"
    )
    trace = tmp_path / "run_trace.json"
    args = ["run", "--workload", str(workload), "--policy", "abft", "--ber", "1e-6", "--trace", str(trace), "--quiet"]
    assert cli.main(args) == 0
    _, svg = plot(tmp_path, trace, "timeline")
    assert b"dma" in svg and b"array lane 0" in svg
    _, svg = plot(tmp_path, trace, "timeline", "--cycles", "0:2000")
    assert b"cycle" in svg


def test_pareto_mask_and_labels():
    points = [(1, 5, 10), (2, 2, 10), (3, 3, 10), (1, 5, 10), (0.5, 9, 20), (4, 4, 1)]
    # (3,3,10) is dominated by (2,2,10); equal vectors do not dominate each other
    assert pareto_mask(points) == [True, True, False, True, True, True]
    params = {
        "hw.array.rows": 32,
        "hw.array.cols": 32,
        "hw.array.dataflow": "ws",
        "hw.checksum_unit.placement": "side_unit",
    }
    assert short_label(params) == "32x32 ws side_unit"


@pytest.mark.parametrize("kind", ["overhead_vs_ber", "layer_breakdown", "pareto"])
def test_plot_of_missing_store_is_clean(tmp_path, capsys, kind):
    assert cli.main(["plot", str(tmp_path / "none.db"), "--kind", kind, "--out", str(tmp_path)]) == 2
    assert "no such result store" in capsys.readouterr().err


def test_series_of_other_sweep_axes_get_distinct_colours(tmp_path):
    from simulator.campaign.summary import summarize
    from simulator.viz.overhead import overhead_vs_ber

    two_arrays = BER_SWEEP.replace("name: ber", "name: ber_rows") + "  hw.array.rows: [16, 32]\n"
    with ResultStore.read(make_store(tmp_path, two_arrays, "ber_rows")) as store:
        figure = overhead_vs_ber(summarize(store.points(), store.trials()), 0.95)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 3 * 2  # three policies x two array sizes
    assert len({line.get_color() for line in lines}) == 6
    by_label = {line.get_label(): line for line in lines}
    assert by_label["abft (rows=16)"].get_linestyle() != by_label["abft (rows=32)"].get_linestyle()
