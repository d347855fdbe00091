"""Dataflow geometry: which GEMM dimensions are spatial and temporal, and when a PE does a MAC.

GEMM C[M,N] = A[M,K] @ B[K,N] on an array of R rows x C cols (PE(r, c), r down, c right).

| dataflow | array rows <- | array cols <- | temporal (T) | stationary in PE(r, c)        |
|----------|---------------|---------------|--------------|-------------------------------|
| OS       | M (i)         | N (j)         | K (k)        | C[i0+r, j0+c] (accumulator)   |
| WS       | K (k)         | N (j)         | M (i)        | B[k0+r, j0+c] (weight)        |
| IS       | K (k)         | M (i)         | N (j)        | A[i0+c, k0+r] (activation)    |

Timing inside one fold (fold-local cycle t, 0-based), with input skew as in SCALE-Sim:

* OS: A[i0+r, k] enters PE(r, 0) at cycle r + k and moves right one PE per cycle; B[k, j0+c]
  enters PE(0, c) at cycle c + k and moves down. PE(r, c) does the MAC of temporal index
  tau = k at t = r + c + tau and keeps the sum. Fold length R + C + T - 2 cycles.
* WS: weights are preloaded in R cycles (t = 0..R-1). The moving operand (A[i, k0+r] for
  tau = i) enters PE(r, 0) at cycle R + r + tau and moves right; partial sums move down, so
  PE(r, c) does the MAC of tau at t = R + r + c + tau and passes psum_r (the sum over the
  fold's first r+1 K-indices) to PE(r+1, c); the sum leaves PE(R_used-1, c) as the fold's
  partial output. Fold length 2R + C + T - 2 cycles.
* IS: the mirror of WS with A stationary: PE(r, c) holds A[i0+c, k0+r]; B[k0+r, j] (tau = j)
  enters PE(r, 0) at R + r + tau and moves right; psums move down; the output is C[i0+c, j].

Fold lengths use the full array size R, C even for a partly used edge fold, as SCALE-Sim
does (the skew of an array does not shrink because a fold is small).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.config.enums import Dataflow


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class FoldShape:
    """How one GEMM's dimensions map onto the array for a dataflow."""

    spatial_rows: int  # GEMM extent mapped on array rows
    spatial_cols: int  # GEMM extent mapped on array cols
    temporal: int  # T, streamed in time


def fold_shape(dataflow: Dataflow, m: int, k: int, n: int) -> FoldShape:
    """The (rows, cols, temporal) GEMM extents of a dataflow (DESIGN.md section 3)."""
    if dataflow is Dataflow.OS:
        return FoldShape(m, n, k)
    if dataflow is Dataflow.WS:
        return FoldShape(k, n, m)
    return FoldShape(k, m, n)


def fill_drain_cycles(dataflow: Dataflow, rows: int, cols: int) -> int:
    """Cycles of one fold that are not streaming: weight preload (WS/IS), skew fill and drain."""
    if dataflow is Dataflow.OS:
        return rows + cols - 2
    return 2 * rows + cols - 2


def fold_cycles(dataflow: Dataflow, rows: int, cols: int, temporal: int) -> int:
    """Latency of one fold: OS R + C + T - 2, WS and IS 2R + C + T - 2 (SCALE-Sim's count)."""
    return fill_drain_cycles(dataflow, rows, cols) + temporal


def issue_interval_cycles(dataflow: Dataflow, rows: int, cols: int, temporal: int, fold_overlap: bool) -> int:
    """Cycles from the start of one fold to the start of the next one.

    Without overlap every fold pays its own fill and drain. With overlap the next fold's
    operands stream in right behind the current ones (OS: T cycles later); in WS/IS the next
    fold's weights preload through the R rows while the current fold streams, so the next
    fold can start max(T, R) cycles later.
    """
    if not fold_overlap:
        return fold_cycles(dataflow, rows, cols, temporal)
    if dataflow is Dataflow.OS:
        return temporal
    return max(temporal, rows)


def mac_cycle(dataflow: Dataflow, rows: int, r: int, c: int, tau: int) -> int:
    """Fold-local cycle at which PE(r, c) performs the MAC of temporal index tau."""
    if dataflow is Dataflow.OS:
        return r + c + tau
    return rows + r + c + tau


def mac_tau(dataflow: Dataflow, rows: int, r: int, c: int, cycle: int) -> int:
    """Temporal index of the MAC PE(r, c) performs at a fold-local cycle (may be out of range)."""
    if dataflow is Dataflow.OS:
        return cycle - r - c
    return cycle - rows - r - c
