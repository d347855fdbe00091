"""Loop order of a GEMM's folds: which blocks are grouped and kept in SRAM, and the fold sequence.

The folds of one GEMM instance form a grid of `fold_rows x fold_cols` blocks (tiling.fold_grid).
Every order here is one loop nest over that grid:

    for each super-block sb of `group_blocks` consecutive blocks along the grouped axis:
        for each block along the other (middle) axis:
            for each block of sb:
                run the fold

The data indexed by the grouped axis (the grouped operand, or for WS/IS the partial sums) is
loaded once per super-block and stays in SRAM while the middle axis sweeps; the data indexed by
the middle axis is loaded once per middle step and reused by the super-block's folds. Per
dataflow (mapping.dataflow: rows / cols of the grid):

| dataflow | rows blocks index | cols blocks index | allowed grouped axis |
|----------|-------------------|-------------------|----------------------|
| OS       | A (M rows x K)    | B (K x N cols)    | rows or cols         |
| WS       | A (M x K rows)    | psums C[:, cols]  | cols (psums stay in SRAM C) |
| IS       | B (K rows x N)    | psums C[cols, :]  | cols (psums stay in SRAM C) |

The fixed order of earlier versions is `fixed_order`: OS groups every column block (row-major,
an A row-block reused across N), WS/IS group one column block (N or M outer, K inner).

K split (OS only, where K is streamed in time): with `k_chunks` > 1 each fold streams one chunk
of K (mapping.dataflow.temporal_chunk) and the nest gains a K loop between the middle axis,
taken `middle_blocks` blocks at a time (a middle tile), and the innermost loops:

    for each super-block sb:
        for each middle tile mt of `middle_blocks` middle blocks:
            for each K chunk c:
                for each middle block of mt:
                    for each block of sb:
                        run the fold (its output block's partial sum over chunk c)

The partial sums of the sb x mt output tile accumulate through SRAM C across the chunks (first
chunk writes, later chunks read-modify-write, the last one's result is written back); a
chunk's grouped operand block is reused by the tile's middle blocks, a chunk's middle block by
the super-block's folds. With one chunk the nest is the one above (the middle tile is then 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow
from simulator.mapping.dataflow import COLS, ROWS, geometry_of  # the grid axes, named once


@dataclass(frozen=True, slots=True)
class LoopOrder:
    """A fold order: blocks along `group_axis` are taken `group_blocks` at a time (the super-block)."""

    group_axis: str  # ROWS or COLS
    group_blocks: int  # blocks per super-block (the last super-block may be smaller)
    k_chunks: int = 1  # chunks of the streamed K per output block (1: a fold streams all of K)
    middle_blocks: int = 1  # middle blocks per middle tile (the K loop's scope); 1 when k_chunks == 1

    def __post_init__(self) -> None:
        if self.group_axis not in (ROWS, COLS) or self.group_blocks < 1:
            raise ValueError(f"bad loop order {self.group_axis!r} x {self.group_blocks}")
        if self.k_chunks < 1 or self.middle_blocks < 1 or (self.k_chunks == 1 and self.middle_blocks != 1):
            raise ValueError(f"bad K split: {self.k_chunks} chunks over {self.middle_blocks} middle blocks")

    @property
    def middle_axis(self) -> str:
        """The axis swept inside each super-block (the one not grouped)."""
        return COLS if self.group_axis == ROWS else ROWS


def fixed_order(dataflow: Dataflow, fold_rows: int, fold_cols: int) -> LoopOrder:
    """The dataflow's fixed loop nest (mapping.dataflow) as a LoopOrder: OS row-major (M outer,
    N inner, so every column block is in the one super-block of each row); WS/IS N or M outer, K
    inner (one column block per super-block)."""
    geometry = geometry_of(dataflow)
    rows_outer = geometry.outer_dim == geometry.dims[0]
    return LoopOrder(COLS, fold_cols) if rows_outer else LoopOrder(COLS, 1)


def blocks_at(order: LoopOrder, fold_rows: int, fold_cols: int, index):
    """(row-block, col-block) of fold `index` (an int or an integer array) in `order`."""
    row_block, col_block, _ = coords_at(order, fold_rows, fold_cols, index)
    return row_block, col_block


def coords_at(order: LoopOrder, fold_rows: int, fold_cols: int, index):
    """(row-block, col-block, K chunk) of fold `index` (an int or an integer array) in `order`."""
    groups, middles = (fold_rows, fold_cols) if order.group_axis == ROWS else (fold_cols, fold_rows)
    size, chunks, tile = order.group_blocks, order.k_chunks, order.middle_blocks
    scalar = isinstance(index, (int, np.integer))
    divmod_, minimum = (divmod, min) if scalar else (np.divmod, np.minimum)
    index = int(index) if scalar else index  # scalar path: plain ints (numpy scalars are slow)
    sb, q = divmod_(index, middles * size * chunks)
    in_sb = minimum(size, groups - sb * size)  # blocks in this super-block
    if chunks == 1:
        mid, gi = divmod_(q, in_sb)
        chunk = 0 if scalar else np.zeros_like(mid)
    else:
        mt, q = divmod_(q, tile * in_sb * chunks)
        in_tile = minimum(tile, middles - mt * tile)  # middle blocks in this middle tile
        chunk, q = divmod_(q, in_tile * in_sb)
        mid_in, gi = divmod_(q, in_sb)
        mid = mt * tile + mid_in
    group = sb * size + gi
    return (group, mid, chunk) if order.group_axis == ROWS else (mid, group, chunk)


@dataclass(frozen=True, slots=True)
class LoopPosition:
    """Where one fold sits in the loop nest."""

    super_block: int  # sb
    middle: int  # block index along the middle axis
    in_group: int  # position inside the super-block (0 = first)
    chunk: int = 0  # K chunk (0 = first)
    in_tile: int = 0  # position of the middle block inside its middle tile (0 = first)


def position(order: LoopOrder, row_block: int, col_block: int, chunk: int = 0) -> LoopPosition:
    """The loop-nest position of the fold at (row_block, col_block) and K chunk `chunk`."""
    group, middle = (row_block, col_block) if order.group_axis == ROWS else (col_block, row_block)
    sb, gi = divmod(group, order.group_blocks)
    return LoopPosition(sb, middle, gi, chunk, middle % order.middle_blocks)


def super_blocks(order: LoopOrder, fold_rows: int, fold_cols: int) -> int:
    groups = fold_rows if order.group_axis == ROWS else fold_cols
    return -(-groups // order.group_blocks)


def middle_tiles(order: LoopOrder, fold_rows: int, fold_cols: int) -> int:
    """Middle tiles per super-block: the times a K-split order restarts its K loop per super-block."""
    middles = fold_cols if order.group_axis == ROWS else fold_rows
    return -(-middles // order.middle_blocks)
