"""Per-layer breakdown of cycles (compute, memory stall, checksum stall, recompute) per policy."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from simulator.campaign.summary import PolicySummary
from simulator.errors import ConfigError
from simulator.viz.style import COMPONENT_COLOURS, COMPONENT_LABELS, policy_colour
from simulator.workload.kinds import GEMM_KINDS

COMPONENTS = tuple(COMPONENT_COLOURS)


def layer_breakdown(summaries: Sequence[PolicySummary], point: int | None, source: str = "") -> Figure:
    """Stacked mean cycles per GEMM kind, one bar per policy, for one point of the sweep (default: the last)."""
    points = sorted({s.point for s in summaries})
    if not points:
        raise ConfigError(f"{source}: the store holds no finished trial")
    chosen = points[-1] if point is None else point
    items = [s for s in summaries if s.point == chosen]
    if not items:
        raise ConfigError(
            f"{chosen} has no finished trial in {source} (points with results: {points})", argument="point"
        )
    rank = {kind: i for i, kind in enumerate(GEMM_KINDS)}
    kinds = sorted(items[0].kinds, key=lambda k: (rank.get(k, len(rank)), k))
    n = len(items)
    width = 0.8 / n
    width_in = min(14.0, max(8.0, 1.0 * len(kinds) + 0.3 * n * len(kinds)))
    fig = Figure(figsize=(width_in, 5.0), layout="constrained")
    ax = fig.subplots()
    tallest = 0.0
    for j, s in enumerate(items):
        xs = [k + (j - (n - 1) / 2) * width for k in range(len(kinds))]
        bottom = [0.0] * len(kinds)
        for comp in COMPONENTS:
            values = [s.kinds[kind][comp] / 1e6 for kind in kinds]
            ax.bar(xs, values, width * 0.92, bottom=bottom, color=COMPONENT_COLOURS[comp],
                   edgecolor=policy_colour(s.policy, j), linewidth=1.0)  # fmt: skip
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        tallest = max(tallest, *bottom)
        if n > 1:
            for x, top in zip(xs, bottom, strict=True):
                ax.text(x, top, f" {s.policy}", rotation=90, ha="center", va="bottom", fontsize=6.5)
    ax.set_ylim(0, tallest * (1.22 if n > 1 else 1.08))
    ax.set_xticks(range(len(kinds)), kinds)
    ax.set_ylabel("cycles (millions, mean over trials)")
    ax.set_xlabel("GEMM kind (all layers of the kind)")
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(color=COMPONENT_COLOURS[c], label=COMPONENT_LABELS[c]) for c in COMPONENTS]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    policies = ", ".join(s.policy for s in items)
    title = f"cycles per GEMM kind, point {chosen}: {items[0].label}; {items[0].trials} trial(s); {policies}"
    ax.set_title(textwrap.fill(title, 110), fontsize=9.5)
    return fig
