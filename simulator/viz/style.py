"""Shared look of the figures: one colour per policy and per activity, consistent across plots."""

from __future__ import annotations

from matplotlib.colors import to_hex, to_rgb

POLICY_COLOURS = {
    "none": "#7f7f7f",
    "detect_only": "#9467bd",
    "abft": "#d62728",
    "abft_correct": "#ff7f0e",
    "approx_abft": "#2ca02c",
    "dmr": "#1f77b4",
}
_FALLBACK = ("#8c564b", "#e377c2", "#bcbd22", "#17becf")

COMPONENT_COLOURS = {
    "compute_cycles": "#4c72b0",
    "memory_stall_cycles": "#dd8452",
    "checksum_stall_cycles": "#c44e52",
    "recompute_cycles": "#8172b3",
}
COMPONENT_LABELS = {
    "compute_cycles": "compute (incl. checksum on array)",
    "memory_stall_cycles": "memory stall",
    "checksum_stall_cycles": "checksum stall",
    "recompute_cycles": "recompute",
}


def policy_colour(name: str, index: int = 0) -> str:
    return POLICY_COLOURS.get(name, _FALLBACK[index % len(_FALLBACK)])


LINESTYLES = ("-", "--", ":", "-.")
SHADE_RANGE = (-0.45, 0.55)  # darkest (45 % towards black) to lightest (55 % towards white)


def series_colour(policy: str, variant: int, variants: int, index: int = 0) -> str:
    """The policy's hue, shaded per series of the other sweep axes (rows=8, rows=16...), so every
    series of a figure has its own colour while a policy keeps its family."""
    base = policy_colour(policy, index)
    if variants <= 1:
        return base
    lo, hi = SHADE_RANGE
    shade = lo + (hi - lo) * variant / (variants - 1)
    r, g, b = (c * (1 + shade) if shade < 0 else c + (1 - c) * shade for c in to_rgb(base))
    return to_hex((r, g, b))


def series_linestyle(variant: int) -> str:
    return LINESTYLES[variant % len(LINESTYLES)]
