"""Every fold of a GEMM as one integer array, for vectorised fault sampling and effects."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow
from simulator.mapping.dataflow import Fold, geometry_of
from simulator.mapping.loop_order import LoopOrder
from simulator.mapping.tiling import fold_blocks


@dataclass(frozen=True, slots=True)
class FoldTable:
    """All folds of a GEMM as an int64 array (row0, col0, rows_used, cols_used), iter_folds order."""

    table: np.ndarray
    temporal: int

    def __len__(self) -> int:
        return self.table.shape[0]

    def fold(self, index: int) -> Fold:
        row0, col0, ru, cu = (int(x) for x in self.table[index])
        return Fold(index=index, row0=row0, col0=col0, rows_used=ru, cols_used=cu, temporal=self.temporal)


def fold_table(
    dataflow: Dataflow, m: int, k: int, n: int, rows: int, cols: int, order: LoopOrder | None = None
) -> FoldTable:
    """Vectorised equivalent of mapping.tiling.iter_folds (the same fold_blocks order)."""
    geometry = geometry_of(dataflow)
    shape = geometry.fold_shape(m, k, n)
    fr, fc = geometry.fold_grid(m, k, n, rows, cols)
    br, bc = fold_blocks(dataflow, fr, fc, np.arange(fr * fc), order)
    row0, col0 = br * rows, bc * cols
    ru = np.minimum(rows, shape.spatial_rows - row0)
    cu = np.minimum(cols, shape.spatial_cols - col0)
    return FoldTable(np.stack([row0, col0, ru, cu], axis=1).astype(np.int64), shape.temporal)
