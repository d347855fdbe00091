"""The systolic array at fold granularity: when each pass issues and drains, and why it waited.

Issue rules, for a pass (a fold's first execution or a recompute pass) of length F (issue to
drain) and issue window w (issue to the next pass's earliest issue):

* passes issue in order, one per window: s >= p, where p is the previous pass's s + w; without
  fold overlap w = F, with overlap the next pass streams in behind the current one;
* a fold's first execution also waits for its operands in SRAM (dma.Dma), and, on the
  side-unit placement, must not drain before the output buffer it drains into has been checked
  (checksum_unit): s + F >= release of the pass `buffers` places earlier;
* the layer's first fold issues at the layer's start (layers are serial, see simulate.py).

A recompute pass that refetches operands from DRAM (mapping.region) requests the refetch on the
channel when it is decided (behind every load the DMA requested before that cycle, dma.py); a region pass
issues once the data is in SRAM, a GEMM-scope pass streams it and cannot drain before it arrived.

Accounting: a fold's gap s - p is a memory stall when its operands arrived last, else a checksum
stall; of a memory stall, the cycles by which earlier layers' write-back queued on the channel
ahead of its load delayed its data (dma.Dma.writeback_wait; each store's service is charged once)
are a write-back stall instead; its SRAM-port stretch is a memory stall; its on-array checksum cycles count as compute.
Recompute passes are not attributed: a layer's recompute cycles are what remains of its total.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from simulator.abft.protocol import FoldAttempts
from simulator.config.schema import HwConfig
from simulator.engine.channel import DramChannel
from simulator.engine.dma import Dma
from simulator.engine.plan import FoldCost, Segment
from simulator.engine.records import RecordKind, TraceRecord
from simulator.metrics.actions import ActionCounts

NO_LOAD = -(2**62)  # ready cycle of a fold that loads nothing


@dataclass(slots=True)  # not frozen: one is made per recompute pass, and a frozen one builds slower
class ArrayPass:
    """A recompute pass waiting for, or running on, the array (checking costs included); not changed once made."""

    fold_cycles: int
    window_cycles: int
    side_unit_cycles: int
    counts: ActionCounts
    request_cycle: int
    tag: tuple[int, int, int, int]  # (layer, instance, fold, attempt)
    ready_cycle: int = NO_LOAD  # its DRAM refetch is in SRAM (NO_LOAD: it fetches nothing)
    streams_load: bool = False  # the refetch overlaps the pass instead of preceding it


class Sequencer:
    """Array, side unit, DMA and channel state, advanced one pass at a time."""

    def __init__(self, hw: HwConfig, trace: bool):
        self.records: list[TraceRecord] | None = [] if trace else None
        sram = hw.memory.sram
        if hw.memory.ideal:
            self.channel: DramChannel | None = None
            self.dma: Dma | None = None
        else:
            self.channel = DramChannel(hw.dram_bytes_per_cycle, hw.memory.dram.latency_cycles, self.records)
            self.dma = Dma(sram, self.channel)
        self.p = 0  # earliest issue of the next pass
        self.last_start = 0
        self.last_end = 0  # drain of the latest pass
        self.side_free = 0  # side unit busy until
        self.releases: deque[int] = deque(maxlen=sram.c.buffers)  # output buffer release of the latest passes
        self.issued = 0  # first executions issued
        self.skipped = 0  # of which timed by repeat skipping (coalesce.py)
        self.layer = -1
        self.layer_start = 0
        self.layer_final = 0  # latest cycle a result of this layer became final
        self.memory_stall = 0
        self.checksum_stall = 0
        self.writeback_stall = 0  # waiting for earlier layers' write-back on the channel
        self.last_pass_is_fold = True
        # recompute passes and their checks, this layer: how often each (interned) pass price ran
        self._pass_counts: dict[int, tuple[ActionCounts, int]] = {}
        # settled folds timed (plan.Segment.settled): segment, fold index, attempts, check end
        self.settled: list[tuple[Segment, int, FoldAttempts, int]] = []

    # -- layers ------------------------------------------------------------------------------
    def start_layer(self, layer: int, start: int) -> None:
        self.layer, self.layer_start, self.layer_final = layer, start, start
        self.p = max(self.p, start)
        self.memory_stall = self.checksum_stall = self.writeback_stall = 0
        self.last_pass_is_fold = True
        self._pass_counts = {}

    @property
    def extra_counts(self) -> ActionCounts:
        """Actions of this layer's recompute passes and their checks."""
        return ActionCounts.weighted_sum(self._pass_counts.values())

    def end_layer(self, drain_stores: bool) -> int:
        """Close the layer; its end cycle (the last layer also waits for the final write-backs)."""
        end = max(self.layer_final, self.last_end)
        behind = 0  # of the final drain, what earlier layers' write-back added (a write-back stall)
        if drain_stores and self.channel is not None:
            end = max(end, self.channel.finish())
            behind = max(0, self.channel.drain_behind(max(self.layer_final, self.last_end), self.layer))
        if self.last_pass_is_fold:
            self._stall(RecordKind.CHECKSUM_STALL, self.last_end, self.layer_final)
            self._stall(RecordKind.MEMORY_STALL, max(self.layer_final, self.last_end), end - behind)
            self._stall(RecordKind.WRITEBACK_STALL, max(self.layer_final, self.last_end, end - behind), end)
        if self.records is not None:
            self.records.append(TraceRecord(RecordKind.LAYER, self.layer, -1, -1, -1, self.layer_start, end))
        return end

    # -- first executions ----------------------------------------------------------------------
    def ready_cycle(self, ordinal: int, cost: FoldCost) -> int | None:
        """Cycle fold `ordinal`'s operands are in SRAM; None if its load is not requested yet."""
        if self.dma is None or not cost.load_bytes:
            return NO_LOAD
        return self.dma.ready.get(ordinal)

    def fold_start(self, cost: FoldCost, ready: int) -> int:
        """Earliest issue of a fold whose operands are in SRAM at `ready`."""
        t = self.p if ready < self.p else ready
        releases = self.releases
        if len(releases) == releases.maxlen:
            drain = releases[0] - cost.fold_cycles
            if drain > t:
                t = drain
        return t

    def issue_fold(self, seg: Segment, k: int, start: int, ready: int) -> int:
        """Issue fold k of `seg` at `start`; the cycle its check completes (its verdict is due)."""
        cost, records, dma, releases, p = seg.cost, self.records, self.dma, self.releases, self.p
        if start > p:
            if ready >= start:
                behind = 0
                if dma is not None:
                    floor = p
                    if len(releases) == releases.maxlen:
                        floor = max(floor, releases[0] - cost.fold_cycles)
                    behind = dma.writeback_wait(seg.ordinal + k, start - floor)
                self._stall(RecordKind.MEMORY_STALL, p, start - behind)
                self._stall(RecordKind.WRITEBACK_STALL, start - behind, start)
            else:
                self._stall(RecordKind.CHECKSUM_STALL, p, start)
        end = start + cost.fold_cycles
        self.p = p = start + cost.window_cycles
        if cost.port_stall_cycles:
            base = p - cost.port_stall_cycles - cost.array_check_cycles
            self._stall(RecordKind.MEMORY_STALL, base, base + cost.port_stall_cycles)
        checked = end
        side = cost.side_unit_cycles
        if side:
            side_start = end if end > self.side_free else self.side_free
            checked = self.side_free = side_start + side
        releases.append(checked)
        self.last_start, self.last_end = start, end
        self.last_pass_is_fold = True
        ordinal = seg.ordinal + k
        if dma is not None:
            dma.issued_fold(ordinal, start, p)
        self.issued = ordinal + 1
        if not seg.flagged:
            self.finalize(ordinal, cost, checked, seg, k)
            if seg.settled:
                fold = seg.first_fold + k
                for f, history in seg.settled:
                    if f == fold:
                        self.settled.append((seg, f, history, checked))
        if records is not None:
            self._record_pass(
                RecordKind.FOLD,
                (seg.layer, seg.instance, seg.first_fold + k, 0),
                start,
                end,
                checked,
                cost.side_unit_cycles,
            )
            if cost.array_check_cycles:
                records.append(
                    TraceRecord(RecordKind.ARRAY_CHECK, seg.layer, -1, -1, -1, self.p - cost.array_check_cycles, self.p)
                )
        return checked

    def finalize(self, ordinal: int, cost: FoldCost, at: int, seg: Segment, k: int) -> None:
        """Fold `ordinal`'s result is final at `at`: it may be written back."""
        if at > self.layer_final:
            self.layer_final = at
        if self.channel is not None and cost.store_bytes:
            tag = (seg.layer, seg.instance, seg.first_fold + k) if self.records is not None else None
            self.channel.post_store(at, ordinal, cost.store_bytes, cost.spills_psum, tag, seg.layer)

    # -- recompute passes ----------------------------------------------------------------------
    def request_refetch(self, at: int, nbytes: int, tag: tuple[int, int, int, int]) -> int:
        """Request a recompute's DRAM refetch decided at `at`; the cycle its data is in SRAM."""
        if self.dma is None or not nbytes:
            return NO_LOAD
        return self.dma.refetch(at, nbytes, tag[:3] if self.records is not None else None)

    def pass_start(self, job: ArrayPass) -> int:
        t = max(self.p, job.request_cycle)
        if not job.streams_load and job.ready_cycle > t:
            t = job.ready_cycle
        if len(self.releases) == self.releases.maxlen:
            t = max(t, self.releases[0] - job.fold_cycles)
        return t

    def issue_pass(self, job: ArrayPass, start: int) -> int:
        """Issue a recompute pass at `start`; the cycle its check completes."""
        end = start + job.fold_cycles
        stretch = max(0, job.ready_cycle - end) if job.streams_load else 0  # waits for its reload
        end += stretch
        self.p = start + job.window_cycles + stretch
        checked = end
        if job.side_unit_cycles:
            checked = self.side_free = max(end, self.side_free) + job.side_unit_cycles
        self.releases.append(checked)
        self.last_start, self.last_end = start, max(self.last_end, end)
        self.last_pass_is_fold = False
        seen = self._pass_counts.get(id(job.counts))  # passes share their priced counts (simulate.py)
        self._pass_counts[id(job.counts)] = (job.counts, seen[1] + 1 if seen else 1)
        if self.records is not None:
            self._record_pass(RecordKind.RECOMPUTE, job.tag, start, end, checked, job.side_unit_cycles)
        return checked

    def decided(self, at: int) -> None:
        """A verdict was reached at `at` (the layer cannot end before)."""
        if at > self.layer_final:
            self.layer_final = at

    # -- internals -----------------------------------------------------------------------------
    def _stall(self, kind: RecordKind, start: int, end: int) -> None:
        if end <= start:
            return
        if kind is RecordKind.MEMORY_STALL:
            self.memory_stall += end - start
        elif kind is RecordKind.WRITEBACK_STALL:
            self.writeback_stall += end - start
        else:
            self.checksum_stall += end - start
        if self.records is not None:
            self.records.append(TraceRecord(kind, self.layer, -1, -1, -1, start, end))

    def _record_pass(
        self, kind: RecordKind, tag: tuple[int, int, int, int], start: int, end: int, checked: int, side: int
    ) -> None:
        assert self.records is not None
        layer, instance, fold, attempt = tag
        self.records.append(TraceRecord(kind, layer, instance, fold, attempt, start, end))
        if side:
            self.records.append(TraceRecord(RecordKind.CHECK, layer, instance, fold, attempt, checked - side, checked))

    # -- coalescing support ----------------------------------------------------------------------
    def stalls(self) -> tuple[int, int, int]:
        """The layer's stall totals so far (memory, checksum, write-back)."""
        return self.memory_stall, self.checksum_stall, self.writeback_stall

    def repeat_stalls(self, then: tuple[int, int, int], times: int) -> None:
        """Add `times` more periods of the stalls accumulated since the totals were `then`."""
        memory, checksum, writeback = then
        self.memory_stall += times * (self.memory_stall - memory)
        self.checksum_stall += times * (self.checksum_stall - checksum)
        self.writeback_stall += times * (self.writeback_stall - writeback)

    def state_key(self, lo: int, hi: int) -> tuple:
        """Everything that shapes future passes, relative to the issue pointer and fold count."""
        now, ordinal = self.p, self.issued
        key: tuple[object, ...] = (
            self.last_end - now,
            self.last_start - now,
            max(self.side_free - now, 0),
            tuple([r - now for r in self.releases]),
            self.layer_final - now,
        )
        if self.dma is not None and self.channel is not None:
            key += (self.dma.state_key(now, ordinal, lo, hi), self.channel.state_key(now, ordinal))
        return key

    def shift(self, cycles: int, ordinals: int, lo: int, hi: int) -> None:
        """Advance every time by `cycles` and every fold position by `ordinals` (a repeat jump)."""
        now = self.p
        if self.side_free > now:
            self.side_free += cycles
        self.p += cycles
        self.last_start += cycles
        self.last_end += cycles
        self.layer_final += cycles
        self.releases = deque((r + cycles for r in self.releases), maxlen=self.releases.maxlen)
        self.issued += ordinals
        self.skipped += ordinals
        if self.dma is not None and self.channel is not None:
            self.dma.shift(cycles, ordinals, now, lo, hi)
            self.channel.shift(cycles, ordinals)
