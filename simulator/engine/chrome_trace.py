"""Engine trace records -> Chrome trace-event JSON (opens in Perfetto and chrome://tracing), whole or streamed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from simulator.engine.records import RecordKind, TraceRecord, Track

PID = 1
_TRACK_ORDER = (Track.LAYERS, Track.DMA, Track.ARRAY, Track.ARRAY_STALLS, Track.CHECKSUM_UNIT, Track.WRITE_BACK)
LANE_TID_BASE = 100  # tid of lane j of track t: LANE_TID_BASE * t + j (lane 0 keeps the track's tid)


def _name(r: TraceRecord) -> str:
    if r.kind is RecordKind.LAYER:
        return f"layer {r.layer}"
    repeat = f" x{r.count}" if r.count > 1 else ""
    if r.fold < 0:
        return r.kind.value + repeat
    return f"{r.kind.value} L{r.layer} i{r.instance} f{r.fold}" + (f" a{r.attempt}" if r.attempt > 0 else "") + repeat


def in_window(r: TraceRecord, window: tuple[float, float] | None) -> bool:
    """Whether a span overlaps the inclusive cycle window (None: everything)."""
    return window is None or (r.end_cycle >= window[0] and r.start_cycle <= window[1])


def _placed(
    records: Iterable[TraceRecord], window: tuple[float, float] | None
) -> tuple[list[tuple[TraceRecord, int]], dict[int, tuple[str, int]]]:
    """Records in the window in time order with their thread ids, and every thread's (name, sort index).

    Complete events on one thread must nest, so spans that overlap on one resource (array passes
    pipelining, coalesced spans) are spread over as many lanes (threads) of that resource as are
    in flight at once; array passes always sit on lanes.
    """
    tids = {track: i + 1 for i, track in enumerate(_TRACK_ORDER)}
    names = {tid: (track.value, 1000 * tid) for track, tid in tids.items()}
    lanes: dict[Track, list[float]] = {}  # end cycle of the last span on each lane of a track
    placed = []
    for r in sorted((r for r in records if in_window(r, window)), key=lambda r: (r.start_cycle, r.end_cycle)):
        track = r.track
        ends = lanes.setdefault(track, [])
        lane = next((i for i, end in enumerate(ends) if end <= r.start_cycle), len(ends))
        if lane == len(ends):
            ends.append(r.end_cycle)
        ends[lane] = r.end_cycle
        tid = tids[track] if lane == 0 and track is not Track.ARRAY else LANE_TID_BASE * tids[track] + lane
        if tid not in names:
            names[tid] = (f"{track.value} lane {lane}", 1000 * tids[track] + lane)
        placed.append((r, tid))
    return placed, names


def _metadata(names: dict[int, tuple[str, int]]) -> list[dict[str, Any]]:
    meta: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "args": {"name": "abftsim engine"}}
    ]
    for tid, (name, order) in sorted(names.items()):
        meta.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid, "args": {"name": name}})
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid, "args": {"sort_index": order}})
    return meta


def _label(r: TraceRecord, layer_names: dict[int, str] | None) -> str:
    if r.kind is RecordKind.LAYER and layer_names and r.layer in layer_names:
        return layer_names[r.layer]
    return _name(r)


def _quoted(r: TraceRecord, layer_names: dict[int, str] | None) -> str:
    """The span's name as a JSON string (generated names need no escaping, layer names may)."""
    if r.kind is RecordKind.LAYER and layer_names and r.layer in layer_names:
        return json.dumps(layer_names[r.layer])
    return f'"{_name(r)}"'


def trace_events(
    records: Iterable[TraceRecord],
    clock_hz: float,
    layer_names: dict[int, str] | None = None,
    window: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """Trace events, metadata first, then one "X" (complete) event per record in the window.

    Timestamps are microseconds: cycles / clock_hz * 1e6; args keep the exact cycles, and a
    coalesced span's count and busy cycles.
    """
    us_per_cycle = 1e6 / clock_hz
    placed, names = _placed(records, window)
    events = _metadata(names)
    for r, tid in placed:
        args: dict[str, Any] = {
            "layer": r.layer,
            "instance": r.instance,
            "fold": r.fold,
            "attempt": r.attempt,
            "start_cycle": r.start_cycle,
            "end_cycle": r.end_cycle,
        }
        if r.count > 1:
            args.update(count=r.count, busy_cycles=r.duration_cycles)
        events.append(
            {
                "name": _label(r, layer_names),
                "cat": r.kind.value,
                "ph": "X",
                "ts": r.start_cycle * us_per_cycle,
                "dur": (r.end_cycle - r.start_cycle) * us_per_cycle,
                "pid": PID,
                "tid": tid,
                "args": args,
            }
        )
    return events


def chrome_trace(
    records: Iterable[TraceRecord],
    clock_hz: float,
    layer_names: dict[int, str] | None = None,
    window: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The whole trace-event JSON object (see trace_events)."""
    events = list(trace_events(records, clock_hz, layer_names, window))
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"clock_hz": clock_hz}}


def chrome_trace_chunks(
    records: Iterable[TraceRecord],
    clock_hz: float,
    layer_names: dict[int, str] | None = None,
    window: tuple[float, float] | None = None,
    batch: int = 4096,
) -> Iterator[str]:
    """The JSON of `chrome_trace(...)` as text pieces to stream into a file, `batch` events each.

    The complete events are formatted directly (the same keys and values as trace_events, which
    a test holds equal): building a dict and calling json.dumps per event would dominate a trace.
    """
    us_per_cycle = 1e6 / clock_hz
    placed, names = _placed(records, window)
    yield '{"traceEvents": [' + ",\n".join(json.dumps(e) for e in _metadata(names))
    lines: list[str] = []
    for r, tid in placed:
        extra = f', "count": {r.count}, "busy_cycles": {_num(r.duration_cycles)}' if r.count > 1 else ""
        lines.append(
            f',\n{{"name": {_quoted(r, layer_names)}, "cat": "{r.kind.value}", "ph": "X", '
            f'"ts": {_num(r.start_cycle * us_per_cycle)}, "dur": {_num((r.end_cycle - r.start_cycle) * us_per_cycle)}, '
            f'"pid": {PID}, "tid": {tid}, "args": {{"layer": {r.layer}, "instance": {r.instance}, "fold": {r.fold}, '
            f'"attempt": {r.attempt}, "start_cycle": {_num(r.start_cycle)}, "end_cycle": {_num(r.end_cycle)}{extra}}}}}'
        )
        if len(lines) >= batch:
            yield "".join(lines)
            lines.clear()
    yield "".join(lines)
    yield f'], "displayTimeUnit": "ns", "otherData": {json.dumps({"clock_hz": clock_hz})}}}\n'


def _num(x: float) -> str:
    """A finite number as json.dumps writes it: ints as ints, floats by repr."""
    return repr(x)
