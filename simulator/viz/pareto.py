"""Design-space Pareto front: latency overhead vs energy overhead vs area proxy across hardware points."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from simulator.campaign.summary import PolicySummary
from simulator.errors import ConfigError

PLACEMENT_KEY = "hw.checksum_unit.placement"
MARKERS = {"in_array": "o", "checksum_pe": "s", "side_unit": "^"}


def pareto_mask(objectives: Sequence[Sequence[float]]) -> list[bool]:
    """True for each vector that no other vector dominates (all <= and one <; minimisation)."""
    out = []
    for i, a in enumerate(objectives):
        dominated = any(
            all(b_k <= a_k for a_k, b_k in zip(a, b, strict=True))
            and any(b_k < a_k for a_k, b_k in zip(a, b, strict=True))
            for j, b in enumerate(objectives)
            if j != i
        )
        out.append(not dominated)
    return out


def short_label(params: dict[str, Any]) -> str:
    """'hw.array.rows=32, hw.array.cols=32, hw.array.dataflow=os, ...' -> '32x32 os ...'.

    Memory keys (e.g. SRAM ports scaled with the array) and the policy are left out.
    """
    rows, cols = params.get("hw.array.rows"), params.get("hw.array.cols")
    parts = [f"{rows}x{cols}"] if rows is not None and cols is not None else []
    for key, value in params.items():
        if key == "policy" or key.startswith("hw.memory.") or (parts and key in ("hw.array.rows", "hw.array.cols")):
            continue
        parts.append(str(value) if key.startswith("hw.") else f"{key.rsplit('.', 1)[-1]}={value}")
    return " ".join(parts)


def _point(ax: Any, xy: tuple[float, float], area: float, norm: LogNorm, marker: str, number: int | None) -> None:
    """One design point: ringed, larger and numbered when on the panel's front, faded otherwise."""
    on = number is not None
    style = (
        {"s": 60, "edgecolors": "black", "alpha": 1.0, "zorder": 3}
        if on
        else {"s": 24, "edgecolors": "none", "alpha": 0.5, "zorder": 2}
    )
    ax.scatter(*xy, c=[area], cmap="viridis", norm=norm, marker=marker, linewidths=1.2, **style)
    if on:
        ax.annotate(str(number), xy, fontsize=7, xytext=(4, 3), textcoords="offset points", zorder=4)


def _chosen_policy(summaries: Sequence[PolicySummary], policy: str | None, source: str) -> str:
    names = list(dict.fromkeys(s.policy for s in summaries))
    if policy is not None:
        if policy not in names:
            raise ConfigError(f"{policy!r} is not in {source} (has: {', '.join(names)})", argument="policy")
        return policy
    protecting = [n for n in names if n != "none"]
    if not protecting:
        raise ConfigError(f"{source}: pareto needs a protecting policy (the store has only `none`)")
    return protecting[0]


def pareto(summaries: Sequence[PolicySummary], policy: str | None, source: str = "") -> Figure:
    """Left: latency vs energy overhead, colour = area; ringed: Pareto-optimal in all three.
    Middle: protected latency vs area with its front. Right: the numbered optimal points."""
    name = _chosen_policy(summaries, policy, source)
    items = [s for s in summaries if s.policy == name]
    lat = [s.means["latency_overhead_pct"].estimate for s in items]
    eng = [s.means["energy_overhead_pct"].estimate for s in items]
    area = [s.area_pe for s in items]
    latency_ms = [s.latency_s * 1e3 for s in items]
    front3 = pareto_mask(list(zip(lat, eng, area, strict=True)))
    front2 = pareto_mask(list(zip(latency_ms, area, strict=True)))
    optimal = sorted((i for i in range(len(items)) if front3[i] or front2[i]), key=lambda i: (area[i], latency_ms[i]))
    number = {i: n + 1 for n, i in enumerate(optimal)}
    fig = Figure(figsize=(16.0, 5.6), layout="constrained")
    left, right, table = fig.subplots(1, 3, width_ratios=[1.0, 1.0, 0.62])
    norm = LogNorm(vmin=min(area), vmax=max(area) if max(area) > min(area) else min(area) * 1.01)
    marks = [MARKERS.get(str(s.params.get(PLACEMENT_KEY)), "D") for s in items]
    for i in range(len(items)):
        _point(left, (lat[i], eng[i]), area[i], norm, marks[i], number[i] if front3[i] else None)
        _point(right, (area[i], latency_ms[i]), area[i], norm, marks[i], number[i] if front2[i] else None)
    order = sorted((a, ms) for a, ms, on in zip(area, latency_ms, front2, strict=True) if on)
    right.step([a for a, _ in order], [ms for _, ms in order], where="post", color="black", lw=0.8, alpha=0.6)
    fig.colorbar(left.collections[0], ax=left, label="area proxy (PE equivalents)")
    if all(v > 0 for v in lat) and max(lat) / max(min(lat), 1e-12) > 50:
        left.set_xscale("log")
    if all(v > 0 for v in eng) and max(eng) / max(min(eng), 1e-12) > 50:
        left.set_yscale("log")
    left.set_xlabel(f"latency overhead of {name} (%)")
    left.set_ylabel(f"energy overhead of {name} (%)")
    left.set_title("overheads; ringed: Pareto-optimal in (latency ovh, energy ovh, area)", fontsize=9.5)
    right.set_xscale("log")
    if min(latency_ms) > 0 and max(latency_ms) / min(latency_ms) > 10:
        right.set_yscale("log")
    right.set_xlabel("area proxy (PE equivalents: PEs + checksum hardware)")
    right.set_ylabel(f"latency under {name} (ms)")
    right.set_title("protected latency vs area; ringed: Pareto front", fontsize=9.5)
    for ax in (left, right):
        ax.grid(True, which="major", alpha=0.3)
    placements = [p for p in MARKERS if any(str(s.params.get(PLACEMENT_KEY)) == p for s in items)]
    if placements:
        handles = [Line2D([], [], marker=MARKERS[p], ls="", color="grey", label=p) for p in placements]
        right.legend(handles=handles, title="checksum placement", fontsize=8, title_fontsize=8)
    lines = [f"{'#':>2} {'design':<24}{'lat%':>8}{'en%':>7}{'area':>7}{'ms':>7}"]
    for i in optimal:
        mark = ("L" if front3[i] else " ") + ("R" if front2[i] else " ")
        lines.append(
            f"{number[i]:>2} {short_label(items[i].params)[:24]:<24}{lat[i]:>8.3g}{eng[i]:>7.3g}"
            f"{area[i]:>7.0f}{latency_ms[i]:>7.3g} {mark}"
        )
    table.axis("off")
    table.text(0.0, 1.0, "\n".join(lines), family="monospace", fontsize=7, va="top", transform=table.transAxes)
    table.set_title("optimal points (L: left front, R: right front)", fontsize=9.5, loc="left")
    fig.suptitle(f"design space ({len(items)} points, policy {name}): {source}", fontsize=11)
    if any(math.isnan(v) for v in lat + eng):
        fig.text(0.5, -0.02, "some points have no overhead value", ha="center", fontsize=8)
    return fig
