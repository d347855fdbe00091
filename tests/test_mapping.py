"""Folds, fold cycles and operand traffic, checked against cases worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.enums import Dataflow
from simulator.config.loader import load_hw
from simulator.mapping.dataflow import fold_cycles, issue_interval_cycles, mac_cycle, mac_tau
from simulator.mapping.schedule import FoldTransfers, fold_transfers, schedule_gemm
from simulator.mapping.tiling import fold_count, fold_operands, fold_output_block, iter_folds
from simulator.workload.gemm import Gemm


def hw_with(dataflow: str, rows: int, cols: int, overlap: bool, *extra: str):
    return load_hw(
        "scalesim_compat",
        [
            f"array.dataflow={dataflow}",
            f"array.rows={rows}",
            f"array.cols={cols}",
            f"array.fold_overlap={overlap}",
            *extra,
        ],
    )


# (dataflow, R, C, M, K, N, count, folds, fold_cycles, cycles without overlap, cycles with overlap)
HAND_CASES = [
    # OS: folds ceil(3/2)*ceil(5/2) = 6; fold R+C+K-2 = 2+2+4-2 = 6; 6*6 = 36; overlap 5*K + 6 = 26
    ("os", 2, 2, 3, 4, 5, 1, 6, 6, 36, 26),
    # WS: folds ceil(4/2)*ceil(5/2) = 6; fold 2R+C+M-2 = 4+2+3-2 = 7; 42; overlap 5*max(3,2) + 7 = 22
    ("ws", 2, 2, 3, 4, 5, 1, 6, 7, 42, 22),
    # IS: folds ceil(4/2)*ceil(3/2) = 4; fold 2R+C+N-2 = 4+2+5-2 = 9; 36; overlap 3*max(5,2) + 9 = 24
    ("is", 2, 2, 3, 4, 5, 1, 4, 9, 36, 24),
    # WS with T < R: folds ceil(8/4)*ceil(2/2) = 2; fold 8+2+2-2 = 10; 20; overlap max(2,4) + 10 = 14
    ("ws", 4, 2, 2, 8, 2, 1, 2, 10, 20, 14),
    # OS, 3 instances: 1 fold each; fold 2+2+3-2 = 5; 3*5 = 15; overlap 2*3 + 5 = 11
    ("os", 2, 2, 2, 3, 2, 3, 3, 5, 15, 11),
    # OS 1x1 array: folds 4*3 = 12; fold 1+1+2-2 = 2; 24; overlap 11*2 + 2 = 24 (no fill to hide)
    ("os", 1, 1, 4, 2, 3, 1, 12, 2, 24, 24),
    # IS non-square 3x2: folds ceil(5/3)*ceil(4/2) = 4; fold 6+2+7-2 = 13; 52; overlap 3*7 + 13 = 34
    ("is", 3, 2, 4, 5, 7, 1, 4, 13, 52, 34),
]


@pytest.mark.parametrize("df,r,c,m,k,n,count,folds,fcyc,no_ovl,ovl", HAND_CASES)
def test_hand_worked_folds_and_cycles(df, r, c, m, k, n, count, folds, fcyc, no_ovl, ovl):
    g = Gemm("g", "other", m, k, n, count)
    off = schedule_gemm(g, hw_with(df, r, c, False))
    on = schedule_gemm(g, hw_with(df, r, c, True))
    assert off.folds == on.folds == folds
    assert off.fold_cycles == on.fold_cycles == fcyc
    assert off.compute_cycles == no_ovl
    assert on.compute_cycles == ovl


def test_fold_order_and_extents_by_hand():
    # WS on 4x2, M=5 K=7 N=3: K-blocks (4, 3) inner, N-blocks (2, 1) outer
    folds = list(iter_folds(Dataflow.WS, 5, 7, 3, 4, 2))
    assert [(f.row0, f.col0, f.rows_used, f.cols_used, f.temporal) for f in folds] == [
        (0, 0, 4, 2, 5), (4, 0, 3, 2, 5), (0, 2, 4, 1, 5), (4, 2, 3, 1, 5)
    ]  # fmt: skip
    # OS on 2x2, M=3 N=3: M-blocks outer
    folds = list(iter_folds(Dataflow.OS, 3, 9, 3, 2, 2))
    assert [(f.row0, f.col0, f.rows_used, f.cols_used) for f in folds] == [
        (0, 0, 2, 2), (0, 2, 2, 1), (2, 0, 1, 2), (2, 2, 1, 1)
    ]  # fmt: skip


def test_mac_timing_is_consistent_with_fold_length():
    for df in Dataflow:
        rows, cols, t = 3, 4, 5
        last = mac_cycle(df, rows, rows - 1, cols - 1, t - 1)
        assert last + 1 == fold_cycles(df, rows, cols, t)
        assert mac_tau(df, rows, 2, 1, mac_cycle(df, rows, 2, 1, 3)) == 3
    assert mac_cycle(Dataflow.OS, 8, 0, 0, 0) == 0
    assert mac_cycle(Dataflow.WS, 8, 0, 0, 0) == 8  # after the 8-cycle weight preload


def test_overlap_interval():
    assert issue_interval_cycles(Dataflow.OS, 32, 32, 768, True) == 768
    assert issue_interval_cycles(Dataflow.WS, 32, 32, 10, True) == 32
    assert issue_interval_cycles(Dataflow.IS, 32, 32, 100, False) == 2 * 32 + 32 + 100 - 2


@settings(max_examples=200, deadline=None)
@given(
    df=st.sampled_from(list(Dataflow)),
    m=st.integers(1, 20), k=st.integers(1, 20), n=st.integers(1, 20),
    rows=st.integers(1, 7), cols=st.integers(1, 7),
)  # fmt: skip
def test_folds_tile_the_gemm_exactly(df, m, k, n, rows, cols):
    """Summing every fold's partial product over its output block rebuilds A @ B exactly."""
    rng = np.random.default_rng(m * 10007 + k * 101 + n)
    a = rng.integers(-5, 5, (m, k))
    b = rng.integers(-5, 5, (k, n))
    c = np.zeros((m, n), dtype=np.int64)
    folds = list(iter_folds(df, m, k, n, rows, cols))
    assert len(folds) == fold_count(df, m, k, n, rows, cols)
    for f in folds:
        ab, bb = fold_operands(df, f, a, b)
        block = ab @ bb
        rs, cs = fold_output_block(df, f, m, n)
        c[rs, cs] += block
    np.testing.assert_array_equal(c, a @ b)


