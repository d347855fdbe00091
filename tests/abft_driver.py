"""Test helper: drives a FaultVerifier and a policy through fold attempts the way the engine does."""

from __future__ import annotations

from simulator.abft.policies import PolicyContext
from simulator.abft.protocol import Action
from simulator.abft.registry import make_policy
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw
from simulator.mapping.region import resolve_region
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.verifier import DecisionRecorder, FaultVerifier
from simulator.workload.gemm import Gemm


def small_hw(dataflow: str = "os", rows: int = 4, cols: int = 4, datatype: str = "int8", retries: int = 3):
    return load_hw(
        "edge_32x32",
        [f"array.dataflow={dataflow}", f"array.rows={rows}", f"array.cols={cols}", f"array.datatype={datatype}",
         f"recompute.max_retries={retries}"],
    )  # fmt: skip


def drive(hw, gemms: list[Gemm], policy_name: str, spec: FaultSpec, abft: AbftConfig | None = None):
    """Run every flagged fold's attempts to completion; returns (verifier, decisions)."""
    abft = abft or AbftConfig()
    schedules = [schedule_gemm(g, hw) for g in gemms]
    policy = make_policy(policy_name, PolicyContext(hw.checksum_unit.placement, abft))
    verifier = FaultVerifier(hw, schedules, spec, abft, checks=policy.checks, duplicates=policy.duplicates,
                             tolerates=policy.tolerates)  # fmt: skip
    recorder = DecisionRecorder(policy, verifier)
    decisions = []
    folds = {gi: verifier.operands.folds(gi) for gi in range(len(gemms))}
    for gi in range(len(gemms)):
        for instance, f in sorted(verifier.flagged_folds(gi)):
            fold = folds[gi].fold(f)
            attempt, region = 0, None
            while True:
                check = verifier.verify(gi, instance, fold, attempt, region)
                decision = recorder.decide(check)
                decisions.append((gi, instance, f, attempt, decision))
                if decision.action is not Action.RECOMPUTE or attempt >= hw.recompute.max_retries:
                    break
                attempt, region = attempt + 1, resolve_region(hw, schedules[gi], fold, decision.region)
    return verifier, decisions
