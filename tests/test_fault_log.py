"""The fault log: one record per injected fault, agreeing with the report's counts."""

from __future__ import annotations

import csv
import io
from collections import Counter

from simulator import api
from simulator.abft.registry import policy_names
from simulator.cli import main
from simulator.config.enums import Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload

WL = Workload("small", (Gemm("fc1", "fc1", 24, 40, 20), Gemm("qk", "qk", 12, 8, 12, count=2)))
FATES = ("masked", "corrected", "recomputed", "tolerated", "escaped")


def test_log_agrees_with_the_report():
    hw = api.resolve_hw("edge_32x32", ["array.rows=8", "array.cols=8"])
    # BER 3e-5 on 8x8 folds of up to 8 x 8 x 40 MACs x 64 bits: ~0.5 faults per pass, so folds with
    # several faults and faulty retries occur; an explicit stuck-at bit adds one record per pass it hits
    stuck = ExplicitFault(row=0, col=0, site=Site.MULT, bit=3, kind="stuck1")
    report = api.run(hw, WL, policy_names(), FaultSpec(ber=3e-5, seed=2, explicit=[stuck]), fault_log=True)
    for p in report.policies:
        log = p.fault_log
        assert log is not None and len(log) == p.outcomes["faults_injected"] > 20
        fates = Counter(r["fate"] for r in log)
        assert {f: fates[f] for f in FATES} == {f: p.outcomes[f] for f in FATES}, p.policy
        assert sum(r["detected"] for r in log) == p.outcomes["detected"]
        assert sum(r["false_alarm"] for r in log) == p.outcomes["false_alarms"]
        assert sum(r["hid_error"] for r in log) == p.outcomes["hidden_errors"]
        # a stuck-at bit keeps its id (p0) in every fold pass it hits
        assert len({(r["fault_id"], r["gemm_index"], r["instance"], r["fold"], r["attempt"]) for r in log}) == len(log)
        for r in log:
            # nothing left after a correction or recomputation; something left whenever it escaped
            # (a `masked` fault may leave an accumulator error that rounds away at write-back)
            if r["fate"] in ("corrected", "recomputed"):
                assert r["max_abs_error"] == 0
            if r["fate"] in ("escaped", "tolerated"):
                assert r["max_abs_error"] > 0
        if p.policy in ("abft", "detect_only"):  # the checksum hardware is hit too (default sites)
            assert p.outcomes["false_alarms"] > 0
        retries = [r for r in log if r["attempt"] > 0]
        assert (len(retries) > 0) == (p.outcomes["recomputations"] > 0)
    assert any(r["kind"] == "stuck1" and (r["row"], r["col"], r["site"]) == (0, 0, "mult")
               for r in report.policy("none").fault_log or ())  # fmt: skip


def test_cli_fault_log(tmp_path):
    out = tmp_path / "faults.csv"
    argv = ["run", "--workload", "vit_block_gemms", "--policy", "none", "--policy", "abft", "--quiet",
            "--fault", "gemm=fc2,instance=0,fold=12,row=3,col=5,cycle=100,site=acc,bit=30", "--fault-log", str(out)]  # fmt: skip
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["policy"], r["fate"]) for r in rows] == [("none", "escaped"), ("abft", "recomputed")]
    first = rows[0]
    assert (first["gemm"], first["fold"], first["row"], first["col"], first["cycle"], first["bit"]) == (
        "fc2",
        "12",
        "3",
        "5",
        "100",
        "30",
    )
    # an accumulator flip of bit 30 corrupts one output by 2^30
    assert first["outputs_corrupted"] == "1" and float(first["max_abs_error"]) == 2.0**30
    assert float(rows[1]["max_abs_error"]) == 0.0
