"""Engine trace records -> Chrome trace-event JSON (opens in Perfetto and chrome://tracing)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator.engine.records import RecordKind, TraceRecord, Track

PID = 1
_TRACK_ORDER = (Track.LAYERS, Track.DMA, Track.ARRAY, Track.ARRAY_STALLS, Track.CHECKSUM_UNIT, Track.WRITE_BACK)


def _name(r: TraceRecord) -> str:
    if r.kind is RecordKind.LAYER:
        return f"layer {r.layer}"
    if r.fold < 0:
        return r.kind.value
    return f"{r.kind.value} L{r.layer} i{r.instance} f{r.fold}" + (f" a{r.attempt}" if r.attempt > 0 else "")


def chrome_trace(
    records: Iterable[TraceRecord], clock_hz: float, layer_names: dict[int, str] | None = None
) -> dict[str, Any]:
    """Trace-event JSON object: one "X" (complete) event per record, one thread per resource.

    Timestamps are microseconds: cycles / clock_hz * 1e6. Array passes overlap when folds
    pipeline, and complete events on one thread must nest, so array passes are spread over as
    many `array` lanes (threads) as are in flight at once.
    """
    us_per_cycle = 1e6 / clock_hz
    tids = {track: i + 1 for i, track in enumerate(_TRACK_ORDER)}
    names = {tid: track.value for track, tid in tids.items()}
    lane_ends: list[float] = []  # end cycle of the last pass on each array lane
    events: list[dict[str, Any]] = []
    for r in sorted(records, key=lambda r: (r.start_cycle, r.end_cycle)):
        tid = tids[r.track]
        if r.track is Track.ARRAY:
            lane = next((i for i, end in enumerate(lane_ends) if end <= r.start_cycle), len(lane_ends))
            if lane == len(lane_ends):
                lane_ends.append(r.end_cycle)
            lane_ends[lane] = r.end_cycle
            tid = 100 + lane
            names[tid] = f"array lane {lane}"
        name = _name(r)
        if r.kind is RecordKind.LAYER and layer_names and r.layer in layer_names:
            name = layer_names[r.layer]
        events.append(
            {
                "name": name,
                "cat": r.kind.value,
                "ph": "X",
                "ts": r.start_cycle * us_per_cycle,
                "dur": r.duration_cycles * us_per_cycle,
                "pid": PID,
                "tid": tid,
                "args": {
                    "layer": r.layer,
                    "instance": r.instance,
                    "fold": r.fold,
                    "attempt": r.attempt,
                    "start_cycle": r.start_cycle,
                    "end_cycle": r.end_cycle,
                },
            }
        )
    meta: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": PID, "tid": 0, "args": {"name": "abftsim engine"}}
    ]
    for tid, name in sorted(names.items()):
        meta.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid, "args": {"name": name}})
        meta.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid, "args": {"sort_index": tid}})
    return {"traceEvents": meta + events, "displayTimeUnit": "ns", "otherData": {"clock_hz": clock_hz}}
