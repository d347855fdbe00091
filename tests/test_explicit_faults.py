"""Explicit faults: parsing, validation against the workload, and a run's error equal to the emulator's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simulator import api
from simulator.cli import main
from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.errors import ConfigError
from simulator.faults.emulator import emulate_fold
from simulator.faults.model import PeFault
from simulator.faults.operands import synthetic_operands
from simulator.faults.sampling import sample_gemm_faults, sample_permanent_faults
from simulator.mapping.dataflow import mac_cycle
from simulator.mapping.fold_table import fold_table
from simulator.mapping.tiling import fold_operands
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload

GEMM = Gemm("fc1", "fc1", 12, 10, 9)
WL = Workload("one", (GEMM,))


def _hw(dataflow: str):
    return api.resolve_hw("edge_32x32", ["array.rows=4", "array.cols=4", f"array.dataflow={dataflow}"])


def test_parse_and_validate_fields():
    f = ExplicitFault.parse("gemm=block0.fc2,instance=0,fold=12,row=3,col=5,cycle=100,site=acc,bit=30")
    assert (f.gemm, f.fold, f.row, f.col, f.cycle, f.site, f.bit, f.kind) == (
        "block0.fc2",
        12,
        3,
        5,
        100,
        Site.ACC,
        30,
        "transient",
    )
    stuck = ExplicitFault.parse("row=1,col=2,site=b_reg,bit=7,kind=stuck0")
    assert stuck.kind == "stuck0" and stuck.gemm is None
    for bad in ("gemm=x,row=1,col=2,site=acc,bit=3", "row=1,col=2,site=acc,bit=3,kind=stuck1,cycle=4", "row",
                "gemm=x,fold=0,cycle=0,row=1,col=2,site=acc,bit=32"):  # fmt: skip
        with pytest.raises(ValueError):
            ExplicitFault.parse(bad)
    # a spec without explicit faults serialises as before (golden reports, sweep hashes)
    assert "explicit" not in FaultSpec().model_dump() and "explicit" in FaultSpec(explicit=[stuck]).model_dump()
    assert FaultSpec(explicit=[stuck]).injects and not FaultSpec().injects


def test_sampling_appends_explicit_faults_in_fold_order():
    given = ExplicitFault(gemm="fc1", fold=2, row=1, col=0, cycle=4, site=Site.MULT, bit=3)
    spec = FaultSpec(ber=0.0, explicit=[given])
    batch = sample_gemm_faults(spec, GEMM, 0, 0, Dataflow.OS, Datatype.INT8, 4, 4)
    assert len(batch) == 1 and batch.fault(0) == PeFault(1, 0, 4, Site.MULT, 3)
    assert batch.fault_ids() == ["g0/i0/f2/a0/0"]
    assert len(sample_gemm_faults(spec, GEMM, 0, 1, Dataflow.OS, Datatype.INT8, 4, 4)) == 0  # another instance
    # on top of random faults: ordinal after those of its fold, fold order kept
    noisy = FaultSpec(ber=0.01, seed=3, explicit=[given])
    random = sample_gemm_faults(noisy.model_copy(update={"explicit": ()}), GEMM, 0, 0, Dataflow.OS, Datatype.INT8, 4, 4)
    both = sample_gemm_faults(noisy, GEMM, 0, 0, Dataflow.OS, Datatype.INT8, 4, 4)
    assert len(both) == len(random) + 1 and np.all(np.diff(both.fold_index) >= 0)
    in_fold = both.ordinal[both.fold_index == 2]
    assert sorted(in_fold.tolist()) == list(range(in_fold.size))
    stuck = sample_permanent_faults(FaultSpec(explicit=[ExplicitFault(row=1, col=2, site=Site.ACC, bit=5, kind="stuck1")]),
                                    Datatype.INT8, 4, 4)  # fmt: skip
    assert [(e.fault_id, e.fault) for e in stuck] == [("p0", PeFault(1, 2, -1, Site.ACC, 5, FaultKind.PERMANENT, 1))]


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("site", ["acc", "mult", "a_reg", "b_reg"])
def test_explicit_transient_error_equals_the_emulator(dataflow, site):
    """A run with one explicit fault and no protection leaves exactly the error the cycle-level emulator
    shows for that fold (the largest |error| in the layer's outcome)."""
    hw = _hw(dataflow)
    flow = Dataflow(dataflow)
    folds = fold_table(flow, GEMM.m, GEMM.k, GEMM.n, 4, 4)
    # PE (1, 1), temporal step 2, a high bit of the word (so that the int8 write-back changes too)
    f_index, r, c, tau = 1, 1, 1, 2
    bit = {"acc": 30, "mult": 14, "a_reg": 6, "b_reg": 6}[site]
    cycle = mac_cycle(flow, 4, r, c, tau)
    given = ExplicitFault(gemm="fc1", fold=f_index, row=r, col=c, cycle=cycle, site=Site(site), bit=bit)
    spec = FaultSpec(ber=0.0, seed=5, explicit=[given])
    report = api.run(hw, WL, ["none"], spec)
    ops = synthetic_operands(GEMM, Datatype.INT8, 5, 0, 0)
    a_blk, b_blk = fold_operands(flow, folds.fold(f_index), ops.a, ops.b)
    clean = emulate_fold(flow, Datatype.INT8, 4, 4, a_blk, b_blk).out.astype(np.int64)
    faulty = emulate_fold(flow, Datatype.INT8, 4, 4, a_blk, b_blk, [PeFault(r, c, cycle, Site(site), bit)]).out
    diff = faulty.astype(np.int64) - clean
    assert np.any(diff != 0)
    layer = report.policy("none").layers[0].outcomes
    assert layer["faults_injected"] == 1 and layer["escaped"] == 1
    assert layer["residual_max_abs"] == float(np.abs(diff).max())


def test_explicit_stuck_at_error_equals_the_emulator():
    hw = _hw("os")
    stuck = ExplicitFault(row=2, col=1, site=Site.ACC, bit=20, kind="stuck1")
    report = api.run(hw, WL, ["none"], FaultSpec(ber=0.0, seed=5, explicit=[stuck]))
    ops = synthetic_operands(GEMM, Datatype.INT8, 5, 0, 0)
    folds = fold_table(Dataflow.OS, GEMM.m, GEMM.k, GEMM.n, 4, 4)
    worst = 0
    for k in range(len(folds)):
        a_blk, b_blk = fold_operands(Dataflow.OS, folds.fold(k), ops.a, ops.b)
        clean = emulate_fold(Dataflow.OS, Datatype.INT8, 4, 4, a_blk, b_blk).out.astype(np.int64)
        fault = PeFault(2, 1, -1, Site.ACC, 20, FaultKind.PERMANENT, 1)
        faulty = emulate_fold(Dataflow.OS, Datatype.INT8, 4, 4, a_blk, b_blk, [fault]).out.astype(np.int64)
        worst = max(worst, int(np.abs(faulty - clean).max()))
    # 12 x 9 outputs on 4 x 4: 3 x 3 folds, all use PE (2, 1): one occurrence per fold
    assert report.policy("none").outcomes["faults_injected"] == 9
    assert report.policy("none").layers[0].outcomes["residual_max_abs"] == float(worst)


def test_explicit_faults_are_checked_against_the_workload():
    hw = _hw("os")
    cases = {
        "no GEMM named": dict(gemm="fc9", fold=0, row=0, col=0, cycle=0),
        "instance 1 of a GEMM run 1": dict(gemm="fc1", instance=1, fold=0, row=0, col=0, cycle=0),
        "fold 9 of 9": dict(gemm="fc1", fold=9, row=0, col=0, cycle=0),
        "does no MAC at cycle 0": dict(gemm="fc1", fold=0, row=1, col=1, cycle=0),  # tau = 0 - 1 - 1 < 0
        "outside the 4 x 4 array": dict(row=4, col=0, kind="stuck0"),
    }
    for message, fields in cases.items():
        spec = FaultSpec(explicit=[ExplicitFault(site=Site.ACC, bit=1, **fields)])
        with pytest.raises(ConfigError, match=message):
            api.run(hw, WL, ["none"], spec)
    unselected = FaultSpec(kinds=("qk",), explicit=[ExplicitFault(gemm="fc1", fold=0, row=0, col=0, cycle=0,
                                                                  site=Site.ACC, bit=1)])  # fmt: skip
    with pytest.raises(ConfigError, match="not selected"):
        api.run(hw, WL, ["none"], unselected)


def test_cli_fault_flag(capsys):
    argv = ["run", "--workload", "vit_block_gemms", "--policy", "none", "--policy", "abft_correct", "--json", "-",
            "--fault", "gemm=fc2,instance=0,fold=12,row=3,col=5,cycle=100,site=acc,bit=30"]  # fmt: skip
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    by = {p["policy"]: p for p in d["policies"]}
    # --ber defaults to 0 with --fault: exactly the one fault; an accumulator flip is one element, corrected
    assert by["none"]["faults_injected"] == 1 and by["none"]["escaped"] == 1
    assert by["abft_correct"]["corrected"] == 1 and by["abft_correct"]["escaped"] == 0
    assert d["run"]["faults"]["explicit"][0]["bit"] == 30
    assert main(["run", "--workload", "vit_block_gemms", "--fault", "gemm=fc2,row"]) == 2
    assert "--fault" in capsys.readouterr().err
    assert main(["run", "--workload", "vit_block_gemms", "--fault", "gemm=fc2,row=1"]) == 2
    assert "faults.explicit" in capsys.readouterr().err


def test_accuracy_and_reliability_refuse_explicit_faults(tmp_path, capsys):
    spec = tmp_path / "explicit.yaml"
    spec.write_text("explicit:\n  - {row: 0, col: 0, site: acc, bit: 3, kind: stuck1}\n")
    assert main(["accuracy", "--faults", str(spec), "--limit", "2", "--trials", "1"]) == 2
    assert main(["reliability", "--faults", str(spec), "--injections", "10"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all("drop `explicit`" in line for line in lines)
