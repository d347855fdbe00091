"""Folds (tiles) of a GEMM on the array: their order, extents and operand/output blocks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow
from simulator.mapping.dataflow import ceil_div, fold_shape
from simulator.mapping.loop_order import LoopOrder, blocks_at, fixed_order


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: a rows_used x cols_used block of the spatial GEMM extents, streamed over T.

    `row0` / `col0` are offsets into the GEMM dimensions that the dataflow maps on the array's
    rows / cols (OS: M / N, WS: K / N, IS: K / M).
    """

    index: int
    row0: int
    col0: int
    rows_used: int
    cols_used: int
    temporal: int

    @property
    def active_macs(self) -> int:
        return self.rows_used * self.cols_used * self.temporal


def fold_grid(dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int) -> tuple[int, int]:
    """Number of folds along the array's rows and cols."""
    shape = fold_shape(dataflow, m, k, n)
    return ceil_div(shape.spatial_rows, rows), ceil_div(shape.spatial_cols, cols)


def fold_count(dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int) -> int:
    """OS ceil(M/R)*ceil(N/C), WS ceil(K/R)*ceil(N/C), IS ceil(K/R)*ceil(M/C)."""
    fr, fc = fold_grid(dataflow, m, k, n, rows, cols)
    return fr * fc


def fold_blocks(dataflow: Dataflow, fold_rows: int, fold_cols: int, index, order: LoopOrder | None = None):
    """(row-block, col-block) of fold `index` in execution order; `index` may be an int or an
    integer array. `order` is the schedule's loop order (mapping.loop_order); by default the
    fixed order:

    OS: row-blocks of M outer, col-blocks of N inner (an A row-block is reused across N).
    WS: col-blocks of N outer, K-blocks inner (a C column-block accumulates over K).
    IS: col-blocks of M outer, K-blocks inner (a C row-block accumulates over K).
    """
    order = order if order is not None else fixed_order(dataflow, fold_rows, fold_cols)
    return blocks_at(order, fold_rows, fold_cols, index)


def fold_at(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int, index: int, order: LoopOrder | None = None
) -> Fold:
    """Fold `index` of a GEMM on the array, in execution order (fold_blocks)."""
    shape = fold_shape(dataflow, m, k, n)
    fr, fc = fold_grid(dataflow, m, k, n, rows, cols)
    br, bc = fold_blocks(dataflow, fr, fc, index, order)
    row0, col0 = br * rows, bc * cols
    return Fold(
        index=index,
        row0=row0,
        col0=col0,
        rows_used=min(rows, shape.spatial_rows - row0),
        cols_used=min(cols, shape.spatial_cols - col0),
        temporal=shape.temporal,
    )


def iter_folds(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int, order: LoopOrder | None = None
) -> Iterator[Fold]:
    """Every fold of a GEMM in execution order."""
    for index in range(fold_count(dataflow, m, k, n, rows, cols)):
        yield fold_at(dataflow, m, k, n, rows, cols, index, order)


def fold_operands(dataflow: Dataflow, fold: Fold, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The operand blocks one fold consumes (views into A[M,K] and B[K,N]).

    OS: A[i0:i0+ru, :] (ru x K) and B[:, j0:j0+cu] (K x cu).
    WS: A[:, k0:k0+ru] (M x ru) and B[k0:k0+ru, j0:j0+cu] (ru x cu).
    IS: A[i0:i0+cu, k0:k0+ru] (cu x ru) and B[k0:k0+ru, :] (ru x N).
    """
    r0, c0, ru, cu = fold.row0, fold.col0, fold.rows_used, fold.cols_used
    if dataflow is Dataflow.OS:
        return a[r0 : r0 + ru, :], b[:, c0 : c0 + cu]
    if dataflow is Dataflow.WS:
        return a[:, r0 : r0 + ru], b[r0 : r0 + ru, c0 : c0 + cu]
    return a[c0 : c0 + cu, r0 : r0 + ru], b[r0 : r0 + ru, :]


def fold_output_block(dataflow: Dataflow, fold: Fold, m: int, n: int) -> tuple[slice, slice]:
    """The slice of C[M,N] a fold writes (WS/IS folds write partial sums over their K range).

    OS: C[i0:i0+ru, j0:j0+cu]; WS: C[:, j0:j0+cu]; IS: C[i0:i0+cu, :].
    """
    r0, c0, ru, cu = fold.row0, fold.col0, fold.rows_used, fold.cols_used
    if dataflow is Dataflow.OS:
        return slice(r0, r0 + ru), slice(c0, c0 + cu)
    if dataflow is Dataflow.WS:
        return slice(0, m), slice(c0, c0 + cu)
    return slice(c0, c0 + cu), slice(0, n)


def block_extents(dataflow: Dataflow, a_block: np.ndarray, b_block: np.ndarray) -> tuple[int, int, int]:
    """(rows_used, cols_used, T) of a fold from its operand blocks (the fold_operands layout);
    ValueError when the blocks are not 2-D or do not fit together."""
    if a_block.ndim != 2 or b_block.ndim != 2:
        raise ValueError("operand blocks must be 2-D")
    if dataflow is Dataflow.OS:
        (ru, temporal), (inner, cu) = a_block.shape, b_block.shape
        consistent = temporal == inner
    elif dataflow is Dataflow.WS:
        (temporal, ru), (inner, cu) = a_block.shape, b_block.shape
        consistent = ru == inner
    else:
        (cu, ru), (inner, temporal) = a_block.shape, b_block.shape
        consistent = ru == inner
    if not consistent:
        raise ValueError(f"operand blocks {a_block.shape} and {b_block.shape} do not fit a {dataflow} fold")
    return ru, cu, temporal
