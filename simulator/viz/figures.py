"""Figure dispatch and rendering: kind -> matplotlib Figure -> PNG / SVG bytes (no files written)."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.figure import Figure

FORMATS = ("png", "svg")


def make_figure(kind: str, **inputs: Any) -> Figure:
    """Build one figure: overhead_vs_ber, layer_breakdown, pareto (from summaries) or timeline (trace)."""
    if kind == "overhead_vs_ber":
        from simulator.viz.overhead import overhead_vs_ber

        return overhead_vs_ber(inputs["summaries"], inputs.get("confidence", 0.95), inputs.get("source", ""))
    if kind == "layer_breakdown":
        from simulator.viz.layers import layer_breakdown

        return layer_breakdown(inputs["summaries"], inputs.get("point"), inputs.get("source", ""))
    if kind == "pareto":
        from simulator.viz.pareto import pareto

        return pareto(inputs["summaries"], inputs.get("policy"), inputs.get("source", ""))
    if kind == "timeline":
        from simulator.viz.timeline import timeline

        return timeline(inputs["trace"], inputs.get("cycles"), inputs.get("source", ""))
    raise ValueError(f"unknown figure kind {kind!r}")


def render(figure: Figure, fmt: str, dpi: int = 100) -> bytes:
    """The figure as PNG or SVG bytes, reproducibly (no dates, versions or random SVG ids)."""
    import matplotlib

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    metadata = {"Software": None} if fmt == "png" else {"Date": None, "Creator": None}
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "abftsim", "svg.fonttype": "none"}):
        figure.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()
