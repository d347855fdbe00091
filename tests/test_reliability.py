"""Reliability: rates and FIT arithmetic by hand, the exposure sampler against enumeration, the vectorised
fates against the one-at-a-time reference, and both against the full verifier of a faulty run."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from simulator import api
from simulator.abft.policies import PolicyContext
from simulator.abft.registry import make_policy, policy_names
from simulator.cli import main
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Dataflow
from simulator.config.fault_spec import FaultSpec
from simulator.faults.codes import SITE_CODE
from simulator.faults.sampling import sample_gemm_faults
from simulator.mapping.dataflow import mac_tau
from simulator.mapping.schedule import schedule_gemm
from simulator.metrics.stats import Interval
from simulator.reliability import assumption, environments, rates
from simulator.reliability.avf import classify_faults, run_avf_campaign
from simulator.reliability.exposure import SingleFaults, sample_single_faults, workload_exposure
from simulator.reliability.fit import PolicyCost, policy_fits, rate_summary
from simulator.reliability.single_fault import FATE_CODE, FATES
from simulator.verify.operand_cache import OperandCache
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload

SMALL = Workload(
    "small",
    (
        Gemm("fc1", "fc1", 20, 24, 18),
        Gemm("qk", "qk", 12, 8, 12, count=2),
        Gemm("fc2", "fc2", 20, 36, 9),
    ),
)


def _hw(dataflow: str = "os", datatype: str = "int8"):
    return api.resolve_hw(
        "edge_32x32", ["array.rows=8", "array.cols=8", f"array.dataflow={dataflow}", f"array.datatype={datatype}"]
    )


def _policies(hw, abft: AbftConfig):
    context = PolicyContext(hw.checksum_unit.placement, abft)
    return [make_policy(n, context) for n in policy_names()]


# -- rates -----------------------------------------------------------------------------------------------


def test_per_bit_cycle_by_hand():
    # 1000 FIT/Mbit = 1000 failures / (1e9 h x 1e6 bits) = 1e-12 per bit-hour; at 1 GHz an hour has 3.6e12
    # cycles, so 1e-12 / 3.6e12 = 2.777...e-25 per bit per cycle
    assert rates.per_bit_hour(1000.0) == pytest.approx(1e-12, rel=1e-12)
    assert rates.per_bit_cycle(1000.0, 1e9) == pytest.approx(1e-12 / 3.6e12, rel=1e-12)
    # the study BER 1e-11 is 1e-11 / 2.777e-25 = 3.6e13 times higher: 13.56 decades
    cmp = rates.RateComparison(1e-11, rates.per_bit_cycle(1000.0, 1e9))
    assert cmp.acceleration == pytest.approx(3.6e13, rel=1e-9)
    assert cmp.decades == pytest.approx(math.log10(3.6e13), rel=1e-12)


def test_environment_factors():
    # LEO: 4.04e-7 upsets/bit/day / 24 h = 1.68333e-8 per bit-hour = 1.68333e-8 x 1e9 x 1e6 FIT/Mbit
    leo = environments.environment("leo")
    assert leo.ff_fit_per_mbit == pytest.approx(4.04e-7 / 24 * 1e15, rel=1e-12)
    assert environments.environment("avionics").sram_fit_per_mbit == 300.0 * 1000.0
    with pytest.raises(ValueError, match="unknown environment"):
        environments.environment("mars")
    with pytest.raises(ValueError, match="finite rate"):
        environments.custom_environment(-1.0, 0.0)


def test_fit_from_exposure_by_hand():
    # lambda = 1000 FIT/Mbit = 1e-12 / bit-hour; 2e9 vulnerable bit-MACs per inference of 1e6 cycles:
    # FIT = 1e9 x 1e-12 x 2e9 / 1e6 = 2.0 (at 1 GHz: 3.6e6 inferences/h x 2e9 x 2.78e-22... the clock cancels)
    assert rates.fit_from_exposure(1000.0, 2e9, 1e6) == pytest.approx(2.0, rel=1e-12)
    assert rates.asil_verdicts(9.99) == {"ASIL D": True, "ASIL C": True, "ASIL B": True}
    assert rates.asil_verdicts(10.0) == {"ASIL D": False, "ASIL C": True, "ASIL B": True}
    assert rates.asil_verdicts(100.0) == {"ASIL D": False, "ASIL C": False, "ASIL B": False}


# -- exposure ------------------------------------------------------------------------------------------


def test_exposure_counts_macs_times_bits():
    hw = _hw()
    schedules = [schedule_gemm(g, hw) for g in SMALL.gemms]
    exp = workload_exposure(schedules, FaultSpec(sites=("acc", "a_reg")), hw.array.datatype)
    # MACs: 20*24*18 + 2*12*8*12 + 20*36*9 = 8640 + 2304 + 6480 = 17424; acc 32 bits, a_reg 8 bits (int8)
    assert exp.bit_macs_per_site.tolist() == [17424 * 32, 17424 * 8]
    assert exp.bit_macs == 17424 * 40
    only = workload_exposure(schedules, FaultSpec(kinds=("qk",), bits=(0, 7)), hw.array.datatype)
    assert only.gemm_indices.tolist() == [1]
    assert only.bits.tolist() == [8, 8, 8, 8]  # bits 0..7 of every word


@pytest.mark.parametrize("dataflow", ["os", "ws", "is", "os k_chunk=4"])
def test_single_faults_uniform_over_active_slots(dataflow):
    """Every drawn fault is an active MAC slot, and slots are hit uniformly (chi-square over all of them);
    with `k_chunk` = 4 each OS output block takes 3 folds of 3 K steps (K = 9)."""
    dataflow, *chunk = dataflow.split(" k_chunk=")
    hw = _hw(dataflow)
    if chunk:
        hw = hw.model_copy(update={"mapping": hw.mapping.model_copy(update={"k_chunk": int(chunk[0])})})
    gemm = Gemm("g", "fc1", 10, 9, 11)
    schedules = [schedule_gemm(gemm, hw)]
    assert schedules[0].k_chunks == (3 if chunk else 1)
    ops = OperandCache(hw, schedules, 0)
    exp = workload_exposure(schedules, FaultSpec(sites=("acc",), bits=(0, 0)), hw.array.datatype)
    folds = {0: ops.folds(0)}
    n = 40_000
    f = sample_single_faults(exp, folds, Dataflow(dataflow), 8, n, seed=3)
    table = folds[0]
    slot_ids = []
    for i in range(n):
        _, _, ru, cu, _, steps = table.table[f.fold_index[i]]  # steps: the fold's temporal range
        r, c = int(f.row[i]), int(f.col[i])
        tau = mac_tau(Dataflow(dataflow), 8, r, c, int(f.cycle[i]))
        assert r < ru and c < cu and 0 <= tau < steps
        slot_ids.append((int(f.fold_index[i]), r, c, tau))
    # enumerate every active slot: sum over folds of ru x cu x T = M K N = 990
    all_slots = [
        (k, r, c, t)
        for k, (_, _, ru, cu, _, steps) in enumerate(table.table.tolist())
        for r in range(ru)
        for c in range(cu)
        for t in range(steps)
    ]
    assert len(all_slots) == 10 * 9 * 11
    index = {s: j for j, s in enumerate(all_slots)}
    counts = np.bincount([index[s] for s in slot_ids], minlength=len(all_slots))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_single_faults_weight_gemms_and_sites_by_exposure():
    hw = _hw()
    schedules = [schedule_gemm(g, hw) for g in SMALL.gemms]
    ops = OperandCache(hw, schedules, 0)
    exp = workload_exposure(schedules, FaultSpec(), hw.array.datatype)
    folds = {g: ops.folds(g) for g in range(3)}
    f = sample_single_faults(exp, folds, Dataflow.OS, 8, 50_000, seed=1)
    # expected share of (gemm, site) = MACs x bits / total: MACs 8640, 2304, 6480; bits 32, 16, 8, 8
    macs, bits = np.array([8640, 2304, 6480]), np.array([32, 16, 8, 8])
    expected = np.outer(macs, bits).ravel() / (macs.sum() * bits.sum()) * 50_000
    codes = [SITE_CODE[s] for s in exp.sites]
    observed = np.array([np.sum((f.gemm_index == g) & (f.site == c)) for g in range(3) for c in codes])
    assert stats.chisquare(observed, expected).pvalue > 1e-3
    # instances of the 2-instance GEMM are hit equally; the draw is a function of the seed
    qk = f.instance[f.gemm_index == 1]
    assert abs(np.mean(qk) - 0.5) < 0.05
    again = sample_single_faults(exp, folds, Dataflow.OS, 8, 50_000, seed=1)
    assert np.array_equal(again.bit, f.bit) and np.array_equal(again.cycle, f.cycle)


# -- fates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("t1", [1.0, 0.01])
def test_vectorised_fates_equal_reference(dataflow, t1):
    """The vectorised fates equal the one-at-a-time replay of every policy's decide() (t1 = 0.01 with
    t2 = 0.5 x t1 pushes ApproxABFT into partial-row / partial-column recomputations)."""
    hw = _hw(dataflow)
    abft = AbftConfig(thresholds={k: {"t1": t1, "t2": t1 / 2} for k in ("fc1", "fc2", "qk")})
    schedules = [schedule_gemm(g, hw) for g in SMALL.gemms]
    ops = OperandCache(hw, schedules, 0)
    pols = _policies(hw, abft)
    fast = run_avf_campaign(hw, schedules, FaultSpec(), abft, pols, 3000, seed=2, operands=ops)
    ref = run_avf_campaign(hw, schedules, FaultSpec(), abft, pols, 3000, seed=2, operands=ops, vectorised=False)
    assert ref.generic == 3000 * len(pols)
    assert fast.generic < ref.generic
    assert np.array_equal(fast.fate, ref.fate)
    approx = fast.counts("approx_abft")
    assert approx["recomputed"] > 0 and approx["tolerated"] > 0


def test_fp_and_blocked_checks_use_the_reference():
    hw = _hw("os", "fp16")
    schedules = [schedule_gemm(g, hw) for g in SMALL.gemms]
    pols = _policies(hw, AbftConfig())
    c = run_avf_campaign(hw, schedules, FaultSpec(), AbftConfig(), pols, 300, seed=0)
    assert c.generic == 300 * len(pols)
    # fp: flips of low mantissa bits can stay under the round-off tolerance and escape the checks
    assert c.counts("none")["sdc"] > 0
    assert sum(c.counts("abft").values()) == 300


# many small folds (OS: M x N spatial; WS: K x N spatial), so that seed 49 at BER 1.2e-6 draws 26 faults,
# each in its own fold, and no policy's retry or DMR copy draws one (found by scanning seeds 0-59)
MANY_FOLDS = {
    "os": Workload(
        "many_folds",
        (Gemm("fc1", "fc1", 96, 16, 96), Gemm("qk", "qk", 64, 8, 64, count=2), Gemm("fc2", "fc2", 80, 24, 64)),
    ),
    "ws": Workload(
        "many_folds",
        (Gemm("fc1", "fc1", 16, 96, 96), Gemm("qk", "qk", 8, 64, 64, count=2), Gemm("fc2", "fc2", 24, 80, 64)),
    ),
}


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_fates_match_the_verifier_of_a_faulty_run(dataflow):
    """At a BER where no fold's first pass gets two faults, the run's fate of every fault alone in its
    fold is its single-fault fate (escaped = sdc + due), both judged on the stored outputs."""
    hw = _hw(dataflow)
    spec = FaultSpec(ber=1.2e-6, seed=49)
    abft = AbftConfig(thresholds={"fc1": {"t1": 0.02, "t2": 0.01}, "fc2": {"t1": 0.02, "t2": 0.01}})
    workload = MANY_FOLDS[dataflow]
    report = api.run(hw, workload, policy_names(), spec, abft=abft, fault_log=True)
    schedules = [schedule_gemm(g, hw) for g in workload.gemms]
    ops = OperandCache(hw, schedules, spec.seed)
    parts = []
    for g, s in enumerate(schedules):
        for inst in range(s.gemm.count):
            b = sample_gemm_faults(spec, s.gemm, g, inst, hw.array.dataflow, hw.array.datatype, 8, 8, ops.folds(g))
            parts.append(
                (np.full(len(b), g), np.full(len(b), inst), b.fold_index, b.row, b.col, b.cycle, b.site, b.bit)
            )
    faults = SingleFaults(*(np.concatenate(c).astype(np.int64) for c in zip(*parts, strict=True)))
    n = len(faults)
    keys = list(zip(faults.gemm_index.tolist(), faults.instance.tolist(), faults.fold_index.tolist(), strict=True))
    assert n >= 20 and len(set(keys)) == n  # the premise: one fault per fold
    fate, _ = classify_faults(hw, schedules, abft, _policies(hw, abft), faults, ops)
    # both judge SDC on written-back outputs (verify/writeback.py): an accumulator error that rounds away
    # there is `masked` in the run and in the single-fault fates alike
    same = {"masked": ("masked",), "corrected": ("corrected",), "recomputed": ("recomputed",),
            "tolerated": ("tolerated",), "escaped": ("sdc", "due")}  # fmt: skip
    for p, name in enumerate(policy_names()):
        log = report.policy(name).fault_log or ()
        # a fold whose retry drew a fault of its own is no single-fault story: leave it out
        per_fold = Counter((r["gemm_index"], r["instance"], r["fold"]) for r in log)
        alone = [r for r in log if per_fold[(r["gemm_index"], r["instance"], r["fold"])] == 1 and r["attempt"] == 0
                 and not r["site"].startswith("chk")]  # the checksum hardware: tests/test_checksum_faults.py  # fmt: skip
        assert len(alone) >= 20
        for r in alone:
            mine = FATES[fate[p, keys.index((r["gemm_index"], r["instance"], r["fold"]))]]
            assert mine in same[r["fate"]], (name, r, mine)
    assert report.policy("none").outcomes["masked_at_output"] > 0  # the case the write-back judgement decides
    assert sum(fate[policy_names().index("approx_abft")] == FATE_CODE["tolerated"]) > 0


# -- FIT and the rate check ----------------------------------------------------------------------------


def test_policy_fits_by_hand():
    hw = _hw()
    schedules = [schedule_gemm(g, hw) for g in SMALL.gemms]
    pols = _policies(hw, AbftConfig())
    c = run_avf_campaign(hw, schedules, FaultSpec(), AbftConfig(), pols, 1000, seed=0)
    r = rate_summary(environments.environment("sea_level"), hw, c.exposure.sites)
    # PE registers: 8 x 8 PEs x (32 + 16 + 8 + 8) bits = 4096
    assert r.register_bits == 4096
    costs = {p: PolicyCost(p, 100_000, 0.0, 0.0) for p in c.policies}
    fits = {f.policy: f for f in policy_fits(c, r, costs)}
    p_sdc = c.counts("none")["sdc"] / 1000
    # FIT = 1e9 x 1e-12 x (17424 MACs x 64 bits) x P(sdc) / 1e5 cycles
    assert fits["none"].fit["sdc"].estimate == pytest.approx(1e-3 * 17424 * 64 * p_sdc / 1e5, rel=1e-12)
    assert fits["none"].register_avf["sdc"] == pytest.approx(17424 * 64 * p_sdc / (4096 * 1e5), rel=1e-12)
    assert fits["abft"].fit["sdc"].estimate == 0.0 and fits["abft"].fit["sdc"].hi > 0.0
    assert fits["detect_only"].fit["due"].estimate == pytest.approx(fits["none"].fit["sdc"].estimate)


def test_interval_overlap():
    a, b = Interval(0.5, 0.4, 0.6, 10), Interval(0.7, 0.6, 0.8, 10)
    assert assumption.overlap(a, b) and assumption.overlap(b, a)
    assert not assumption.overlap(a, Interval(0.7, 0.61, 0.8, 10))
    assert assumption.overlap(a, Interval(math.nan, 0.0, 1.0, 0))
    f = assumption.campaign_fractions({"masked": 1, "sdc": 2, "due": 1, "recomputed": 0})
    assert f["escaped"].estimate == 0.75 and f["masked"].n == 4


# -- command line ---------------------------------------------------------------------------------------


def test_cli_reliability_json(tmp_path, capsys):
    out = tmp_path / "rel.json"
    code = main(
        [
            "reliability",
            "--workload",
            "vit_block_gemms",
            "--set",
            "array.rows=8",
            "--set",
            "array.cols=8",
            "--injections",
            "400",
            "--environment",
            "leo",
            "--policy",
            "none",
            "--policy",
            "abft",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "environment leo" in text and "ASIL D" in text
    d = json.loads(out.read_text())
    assert d["schema"] == "abftsim.reliability/1"
    assert [p["policy"] for p in d["policies"]] == ["none", "abft"]
    none = d["policies"][0]
    assert none["fit"]["sdc"]["lo"] <= none["fit"]["sdc"]["estimate"] <= none["fit"]["sdc"]["hi"]
    assert set(d["by_site"]["none"]) == {"acc", "mult", "a_reg", "b_reg", "chk_pred", "chk_sum", "chk_cmp"}
    # the checksum hardware: idle under `none`; under `abft` every single flip is a false alarm, recomputed
    chk = d["checksum_hardware"]
    assert chk["injections"] == 399 and set(chk["bit_ops_per_site"]) == {"chk_pred", "chk_sum", "chk_cmp"}
    for site in ("chk_pred", "chk_sum", "chk_cmp"):
        assert d["by_site"]["none"][site]["masked"]["estimate"] == 1.0
        assert d["by_site"]["abft"][site]["recomputed"]["estimate"] == 1.0
    assert chk["fit"]["abft"]["all"]["sdc"]["estimate"] == 0 == chk["fit"]["abft"]["all"]["due"]["estimate"]
    assert chk["fit_with_pe_registers"]["none"]["sdc"] == none["fit"]["sdc"]["estimate"]
    # the SRAMs: undated and residency-derated FIT side by side (faults.sram_residency)
    for x in d["sram"]:
        assert 0 < x["live_fraction"] < 1 and "live" in text
        assert x["fit_no_ecc_derated"]["sdc"] == pytest.approx(x["fit_no_ecc"]["sdc"] * x["live_fraction"])
    # the drain registers: flip-flops at the environment's rate, AVF 1, derated by their exposure (reliability.drain)
    dr = d["drain"]
    assert 0 < dr["live_fraction"] < 1 and dr["avf_sdc"] == 1.0 and "drain registers" in text
    assert dr["fit_sdc_derated"] == pytest.approx(
        rates.fit_from_exposure(d["environment"]["ff_fit_per_mbit"], dr["exposed_bit_cycles"], dr["cycles"])
    )
    # the memory / output-path sites' single-fault AVF (reliability.memory_avf): as many upsets per site
    mem = d["memory_avf"]
    assert set(mem["sites"]) == {"sram_a", "sram_b", "sram_c", "drain"} and "single-fault AVF" in text
    for site, x in mem["sites"].items():
        assert x["injections"] == d["campaign"]["injections"] == mem["injections"] // 4
        assert sum(v["estimate"] for v in x["avf"].values()) == pytest.approx(1.0)
        fit = x["fit"]["sdc"]
        assert fit["lo"] <= fit["estimate"] <= fit["hi"], site
    assert mem["sites"]["drain"]["fit"]["sdc"]["estimate"] == pytest.approx(
        dr["fit_sdc_derated"] * mem["sites"]["drain"]["avf"]["sdc"]["estimate"]
    )


def test_cli_reliability_leveugle_default_and_bad_input(capsys):
    assert (
        main(["reliability", "--workload", "vit_block_gemms", "--margin", "0.05", "--policy", "none", "--json", "-"])
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    # Leveugle with an (effectively) infinite population: 1.96^2 x 0.25 / 0.05^2 = 384.1 -> 385
    assert d["campaign"]["injections"] == 385
    assert main(["reliability", "--ff-fit-per-mbit", "-3"]) == 2
    assert "--ff-fit-per-mbit" in capsys.readouterr().err
    assert main(["reliability", "--injections", "0"]) == 2


def test_fit_figure_renders(tmp_path):
    from simulator.viz.figures import render
    from simulator.viz.reliability import fit_vs_overhead

    out = tmp_path / "rel.json"
    argv = ["reliability", "--workload", "vit_block_gemms", "--set", "array.rows=8", "--set", "array.cols=8"]
    assert main([*argv, "--injections", "300", "--json", str(out), "--quiet"]) == 0
    d = json.loads(out.read_text())
    fig = fit_vs_overhead([d, d])
    assert len(fig.axes) == 2
    assert render(fig, "png").startswith(b"\x89PNG")


def test_no_retry_allowed_turns_detections_into_due():
    """With recompute.max_retries = 0 a recomputation request gives up at once: detected upsets become
    DUE for every recomputing policy, in the vectorised path as in the reference."""
    hw = api.resolve_hw("edge_32x32", ["array.rows=8", "array.cols=8", "recompute.max_retries=0"])
    schedules = [schedule_gemm(g, hw) for g in SMALL.gemms]
    ops = OperandCache(hw, schedules, 0)
    pols = _policies(hw, AbftConfig())
    fast = run_avf_campaign(hw, schedules, FaultSpec(), AbftConfig(), pols, 1500, seed=4, operands=ops)
    ref = run_avf_campaign(hw, schedules, FaultSpec(), AbftConfig(), pols, 1500, seed=4, operands=ops, vectorised=False)
    assert np.array_equal(fast.fate, ref.fate)
    abft, dmr = fast.counts("abft"), fast.counts("dmr")
    assert abft["recomputed"] == 0 and abft["due"] == 1500 - abft["masked"]
    assert dmr["due"] == abft["due"]
    assert fast.counts("abft_correct")["corrected"] > 0  # a correction needs no retry
