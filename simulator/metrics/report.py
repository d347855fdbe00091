"""Report objects (per layer, per policy, per run) and their JSON form `abftsim.report/1`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulator.metrics.actions import ActionCounts

SCHEMA = "abftsim.report/1"


@dataclass(frozen=True, slots=True)
class LayerReport:
    """One GEMM (all its `count` instances) under one policy."""

    name: str
    kind: str
    m: int
    k: int
    n: int
    count: int
    folds: int
    compute_cycles: int  # array busy with first executions, incl. checksum work on the array
    memory_stall_cycles: int  # array idle waiting for operands or buffers
    checksum_stall_cycles: int  # array idle waiting for the checksum unit
    recompute_cycles: int  # everything recomputation added: its passes and waiting for their verdicts
    total_cycles: int  # wall-clock cycles of the layer
    actions: ActionCounts
    energy_breakdown_pj: dict[str, float]
    outcomes: dict[str, float] = field(default_factory=dict)  # counts, and residual errors (floats)
    compulsory_dram_bytes: int = 0  # A and B read once, C written once (mapping.schedule)
    # array idle because its operands' loads queued behind earlier layers' write-back (not in memory_stall)
    writeback_stall_cycles: int = 0

    @property
    def dram_bytes(self) -> int:
        """DRAM bytes read and written, recomputation included."""
        return self.actions.dram_read_bytes + self.actions.dram_write_bytes

    @property
    def stall_cycles(self) -> int:
        return self.memory_stall_cycles + self.checksum_stall_cycles + self.writeback_stall_cycles

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_breakdown_pj.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "M": self.m,
            "K": self.k,
            "N": self.n,
            "count": self.count,
            "folds": self.folds,
            "macs": self.actions.macs,
            "compute_cycles": self.compute_cycles,
            "stall_cycles": self.stall_cycles,
            "memory_stall_cycles": self.memory_stall_cycles,
            "checksum_stall_cycles": self.checksum_stall_cycles,
            "writeback_stall_cycles": self.writeback_stall_cycles,
            "recompute_cycles": self.recompute_cycles,
            "total_cycles": self.total_cycles,
            "energy_pj": self.energy_pj,
            "energy_breakdown_pj": dict(self.energy_breakdown_pj),
            "actions": self.actions.to_dict(),
            "dram_bytes": self.dram_bytes,
            "compulsory_dram_bytes": self.compulsory_dram_bytes,
            **self.outcomes,
        }


OUTCOME_KEYS = ("faults_injected", "detected", "corrected", "recomputations", "escaped")


@dataclass(frozen=True, slots=True)
class PolicyReport:
    """A whole workload under one policy."""

    policy: str
    cycles: int
    clock_hz: float
    energy_breakdown_pj: dict[str, float]
    actions: ActionCounts
    layers: tuple[LayerReport, ...]
    outcomes: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    trace: tuple[Any, ...] | None = None  # engine trace records (run with trace=True); not in JSON
    fault_log: tuple[dict[str, Any], ...] | None = None  # one record per injected fault (fault_log=True); not in JSON

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def energy_pj(self) -> float:
        return sum(self.energy_breakdown_pj.values())

    def to_dict(self, baseline: PolicyReport | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {
            "policy": self.policy,
            "cycles": self.cycles,
            "latency_s": self.latency_s,
            "energy_pj": self.energy_pj,
            "energy_breakdown_pj": dict(self.energy_breakdown_pj),
        }
        if baseline is not None:
            d["latency_overhead_pct"] = overhead_pct(self.cycles, baseline.cycles)
            d["energy_overhead_pct"] = overhead_pct(self.energy_pj, baseline.energy_pj)
        d.update({key: self.outcomes.get(key, 0) for key in OUTCOME_KEYS})
        d["recomputed_macs"] = self.actions.recomputed_macs
        d.update({k: v for k, v in self.outcomes.items() if k not in d})
        d.update(self.extra)
        d["actions"] = self.actions.to_dict()
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d


def overhead_pct(value: float, baseline: float) -> float:
    """Relative overhead in percent; 0 when both are 0."""
    if baseline == 0:
        return 0.0 if value == 0 else float("inf")
    return 100.0 * (value - baseline) / baseline


@dataclass(frozen=True, slots=True)
class Report:
    """A run: resolved hardware, workload, the fault-free unprotected baseline and each policy."""

    hw: dict[str, Any]
    workload: dict[str, Any]
    baseline: PolicyReport
    policies: tuple[PolicyReport, ...]
    run: dict[str, Any] = field(default_factory=dict)

    def policy(self, name: str) -> PolicyReport:
        for p in self.policies:
            if p.policy == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        base = self.baseline
        return {
            "schema": SCHEMA,
            "run": dict(self.run),
            "hw": self.hw,
            "workload": self.workload,
            "baseline": {
                "cycles": base.cycles,
                "latency_s": base.latency_s,
                "energy_pj": base.energy_pj,
                "energy_breakdown_pj": dict(base.energy_breakdown_pj),
            },
            "policies": [p.to_dict(base) for p in self.policies],
        }
