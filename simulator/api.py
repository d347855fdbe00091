"""Python API: run() a workload on a hardware config under ABFT policies. Orchestration, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from simulator.abft.registry import make_policy
from simulator.config.loader import DEFAULT_HW, DEFAULT_WORKLOAD, ConfigError, load_hw, load_workload
from simulator.config.schema import HwConfig
from simulator.mapping.schedule import GemmSchedule, schedule_gemm
from simulator.metrics.actions import ActionCounts
from simulator.metrics.energy import energy_breakdown_pj
from simulator.metrics.report import LayerReport, PolicyReport, Report
from simulator.workload.workload import Workload

HwLike = HwConfig | str | Path
WorkloadLike = Workload | str | Path


def resolve_hw(hw: HwLike, overrides: Iterable[str] = ()) -> HwConfig:
    if isinstance(hw, HwConfig):
        if list(overrides):
            raise ConfigError("--set overrides apply to a hardware file or name, not to a config object")
        return hw
    return load_hw(hw, overrides)


def resolve_workload(workload: WorkloadLike) -> Workload:
    return workload if isinstance(workload, Workload) else load_workload(workload)


def run(
    hw: HwLike = DEFAULT_HW,
    workload: WorkloadLike = DEFAULT_WORKLOAD,
    policies: Sequence[str] = ("none",),
    *,
    overrides: Iterable[str] = (),
) -> Report:
    """Simulate `workload` on `hw` under each policy; overheads are against the fault-free
    unprotected baseline on the same hardware."""
    hw_cfg = resolve_hw(hw, overrides)
    wl = resolve_workload(workload)
    if not policies:
        raise ConfigError("no policy selected")
    for name in policies:
        try:
            make_policy(name)
        except ValueError as exc:
            raise ConfigError(f"--policy: {exc}") from None
    schedules = [schedule_gemm(g, hw_cfg) for g in wl.gemms]
    baseline = _policy_report("none", schedules, hw_cfg)
    reports = tuple(_policy_report(name, schedules, hw_cfg) for name in policies)
    return Report(
        hw=hw_cfg.model_dump(mode="json"),
        workload=wl.to_dict(),
        baseline=baseline,
        policies=reports,
    )


def _policy_report(name: str, schedules: Sequence[GemmSchedule], hw: HwConfig) -> PolicyReport:
    layers = tuple(_layer_report(s, hw) for s in schedules)
    actions = sum((layer.actions for layer in layers), ActionCounts())
    cycles = sum(layer.total_cycles for layer in layers)
    return PolicyReport(
        policy=name,
        cycles=cycles,
        clock_hz=hw.clock_hz,
        energy_breakdown_pj=energy_breakdown_pj(actions, hw),
        actions=actions,
        layers=layers,
    )


def _layer_report(s: GemmSchedule, hw: HwConfig) -> LayerReport:
    """Foundation timing: compute cycles against a DRAM bandwidth bound (the engine refines it)."""
    t = s.totals()
    compute = s.compute_cycles
    if hw.memory.ideal:
        total = compute
    else:
        dram_bytes = t.dram_load_bytes + t.dram_store_bytes
        dram_cycles = math.ceil(dram_bytes / hw.dram_bytes_per_cycle) + hw.memory.dram.latency_cycles
        total = max(compute, dram_cycles)
    actions = ActionCounts(
        macs=s.gemm.macs,
        sram_a_read_bytes=t.a_sram_read_bytes,
        sram_a_write_bytes=t.a_dram_load_bytes,
        sram_b_read_bytes=t.b_sram_read_bytes,
        sram_b_write_bytes=t.b_dram_load_bytes,
        sram_c_read_bytes=t.c_sram_read_bytes,
        sram_c_write_bytes=t.c_sram_write_bytes,
        dram_read_bytes=t.dram_load_bytes,
        dram_write_bytes=t.dram_store_bytes,
        cycles=total,
    )
    g = s.gemm
    return LayerReport(
        name=g.name,
        kind=g.kind,
        m=g.m,
        k=g.k,
        n=g.n,
        count=g.count,
        folds=s.folds,
        compute_cycles=compute,
        memory_stall_cycles=total - compute,
        checksum_stall_cycles=0,
        recompute_cycles=0,
        total_cycles=total,
        actions=actions,
        energy_breakdown_pj=energy_breakdown_pj(actions, hw),
    )
