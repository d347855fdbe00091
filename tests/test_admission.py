"""Runs are admitted up front: fault selections name what the workload has, extreme rates are
refused with an estimate before anything is built, bandwidths the model cannot resolve are refused."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simulator import api
from simulator.admission import (
    BASE_BYTES,
    BYTES_PER_FAULT,
    BYTES_PER_OPERAND_ELEMENT,
    check_memory,
    estimate_memory,
)
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw, load_workload
from simulator.errors import ConfigError

TINY = Path(__file__).resolve().parent / "data" / "tiny_gemms.yaml"


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        (
            {"ber": 1e-8, "gemms": "blk.qkv,blk.nope"},
            "faults.gemms: workload 'tiny_gemms' has no GEMM named 'blk.nope'",
        ),
        ({"ber": 1e-8, "kinds": "head"}, "faults.kinds: workload 'tiny_gemms' has no GEMM of kind 'head'"),
        ({"ber": 1e-8, "gemms": "blk.qkv", "kinds": "fc2"}, "no GEMM of the workload matches both"),
    ],
)
def test_fault_selection_must_name_what_the_workload_has(faults, message):
    with pytest.raises(ConfigError, match=message):
        api.run("edge_32x32", str(TINY), ["none"], FaultSpec(**faults))


def test_memory_estimate_by_hand():
    hw, wl = load_hw("edge_32x32"), load_workload(str(TINY))
    spec = FaultSpec(ber=1e-3, sites="acc", gemms="blk.qkv")
    # blk.qkv: 50 x 64 x 96 = 307,200 MACs; the int8 array's accumulator is int32: 32 exposed bits
    # expected faults 1e-3 x 32 x 307,200 = 9,830.4; operands 50*64 + 64*96 + 50*96 = 14,144 elements
    assert spec.site_bits(spec.sites[0], hw.array.datatype)[1] == 32
    plain = estimate_memory(spec, hw, wl, recomputing=False)
    assert plain.faults == pytest.approx(9830.4)
    assert plain.bytes == pytest.approx(BASE_BYTES + 9830.4 * BYTES_PER_FAULT + 14144 * BYTES_PER_OPERAND_ELEMENT)
    # a recomputing policy exposes up to 1 + max_retries (3) passes
    assert estimate_memory(spec, hw, wl, recomputing=True).faults == pytest.approx(4 * 9830.4)
    assert estimate_memory(FaultSpec(), hw, wl, recomputing=True).faults == 0


def test_check_memory_refuses_with_one_line_naming_the_key():
    hw, wl = load_hw("edge_32x32"), load_workload("vit_block_gemms")
    estimate = estimate_memory(FaultSpec(ber=0.5), hw, wl, recomputing=True)
    with pytest.raises(ConfigError, match=r"^faults\.ber: this run needs ~.* faults, ~.* GiB of memory, more than"):
        check_memory(estimate, available_bytes=4 * 2**30)
    check_memory(estimate_memory(FaultSpec(ber=1e-9), hw, wl, recomputing=True), available_bytes=4 * 2**30)


@pytest.mark.slow
def test_ber_half_on_a_vit_block_under_a_4_gb_limit_is_refused_cleanly():
    script = textwrap.dedent(
        """
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
        from simulator import cli
        sys.exit(cli.main(["run", "--workload", "vit_block_gemms", "--ber", "0.5", "--quiet"]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("abftsim: error: faults.ber: this run needs")


def test_a_bandwidth_the_model_cannot_resolve_is_refused():
    # 1e-9 GB/s at 1 GHz = 1e-9 bytes per cycle, below the 1e-3 floor
    with pytest.raises(ConfigError, match=r"memory\.dram\.bandwidth_gb_per_s: 1e-09 bytes per cycle at clock_ghz 1"):
        load_hw("edge_32x32", ["memory.dram.bandwidth_gb_per_s=1e-9"])
    with pytest.raises(ConfigError, match="must be > 0"):
        load_hw("edge_32x32", ["memory.dram.bandwidth_gb_per_s=0"])
    assert load_hw("edge_32x32", ["memory.dram.bandwidth_gb_per_s=1e-3"]).dram_bytes_per_cycle == pytest.approx(1e-3)


def test_accuracy_and_calibrate_refuse_an_impossible_ber_up_front(capsys):
    from simulator import cli

    for command in (["accuracy", "--ber", "0.5"], ["calibrate", "--ber", "0.5", "--out", "never.yaml"]):
        assert cli.main([*command, "--limit", "2", "--trials", "1", "--quiet"]) == 2
        assert capsys.readouterr().err.startswith("abftsim: error: faults.ber: this run needs")
    assert not Path("never.yaml").exists()


def test_the_refusal_names_the_gemm_dimension_when_the_operands_are_too_large(tmp_path):
    # huge_k: A is 16 x 1e9 and B 1e9 x 16, 3.2e10 elements x 16 B = 477 GiB of operands, while
    # BER 1e-8 on its 2.56e11 MACs expects only ~1.6e5 faults (~0.2 GiB): the operands are the key.
    wl = tmp_path / "deep_k.yaml"
    wl.write_text(
        "name: deep_k\ngemms:\n  - {name: small, M: 16, K: 16, N: 16}\n  - {name: huge_k, M: 16, K: 1000000000, N: 16}\n"
    )
    hw, workload = load_hw("edge_32x32"), load_workload(str(wl))
    estimate = estimate_memory(FaultSpec(ber=1e-8), hw, workload, recomputing=False)
    assert estimate.operand_bytes == pytest.approx((16 * 16 * 3 + 2 * 16e9 + 256) * BYTES_PER_OPERAND_ELEMENT)
    with pytest.raises(ConfigError, match=r"^gemms\.1\.K \(GEMM 'huge_k', K = 1,000,000,000\): this run needs") as info:
        check_memory(estimate, available_bytes=4 * 2**30)
    assert "faults.ber" not in str(info.value)
    # the same workload at BER 0.5: the faults dominate, and the message names faults.ber
    with pytest.raises(ConfigError, match=r"^faults\.ber: "):
        check_memory(estimate_memory(FaultSpec(ber=0.5), hw, workload, recomputing=False), available_bytes=4 * 2**30)
    # through the API, before anything is built
    with pytest.raises(ConfigError, match=r"^gemms\.1\.K "):
        api.run("edge_32x32", str(wl), ["none"], FaultSpec(ber=1e-8))


def test_sram_upsets_are_estimated_over_their_residency_and_bound_what_they_corrupt():
    """sram_a / sram_b upsets: the estimate's count (BER x live bit-cycles of the copies the samplers draw
    over) against a run's injected count (Poisson, within 5 sigma), and its reach (an A upset at most N
    outputs, a B upset M) bounds the outputs the run's upsets corrupt; without schedules the old per-MAC
    count stays."""
    from simulator.faults.sram_residency import sram_upset_reach
    from simulator.mapping.schedule import schedule_gemms

    hw, wl = api.resolve_hw("edge_32x32", ["array.rows=8", "array.cols=8"]), load_workload(str(TINY))
    schedules = schedule_gemms(wl.gemms, hw)
    for site in ("sram_a", "sram_b"):
        spec = FaultSpec(ber=6e-6, seed=4, sites=site)
        upsets, reach = sram_upset_reach(spec, hw.array.datatype, schedules)
        report = api.run(hw, wl, ["none"], spec, fault_log=True).policy("none")
        got = report.outcomes["faults_injected"]
        assert upsets > 300 and abs(got - upsets) <= 5 * upsets**0.5, (site, got, upsets)
        corrupted = sum(int(r["outputs_corrupted"]) for r in report.fault_log or ())
        assert 0 < corrupted <= reach * 1.2  # the reach is an upper bound per upset, the count Poisson
        estimate = estimate_memory(spec, hw, wl, recomputing=False, sram_upsets=(upsets, reach))
        assert estimate.faults == pytest.approx(upsets) and estimate.sram_bytes > 0
        assert estimate_memory(spec, hw, wl, recomputing=False).sram_bytes == 0


def test_sram_upsets_that_cannot_fit_are_refused_naming_the_sites():
    """vit_block_gemms at 1e-7 with sram_a: ~30 GiB of corrupted-output rows, refused up front in one line
    (it was killed by the kernel's OOM killer after minutes)."""
    from simulator.faults.sram_residency import sram_upset_reach
    from simulator.mapping.schedule import schedule_gemms

    hw, wl = load_hw("edge_32x32"), load_workload("vit_block_gemms")
    spec = FaultSpec(ber=1e-7, sites="acc,sram_a")
    sram = sram_upset_reach(spec, hw.array.datatype, schedule_gemms(wl.gemms, hw))
    estimate = estimate_memory(spec, hw, wl, recomputing=True, sram_upsets=sram)
    assert estimate.sram_bytes > 25 * 2**30
    with pytest.raises(ConfigError, match=r"^faults\.sites: this run needs .* for the outputs its A / B scratchpad"):
        check_memory(estimate, available_bytes=16 * 2**30)
    check_memory(estimate_memory(spec.model_copy(update={"ber": 1e-9}), hw, wl, True), available_bytes=16 * 2**30)
