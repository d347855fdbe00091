"""Folds (tiles) of a GEMM on the array: their order, extents and operand/output blocks.

Each function asks the dataflow's geometry object (mapping.dataflow.geometry_of); they are the
entry points for callers that hold a configured `Dataflow`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from simulator.config.enums import Dataflow
from simulator.mapping.dataflow import BlockIndex, Fold, geometry_of
from simulator.mapping.loop_order import LoopOrder, blocks_at, coords_at

__all__ = [
    "Fold",
    "block_extents",
    "fold_at",
    "fold_blocks",
    "fold_count",
    "fold_grid",
    "fold_operands",
    "fold_output_block",
    "iter_folds",
]


def fold_grid(dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int) -> tuple[int, int]:
    """Number of folds along the array's rows and cols."""
    return geometry_of(dataflow).fold_grid(m, k, n, rows, cols)


def fold_count(dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int) -> int:
    """OS ceil(M/R)*ceil(N/C), WS ceil(K/R)*ceil(N/C), IS ceil(K/R)*ceil(M/C)."""
    fr, fc = fold_grid(dataflow, m, k, n, rows, cols)
    return fr * fc


def fold_blocks(
    dataflow: Dataflow, fold_rows: int, fold_cols: int, index: BlockIndex, order: LoopOrder | None = None
) -> tuple[BlockIndex, BlockIndex]:
    """(row-block, col-block) of fold `index` in execution order: the schedule's loop order
    (mapping.loop_order) or, without one, the dataflow's fixed loop nest (mapping.dataflow)."""
    if order is None:
        return geometry_of(dataflow).fold_blocks(fold_rows, fold_cols, index)
    return blocks_at(order, fold_rows, fold_cols, index)


def fold_at(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int, index: int, order: LoopOrder | None = None
) -> Fold:
    """Fold `index` of a GEMM on the array, in execution order (fold_blocks)."""
    geometry = geometry_of(dataflow)
    if order is None:
        return geometry.fold_at(m, k, n, rows, cols, index)
    fr, fc = geometry.fold_grid(m, k, n, rows, cols)
    br, bc, chunk = coords_at(order, fr, fc, index)
    return geometry.fold_of_block(m, k, n, rows, cols, index, int(br), int(bc), int(chunk), order.k_chunks)


def iter_folds(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int, order: LoopOrder | None = None
) -> Iterator[Fold]:
    """Every fold of a GEMM in execution order (each K chunk of a split order is a fold)."""
    chunks = 1 if order is None else order.k_chunks
    for index in range(fold_count(dataflow, m, k, n, rows, cols) * chunks):
        yield fold_at(dataflow, m, k, n, rows, cols, index, order)


def fold_operands(dataflow: Dataflow, fold: Fold, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The operand blocks one fold consumes (views into A[M,K] and B[K,N]).

    OS: A[i0:i0+ru, :] (ru x K) and B[:, j0:j0+cu] (K x cu).
    WS: A[:, k0:k0+ru] (M x ru) and B[k0:k0+ru, j0:j0+cu] (ru x cu).
    IS: A[i0:i0+cu, k0:k0+ru] (cu x ru) and B[k0:k0+ru, :] (ru x N).
    """
    return geometry_of(dataflow).operand_blocks(fold, a, b)


def fold_output_block(dataflow: Dataflow, fold: Fold, m: int, n: int) -> tuple[slice, slice]:
    """The slice of C[M,N] a fold writes (WS/IS folds write partial sums over their K range).

    OS: C[i0:i0+ru, j0:j0+cu]; WS: C[:, j0:j0+cu]; IS: C[i0:i0+cu, :].
    """
    return geometry_of(dataflow).output_block(fold, m, n)


def block_extents(dataflow: Dataflow, a_block: np.ndarray, b_block: np.ndarray) -> tuple[int, int, int]:
    """(rows_used, cols_used, T) of a fold from its operand blocks (the fold_operands layout);
    ValueError when the blocks are not 2-D or do not fit together."""
    return geometry_of(dataflow).block_extents(a_block, b_block)
