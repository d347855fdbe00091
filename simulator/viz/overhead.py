"""Overhead vs bit error rate per policy: latency, energy and escape rate, with confidence bands."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from matplotlib.figure import Figure

from simulator.campaign.summary import PolicySummary
from simulator.errors import ConfigError
from simulator.viz.style import series_colour, series_linestyle

BER_KEY = "faults.ber"


def _series_key(s: PolicySummary) -> tuple[str, str]:
    rest = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in s.params.items() if k not in (BER_KEY, "policy"))
    return s.policy, rest


def overhead_vs_ber(summaries: Sequence[PolicySummary], confidence: float, source: str = "") -> Figure:
    """Three panels over log BER: latency overhead %, energy overhead %, P(escape | fault)."""
    series: dict[tuple[str, str], list[PolicySummary]] = defaultdict(list)
    for s in summaries:
        if BER_KEY in s.params and float(s.params[BER_KEY]) > 0:
            series[_series_key(s)].append(s)
    if not series:
        raise ConfigError(f"{source}: overhead_vs_ber needs points with {BER_KEY} > 0 (sweep faults.ber as an axis)")
    fig = Figure(figsize=(13.5, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = (
        ("latency_overhead_pct", "latency overhead (%)"),
        ("energy_overhead_pct", "energy overhead (%)"),
        ("escape_per_fault", "P(escape | fault)"),
    )
    smallest = {key: math.inf for key, _ in panels}
    variants = list(dict.fromkeys(rest for _, rest in series))  # values of the other sweep axes
    policies = list(dict.fromkeys(policy for policy, _ in series))
    for (policy, rest), items in series.items():  # the sweep's policy order
        items.sort(key=lambda s: float(s.params[BER_KEY]))
        x = [float(s.params[BER_KEY]) for s in items]
        variant = variants.index(rest)
        colour = series_colour(policy, variant, len(variants), policies.index(policy))
        style = series_linestyle(variant)
        label = policy + (f" ({rest})" if rest else "")
        for ax, (key, _) in zip(axes, panels, strict=True):
            ivs = [s.escape_per_fault if key == "escape_per_fault" else s.means[key] for s in items]
            y = [iv.estimate for iv in ivs]
            lo = [yy if math.isnan(iv.lo) else iv.lo for iv, yy in zip(ivs, y, strict=True)]
            hi = [yy if math.isnan(iv.hi) else iv.hi for iv, yy in zip(ivs, y, strict=True)]
            positive = [v for v in (*y, *lo, *hi) if v > 0 and not math.isnan(v)]
            smallest[key] = min([smallest[key], *positive])
            ax.plot(x, y, marker="o", ms=3.5, lw=1.4, color=colour, ls=style, label=label)
            ax.fill_between(x, lo, hi, color=colour, alpha=0.18 if key != "escape_per_fault" else 0.1, lw=0)
    level = f"{confidence * 100:g} %"
    for ax, (key, title) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        # symlog: decades above the smallest positive value, a linear strip down to exact zero
        # (`none` has no overhead; a policy may have no escape)
        tiny = smallest[key] if math.isfinite(smallest[key]) else 1e-3
        ax.set_yscale("symlog", linthresh=10 ** math.floor(math.log10(tiny)), linscale=0.4)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("bit error rate (per bit per MAC)")
        ax.set_ylabel(title)
        ax.grid(True, which="major", alpha=0.3)
        band = "trial-clustered" if key == "escape_per_fault" else "t-interval"
        ax.set_title(f"{title.split(' (')[0]} ({level} {band} bands)", fontsize=10)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(f"ABFT cost and coverage vs BER: {source}" if source else "ABFT cost and coverage vs BER", fontsize=11)
    return fig
