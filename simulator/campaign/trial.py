"""One Monte-Carlo trial on a worker: a resolved config + seed -> plain-value results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator import api
from simulator.campaign.plan import TrialTask
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.metrics.area import area_pe
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload

RESULTS_SCHEMA = "abftsim.trial/1"
POLICY_KEYS = (
    "cycles", "latency_s", "energy_pj", "latency_overhead_pct", "energy_overhead_pct", "faults_injected",
    "detected", "masked", "corrected", "recomputed", "tolerated", "escaped", "recomputations", "recomputed_macs",
    "false_alarms",
)  # fmt: skip
LAYER_KEYS = (
    "compute_cycles", "memory_stall_cycles", "checksum_stall_cycles", "recompute_cycles", "total_cycles", "energy_pj",
    "writeback_stall_cycles",
)  # fmt: skip


def _by_kind(layers: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per-layer cycles and energy summed per GEMM kind (qkv, qk, ..., in first-seen order)."""
    out: dict[str, dict[str, float]] = {}
    for layer in layers:
        acc = out.setdefault(layer["kind"], dict.fromkeys(LAYER_KEYS, 0))
        for key in LAYER_KEYS:
            acc[key] += layer.get(key, 0)
    return out


def summarize_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics a sweep keeps from an `abftsim.report/1` dict (plain values, JSON-ready)."""
    base = report["baseline"]
    return {
        "schema": RESULTS_SCHEMA,
        "area_pe": area_pe(HwConfig.model_validate(report["hw"])),
        "baseline": {k: base[k] for k in ("cycles", "latency_s", "energy_pj")},
        "policies": [
            {
                "policy": p["policy"],
                **{k: p.get(k, 0) for k in POLICY_KEYS},
                "energy_breakdown_pj": dict(p.get("energy_breakdown_pj", {})),
                "kinds": _by_kind(p.get("layers", [])),
            }
            for p in report["policies"]
        ],
    }


def run_trial(task: TrialTask, fault_log: bool = False) -> dict[str, Any]:
    """Simulate one (point, trial) on a worker; `fault_log` also keeps every policy's per-fault records
    (`results["fault_log"]`: per policy in run order {"policy", "columns": {key: values}}, keys
    api.FAULT_LOG_KEYS; plain values, stored with the trial in one transaction)."""
    cfg = task.config
    hw = HwConfig.model_validate(cfg["hw"])
    wl = cfg["workload"]
    workload = Workload(
        wl["name"], tuple(Gemm(g["name"], g["kind"], g["M"], g["K"], g["N"], g["count"]) for g in wl["gemms"])
    )
    faults = FaultSpec.model_validate({**cfg["faults"], "seed": task.seed})
    abft = AbftConfig.model_validate(cfg["abft"])
    report = api.run(hw, workload, cfg["policies"], faults, abft=abft, fault_log=fault_log)
    results = summarize_report(report.to_dict())
    if fault_log:
        results["fault_log"] = [
            {"policy": p.policy, "columns": {key: [r[key] for r in p.fault_log or ()] for key in api.FAULT_LOG_KEYS}}
            for p in report.policies
        ]
    return results


def run_trial_with_fault_log(task: TrialTask) -> dict[str, Any]:
    """run_trial keeping the per-fault records (`abftsim sweep --fault-log`; a module-level function, so
    process and Dask workers can run it)."""
    return run_trial(task, fault_log=True)
