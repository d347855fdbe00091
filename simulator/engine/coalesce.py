"""Runs of folds without pending verdicts, timed in one go; repeated periods skipped exactly.

While no verdict is outstanding and no recompute is queued, nothing outside the array's own
rules can change when the next folds issue, so they are timed back to back here without a SimPy
event per fold. Loads are then requested as soon as their buffer and lookahead allow (the
result is the same as requesting them when due: the channel orders by request cycle), and
queued write-backs that no later request can precede are served, which keeps the state small.

Repeat skipping (steady-state pipeline algebra): the timing rules only compare and add cycle
counts, so they commute with a shift of every time. Within a segment of identical folds, after
each fold the engine's whole state is taken relative to the issue pointer and to the fold count
(`Sequencer.state_key`). If it equals the state q folds earlier, every later period of q folds
repeats the last one shifted by the same Delta cycles, so n periods are skipped by adding
n * Delta to every time, n * q to every fold position and n times the last period's stall
cycles to the stall totals. Skipping stops `margin` folds before the segment's end, where the
next segment's loads start to be requested; the rest is timed fold by fold. Results are
identical to the uncoalesced engine (a test compares them).

A settled fold (plan.Segment.settled: flagged, but its verdict cannot change timing) may lie in a
skipped period: its outcome needs the cycle its check ends, which is that of the same fold
position one period earlier plus Delta (`CheckEnds`), found back through earlier jumps if need be.

When tracing, a jump adds one coalesced span per (kind, resource) of the last period's records
(records.TraceRecord.count > 1): from the first skipped span's start to the last one's end, with
their number and summed cycles, so a trace's size follows the segments, not the folds. With a
trace window, no jump crosses into it: folds inside the window are traced one by one.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from simulator.engine.array import NO_LOAD, Sequencer
from simulator.engine.plan import LayerPlan, Segment
from simulator.engine.records import TraceRecord

MAX_KEYS = 512  # repeat detection gives up after this many folds of one segment
_NEVER = float("inf")


class FoldStream:
    """Every segment of the run in fold order, to find the next fold that loads something."""

    def __init__(self, plans: Sequence[LayerPlan]):
        self.segments: list[Segment] = [seg for plan in plans for seg in plan.segments]
        self.starts = [seg.ordinal for seg in self.segments]
        self.end = sum(plan.folds for plan in plans)
        self._cursor = 0

    def next_loading(self, ordinal: int) -> tuple[int, Segment] | None:
        """The first fold at or after `ordinal` that loads from DRAM, with its segment."""
        i = self._cursor
        if not (i < len(self.starts) and self.starts[i] <= ordinal):
            i = max(bisect_right(self.starts, ordinal) - 1, 0)
        segments = self.segments
        while i < len(segments):
            seg = segments[i]
            if seg.ordinal + seg.length > ordinal and seg.cost.load_bytes:
                self._cursor = i
                return max(ordinal, seg.ordinal), seg
            i += 1
        self._cursor = len(segments) - 1
        return None


def _load_tag(seq: Sequencer, seg: Segment, k: int) -> tuple[int, int, int] | None:
    """The trace tag of fold k of `seg`'s load (None when not tracing)."""
    return (seg.layer, seg.instance, seg.first_fold + k) if seq.records is not None else None


def prefetch(seq: Sequencer, stream: FoldStream) -> None:
    """Request every load that is known already, then serve write-backs no later load precedes."""
    dma, channel = seq.dma, seq.channel
    assert dma is not None and channel is not None
    ordinal = max(dma.next_ordinal, dma.issued)
    blocked = dma.blocked  # still waiting for the same fold to issue: nothing new to request
    while blocked is None or blocked[0] != ordinal or dma.issued >= blocked[1]:
        found = stream.next_loading(ordinal)
        if found is None:
            dma.next_ordinal = stream.end
            break
        ordinal, seg = found
        if ordinal not in dma.ready:
            key = dma.key(ordinal, seg.cost, _NEVER)
            if key is None:
                dma.next_ordinal = ordinal
                dma.blocked = (ordinal, dma.unblocks_at) if dma.unblocks_at else None
                break
            dma.request(ordinal, seg.cost, key, seg.layer, _load_tag(seq, seg, ordinal - seg.ordinal))
        ordinal += 1
        blocked = None
    # every later load is requested at or after max(last request, issue pointer) (dma.Dma)
    cut = dma.last_key if dma.last_key > seq.p else seq.p
    stores = channel.stores
    if stores and stores[0][0] < cut:
        channel.serve_stores_before(cut)
    if channel.drained and channel.drained[0][1] <= cut * channel.units_per_cycle:
        channel.release_spans(cut)


