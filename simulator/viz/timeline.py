"""Timeline of a run from its Chrome trace JSON: DMA, array lanes, stalls, checksum unit, write-back."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simulator.errors import ConfigError

CATEGORY_COLOURS = {
    "load": "#4c72b0",
    "store": "#64b5cd",
    "fold": "#55a868",
    "recompute": "#c44e52",
    "check": "#8172b3",
    "array_check": "#937860",
    "memory_stall": "#dd8452",
    "writeback_stall": "#8c613c",
    "checksum_stall": "#da8bc3",
    "layer": "#cccccc",
}


def _span_cycles(event: dict[str, Any], us_per_cycle: float) -> tuple[float, float]:
    args = event.get("args") or {}
    if "start_cycle" in args and "end_cycle" in args:
        return float(args["start_cycle"]), float(args["end_cycle"])
    start = float(event["ts"]) / us_per_cycle
    return start, start + float(event.get("dur", 0.0)) / us_per_cycle


def timeline(trace: Any, cycles: tuple[float, float] | None, source: str = "") -> Figure:
    """One row per trace thread (resource), one bar per span, coloured by activity; x in cycles."""
    events = trace.get("traceEvents") if isinstance(trace, dict) else trace
    if not isinstance(events, list):
        raise ConfigError(f"{source}: not a Chrome trace (no traceEvents list)")
    try:
        clock_hz = float((trace.get("otherData") or {}).get("clock_hz", 1e9)) if isinstance(trace, dict) else 1e9
    except (AttributeError, TypeError, ValueError):
        clock_hz = float("nan")
    if not 0 < clock_hz < float("inf"):
        raise ConfigError(f"{source}: otherData.clock_hz must be a positive number")
    us_per_cycle = 1e6 / clock_hz
    names: dict[int, str] = {}
    order: dict[int, float] = {}
    spans: dict[int, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    layer_labels: list[tuple[float, float, str]] = []
    layer_tid = -1
    lo, hi = cycles if cycles is not None else (0.0, float("inf"))
    try:
        for e in events:
            if e.get("ph") == "M" and e.get("name") == "thread_name":
                names[int(e["tid"])] = str(e["args"]["name"])
            elif e.get("ph") == "M" and e.get("name") == "thread_sort_index":
                order[int(e["tid"])] = float(e["args"]["sort_index"])
            elif e.get("ph") == "X":
                start, end = _span_cycles(e, us_per_cycle)
                if end < lo or start > hi:
                    continue
                bar = (max(start, lo), min(end, hi) - max(start, lo))
                spans[int(e["tid"])][str(e.get("cat", "other"))].append(bar)
                if e.get("cat") == "layer":
                    layer_tid = int(e["tid"])
                    layer_labels.append((*bar, str(e.get("name", ""))))
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{source}: malformed trace event: {exc}") from None
    if not spans:
        raise ConfigError(f"{source}: no trace events" + (" in the cycles window" if cycles else ""))

    def rank(tid: int) -> tuple[float, int]:  # lanes carry their resource's sort index (chrome_trace)
        return (order.get(tid, tid), tid)

    tids = sorted(spans, key=rank)
    fig = Figure(figsize=(13.0, 0.45 * len(tids) + 1.6))
    ax = fig.subplots()
    seen: set[str] = set()
    for row, tid in enumerate(tids):
        for cat, bars in sorted(spans[tid].items()):
            edge = {"edgecolor": "white", "linewidth": 1.0} if cat == "layer" else {"linewidth": 0}
            ax.broken_barh(bars, (row - 0.4, 0.8), facecolors=CATEGORY_COLOURS.get(cat, "#999999"), **edge)
            seen.add(cat)
    ax.set_yticks(range(len(tids)), [names.get(t, str(t)) for t in tids])
    ax.invert_yaxis()
    ax.set_xlabel("cycle")
    if cycles is not None and cycles[1] != float("inf"):
        ax.set_xlim(*cycles)
    ax.grid(True, axis="x", alpha=0.3)
    handles = [Patch(color=CATEGORY_COLOURS.get(c, "#999999"), label=c) for c in CATEGORY_COLOURS if c in seen]
    fig.legend(handles=handles, fontsize=7.5, ncol=len(handles), loc="upper center", bbox_to_anchor=(0.5, 0.0))
    for start, width, label in layer_labels:
        if width > 0.04 * (ax.get_xlim()[1] - ax.get_xlim()[0]):
            ax.text(start + width / 2, tids.index(layer_tid), label, ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_title(f"engine timeline: {source}", fontsize=10)
    return fig
