"""The contract between the engine and ABFT policies: checking work, tile checks, decisions.

The engine never branches on a policy's name: it asks the policy what checking work a fold
costs (`check_work`) and, for every fold attempt that the verifier reports on, what to do
(`decide`). A policy is one class implementing `Policy`, registered by name in the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from simulator.mapping.region import Region
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold


@dataclass(frozen=True, slots=True)
class CheckWork:
    """Checking work one fold costs a policy, priced by the engine per checksum placement.

    `checksum_macs` / `checksum_adds` / `compares` run on the checksum hardware (side unit or
    checksum PEs); `extra_array_macs` and `extra_array_cycles` run on the array itself (in-array
    checksum rows/columns, or a duplicate execution for DMR). `duplicate_passes` more copies of
    the pass run back to back while its operands are still in SRAM: the engine charges each copy
    the pass's SRAM traffic (operand reads, output writes and reads) and port stretch, no DRAM.
    """

    checksum_macs: int = 0
    checksum_adds: int = 0
    compares: int = 0
    extra_array_macs: int = 0
    extra_array_cycles: int = 0
    duplicate_passes: int = 0


NO_CHECK = CheckWork()


class Action(StrEnum):
    ACCEPT = "accept"  # keep the output as it is (clean, tolerated, or nothing checked)
    CORRECT = "correct"  # fix the output in place from the checksums (no array work)
    RECOMPUTE = "recompute"  # run `region` again on the array, then verify again


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    region: Region | None = None

    def __post_init__(self) -> None:
        if (self.action is Action.RECOMPUTE) != (self.region is not None):
            raise ValueError("a recompute decision needs a region, and only a recompute has one")


ACCEPT = Decision(Action.ACCEPT)


@dataclass(frozen=True, slots=True)
class TileCheck:
    """What the verifier found for one attempt of one fold; `details` is the verifier's own."""

    gemm_index: int
    instance: int
    fold_index: int
    attempt: int
    details: Any = field(default=None, compare=False)


class Policy(Protocol):
    """An ABFT policy plug-in."""

    name: str
    # what the policy asks of the verifier (simulator.abft.policies.PolicyBase documents each)
    checks: bool
    duplicates: bool
    tolerates: bool

    def check_work(self, schedule: GemmSchedule, fold: Fold) -> CheckWork:
        """The checking work this policy adds to one attempt of one fold.

        It may depend on the fold's shape and position and on the GEMM's shape and kind, never
        on the GEMM's name: the engine asks once per run of identical folds (first and last
        fold) and reuses the answer across layers of the same shape and kind.
        """
        ...

    def decide(self, check: TileCheck) -> Decision:
        """Accept, correct or recompute after a fold attempt the verifier reported on."""
        ...


class TileVerifier(Protocol):
    """Where fault outcomes come from (the fault model); the engine only asks, never computes."""

    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        """(instance, fold_index) pairs whose first attempt the policy must look at."""
        ...

    def verify(self, gemm_index: int, instance: int, fold: Fold, attempt: int, region: Region | None) -> TileCheck:
        """The check of one attempt (attempt 0 = first execution; region = what was rerun)."""
        ...


class NoFaults:
    """A verifier for fault-free runs: nothing is ever flagged."""

    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        return frozenset()

    def verify(self, gemm_index: int, instance: int, fold: Fold, attempt: int, region: Region | None) -> TileCheck:
        return TileCheck(gemm_index, instance, fold.index, attempt)
