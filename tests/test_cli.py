"""The `abftsim` command line: run, list, JSON/CSV contract, exit codes."""

from __future__ import annotations

import csv
import json

from simulator import cli

REQUIRED_POLICY_KEYS = {
    "policy", "cycles", "latency_s", "energy_pj", "energy_breakdown_pj", "latency_overhead_pct",
    "energy_overhead_pct", "faults_injected", "detected", "corrected", "recomputations", "recomputed_macs",
    "escaped", "layers",
}  # fmt: skip
REQUIRED_LAYER_KEYS = {
    "name", "kind", "M", "K", "N", "count", "folds", "compute_cycles", "stall_cycles", "total_cycles", "energy_pj",
}  # fmt: skip


def run_json(capsys, *args: str) -> dict:
    assert cli.main(["run", "--json", "-", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_default_run_leads_with_the_comparison_and_groups_layers_by_kind(capsys):
    assert cli.main(["run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("vit_base_16 (74 GEMMs, 17.564 GMAC) on edge_32x32")
    assert lines[1].startswith("baseline (none, fault-free)") and lines[5].startswith("policy ")
    assert [line.split()[0] for line in lines[7:13]] == ["none", "detect_only", "abft", "abft_correct",
                                                         "approx_abft", "dmr"]  # fmt: skip
    # per kind for the five protected policies, not for `none`; the 12 blocks' fc2 layers in one row
    titles = [line for line in lines if line.startswith("per GEMM kind under policy")]
    assert [t.split()[5] for t in titles] == ["detect_only", "abft", "abft_correct", "approx_abft", "dmr"]
    assert not any("block11.fc2" in line for line in lines)
    fc2 = [line.split() for line in lines if line.startswith("fc2 ")]
    assert len(fc2) == 5 and all(row[1] == "12" for row in fc2)


def test_kind_rows_sum_the_layer_rows(capsys):
    """The grouped table against the JSON's per-layer numbers (an independent sum)."""
    args = ["--workload", "vit_tiny_16", "--policy", "abft", "--ber", "1e-9"]
    data = run_json(capsys, *args)
    assert cli.main(["run", *args]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[10:]}
    layers = data["policies"][0]["layers"]
    for kind in ("qkv", "fc2", "head"):
        mine = [x for x in layers if x["kind"] == kind]
        assert int(rows[kind][1]) == len(mine)
        # kind GEMMs GMAC folds compute mem-stall wb-stall chk-stall recompute total ... faults escaped
        assert int(rows[kind][6].replace(",", "")) == sum(x["writeback_stall_cycles"] for x in mine)
        assert int(rows[kind][9].replace(",", "")) == sum(x["total_cycles"] for x in mine)
        assert int(rows[kind][13].replace(",", "")) == sum(x["faults_injected"] for x in mine)


def test_layers_option_prints_every_layer_of_every_policy(capsys):
    assert cli.main(["run", "--workload", "vit_tiny_16", "--policy", "none", "--policy", "abft", "--layers"]) == 0
    out = capsys.readouterr().out
    assert out.count("block11.fc2 ") == 2 and "per GEMM kind" not in out


def test_json_contract(capsys):
    data = run_json(capsys, "--workload", "vit_block_gemms", "--policy", "none", "--ber", "0")
    assert data["schema"] == "abftsim.report/1"
    assert data["hw"]["name"] == "edge_32x32" and data["hw"]["array"]["rows"] == 32
    assert data["workload"]["name"] == "vit_block_gemms" and len(data["workload"]["gemms"]) == 6
    assert set(data["baseline"]) >= {"cycles", "latency_s", "energy_pj", "energy_breakdown_pj"}
    (pol,) = data["policies"]
    assert set(pol) >= REQUIRED_POLICY_KEYS
    assert all(set(layer) >= REQUIRED_LAYER_KEYS for layer in pol["layers"])
    # fault-free `none` is the baseline itself
    assert pol["cycles"] == data["baseline"]["cycles"] and pol["latency_overhead_pct"] == 0
    assert sum(layer["total_cycles"] for layer in pol["layers"]) == pol["cycles"]
    assert abs(sum(pol["energy_breakdown_pj"].values()) - pol["energy_pj"]) < 1e-6 * pol["energy_pj"]
    assert pol["latency_s"] == pol["cycles"] / 1e9


def test_layer_cycles_cover_all_instances(capsys):
    data = run_json(capsys, "--hw", "scalesim_compat", "--workload", "vit_block_gemms")
    qk = next(layer for layer in data["policies"][0]["layers"] if layer["name"] == "qk")
    # 12 heads x ceil(197/32)^2 = 49 folds, each 32+32+64-2 = 126 cycles, no overlap
    assert qk["folds"] == 12 * 49 and qk["compute_cycles"] == 12 * 49 * 126 == qk["total_cycles"]


def test_set_changes_the_array(capsys):
    data = run_json(capsys, "--hw", "scalesim_compat", "--workload", "vit_block_gemms", "--set", "array.rows=8",
                    "--set", "array.dataflow=ws")  # fmt: skip
    assert data["hw"]["array"]["rows"] == 8 and data["hw"]["array"]["dataflow"] == "ws"
    fc1 = next(layer for layer in data["policies"][0]["layers"] if layer["name"] == "fc1")
    # WS: ceil(768/8) * ceil(3072/32) = 96 * 96 folds of 2*8 + 32 + 197 - 2 = 243 cycles
    assert fc1["folds"] == 9216 and fc1["compute_cycles"] == 9216 * 243


def test_same_inputs_give_byte_identical_json(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli.main(["run", "--quiet", "--json", str(a)]) == 0
    assert cli.main(["run", "--quiet", "--json", str(b)]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_csv_has_a_row_per_layer(tmp_path):
    path = tmp_path / "out" / "layers.csv"
    assert cli.main(["run", "--quiet", "--workload", "vit_block_gemms", "--policy", "none", "--csv", str(path)]) == 0
    rows = list(csv.DictReader(path.open()))
    assert [r["name"] for r in rows] == ["qkv", "qk", "av", "proj", "fc1", "fc2"]
    assert rows[0]["policy"] == "none" and int(rows[0]["M"]) == 197


def test_bad_input_leaves_no_result_file(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert cli.main(["run", "--set", "array.rows=0", "--json", str(path)]) == 2
    assert not path.exists()
    assert "array.rows: must be > 0, got 0" in capsys.readouterr().err


def test_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "edge_32x32" in out and "vit_base_16" in out and "none" in out and "paper_ber" in out


def test_help_and_usage_errors(capsys):
    for argv in (["--help"], ["run", "--help"], ["list", "--help"]):
        try:
            cli.main(argv)
        except SystemExit as exc:
            assert exc.code == 0
    try:
        cli.main(["frobnicate"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "invalid choice" in err


def test_fault_flags_are_validated(capsys):
    assert cli.main(["run", "--ber", "2", "--quiet"]) == 2
    assert "command line: faults.ber: must be <= 1, got 2" in capsys.readouterr().err
    assert cli.main(["run", "--sites", "acc,flux", "--quiet"]) == 2
    assert (
        "faults.sites.1: must be one of 'acc', 'mult', 'a_reg', 'b_reg', 'chk_pred', 'chk_sum', 'chk_cmp', 'sram_a', 'sram_b', 'sram_c', 'drain' or 'chk_enc', got 'flux'"
        in capsys.readouterr().err
    )
    assert cli.main(["run", "--faults", "missing.yaml", "--quiet"]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err


def test_abft_options_file(tmp_path, capsys):
    bad = tmp_path / "abft.yaml"
    bad.write_text("thresholds:\n  fc9: {t1: 1, t2: 2}\n")
    assert cli.main(["run", "--abft", str(bad), "--quiet"]) == 2
    assert "unknown GEMM kind 'fc9'" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text("abft:\n  threshold_mode: absolute\n  thresholds:\n    fc1: {t1: 0, t2: 0}\n")
    data = run_json(
        capsys, "--abft", str(good), "--workload", "vit_block_gemms", "--policy", "approx_abft", "--ber", "1e-9"
    )
    assert data["run"]["abft"]["thresholds"]["fc1"] == {"t1": 0.0, "t2": 0.0}


def test_trace_is_chrome_trace_json(tmp_path):
    path = tmp_path / "trace.json"
    argv = [
        "run",
        "--quiet",
        "--workload",
        "vit_block_gemms",
        "--policy",
        "abft",
        "--ber",
        "1e-9",
        "--trace",
        str(path),
    ]
    assert cli.main(argv) == 0
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    assert {"dma", "write_back", "checksum_unit", "array_stalls", "layers", "array lane 0"} <= names
    spans = [e for e in events if e.get("ph") == "X"]
    assert spans and all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    kinds = {e["name"].split(" ")[0] for e in spans}
    assert {"fold", "recompute", "load", "store", "layer"} <= kinds  # abft recomputed something


def test_every_policy_reported_with_outcomes(capsys):
    data = run_json(capsys, "--workload", "vit_block_gemms", "--ber", "1e-9")
    by = {p["policy"]: p for p in data["policies"]}
    assert list(by) == ["none", "detect_only", "abft", "abft_correct", "approx_abft", "dmr"]
    none = by["none"]  # unprotected: every fault that changes a stored output escapes, the rest is masked
    assert none["escaped"] > 0 and none["escaped"] + none["masked"] == none["faults_injected"]
    assert 0 < none["masked_at_output"] <= none["masked"] and none["corrupted_outputs"] > 0
    assert none["max_rel_error"] > 0
    assert by["detect_only"]["detected"] == by["detect_only"]["faults_injected"]
    for name in ("abft", "abft_correct", "approx_abft", "dmr"):
        p = by[name]
        parts = p["masked"] + p["corrected"] + p["recomputed"] + p["tolerated"] + p["escaped"]
        assert parts == p["faults_injected"]
        assert p["latency_overhead_pct"] > 0 and p["energy_overhead_pct"] > 0
    assert by["approx_abft"]["recomputed_macs"] < by["abft"]["recomputed_macs"]


def test_result_files_get_the_usual_mode(tmp_path):
    import os

    path = tmp_path / "r.json"
    assert cli.main(["run", "--quiet", "--workload", "vit_block_gemms", "--policy", "none", "--json", str(path)]) == 0
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_trace_gz_streams_coalesced_spans_and_a_cycle_window(tmp_path):
    # one ViT block on an 8x8 array: long runs of identical folds are one span each, the file is
    # gzip-compressed JSON that loads back with every resource's track; a window keeps only its spans
    import gzip

    base = ["run", "--quiet", "--workload", "vit_block_gemms", "--set", "array.rows=8", "--set", "array.cols=8",
            "--policy", "none", "--ber", "0"]  # fmt: skip
    path, report = tmp_path / "t.json.gz", tmp_path / "r.json"
    assert cli.main([*base, "--trace", str(path), "--json", str(report)]) == 0
    folds = sum(layer["folds"] for layer in json.loads(report.read_text())["policies"][0]["layers"])
    with gzip.open(path, "rt") as fh:
        events = json.load(fh)["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    assert {"layers", "dma", "array lane 0", "array_stalls", "write_back"} <= names
    spans = [e for e in events if e["ph"] == "X"]
    runs = [e for e in spans if e["args"].get("count", 1) > 1 and e["cat"] == "fold"]
    assert runs and sum(e["args"].get("count", 1) for e in spans if e["cat"] == "fold") == folds
    assert sum(1 for e in spans if e["cat"] == "fold") < folds / 4
    windowed = tmp_path / "w.json.gz"
    lo, hi = int(runs[0]["args"]["start_cycle"]) + 1000, int(runs[0]["args"]["start_cycle"]) + 3000
    assert cli.main([*base, "--trace", str(windowed), "--trace-cycles", f"{lo}:{hi}"]) == 0
    with gzip.open(windowed, "rt") as fh:
        inside = [e for e in json.load(fh)["traceEvents"] if e["ph"] == "X"]
    assert inside and all(e["args"]["end_cycle"] >= lo and e["args"]["start_cycle"] <= hi for e in inside)
    one_by_one = [e for e in inside if e["cat"] == "fold" and e["args"]["start_cycle"] >= lo]
    assert one_by_one and all("count" not in e["args"] for e in one_by_one)
    assert cli.main(["plot", str(windowed), "--kind", "timeline", "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "w.json_timeline.png").exists()
    assert cli.main([*base, "--trace-cycles", "5:1"]) == 2
