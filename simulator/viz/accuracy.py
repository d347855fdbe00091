"""Accuracy figures from an `abftsim.accuracy/1` study dict: accuracy vs BER, accuracy vs recovery overhead.

Each function returns a matplotlib Figure (no pyplot state); viz.figures.render turns it into bytes.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from simulator.viz.style import policy_colour

_MARKERS = {"none": "x", "detect_only": "+", "abft": "s", "abft_correct": "D", "approx_abft": "o", "dmr": "^"}


def _series(study: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = {}
    for point in study["points"]:
        series.setdefault(point["policy"], []).append(point)
    for points in series.values():
        points.sort(key=lambda p: p["ber"])
    return series


def _title(study: dict[str, Any]) -> str:
    hw = study["hw"]
    return (f"{study['model'].get('name', 'model')}, {study['split']} split ({study['images']} images), "
            f"{hw['name']} {hw['rows']}x{hw['cols']} {hw['dataflow'].upper()}, {study['trials']} trial(s)")  # fmt: skip


def accuracy_vs_ber(study: dict[str, Any]):
    """Top-1 accuracy (mean, 95 % CI band) per policy over the swept BERs (log x; BER 0 left out)."""
    fig = Figure(figsize=(7.0, 4.4), layout="constrained")
    ax = fig.subplots()
    clean = study["clean_accuracy_pct"]
    ax.axhline(clean, color="0.3", lw=0.8, ls="--", label=f"clean int8 ({clean:.1f} %)")
    ax.axhspan(clean - study["max_drop_points"], clean, color="0.85", alpha=0.5, lw=0,
               label=f"within {study['max_drop_points']:g} point(s)")  # fmt: skip
    for i, (policy, points) in enumerate(_series(study).items()):
        pts = [p for p in points if p["ber"] > 0]
        if not pts:
            continue
        ber, colour = [p["ber"] for p in pts], policy_colour(policy, i)
        style = ":" if policy == "detect_only" else "-"  # detect_only recovers nothing: it overlays `none`
        ax.plot(ber, [p["accuracy_pct"] for p in pts], marker=_MARKERS.get(policy, "."), color=colour, ls=style,
                label=policy)  # fmt: skip
        ax.fill_between(ber, [p["ci_low_pct"] for p in pts], [p["ci_high_pct"] for p in pts],
                        color=colour, alpha=0.15, lw=0)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("bit error rate (per bit of a PE register word per MAC)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(_title(study), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    return fig


def accuracy_vs_overhead(study: dict[str, Any]):
    """Accuracy against recovery overhead (recomputed MACs / clean MACs) per recovering policy, one
    line per policy through its BERs (overhead grows with the BER); policies that never recompute
    (none, detect_only) have no overhead axis position and are listed in the legend instead."""
    fig = Figure(figsize=(9.0, 4.4), layout="constrained")
    ax = fig.subplots()
    clean = study["clean_accuracy_pct"]
    ax.axhline(clean, color="0.3", lw=0.8, ls="--", label=f"clean int8 ({clean:.1f} %)")
    idle = []
    for i, (policy, points) in enumerate(_series(study).items()):
        pts = [p for p in points if p["ber"] > 0]
        if not pts:
            continue
        if all(p["recovery_overhead_pct"] <= 0 for p in pts):
            worst = min(pts, key=lambda p: p["accuracy_pct"])
            idle.append(f"{policy}: no recovery ({worst['accuracy_pct']:.1f} % at BER {worst['ber']:g})")
            continue
        x = [p["recovery_overhead_pct"] for p in pts]
        y = [p["accuracy_pct"] for p in pts]
        yerr = [[p["accuracy_pct"] - p["ci_low_pct"] for p in pts], [p["ci_high_pct"] - p["accuracy_pct"] for p in pts]]
        ax.errorbar(x, y, yerr=yerr, marker=_MARKERS.get(policy, "."), capsize=2, label=policy, lw=1,
                    color=policy_colour(policy, i))  # fmt: skip
    for text in idle:
        ax.plot([], [], ls="none", label=text)
    bers = sorted({p["ber"] for p in study["points"] if p["ber"] > 0})
    note = f"\neach line: BER {bers[0]:g} (left) to {bers[-1]:g} (right)" if bers else ""
    ax.set_xscale("log")
    ax.set_xlabel("recovery overhead (recomputed MACs, % of the model's MACs)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(_title(study) + note, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
