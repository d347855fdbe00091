"""Typed, flat trace records of an engine run and their reduction to per-layer cycles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Track(StrEnum):
    """A hardware resource; one timeline (Chrome trace thread) each."""

    DMA = "dma"  # DRAM -> SRAM operand loads on the DRAM channel
    WRITE_BACK = "write_back"  # SRAM -> DRAM stores on the same channel
    ARRAY = "array"  # fold and recompute passes, issue to drain (passes overlap in time)
    ARRAY_STALLS = "array_stalls"  # why the array did not issue: accounting spans, never overlapping
    CHECKSUM_UNIT = "checksum_unit"  # the side unit checking one array pass
    LAYERS = "layers"  # wall-clock span of each GEMM


class RecordKind(StrEnum):
    LOAD = "load"
    STORE = "store"
    FOLD = "fold"  # first execution of a fold
    RECOMPUTE = "recompute"  # a recompute pass (attempt >= 1)
    CHECK = "check"  # side-unit checking of one pass
    MEMORY_STALL = "memory_stall"  # waiting for operands, SRAM ports or the final write-back
    WRITEBACK_STALL = "writeback_stall"  # waiting for operands queued behind earlier layers' write-back
    CHECKSUM_STALL = "checksum_stall"  # waiting for the side unit (output buffers, last verdict)
    ARRAY_CHECK = "array_check"  # checksum cycles a fold spends on the array (in_array, checksum_pe)
    LAYER = "layer"


TRACK_OF: dict[RecordKind, Track] = {
    RecordKind.LOAD: Track.DMA,
    RecordKind.STORE: Track.WRITE_BACK,
    RecordKind.FOLD: Track.ARRAY,
    RecordKind.RECOMPUTE: Track.ARRAY,
    RecordKind.CHECK: Track.CHECKSUM_UNIT,
    RecordKind.MEMORY_STALL: Track.ARRAY_STALLS,
    RecordKind.WRITEBACK_STALL: Track.ARRAY_STALLS,
    RecordKind.CHECKSUM_STALL: Track.ARRAY_STALLS,
    RecordKind.ARRAY_CHECK: Track.ARRAY_STALLS,
    RecordKind.LAYER: Track.LAYERS,
}


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """One span on one resource. Times are cycles; DRAM transfers may end mid-cycle.

    `instance`, `fold` and `attempt` are -1 where they do not apply (layer and stall spans).
    A coalesced span (`count` > 1) stands for `count` spans of its kind that the engine timed
    as repeats of an identical period (coalesce.py): it covers them all, from `fold` on, and
    they add up to `busy_cycles`.
    """

    kind: RecordKind
    layer: int
    instance: int
    fold: int
    attempt: int
    start_cycle: float
    end_cycle: float
    count: int = 1
    busy_cycles: float = -1.0  # the spans' summed durations; -1: this span's own duration

    @property
    def track(self) -> Track:
        return TRACK_OF[self.kind]

    @property
    def duration_cycles(self) -> float:
        """Cycles the resource was busy (or stalled) in this span."""
        return self.busy_cycles if self.busy_cycles >= 0 else self.end_cycle - self.start_cycle


@dataclass(frozen=True, slots=True)
class LayerCycles:
    """Where a layer's wall-clock cycles went; the five parts sum to the total.

    compute: the schedule's pipelined compute cycles plus checksum cycles on the array;
    memory_stall: array waiting for operands, SRAM ports, or (last layer) the final write-back;
    checksum_stall: array waiting for the side unit; recompute: everything recomputation added;
    writeback_stall: array waiting for operands whose loads queued on the DRAM channel behind
    earlier layers' write-back (the cycles that write-back delayed them; not in memory_stall).
    """

    start_cycle: int
    end_cycle: int
    compute_cycles: int
    memory_stall_cycles: int
    checksum_stall_cycles: int
    recompute_cycles: int
    writeback_stall_cycles: int = 0

    @property
    def total_cycles(self) -> int:
        return self.end_cycle - self.start_cycle


def layer_cycles(records: Iterable[TraceRecord], base_compute_cycles: Sequence[int]) -> list[LayerCycles]:
    """Per-layer cycles from a trace; `base_compute_cycles[i]` is layer i's schedule compute cycles.

    Recompute cycles are the remainder: every cycle of the layer that is neither the schedule's
    compute nor an attributed stall was added by recomputation.
    """
    n = len(base_compute_cycles)
    span: list[tuple[int, int] | None] = [None] * n
    memory, checksum, array_check, writeback = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    for r in records:
        if r.kind is RecordKind.LAYER:
            span[r.layer] = (int(r.start_cycle), int(r.end_cycle))
        elif r.kind is RecordKind.MEMORY_STALL:
            memory[r.layer] += r.duration_cycles
        elif r.kind is RecordKind.CHECKSUM_STALL:
            checksum[r.layer] += r.duration_cycles
        elif r.kind is RecordKind.WRITEBACK_STALL:
            writeback[r.layer] += r.duration_cycles
        elif r.kind is RecordKind.ARRAY_CHECK:
            array_check[r.layer] += r.duration_cycles
    out = []
    for i, s in enumerate(span):
        if s is None:
            raise ValueError(f"trace has no layer record for layer {i}")
        compute = base_compute_cycles[i] + int(array_check[i])
        mem, chk, wb = int(memory[i]), int(checksum[i]), int(writeback[i])
        out.append(LayerCycles(s[0], s[1], compute, mem, chk, s[1] - s[0] - compute - mem - chk - wb, wb))
    return out