def request_loads_due_before(seq: Sequencer, stream: FoldStream, cycle: int) -> None:
    """Request, in fold order, every load not yet requested whose request cycle is known and
    before `cycle`, whether or not the array has reached its fold.

    The DMA asks for a fold's operands as soon as its buffer and lookahead allow (dma.Dma), not
    when the array gets to the fold: before `cycle` it has asked for these. The engine calls this
    before a recompute's refetch decided at `cycle` joins the channel, so that the refetch queues
    behind exactly the loads requested before it, in either engine mode: a coalesced run has
    prefetched some of them already (`prefetch`), the uncoalesced engine none (it requests a
    load when the array reaches its fold), and a refetch decided while the array waits for a
    layer's last verdicts must still follow the next layer's loads whose buffers freed earlier.
    A load due at `cycle` itself goes after the refetch: the verdicts of a cycle come before what
    the array and its DMA do in that cycle (simulate.py), and the refetch gates the array's next
    pass (the recompute queue is served first), the load a later fold.
    """
    dma = seq.dma
    if dma is None:
        return
    ordinal = max(dma.next_ordinal, dma.issued)
    while (found := stream.next_loading(ordinal)) is not None:
        ordinal, seg = found
        if ordinal not in dma.ready:
            key = dma.key(ordinal, seg.cost, cycle - 1)  # None: not known yet, or at or after `cycle`
            if key is None:
                return
            dma.request(ordinal, seg.cost, key, seg.layer, _load_tag(seq, seg, ordinal - seg.ordinal))
        ordinal += 1


class CheckEnds:
    """The cycle each fold's check ends, for the folds of one `time_run`: timed or skipped.

    A skipped fold o in a jump of periods of q folds and Delta cycles starting at fold s ends
    its check m * Delta after fold o - m * q, with m = (o - s) // q + 1 (that fold lies in the
    period before the jump, timed or itself skipped by an earlier jump).
    """

    def __init__(self) -> None:
        self.timed: dict[int, int] = {}  # ordinal -> check end, folds timed one by one
        self.jumps: list[tuple[int, int, int, int]] = []  # (first skipped ordinal, end, period folds, delta)

    def at(self, ordinal: int) -> int:
        shift = 0
        while ordinal not in self.timed:
            for first, end, folds, delta in reversed(self.jumps):
                if first <= ordinal < end:
                    m = (ordinal - first) // folds + 1
                    ordinal, shift = ordinal - m * folds, shift + m * delta
                    break
            else:
                raise AssertionError(f"fold {ordinal} was neither timed nor skipped")
        return self.timed[ordinal] + shift


def _settle_skipped(seq: Sequencer, ends: CheckEnds, segments: Sequence[Segment], lo: int, hi: int) -> None:
    """Record the check ends of the settled folds among the skipped ordinals [lo, hi)."""
    for seg in segments:
        for fold, history in seg.settled:
            ordinal = seg.ordinal + fold - seg.first_fold
            if lo <= ordinal < hi:
                seq.settled.append((seg, fold, history, ends.at(ordinal)))


def time_fold(seq: Sequencer, stream: FoldStream, seg: Segment, k: int) -> int:
    """Issue fold k of `seg` as soon as the array's rules allow (no verdict can intervene); the
    cycle its check ends."""
    cost = seg.cost
    dma = seq.dma
    ready = NO_LOAD
    if dma is not None and cost.load_bytes:
        ordinal = seg.ordinal + k
        known = dma.ready.get(ordinal)  # Sequencer.ready_cycle
        if known is None:
            key = dma.key(ordinal, cost, _NEVER)
            assert key is not None, "a due load depends only on issued folds"
            known = dma.request(ordinal, cost, key, seg.layer, _load_tag(seq, seg, k))
        ready = known
    checked = seq.issue_fold(seg, k, seq.fold_start(cost, ready), ready)
    if dma is not None:
        prefetch(seq, stream)
    return checked


def _coalesced(
    period: list[TraceRecord], fold_shift: int, delta: int, periods: int, per_instance: bool = True
) -> list[TraceRecord]:
    """One span per (kind, layer[, instance]) standing for `periods` shifted copies of a period's records.

    Without `per_instance` (a period of segments that may cross instances) the spans carry no
    instance or fold (-1).
    """
    groups: dict[tuple, list[TraceRecord]] = {}
    for r in period:
        groups.setdefault((r.kind, r.layer, r.instance if per_instance else -1), []).append(r)
    out = []
    for (kind, layer, instance), rs in groups.items():
        folds = [r.fold for r in rs if r.fold >= 0] if per_instance else []
        out.append(
            TraceRecord(
                kind,
                layer,
                instance,
                min(folds) + fold_shift if folds else -1,
                0 if folds else -1,
                min(r.start_cycle for r in rs) + delta,
                max(r.end_cycle for r in rs) + periods * delta,
                periods * sum(r.count for r in rs),
                periods * sum(r.duration_cycles for r in rs),
            )
        )
    return out


