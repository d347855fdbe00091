"""Shared look of the figures: one colour per policy and per activity, consistent across plots."""

from __future__ import annotations

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
