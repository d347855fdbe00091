"""A Workload as the text of a workload file (a GEMM list that load_workload reads back unchanged)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from simulator.workload.workload import Workload

IMPORT_NOTE = (
    "GEMMs: MatMul/Gemm with a weight B (A's leading dimensions flatten into M), MatMul of two",
    "activations (count = broadcast instances, e.g. batch x heads), Conv as im2col (M = batch x output",
    "pixels, K = in-channels / groups x kernel area, N = out-channels / groups, count = groups).",
    "Not GEMMs, not simulated: element-wise operators, normalisation, softmax, pooling, data movement.",
)


def workload_yaml(workload: Workload, comments: Sequence[str] = ()) -> str:
    """YAML text of `workload` as an explicit GEMM list with kinds, behind `# ` comment lines."""
    lines = [f"# {c}".rstrip() for c in comments]
    lines += [f"name: {json.dumps(workload.name)}", "gemms:"]
    for g in workload.gemms:
        count = f", count: {g.count}" if g.count != 1 else ""
        lines.append(f"  - {{name: {json.dumps(g.name)}, kind: {g.kind}, M: {g.m}, K: {g.k}, N: {g.n}{count}}}")
    return "\n".join(lines) + "\n"


def import_comments(workload: Workload, source: str) -> list[str]:
    """The header of an imported workload file: where it came from, its size, what was counted."""
    kinds = Counter(g.kind for g in workload.gemms)
    by_kind = ", ".join(f"{kind} {n}" for kind, n in kinds.items())
    return [
        f"Imported from {source} by `abftsim workload import`: {len(workload.gemms)} GEMMs, "
        f"{workload.macs:,} MACs ({workload.macs / 1e9:.3f} G).",
        *IMPORT_NOTE,
        f"GEMMs per kind: {by_kind}.",
    ]
