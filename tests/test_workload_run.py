"""Imported networks run end to end: timing, faults and every policy, from the API and the CLI."""

from __future__ import annotations

import json

import onnx
import pytest

from simulator import api, cli
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_workload
from simulator.workload.onnx_import import import_onnx
from simulator.workload.onnx_models import resnet50, small_cnn

FATES = ("masked", "corrected", "recomputed", "tolerated", "escaped")


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "resnet50.onnx"
    onnx.save(resnet50(), str(path))
    return path


def test_resnet50_fault_free_timing(resnet_file):
    report = api.run("edge_32x32", resnet_file, ["none", "detect_only", "abft"], FaultSpec(ber=0.0))
    none, detect, abft = report.policies
    assert report.workload["name"] == "resnet50" and len(report.workload["gemms"]) == 54
    assert {layer.kind for layer in none.layers} == {"conv", "head"}
    assert none.cycles == report.baseline.cycles
    # the checksum PEs cost a few cycles per fold, and without faults nothing is recomputed
    assert 0 < detect.cycles - none.cycles < 0.01 * none.cycles and abft.cycles == detect.cycles
    assert sum(layer.total_cycles for layer in none.layers) == none.cycles


def test_resnet50_with_faults_from_the_command_line(resnet_file, tmp_path, capsys):
    faults = tmp_path / "faults.yaml"
    faults.write_text("ber: 1.0e-8\ngemms: [layer4.2.conv3, fc]\nseed: 3\n")
    argv = ["run", "--workload", str(resnet_file), "--faults", str(faults), "--policy", "none", "--policy", "abft",
            "--json", "-"]  # fmt: skip
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    none, abft = data["policies"]
    assert none["faults_injected"] > 0 and none["escaped"] > 0 and none["detected"] == 0
    assert abft["detected"] > 0 and abft["recomputed_macs"] > 0 and abft["latency_overhead_pct"] > 0
    for layer in abft["layers"]:  # only the two chosen layers saw faults
        assert (layer.get("faults_injected", 0) > 0) == (layer["name"] in ("layer4.2.conv3", "fc"))


def test_grouped_and_depthwise_convolutions_under_every_policy():
    wl = import_onnx(small_cnn(batch="N"), "cnn", batch=2)
    report = api.run("edge_32x32", wl, None, FaultSpec(ber=2e-6), seed=0, overrides=["array.rows=8", "array.cols=8"])
    by = {p.policy: p for p in report.policies}
    assert set(by) == {"none", "detect_only", "abft", "abft_correct", "approx_abft", "dmr"}
    for p in report.policies:
        assert p.outcomes["faults_injected"] == sum(p.outcomes[f] for f in FATES)
    assert by["none"].outcomes["faults_injected"] > 0 and by["none"].outcomes["detected"] == 0
    assert by["abft"].outcomes["detected"] > 0 and by["abft"].outcomes["recomputed"] > 0
    assert by["abft"].outcomes["escaped"] < by["none"].outcomes["escaped"]


def test_workload_import_writes_yaml_that_loads_back(tmp_path, capsys):
    model = tmp_path / "cnn.onnx"
    onnx.save(small_cnn(batch="N"), str(model))
    out = tmp_path / "cnn.yaml"
    assert cli.main(["workload", "import", str(model), "-o", str(out), "--batch", "3"]) == 0
    assert "wrote" in capsys.readouterr().err
    text = out.read_text()
    assert text.startswith("# Imported from cnn.onnx") and "Conv as im2col" in text
    assert load_workload(out) == load_workload(model, batch=3)
    assert cli.main(["workload", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in shown.splitlines()[4:]}
    assert rows["grouped"] == ["conv", "75", "36", "8", "4", "86,400"]  # 3 images x 5x5 pixels, 4 groups
    assert rows["dw"] == ["conv", "75", "9", "1", "32", "21,600"]


def test_bad_models_exit_2_with_one_line(tmp_path, capsys):
    model = tmp_path / "cnn.onnx"
    onnx.save(small_cnn(), str(model))
    assert cli.main(["workload", "import", str(model), "--batch", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"abftsim: error: {model}: input 'input': the batch dimension")
    assert cli.main(["workload", "import", str(tmp_path / "x.yaml")]) == 2
    assert "expected an ONNX model" in capsys.readouterr().err
    assert cli.main(["workload", "import", str(model), "--dim", "seq=0"]) == 2
    assert "--dim seq=0: expected NAME=SIZE" in capsys.readouterr().err
    assert cli.main(["run", "--workload", "vit_block_gemms", "--batch", "2"]) == 2
    assert "batch: applies to a `vit` or `swin` preset" in capsys.readouterr().err


def test_a_sweep_over_an_imported_model(tmp_path, capsys):
    """An .onnx workload beside the sweep file; imported kinds (conv, head) travel through the store."""
    onnx.save(small_cnn(), str(tmp_path / "cnn.onnx"))
    sweep = tmp_path / "cnn_sweep.yaml"
    sweep.write_text(
        "name: cnn_sweep\nseed: 0\ntrials: 1\nbase:\n  hw: edge_32x32\n  workload: cnn.onnx\n"
        "  faults: {ber: 1.0e-6}\n  policies: [none, abft]\naxes:\n  hw.array.rows: [8, 16]\n"
    )
    db = tmp_path / "cnn.db"
    assert cli.main(["sweep", str(sweep), "--db", str(db), "--workers", "1", "--quiet"]) == 0
    assert cli.main(["export", str(db), "--csv", "-"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 1 + 2 * 2 and rows[0].startswith("point,trial,seed")
