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


def run_trial(task: TrialTask) -> dict[str, Any]:
    """Simulate one (point, trial) on a worker."""
    cfg = task.config
    hw = HwConfig.model_validate(cfg["hw"])
    wl = cfg["workload"]
    workload = Workload(
        wl["name"], tuple(Gemm(g["name"], g["kind"], g["M"], g["K"], g["N"], g["count"]) for g in wl["gemms"])
    )
    faults = FaultSpec.model_validate({**cfg["faults"], "seed": task.seed})
    abft = AbftConfig.model_validate(cfg["abft"])
    report = api.run(hw, workload, cfg["policies"], faults, abft=abft)
    return summarize_report(report.to_dict())
