"""mapping.region.resolve_region: a LINES region becomes the cheaper of its ROWS and COLS passes, as
price_region prices them (its fast cost compares price_region's figures without their traffic)."""

from __future__ import annotations

import pytest

from simulator.config.loader import load_hw
from simulator.mapping.region import Region, Scope, price_region, resolve_region
from simulator.mapping.schedule import schedule_gemm
from simulator.mapping.tiling import iter_folds
from simulator.workload.gemm import Gemm


def _reference(hw, s, fold, region: Region) -> Region:
    """The cheaper line by full prices: fewer fold cycles, then fewer MACs, then rows."""
    options = (Region(Scope.ROWS, rows=region.rows), Region(Scope.COLS, cols=region.cols))
    return min(
        options, key=lambda r: (price_region(hw, s, fold, r).fold_cycles, price_region(hw, s, fold, r).counts.macs)
    )


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
@pytest.mark.parametrize("mkn", [(10, 7, 9), (4, 12, 3), (9, 3, 13)])
def test_a_lines_region_resolves_to_the_line_price_region_finds_cheaper(dataflow, mkn):
    hw = load_hw("edge_32x32", ["array.rows=4", "array.cols=4", f"array.dataflow={dataflow}"])
    s = schedule_gemm(Gemm("g", "fc1", *mkn), hw)
    seen = set()
    for fold in iter_folds(s.dataflow, *mkn, 4, 4):
        out_rows, out_cols = s.geometry.output_block_shape(fold, s.gemm.m, s.gemm.n)
        for rows, cols in (((0,), (0,)), ((out_rows - 1,), (0,)), (tuple(range(out_rows)), (out_cols - 1,))):
            region = Region(Scope.LINES, rows=rows, cols=cols)
            resolved = resolve_region(hw, s, fold, region)
            assert resolved == _reference(hw, s, fold, region)
            seen.add(resolved.scope)
    assert Scope.ROWS in seen or Scope.COLS in seen
