"""Test helper: runs a policy's verifier over every flagged fold the way the engine does (the shared retry loop)."""

from __future__ import annotations

from simulator.abft.policies import PolicyContext
from simulator.abft.registry import make_policy
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.verifier import make_verifier
from simulator.workload.gemm import Gemm


def small_hw(dataflow: str = "os", rows: int = 4, cols: int = 4, datatype: str = "int8", retries: int = 3):
    return load_hw(
        "edge_32x32",
        [f"array.dataflow={dataflow}", f"array.rows={rows}", f"array.cols={cols}", f"array.datatype={datatype}",
         f"recompute.max_retries={retries}"],
    )  # fmt: skip


def drive(hw, gemms: list[Gemm], policy_name: str, spec: FaultSpec, abft: AbftConfig | None = None):
    """Every flagged fold's attempts; returns (verifier, decisions as (gemm, instance, fold, attempt, decision))."""
    abft = abft or AbftConfig()
    schedules = [schedule_gemm(g, hw) for g in gemms]
    policy = make_policy(policy_name, PolicyContext(hw.checksum_unit.placement, abft))
    verifier = make_verifier(policy, hw, schedules, spec, abft)
    decisions = []
    for gi in range(len(gemms)):
        folds = verifier.operands.folds(gi)
        for instance, f in sorted(verifier.flagged_folds(gi)):
            history = verifier.attempts(gi, instance, folds.fold(f))
            for check, decision in zip(history.checks, history.decisions, strict=True):
                decisions.append((gi, instance, f, check.attempt, decision))
    return verifier, decisions
