"""The DRAM channel: one FIFO server shared by every operand load and write-back.

Timing rules (DESIGN.md section 3):

* Bandwidth: a transfer of b bytes occupies the channel for exactly b / bandwidth cycles. The
  channel clock is kept as an exact rational (bandwidth = P/Q bytes per cycle, the nearest
  fraction with Q <= 10**6 to the configured value; channel time counts 1/P cycles), so n
  back-to-back transfers take n*b/bandwidth cycles in total, with no per-transfer rounding.
  Only the cycle at which loaded data may be used is rounded: up to the next whole cycle.
* Latency is a pipeline delay, not an occupancy: loaded data is usable `latency_cycles` after
  its last byte crossed the channel, while the channel already serves the next transfer. This
  is how DRAM with several outstanding requests behaves (bank-level parallelism): bandwidth
  limits throughput, latency delays each response. A write-back is posted: it completes (and
  frees its buffer) when its last byte crossed the channel.
* Order: transfers are served first-come first-served by request cycle; at equal request
  cycles a load goes before a store (it gates compute), stores among themselves in fold order.

Write-back behind a layer (accounting only, no effect on timing): the channel remembers the
service spans of stores (`drained`) that a later fold load may still queue behind, and each fold
load of layer J returns the spans of earlier layers' stores served while it waited in the queue
(`Behind`). The array charges a fold's operand wait to write-back only up to what those spans
delayed its data (array.Sequencer), and every span is charged once (`consume`).

Requests are given with the cycle at which they were made, possibly before the caller's present:
stores are queued and served lazily, once the request cycle of every earlier-or-equal load is
known, so the service order is by request cycle whatever order the calls arrive in. Callers
guarantee loads are requested in non-decreasing cycle order and that no store is posted with a
request cycle below that of a load already requested.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from simulator.engine.records import RecordKind, TraceRecord
from simulator.mapping.region import channel_bandwidth

Tag = tuple[int, int, int]  # (layer, instance, fold) of a transfer, for the trace
Span = tuple[int, int, int]  # (start, end) in channel units and the layer of a served store
Behind = tuple[int, tuple[Span, ...]]  # a fold load's end (units), earlier layers' stores it queued behind


class DramChannel:
    """FIFO DRAM channel with rational bandwidth and pipelined latency (see module docstring)."""

    def __init__(self, bytes_per_cycle: float, latency_cycles: int, records: list[TraceRecord] | None = None):
        bandwidth = channel_bandwidth(bytes_per_cycle)
        self.units_per_cycle = bandwidth.numerator  # channel time unit: 1 / units_per_cycle cycles
        self.units_per_byte = bandwidth.denominator
        self.latency_cycles = latency_cycles
        self.free_units = 0  # when the channel finishes everything served so far
        self.stores: list[
            tuple[int, int, int, bool, Tag | None, int]
        ] = []  # heap: (cycle, seq, bytes, remember, tag, layer)
        # served stores a later load may still queue behind, uncharged parts; in service order, so
        # their starts and their ends are both non-decreasing (what `release_spans` and `load_fold` bisect)
        self.drained: list[Span] = []
        self.remembered: dict[int, int] = {}  # seq -> cycle its store completed (for read-after-write)
        self.records = records

    def load(self, request_cycle: int, nbytes: int, tag: Tag | None = None) -> int:
        """Serve a load requested at `request_cycle`; the cycle its data is usable in SRAM."""
        self.serve_stores_before(request_cycle)
        self.release_spans(request_cycle)  # loads are requested in non-decreasing cycle order
        end = self._serve(request_cycle, nbytes, RecordKind.LOAD, tag)
        return -(-end // self.units_per_cycle) + self.latency_cycles

    def load_fold(self, request_cycle: int, nbytes: int, layer: int, tag: Tag | None = None) -> tuple[int, Behind]:
        """`load` for a fold of `layer`; also what of earlier layers' write-back it queued behind."""
        self.serve_stores_before(request_cycle)
        lo = max(request_cycle * self.units_per_cycle, self.free_units)
        ready = self.load(request_cycle, nbytes, tag)  # released the spans that end by `queued`
        queued = request_cycle * self.units_per_cycle
        drained = self.drained
        served_before = bisect_left(drained, lo, key=_span_start)  # the spans starting before the load's service
        spans = tuple((max(a, queued), min(b, lo), n) for a, b, n in drained[:served_before] if n < layer)
        return ready, (self.free_units, spans)

    def release_spans(self, cycle: int) -> None:
        """No load is requested before `cycle` any more: forget the stores served before it."""
        cut = cycle * self.units_per_cycle
        if self.drained and self.drained[0][1] <= cut:
            del self.drained[: bisect_right(self.drained, cut, key=_span_end)]

    def drain_behind(self, cycle: int, layer: int) -> int:
        """After `finish`: cycles the channel's final drain from `cycle` on would have been shorter
        without the uncharged stores of layers before `layer` it served after `cycle`."""
        after = cycle * self.units_per_cycle
        units = sum(b - max(a, after) for a, b, n in self.drained if n < layer and b > after)
        per = self.units_per_cycle
        return -(-self.free_units // per) - max(cycle, -(-(self.free_units - units) // per))

    def consume(self, upto: int) -> None:
        """Write-back service before channel time `upto` has been charged: it is charged once."""
        self.drained = clip_spans(self.drained, upto)

    def post_store(
        self,
        request_cycle: int,
        seq: int,
        nbytes: int,
        remember: bool = False,
        tag: Tag | None = None,
        layer: int = -1,
    ) -> None:
        """Queue a write-back of `layer` requested at `request_cycle`; `seq` orders stores of equal cycles."""
        heapq.heappush(self.stores, (request_cycle, seq, nbytes, remember, tag, layer))

    def serve_stores_before(self, cycle: int) -> None:
        """Serve every queued store requested strictly before `cycle` (they precede such a load)."""
        stores = self.stores
        while stores and stores[0][0] < cycle:
            self._serve_store(heapq.heappop(stores))

    def store_end(self, seq: int) -> int:
        """Completion cycle of a remembered store (serving it, and what precedes it, if needed)."""
        while seq not in self.remembered:
            self._serve_store(heapq.heappop(self.stores))
        return self.remembered[seq]

    def forget(self, seq: int) -> None:
        """The remembered store `seq` was read back; drop it."""
        self.remembered.pop(seq, None)

    def stored_cycle(self, seq: int) -> int | None:
        """Request cycle of a queued or remembered store, None if it was not posted."""
        if seq in self.remembered:
            return -1  # already served: it precedes anything requested now
        for cycle, s, *_ in self.stores:
            if s == seq:
                return cycle
        return None

    def finish(self) -> int:
        """Serve every queued store; the cycle the channel goes idle (0 if it never worked)."""
        while self.stores:
            self._serve_store(heapq.heappop(self.stores))
        return -(-self.free_units // self.units_per_cycle)

    def _serve_store(self, item: tuple[int, int, int, bool, Tag | None, int]) -> None:
        cycle, seq, nbytes, remember, tag, layer = item
        end = self._serve(cycle, nbytes, RecordKind.STORE, tag)
        if layer >= 0:
            self.drained.append((end - nbytes * self.units_per_byte, end, layer))
        if remember:
            self.remembered[seq] = -(-end // self.units_per_cycle)

    def _serve(self, request_cycle: int, nbytes: int, kind: RecordKind, tag: Tag | None) -> int:
        start = max(request_cycle * self.units_per_cycle, self.free_units)
        end = start + nbytes * self.units_per_byte
        self.free_units = end
        if self.records is not None and tag is not None:
            per = self.units_per_cycle
            self.records.append(TraceRecord(kind, tag[0], tag[1], tag[2], 0, start / per, end / per))
        return end

    # -- coalescing support ------------------------------------------------------------------
    def state_key(self, now: int, ordinal: int) -> tuple:
        """The channel's state relative to (`now` cycles, `ordinal` folds), for repeat detection."""
        base = now * self.units_per_cycle
        queued = (
            tuple(sorted([(c - now, s - ordinal, b, n) for c, s, b, _, _, n in self.stores])) if self.stores else ()
        )
        remembered = (
            tuple(sorted([(s - ordinal, c - now) for s, c in self.remembered.items()])) if self.remembered else ()
        )
        drained = tuple([(a - base, b - base, n) for a, b, n in self.drained]) if self.drained else ()
        return (self.free_units - base, queued, remembered, drained)

    def shift(self, cycles: int, ordinals: int) -> None:
        """Advance the whole state by `cycles` and `ordinals` (a jump over repeated periods)."""
        units = cycles * self.units_per_cycle
        self.free_units += units
        self.drained = [(a + units, b + units, n) for a, b, n in self.drained]
        self.stores = [(c + cycles, s + ordinals, b, r, t, n) for c, s, b, r, t, n in self.stores]
        heapq.heapify(self.stores)
        self.remembered = {s + ordinals: c + cycles for s, c in self.remembered.items()}


def _span_start(span: Span) -> int:
    return span[0]


def _span_end(span: Span) -> int:
    return span[1]


def clip_spans(spans: Sequence[Span], upto: int) -> list[Span]:
    """The parts of `spans` at or after channel time `upto`."""
    return [(max(a, upto), b, n) for a, b, n in spans if b > upto]
