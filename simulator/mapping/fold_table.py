"""Every fold of a GEMM as one integer array, for vectorised fault sampling and effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow
from simulator.kernels.codes import T_TT
from simulator.mapping.dataflow import Fold, geometry_of, temporal_chunk
from simulator.mapping.loop_order import LoopOrder, coords_at
from simulator.mapping.tiling import fold_blocks


@dataclass(frozen=True, slots=True)
class FoldTable:
    """All folds of a GEMM as an int64 array (row0, col0, rows_used, cols_used, t0, steps: the
    temporal range each fold streams, all of T unless K is split), iter_folds order.

    `temporal` is the longest fold's steps (every fold's when T is not split)."""

    table: np.ndarray
    temporal: int

    def __len__(self) -> int:
        return self.table.shape[0]

    def fold(self, index: int) -> Fold:
        row0, col0, ru, cu, t0, steps = self.table[index].tolist()  # Python ints
        return Fold(index=index, row0=row0, col0=col0, rows_used=ru, cols_used=cu, temporal=steps, t0=t0)

    @property
    def steps(self) -> np.ndarray:
        """Temporal steps of every fold."""
        return self.table[:, T_TT]


def whole_folds(blocks: np.ndarray, temporal: int) -> FoldTable:
    """A table of (row0, col0, rows_used, cols_used) folds that each stream all `temporal` steps."""
    blocks = np.asarray(blocks, np.int64).reshape(-1, 4)
    steps = np.full((blocks.shape[0], 1), temporal, np.int64)
    return FoldTable(np.concatenate([blocks, np.zeros_like(steps), steps], axis=1), temporal)


def fold_table(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int, order: LoopOrder | None = None
) -> FoldTable:
    """Vectorised equivalent of mapping.tiling.iter_folds (the same fold_blocks order)."""
    geometry = geometry_of(dataflow)
    shape = geometry.fold_shape(m, k, n)
    fr, fc = geometry.fold_grid(m, k, n, rows, cols)
    chunks = 1 if order is None else order.k_chunks
    if chunks == 1:
        br, bc = fold_blocks(dataflow, fr, fc, np.arange(fr * fc), order)
        chunk = np.zeros_like(br)
    else:
        assert order is not None
        br, bc, chunk = coords_at(order, fr, fc, np.arange(fr * fc * chunks))
    row0, col0 = br * rows, bc * cols
    ru = np.minimum(rows, shape.spatial_rows - row0)
    cu = np.minimum(cols, shape.spatial_cols - col0)
    t0, steps = temporal_chunk(shape.temporal, chunks, chunk)
    table = np.stack([row0, col0, ru, cu, t0, steps], axis=1).astype(np.int64)
    return FoldTable(table, int(steps.max()) if steps.size else shape.temporal)