def _periods_outside(window: tuple[float, float] | None, now: int, delta: int, periods: int) -> int:
    """How many of `periods` repeats (each `delta` cycles, from `now`) end before the trace window."""
    if window is None or delta <= 0 or now > window[1]:
        return periods
    if now >= window[0]:
        return 0
    return min(periods, int((window[0] - now) // delta))


def time_run(
    seq: Sequencer,
    stream: FoldStream,
    segments: Sequence[Segment],
    first: int,
    offset: int,
    stop: int,
    skip: bool,
    window: tuple[float, float] | None = None,
) -> None:
    """Time segments[first:stop] (from fold `offset` of the first), skipping repeats if `skip`.

    Repeats are found inside one segment of identical folds (a steady run) and, at segment
    boundaries, across a periodic sequence of segments (a loop order whose inner loop mixes
    folds that load with folds that do not, mapping.loop_order): if the state at a boundary
    equals the state P segments (q folds) earlier and the segments keep repeating with period P
    far enough ahead (the skipped periods plus the DMA's lookahead margin), whole periods are skipped.
    `window` (cycles): a trace window the skipped repeats must not enter.
    """
    margin = (seq.dma.depth if seq.dma is not None else 0) + 2
    records = seq.records
    run_lo, run_hi = segments[first].ordinal, segments[stop - 1].ordinal + segments[stop - 1].length
    # untraced, a boundary repeat's margin may reach past the run's end into the rest of the layer
    # (_periods_ahead), so the state is taken relative to the layer's folds from the run's first on;
    # traced, jumps stay where they were (a trace's coalesced spans follow them)
    past_stop = stop < len(segments) and records is None
    key_hi = segments[-1].ordinal + segments[-1].length if past_stop else run_hi
    boundaries: dict[tuple, tuple[int, int, int, tuple[int, int, int], int]] | None = {} if skip else None
    ends = CheckEnds()
    stretches: dict[int, tuple[int, int]] = {}  # _periods_ahead's
    # untraced, a boundary's state key is taken only where a repeat could still be skipped from it
    # (_recurrences); traced, keys are taken as before, so the jumps (and the trace's spans) stay put
    recur = _recurrences(segments, first, stop) if skip and records is None else None
    settling = any(seg.settled for seg in segments[first:stop])
    i = first
    while i < stop:
        seg = segments[i]
        k = offset if i == first else 0
        n, lo, hi = seg.length, seg.ordinal, seg.ordinal + seg.length
        seen: dict[tuple, tuple[int, int, tuple[int, int, int], int]] | None = (
            {} if skip and n - k > 2 * margin + 2 else None
        )
        while k < n:
            checked = time_fold(seq, stream, seg, k)
            if settling:
                ends.timed[lo + k] = checked
            k += 1
            if seen is None:
                continue
            if n - k <= margin or len(seen) > MAX_KEYS:
                seen = None
                continue
            key = seq.state_key(lo, hi)
            hit = seen.get(key)
            if hit is None:
                seen[key] = (k, seq.p, seq.stalls(), len(records) if records is not None else 0)
                continue
            k_then, p_then, stalls_then, record_then = hit
            period, delta = k - k_then, seq.p - p_then
            periods = (n - k - margin) // period
            allowed = _periods_outside(window, seq.p, delta, periods)
            if allowed > 0:
                if records is not None:
                    records.extend(_coalesced(records[record_then:], period, delta, allowed))
                seq.repeat_stalls(stalls_then, allowed)
                seq.shift(allowed * delta, allowed * period, lo, hi)
                if settling:
                    ends.jumps.append((lo + k, lo + k + allowed * period, period, delta))
                    _settle_skipped(seq, ends, (seg,), lo + k, lo + k + allowed * period)
                k += allowed * period
            seen = {} if allowed < periods else None  # held back by the window: try again after it
        i += 1
        if boundaries is None or i >= stop:
            continue
        if len(boundaries) > MAX_KEYS:
            boundaries = None
            continue
        # a repeat found here spans at least the last segment, one found later at least the next;
        # either needs two periods and the margin left before the run ends
        left = run_hi - seq.issued + (margin if past_stop else 0)  # the margin may lie past the run's end
        if left < margin + 2 * segments[i - 1].length and left < margin + 3 * segments[i].length:
            continue
        if recur is not None:
            back, ahead = recur[i - first]
            if not (back and left >= margin + back) and not (ahead and left >= margin + 2 * ahead):
                continue
        key = (id(segments[i].cost), segments[i].length, seq.state_key(run_lo, key_hi))
        mark = boundaries.get(key)
        if mark is None:
            boundaries[key] = (
                i, seq.issued, seq.p, seq.stalls(), len(records) if records is not None else 0
            )  # fmt: skip
            continue
        i_then, issued_then, p_then, stalls_then, record_then = mark
        folds, delta = seq.issued - issued_then, seq.p - p_then
        periods = _periods_ahead(segments, i, i - i_then, folds, stop, margin, stretches, past_stop)
        allowed = _periods_outside(window, seq.p, delta, periods)
        if allowed > 0:
            span = i - i_then
            if records is not None:  # a period may cross instances: spans per (kind, layer) only
                records.extend(_coalesced(records[record_then:], folds, delta, allowed, per_instance=False))
            seq.repeat_stalls(stalls_then, allowed)
            skipped_from = seq.issued
            seq.shift(allowed * delta, allowed * folds, run_lo, key_hi)
            if settling:
                ends.jumps.append((skipped_from, seq.issued, folds, delta))
                _settle_skipped(seq, ends, segments[i : i + allowed * span], skipped_from, seq.issued)
            i += allowed * span
        # later repeats are looked for against this boundary (the older marks stay valid: their
        # cycles, fold counts, stalls and records are totals, which a jump advances as a run would)
        boundaries[key] = (i, seq.issued, seq.p, seq.stalls(), len(records) if records is not None else 0)


def _recurrences(segments: Sequence[Segment], first: int, stop: int) -> list[list[int]]:
    """Per segment of segments[first:stop]: the folds back to the latest earlier one of equal cost
    and length, and on to the next (0: none in the run).

    A boundary repeat pairs two boundaries whose next segments are equal (the key holds the cost
    and length), so its period is at least as long as both. A jump at a boundary needs a period
    (and the margin, or none past the run's end) left before the run ends (`_periods_ahead`); a
    boundary that a later one repeats needs two. Where neither can be, the state key is not
    taken: no jump is lost (the boundaries of every jump still take theirs, and keep their marks).
    """
    out = [[0, 0] for _ in range(stop - first)]
    latest: dict[tuple[int, int], int] = {}
    for idx in range(first, stop):
        seg = segments[idx]
        sig = (id(seg.cost), seg.length)
        j = latest.get(sig)
        if j is not None:
            folds = seg.ordinal - segments[j].ordinal
            out[idx - first][0] = out[j - first][1] = folds
        latest[sig] = idx
    return out


def _periods_ahead(
    segments: Sequence[Segment],
    i: int,
    span: int,
    folds: int,
    stop: int,
    margin: int,
    stretches: dict[int, tuple[int, int]],
    past_stop: bool = False,
) -> int:
    """Whole periods of `span` segments (`folds` folds) that may be skipped from boundary i.

    The segments from i on must repeat those `span` earlier (same cost, same length) for every
    skipped period plus `margin` folds, the farthest the DMA looks ahead: the period timed last
    (segments i - span .. i - 1) met loads requested up to `margin` folds past its end, so each
    skipped period repeats it while the segments through its own margin repeat too. (No further
    period is needed: the state at i already equals the one a period earlier.)
    `stretches` (one `time_run`'s): per span, the latest [first, end) found to repeat so; a later
    boundary inside it repeats up to the same end, which is not looked for again.
    `past_stop`: the margin may lie past the run's end (segments[stop:], the rest of the layer).
    """
    known = stretches.get(span)
    if known is not None and known[0] <= i <= known[1]:
        end = known[1]
    else:
        end = i
        while (
            end < stop
            and segments[end].cost is segments[end - span].cost
            and (segments[end].length == segments[end - span].length)
        ):
            end += 1
        stretches[span] = (i, end)
    last = segments[end - 1]
    ahead = last.ordinal + last.length - segments[i].ordinal if end > i else 0  # segments are contiguous
    if end < stop or not past_stop or ahead < folds:
        return max(0, (ahead - margin) // folds)
    # the stretch repeats up to the run's end (a flagged fold the array must wait at): the skipped
    # periods stay inside the run, but their margin may lie past it, where only the folds' costs
    # must repeat (a flagged fold is cut from its run, same cost: segment lengths differ there)
    beyond = _repeating_folds(segments, stop, folds, margin)
    return max(0, min(ahead, ahead + beyond - margin) // folds)


def _repeating_folds(segments: Sequence[Segment], j: int, folds: int, most: int) -> int:
    """How many folds from segments[j]'s first on (at most `most`) cost what the fold `folds`
    before each did (same cost object: what the DMA requests for a fold depends on nothing else)."""
    ordinal, count = segments[j].ordinal, 0
    while count < most and j < len(segments):
        seg = segments[j]
        if ordinal >= seg.ordinal + seg.length:
            j += 1
            continue
        then = segments[bisect_right(segments, ordinal - folds, key=_first_ordinal) - 1]
        if then.cost is not seg.cost:
            break
        ordinal, count = ordinal + 1, count + 1
    return count


def _first_ordinal(seg: Segment) -> int:
    return seg.ordinal