@pytest.mark.parametrize("df", ["os", "ws", "is"])
@pytest.mark.parametrize("sizes_kib", [(0.01, 0.01, 0.01), (0.1, 1, 0.05), (100, 100, 100)])
def test_closed_form_traffic_equals_sum_over_folds(df, sizes_kib):
    a_kib, b_kib, c_kib = sizes_kib
    for rows, cols, m, k, n, count in itertools.product((2, 3), (2, 5), (1, 7), (3, 9), (4, 11), (1, 2)):
        hw = hw_with(df, rows, cols, True, f"memory.sram.a.size_kib={a_kib}",
                     f"memory.sram.b.size_kib={b_kib}", f"memory.sram.c.size_kib={c_kib}")  # fmt: skip
        s = schedule_gemm(Gemm("g", "other", m, k, n, count), hw)
        total = dict.fromkeys(FoldTransfers.__slots__, 0)
        for f in iter_folds(s.dataflow, m, k, n, rows, cols):
            t = fold_transfers(s, f)
            for key in total:
                total[key] += getattr(t, key) * count
        closed = s.totals()
        assert total == {key: getattr(closed, key) for key in total}


def test_traffic_by_hand_os_refetch():
    # OS 2x2, int8, M=4 K=3 N=4: A row-block 2x3 = 6 B, whole B 3x4 = 12 B.
    # A buffer 8 B holds a row-block -> A fetched once (12 B); B buffer 8 B cannot hold B ->
    # B refetched per row-block: 2 * 12 = 24 B. Outputs 16 int32 = 64 B in SRAM C,
    # 16 B to DRAM.
    hw = hw_with("os", 2, 2, True, "memory.sram.a.size_kib=0.015625", "memory.sram.b.size_kib=0.015625")
    s = schedule_gemm(Gemm("g", "other", 4, 3, 4), hw)
    assert (s.a_resident, s.b_resident) == (True, False)
    t = s.totals()
    assert (t.a_dram_load_bytes, t.b_dram_load_bytes) == (12, 24)
    assert (t.a_sram_read_bytes, t.b_sram_read_bytes) == (24, 24)  # each fold streams its blocks
    assert (t.c_sram_write_bytes, t.c_sram_read_bytes, t.out_dram_store_bytes) == (64, 64, 16)


def test_traffic_by_hand_ws_psum_spill():
    # WS 2x2, int8, M=3 K=4 N=2: 2 K-folds of one column block; psum block 3x2 int32 = 24 B.
    # C buffer 16 B < 24 B -> spill: after K-fold 0 store 24 B, before K-fold 1 load 24 B.
    hw = hw_with("ws", 2, 2, True, "memory.sram.c.size_kib=0.03125")
    s = schedule_gemm(Gemm("g", "other", 3, 4, 2), hw)
    assert not s.psum_resident
    t = s.totals()
    assert (t.psum_dram_store_bytes, t.psum_dram_load_bytes) == (24, 24)
    assert t.b_dram_load_bytes == 8 and t.a_dram_load_bytes == 12
    assert t.c_sram_write_bytes == 24 * 2 + 24  # two folds write psums, one reload
    assert t.c_sram_read_bytes == 24 + 24 + 24  # accumulate read, write-back read, spill read


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-3, 40), max_size=60), wanted=st.lists(st.integers(-3, 40), max_size=24))
def test_member_mask_is_isin(values, wanted):
    """mapping.region.member_mask (one comparison per wanted value up to 16 of them, np.isin beyond)
    equals np.isin, duplicates and empty lists included."""
    from simulator.mapping.region import member_mask

    v = np.array(values, np.int64)
    got = member_mask(v, tuple(wanted))
    assert got.dtype == bool and np.array_equal(got, np.isin(v, wanted))


def test_region_covers_by_hand():
    """Rows {1, 3}: positions with row 1 or 3; cols {0}: col 0; pairs (1, 2), (3, 0): exactly those."""
    from simulator.mapping.region import Region, Scope

    rows, cols = np.array([0, 1, 3, 3, 1]), np.array([0, 2, 0, 2, 0])
    assert Region(Scope.ROWS, rows=(1, 3)).covers(rows, cols).tolist() == [False, True, True, True, True]
    assert Region(Scope.COLS, cols=(0,)).covers(rows, cols).tolist() == [True, False, True, False, True]
    pairs = Region(Scope.ELEMENTS, rows=(1, 3), cols=(2, 0))
    assert pairs.covers(rows, cols).tolist() == [False, True, True, False, False]
    assert Region(Scope.TILE).covers(rows, cols).all()
