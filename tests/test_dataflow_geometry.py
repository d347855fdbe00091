"""The dataflow geometry objects: hand-worked facts, and every query against a per-dataflow reference.

The reference functions below restate DESIGN.md section 3's table one dataflow at a time (the
if/elif form the code had before the geometry objects); the objects derive the same facts from
a few names per dataflow (dims, outer_dim, preload_rows, whole_middle_needs_reuse).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.enums import Dataflow
from simulator.kernels import codes
from simulator.mapping.dataflow import COLS, GEOMETRIES, ROWS, Fold, PassWork, geometry_of

OS, WS, IS = (geometry_of(d) for d in (Dataflow.OS, Dataflow.WS, Dataflow.IS))


def test_every_dataflow_has_one_geometry_with_its_kernel_code():
    assert set(GEOMETRIES) == set(Dataflow)
    assert [g.kernel_code for g in (OS, WS, IS)] == [codes.OS, codes.WS, codes.IS]
    assert all(geometry_of(d).kind is d for d in Dataflow)


def test_hand_worked_geometry_of_one_gemm():
    # GEMM M=5, K=7, N=3 on a 2 x 3 array
    # OS: rows <- M (5), cols <- N (3), time K (7): grid ceil(5/2) x ceil(3/3) = 3 x 1
    # WS: rows <- K (7), cols <- N (3), time M (5): grid ceil(7/2) x 1 = 4 x 1
    # IS: rows <- K (7), cols <- M (5), time N (3): grid 4 x ceil(5/3) = 4 x 2
    assert [_shape(g, 5, 7, 3) for g in (OS, WS, IS)] == [(5, 3, 7), (7, 3, 5), (7, 5, 3)]
    assert [g.fold_grid(5, 7, 3, 2, 3) for g in (OS, WS, IS)] == [(3, 1), (4, 1), (4, 2)]
    # fold cycles: OS R + C + T - 2 = 2 + 3 + 7 - 2 = 10; WS 2R + C + T - 2 = 4 + 3 + 5 - 2 = 10;
    # IS 4 + 3 + 3 - 2 = 8
    assert [g.fold_cycles(2, 3, g.fold_shape(5, 7, 3).temporal) for g in (OS, WS, IS)] == [10, 10, 8]
    # overlapped issue interval: OS T = 7; WS max(T, R) = max(5, 2) = 5; IS max(3, 2) = 3
    assert [g.issue_interval_cycles(2, 3, g.fold_shape(5, 7, 3).temporal, True) for g in (OS, WS, IS)] == [7, 5, 3]
    # IS fold 5 of a 4 x 2 grid: M col-blocks outer, K blocks inner -> divmod(5, 4) = (1, 1):
    # K block 1 (row0 = 2), M block 1 (col0 = 3, 2 of 3 cols used), T = N = 3
    assert IS.fold_at(5, 7, 3, 2, 3, 5) == Fold(5, row0=2, col0=3, rows_used=2, cols_used=2, temporal=3)
    # its output block is C[3:5, 0:3] (2 x 3), its operands A[3:5, 2:4] and B[2:4, :]
    fold = IS.fold_at(5, 7, 3, 2, 3, 5)
    assert IS.output_block(fold, 5, 3) == (slice(3, 5), slice(0, 3))
    assert IS.output_block_shape(fold, 5, 3) == (2, 3)
    a, b = np.arange(35).reshape(5, 7), np.arange(21).reshape(7, 3)
    a_blk, b_blk = IS.operand_blocks(fold, a, b)
    assert (a_blk == a[3:5, 2:4]).all() and (b_blk == b[2:4, :]).all()
    assert IS.block_extents(a_blk, b_blk) == (2, 2, 3)
    # outer block 1 starts at M offset 3; inner K offset 2; the reused operand (no M) is B
    assert IS.block_position(fold) == (3, 2)
    assert (OS.reused_operand, WS.reused_operand, IS.reused_operand) == ("b", "a", "b")


def test_hand_worked_tensors_on_the_fold_grid():
    # the facts the schedule's residency and traffic rules ask (DESIGN.md section 3's table):
    # OS rows walk M (A's blocks), cols walk N (B's); C holds both and stays in the PEs
    assert [(g.grid_dim(ROWS), g.grid_dim(COLS)) for g in (OS, WS, IS)] == [("m", "n"), ("k", "n"), ("k", "m")]
    assert [g.stationary_tensor for g in (OS, WS, IS)] == ["c", "b", "a"]
    assert [(g.tensor_on_axis(ROWS), g.tensor_on_axis(COLS)) for g in (OS, WS, IS)] == [
        ("a", "b"),
        ("a", "c"),  # WS: A streams along the K rows, the psums C follow the N cols
        ("b", "c"),
    ]
    assert [g.axes_of("a") for g in (OS, WS, IS)] == [(ROWS,), (ROWS,), (ROWS, COLS)]
    # a super-block groups output blocks: OS either axis, WS/IS the cols (their rows are K)
    assert [g.groupable_axes for g in (OS, WS, IS)] == [(ROWS, COLS), (COLS,), (COLS,)]
    assert [g.reduction_axis for g in (OS, WS, IS)] == [None, ROWS, ROWS]
    assert [g.temporal_extent(5, 7, 3) for g in (OS, WS, IS)] == [7, 5, 3]
    assert [g.whole_middle_needs_reuse for g in (OS, WS, IS)] == [True, False, False]
    # a 4 x 3 fold streaming T = 6: OS A 4 x 6, B 6 x 3, C 4 x 3; WS A 6 (M) x 4 (K), B 4 x 3,
    # C 6 x 3; IS A 3 (M) x 4 (K), B 4 x 6 (N), C 3 x 6
    fold = Fold(0, row0=0, col0=0, rows_used=4, cols_used=3, temporal=6)
    assert [g.block_elements(fold) for g in (OS, WS, IS)] == [
        {"a": 24, "b": 18, "c": 12},
        {"a": 24, "b": 12, "c": 18},
        {"a": 12, "b": 24, "c": 18},
    ]


def _shape(g, m, k, n):
    s = g.fold_shape(m, k, n)
    return s.spatial_rows, s.spatial_cols, s.temporal


def test_hand_worked_recompute_passes():
    fold = Fold(0, row0=0, col0=0, rows_used=4, cols_used=3, temporal=6)
    # OS, two flagged rows: 2 rows x 3 cols = 6 outputs, all 6 K steps each -> 36 MACs;
    # A reads 2 rows x 6 = 12 words, B 6 x 3 = 18 words, no psum read-back
    assert OS.recompute_work(fold, 2, None, None) == PassWork(6, 6, 36, 12, 18, 0)
    # OS, 3 distinct elements on 2 rows and 2 cols: A 2 x 6, B 6 x 2, 3 outputs x 6 steps
    assert OS.recompute_work(fold, 2, 2, 3) == PassWork(6, 3, 18, 12, 12, 0)
    # WS, two flagged output rows (= 2 temporal steps of M) over all 3 active cols: 6 outputs,
    # MACs 4 PE rows x 3 cols x 2 steps = 24; A streams 4 x 2 = 8 words, B stationary 4 x 3 = 12
    assert WS.recompute_work(fold, 2, None, None) == PassWork(2, 6, 24, 8, 12, 6)
    # IS, two flagged output rows (= 2 array cols of M) over all 6 steps of N: 12 outputs,
    # MACs 4 x 2 x 6 = 48; A stationary 4 x 2 = 8, B streams 4 x 6 = 24
    assert IS.recompute_work(fold, 2, None, None) == PassWork(6, 12, 48, 8, 24, 12)


# -- the per-dataflow reference ------------------------------------------------------------------
def ref_shape(df, m, k, n):
    return {Dataflow.OS: (m, n, k), Dataflow.WS: (k, n, m), Dataflow.IS: (k, m, n)}[df]


def ref_blocks(df, fold_rows, fold_cols, index):
    if df is Dataflow.OS:
        return divmod(index, fold_cols)
    col_block, row_block = divmod(index, fold_rows)
    return row_block, col_block


def ref_mac_cycle(df, rows, r, c, tau):
    return r + c + tau + (0 if df is Dataflow.OS else rows)


def ref_output_block(df, f, m, n):
    r0, c0, ru, cu = f.row0, f.col0, f.rows_used, f.cols_used
    if df is Dataflow.OS:
        return slice(r0, r0 + ru), slice(c0, c0 + cu)
    if df is Dataflow.WS:
        return slice(0, m), slice(c0, c0 + cu)
    return slice(c0, c0 + cu), slice(0, n)


def ref_operands(df, f, a, b):
    r0, c0, ru, cu = f.row0, f.col0, f.rows_used, f.cols_used
    if df is Dataflow.OS:
        return a[r0 : r0 + ru, :], b[:, c0 : c0 + cu]
    if df is Dataflow.WS:
        return a[:, r0 : r0 + ru], b[r0 : r0 + ru, c0 : c0 + cu]
    return a[c0 : c0 + cu, r0 : r0 + ru], b[r0 : r0 + ru, :]


def ref_recompute(df, f, out_rows, out_cols, elements):
    ru, cu, t = f.rows_used, f.cols_used, f.temporal
    if df is Dataflow.OS:
        pr = ru if out_rows is None else out_rows
        pc = cu if out_cols is None else out_cols
        outputs = pr * pc if elements is None else elements
        return PassWork(t, outputs, outputs * t, pr * t, t * pc, 0)
    temporal_sel, spatial_sel = (out_rows, out_cols) if df is Dataflow.WS else (out_cols, out_rows)
    steps = t if temporal_sel is None else temporal_sel
    active = cu if spatial_sel is None else spatial_sel
    stationary, streamed = ru * active, ru * steps
    a, b = (streamed, stationary) if df is Dataflow.WS else (stationary, streamed)
    return PassWork(steps, steps * active, ru * active * steps, a, b, steps * active)


dims = st.integers(1, 9)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(Dataflow)), dims, dims, dims, st.integers(1, 4), st.integers(1, 4), st.data())
def test_geometry_matches_the_per_dataflow_reference(df, m, k, n, rows, cols, data):
    g = geometry_of(df)
    assert _shape(g, m, k, n) == ref_shape(df, m, k, n)
    fr, fc = g.fold_grid(m, k, n, rows, cols)
    a = np.arange(m * k).reshape(m, k)
    b = np.arange(k * n).reshape(k, n)
    for index in range(fr * fc):
        assert g.fold_blocks(fr, fc, index) == ref_blocks(df, fr, fc, index)
        fold = g.fold_at(m, k, n, rows, cols, index)
        assert g.output_block(fold, m, n) == ref_output_block(df, fold, m, n)
        got, want = g.operand_blocks(fold, a, b), ref_operands(df, fold, a, b)
        assert all(x.shape == y.shape and (x == y).all() for x, y in zip(got, want, strict=True))
        assert g.block_extents(*got) == (fold.rows_used, fold.cols_used, fold.temporal)
        outer, inner = g.block_position(fold)
        n_outer, n_inner = g.loop_nest(fr, fc)
        # the loop nest: fold index = outer block * inner blocks + inner block
        block = {True: (fold.row0 // rows, fold.col0 // cols), False: (fold.col0 // cols, fold.row0 // rows)}
        ob, ib = block[df is Dataflow.OS]
        assert index == ob * n_inner + ib and ob < n_outer
        assert (outer == 0) == (ob == 0) and (inner == 0) == (ib == 0)
        sel_rows = data.draw(st.none() | st.integers(1, 5))
        sel_cols = data.draw(st.none() | st.integers(1, 5))
        assert g.recompute_work(fold, sel_rows, sel_cols, None) == ref_recompute(df, fold, sel_rows, sel_cols, None)
    r, c, tau = data.draw(st.integers(0, rows - 1)), data.draw(st.integers(0, cols - 1)), data.draw(st.integers(0, 9))
    assert g.mac_cycle(rows, r, c, tau) == ref_mac_cycle(df, rows, r, c, tau)
    assert g.mac_tau(rows, r, c, g.mac_cycle(rows, r, c, tau)) == tau
    # vectorised blocks (fold tables) agree with the scalar answer
    br, bc = g.fold_blocks(fr, fc, np.arange(fr * fc))
    assert [(int(x), int(y)) for x, y in zip(br, bc, strict=True)] == [g.fold_blocks(fr, fc, i) for i in range(fr * fc)]


@pytest.mark.parametrize("df", list(Dataflow))
def test_operand_blocks_that_do_not_fit_are_refused(df):
    with pytest.raises(ValueError, match="do not fit"):
        geometry_of(df).block_extents(np.zeros((2, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        geometry_of(df).block_extents(np.zeros(3), np.zeros((3, 2)))
