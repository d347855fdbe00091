"""simulator.run accepts names, paths and config objects, and keeps common random numbers."""

from __future__ import annotations

import pytest

import simulator
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw, load_workload
from simulator.errors import ConfigError


def test_names_paths_and_objects_agree(repo):
    by_name = simulator.run("edge_32x32", "vit_block_gemms", ["none"])
    by_path = simulator.run(
        repo / "hw_configs" / "edge_32x32.yaml", repo / "workloads" / "vit_block_gemms.yaml", ["none"]
    )
    by_object = simulator.run(load_hw("edge_32x32"), load_workload("vit_block_gemms"), ["none"])
    assert by_name.to_dict() == by_path.to_dict() == by_object.to_dict()


def test_seed_argument_replaces_the_spec_seed():
    a = simulator.run("edge_32x32", "vit_block_gemms", ["none"], FaultSpec(ber=1e-9, seed=1), seed=5)
    b = simulator.run("edge_32x32", "vit_block_gemms", ["none"], FaultSpec(ber=1e-9, seed=5))
    assert a.to_dict() == b.to_dict() and a.run["seed"] == 5


def test_every_policy_sees_the_same_first_pass_faults():
    """Common random numbers: what differs between policies is their reaction, not the draw."""
    pe = FaultSpec(ber=1e-9, seed=3, sites=("acc", "mult", "a_reg", "b_reg"))
    report = simulator.run("edge_32x32", "vit_block_gemms", ["none", "detect_only"], pe)
    none, detect = (p.to_dict() for p in report.policies)
    assert none["faults_injected"] == detect["faults_injected"] > 0
    assert [lay["faults_injected"] for lay in none["layers"]] == [lay["faults_injected"] for lay in detect["layers"]]
    assert [lay["residual_max_abs"] for lay in none["layers"]] == [lay["residual_max_abs"] for lay in detect["layers"]]
    # with the checksum hardware in the site set too, only a checking policy has it to hit: its PE faults
    # are still exactly `none`'s
    report = simulator.run("edge_32x32", "vit_block_gemms", ["none", "detect_only"], FaultSpec(ber=1e-9, seed=3),
                           fault_log=True)  # fmt: skip
    logs = [[r["fault_id"] for r in p.fault_log or () if not r["site"].startswith("chk")] for p in report.policies]
    assert logs[0] == logs[1] and len(logs[0]) == none["faults_injected"]


def test_fault_free_policies_cost_only_their_checks():
    report = simulator.run("edge_32x32", "vit_block_gemms", ["none", "abft", "dmr"])
    none, abft, dmr = report.policies
    assert none.cycles == report.baseline.cycles and none.energy_pj == report.baseline.energy_pj
    assert abft.outcomes["faults_injected"] == 0 and abft.actions.recomputed_macs == 0
    assert abft.actions.checksum_adds > 0 and abft.cycles > none.cycles  # checksum PEs: 2 cycles per fold
    assert dmr.actions.macs == 2 * none.actions.macs  # every fold runs twice


def test_config_object_with_overrides_is_refused():
    with pytest.raises(ConfigError, match="overrides: apply to a hardware file or name"):
        simulator.run(load_hw("edge_32x32"), "vit_block_gemms", ["none"], overrides=["array.rows=8"])


def test_supplied_operands_replace_synthetic_ones():
    """Real operands reach the fault model: with B = 0 every activation-register flip of that GEMM
    multiplies a zero weight and is masked."""
    import numpy as np

    from simulator.config.enums import Datatype
    from simulator.faults.operands import operands_from_arrays
    from simulator.workload.gemm import Gemm
    from simulator.workload.workload import Workload

    wl = Workload("one", (Gemm("fc1", "fc1", 40, 64, 48),))
    a = np.random.default_rng(0).integers(-127, 128, (40, 64)).astype(np.int8)
    zero_b = operands_from_arrays(a, np.zeros((64, 48), np.int8), Datatype.INT8)
    spec = FaultSpec(ber=1e-5, sites="a_reg", seed=2)
    real = simulator.run("edge_32x32", wl, ["none"], spec, operands={(0, 0): zero_b}).policies[0]
    synthetic = simulator.run("edge_32x32", wl, ["none"], spec).policies[0]
    assert real.outcomes["faults_injected"] == synthetic.outcomes["faults_injected"] > 0
    assert real.outcomes["masked"] == real.outcomes["faults_injected"]
    assert synthetic.outcomes["masked"] < synthetic.outcomes["faults_injected"]


def test_faults_that_cannot_fit_the_array_are_a_clean_error():
    with pytest.raises(ConfigError, match="permanent_count 100000 exceeds the 65536 exposed PE bits"):
        simulator.run("edge_32x32", "vit_block_gemms", ["none"], FaultSpec(kind="permanent", permanent_count=100_000))
    with pytest.raises(ConfigError, match="leaves no bit of the selected int8 words"):
        simulator.run("edge_32x32", "vit_block_gemms", ["none"], FaultSpec(ber=1e-9, sites="a_reg", bits=(20, 30)))


def test_only_the_named_policy_keeps_a_trace():
    report = simulator.run("edge_32x32", "vit_block_gemms", ["none", "abft"], FaultSpec(ber=1e-9), trace="abft")
    none, abft = report.policies
    assert none.trace is None and abft.trace
    untraced = simulator.run("edge_32x32", "vit_block_gemms", ["abft"], FaultSpec(ber=1e-9)).policies[0]
    assert abft.to_dict() == untraced.to_dict()  # tracing changes nothing but the records kept


def test_baseline_reused_from_a_faulty_none_run_equals_the_simulated_baseline():
    """`none` at a BER where faults are injected recomputes nothing, so the fault-free baseline is
    derived from its engine result (EngineResult.without_faults): it equals the baseline simulated
    on its own, field for field, and so do the overheads computed against it."""
    spec = FaultSpec(ber=1e-8, seed=2)
    reused = simulator.run("edge_32x32", "vit_block_gemms", ["none", "abft"], spec)
    assert reused.policies[0].outcomes["faults_injected"] > 0
    alone = simulator.run("edge_32x32", "vit_block_gemms", ["abft"], spec)  # no faulty `none` to reuse
    assert reused.baseline == alone.baseline
    assert reused.to_dict()["policies"][1] == alone.to_dict()["policies"][0]
