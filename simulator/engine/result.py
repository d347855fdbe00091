"""What an engine run returns: cycles and action counts per layer, recompute statistics, trace."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from simulator.abft.protocol import Action, Decision, TileCheck
from simulator.engine.records import LayerCycles, TraceRecord
from simulator.metrics.actions import ActionCounts


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One GEMM (all its instances): timing breakdown and counted actions (`actions.cycles` = total)."""

    index: int
    name: str
    kind: str
    folds: int
    cycles: LayerCycles
    actions: ActionCounts
    recompute_passes: int = 0
    corrections: int = 0
    given_up: int = 0

    @property
    def total_cycles(self) -> int:
        return self.cycles.total_cycles

    @property
    def compute_cycles(self) -> int:
        return self.cycles.compute_cycles

    @property
    def memory_stall_cycles(self) -> int:
        return self.cycles.memory_stall_cycles

    @property
    def writeback_stall_cycles(self) -> int:
        return self.cycles.writeback_stall_cycles

    @property
    def checksum_stall_cycles(self) -> int:
        return self.cycles.checksum_stall_cycles

    @property
    def recompute_cycles(self) -> int:
        return self.cycles.recompute_cycles


@dataclass(frozen=True, slots=True)
class FoldOutcome:
    """How the engine handled one fold the verifier reported on: every attempt's check and verdict.

    `given_up`: the last verdict asked for a recomputation but `recompute.max_retries` passes had
    run already; the fold was written back as it was (the ABFT layer classifies it as escaped).
    """

    layer: int
    instance: int
    fold: int
    checks: tuple[TileCheck, ...]
    decisions: tuple[Decision, ...]
    final_cycle: int
    given_up: bool

    @property
    def recompute_passes(self) -> int:
        return len(self.checks) - 1

    @property
    def final_action(self) -> Action:
        return self.decisions[-1].action


@dataclass(frozen=True, slots=True)
class RecomputeStats:
    """Recovery work of a run."""

    passes: int = 0  # recompute passes run on the array
    passes_by_scope: dict[str, int] = field(default_factory=dict)
    corrections: int = 0  # CORRECT verdicts (no array time)
    given_up: int = 0  # folds whose retries ran out
    recomputed_macs: int = 0
    recompute_cycles: int = 0  # sum of the layers' recompute cycles


@dataclass(frozen=True, slots=True)
class EngineResult:
    """Result of `simulate`: `total_cycles` is the wall clock of the whole workload."""

    total_cycles: int
    layers: tuple[LayerResult, ...]
    actions: ActionCounts  # whole run, `cycles` = total_cycles
    recompute: RecomputeStats
    outcomes: tuple[FoldOutcome, ...]
    folds: int  # first executions (every fold of every instance of every GEMM)
    events_processed: int  # SimPy events the run processed
    skipped_folds: int = 0  # folds timed by repeat skipping (coalesce=True), not one by one
    records: tuple[TraceRecord, ...] | None = None  # only with trace=True

    @property
    def timing_is_fault_free(self) -> bool:
        """No flagged fold was recomputed: every verdict settled at its fold's check, which times the
        fold as if nothing had been flagged (plan.py, "Settled verdicts"), so every cycle and
        action of this run is that of the same policy's run without faults."""
        return self.recompute.passes == 0

    def without_faults(self) -> EngineResult:
        """The same policy's fault-free run, derived from this one (`timing_is_fault_free` only):
        the same cycles and actions; no outcomes, corrections or give-ups; no trace."""
        if not self.timing_is_fault_free:
            raise ValueError("a run that recomputed folds does not time like its fault-free run")
        layers = tuple(replace(layer, recompute_passes=0, corrections=0, given_up=0) for layer in self.layers)
        stats = RecomputeStats(
            recomputed_macs=self.recompute.recomputed_macs, recompute_cycles=self.recompute.recompute_cycles
        )
        return replace(self, layers=layers, recompute=stats, outcomes=(), records=None)
