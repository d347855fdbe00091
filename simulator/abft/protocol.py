"""The contract between the engine and ABFT policies: checking work, tile checks, decisions.

The engine never branches on a policy's name: it asks the policy what checking work a fold
costs (`check_work`) and the verifier what happened to every fold it flags (`attempts`: each
attempt's check and the policy's verdict, decided by abft.retry's loop). A policy is one class
implementing `Policy`, registered by name in the registry; what it asks of the verifier is
declared in its `contract`, and what it gets back is a `FoldVerification`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from simulator.abft.checksum import BlockDeviation
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
class CheckContract:
    """What a policy asks of the verifier for every fold attempt it decides on."""

    checksums: bool = False  # row / column checksum deviations of every check block
    duplicate: bool = False  # a second, independently faulty execution compared with the first (DMR)
    tolerates: bool = False  # detected deviations it accepts are `tolerated` by design, not escaped


NO_CONTRACT = CheckContract()


@dataclass(frozen=True, slots=True)
class FoldVerification:
    """What one attempt's checks saw, as the contract asked: the deviations of every check block
    that holds an error (`checksums`), whether the duplicate copy disagreed (`duplicate`)."""

    kind: str  # the GEMM kind (per-kind thresholds)
    scale: float  # clean output scale (ApproxABFT's relative unit), accumulator units
    blocks: tuple[BlockDeviation, ...] = ()
    copies_differ: bool = False
    name: str = ""  # the GEMM's name (per-GEMM thresholds)

    @property
    def detected(self) -> bool:
        return any(b.detected for b in self.blocks)


NOTHING_SEEN = FoldVerification("", 0.0)


@dataclass(frozen=True, slots=True)
class TileCheck:
    """What the verifier found for one attempt of one fold."""

    gemm_index: int
    instance: int
    fold_index: int
    attempt: int
    details: FoldVerification = field(default=NOTHING_SEEN, compare=False)


@dataclass(frozen=True, slots=True)
class FoldAttempts:
    """Every attempt of one flagged fold: its check and the policy's verdict, in order. The last
    verdict is final (a RECOMPUTE there means the retries ran out)."""

    checks: tuple[TileCheck, ...]
    decisions: tuple[Decision, ...]


class Policy(Protocol):
    """An ABFT policy plug-in."""

    name: str
    contract: CheckContract  # what the policy asks of the verifier

    def check_work(self, schedule: GemmSchedule, fold: Fold) -> CheckWork:
        """The checking work this policy adds to one attempt of one fold.

        It may depend on the fold's shape and position, on the GEMM's shape and kind, and on
        what `check_key` returns for the GEMM: the engine asks once per run of identical folds
        (first and last fold) and reuses the answer across layers of the same shape, kind and key.
        """
        ...

    def check_key(self, schedule: GemmSchedule) -> tuple:
        """Whatever else `check_work` depends on for this GEMM (e.g. its check-block size), hashable."""
        ...

    def decide(self, check: TileCheck) -> Decision:
        """Accept, correct or recompute after a fold attempt the verifier reported on."""
        ...


Rerun = Callable[[Fold, Region], Region]


class TileVerifier(Protocol):
    """Where fault outcomes come from (the fault model); the engine only asks, never computes."""

    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        """(instance, fold_index) pairs whose first attempt the policy must look at."""
        ...

    def attempts(self, gemm_index: int, instance: int, fold: Fold, rerun: Rerun | None = None) -> FoldAttempts:
        """Every attempt of a flagged fold and the policy's verdicts (abft.retry's loop);
        `rerun(fold, region)` is the region a pass reruns as the engine prices it."""
        ...


def flagged_by_instance(flagged: frozenset[tuple[int, int]]) -> dict[int, list[int]]:
    """TileVerifier.flagged_folds grouped: fold indices per instance, each list sorted."""
    by_instance: dict[int, list[int]] = {}
    for instance, fold_index in sorted(flagged):
        by_instance.setdefault(instance, []).append(fold_index)
    return by_instance


class NoFaults:
    """A verifier for fault-free runs: nothing is ever flagged."""

    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        return frozenset()

    def attempts(self, gemm_index: int, instance: int, fold: Fold, rerun: Rerun | None = None) -> FoldAttempts:
        raise ValueError(f"no fault flags fold {fold.index} of GEMM {gemm_index} instance {instance}")
