"""Checksum math: predicted = actual on clean folds, deviations = sums of errors, fp bound."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.abft.checksum import (
    FP32_UNIT_ROUNDOFF,
    actual_checksums,
    block_deviations,
    fp_tolerances,
    output_scale,
    predicted_checksums,
)
from simulator.config.enums import Dataflow
from simulator.faults.operands import round_bf16
from simulator.mapping.tiling import fold_operands, iter_folds

int8s = st.integers(-128, 127)


@settings(max_examples=300, deadline=None)
@given(
    df=st.sampled_from(list(Dataflow)),
    m=st.integers(1, 12), k=st.integers(1, 12), n=st.integers(1, 12),
    rows=st.integers(1, 5), cols=st.integers(1, 5), seed=st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_clean_int8_folds_never_alarm(df, m, k, n, rows, cols, seed):
    """Integer checksums are exact: on every clean fold predicted == actual (tolerance 0)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, n)).astype(np.int8)
    for fold in iter_folds(df, m, k, n, rows, cols):
        ab, bb = fold_operands(df, fold, a, b)
        c = (ab.astype(np.int64) @ bb.astype(np.int64)).astype(np.int32)  # int32 accumulator
        pr, pc = predicted_checksums(ab, bb)
        ar, ac = actual_checksums(c)
        np.testing.assert_array_equal(ar - pr, 0)
        np.testing.assert_array_equal(ac - pc, 0)


@settings(max_examples=300, deadline=None)
@given(
    n_rows=st.integers(1, 9), n_cols=st.integers(1, 9), n_err=st.integers(1, 6),
    block=st.tuples(st.integers(0, 4), st.integers(0, 4)), seed=st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_deviations_equal_checksum_differences(n_rows, n_cols, n_err, block, seed):
    """RSD/CSD from sparse deltas equal actual - predicted of the corrupted block, per check block."""
    rng = np.random.default_rng(seed)
    clean = rng.integers(-(2**20), 2**20, (n_rows, n_cols))
    rows = rng.integers(0, n_rows, n_err)
    cols = rng.integers(0, n_cols, n_err)
    delta = rng.choice([-(2**31), -7, -1, 1, 3, 2**30], n_err).astype(np.int64)
    faulty = clean.copy()
    np.add.at(faulty, (rows, cols), delta)
    br, bc = block[0] or n_rows, block[1] or n_cols
    blocks = {(b.row0, b.col0): b for b in block_deviations(rows, cols, delta, (n_rows, n_cols), block)}
    for r0 in range(0, n_rows, br):
        for c0 in range(0, n_cols, bc):
            sub = (faulty - clean)[r0 : r0 + br, c0 : c0 + bc]
            if (r0, c0) not in blocks:  # no error in this block: no deviation reported
                assert (r0 // br, c0 // bc) not in set(zip((rows // br).tolist(), (cols // bc).tolist(), strict=True))
                continue
            dev = blocks[(r0, c0)]
            np.testing.assert_array_equal(dev.rsd, sub.sum(axis=1))
            np.testing.assert_array_equal(dev.csd, sub.sum(axis=0))
            assert dev.msd_signed == sub.sum() and dev.msd_abs == np.abs(sub.sum(axis=1)).sum()


def test_single_error_flags_its_row_and_column_by_hand():
    # a 3x4 block with one error of -5 at (1, 2): RSD = [0, -5, 0], CSD = [0, 0, -5, 0]
    (dev,) = block_deviations(np.array([1]), np.array([2]), np.array([-5]), (3, 4))
    assert dev.rsd.tolist() == [0, -5, 0] and dev.csd.tolist() == [0, 0, -5, 0]
    assert dev.flagged_rows.tolist() == [1] and dev.flagged_cols.tolist() == [2]
    assert dev.msd_signed == -5 and dev.msd_abs == 5 and dev.detected


def test_blocking_splits_checks():
    # 4x4 output, 2x2 blocks; errors at (0,0) and (3,3) land in blocks (0,0) and (2,2)
    devs = block_deviations(np.array([0, 3]), np.array([0, 3]), np.array([1, 2]), (4, 4), (2, 2))
    assert [(d.row0, d.col0) for d in devs] == [(0, 0), (2, 2)]
    assert devs[1].flagged_rows.tolist() == [3] and devs[1].flagged_cols.tolist() == [3]


def _fp32_hardware_checks(a: np.ndarray, b: np.ndarray):
    """What fp32 checksum hardware computes: C, A (B e), (e^T A) B, C e, e^T C, all in fp32."""
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    c = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):  # the array's accumulation order, k ascending
        c += np.outer(a32[:, k], b32[k, :]).astype(np.float32)
    pred_rows = np.zeros(a.shape[0], np.float32)
    be = np.zeros(a.shape[1], np.float32)
    for j in range(b.shape[1]):
        be += b32[:, j]
    for k in range(a.shape[1]):
        pred_rows += a32[:, k] * be[k]
    actual_rows = np.zeros(a.shape[0], np.float32)
    for j in range(b.shape[1]):
        actual_rows += c[:, j]
    return pred_rows.astype(np.float64), actual_rows.astype(np.float64)


@pytest.mark.parametrize("datatype", ["fp16", "bf16", "fp32"])
def test_fp_bound_gives_no_false_alarm_on_clean_gemms(datatype):
    rng = np.random.default_rng(7)
    worst = 0.0
    for trial in range(60):
        m, k, n = rng.integers(1, 40, 3)
        a = rng.standard_normal((m, k)) * rng.choice([0.02, 1, 30])
        b = rng.standard_normal((k, n)) * rng.choice([0.02, 1])
        if datatype == "fp16":
            a, b = a.astype(np.float16), b.astype(np.float16)
        elif datatype == "bf16":
            a, b = round_bf16(a.astype(np.float32)), round_bf16(b.astype(np.float32))
        else:
            a, b = a.astype(np.float32), b.astype(np.float32)
        pred, actual = _fp32_hardware_checks(a, b)
        tol_rows, _ = fp_tolerances(a, b, factor=2.0)
        dev = np.abs(actual - pred)
        assert np.all(dev <= tol_rows), f"false alarm at trial {trial}"
        worst = max(worst, float(np.max(dev / np.maximum(tol_rows, 1e-300))))
    assert worst < 1.0  # how close the observed round-off comes to the bound


def test_fp_tolerance_by_hand():
    # A = [[1, -2]], B = [[3], [4]]: |A||B|e = 1*3 + 2*4 = 11; K=2, n=1 -> 2*(2+1)*u*11
    rows, cols = fp_tolerances(np.array([[1.0, -2.0]]), np.array([[3.0], [4.0]]), 2.0)
    assert rows[0] == pytest.approx(2 * 3 * FP32_UNIT_ROUNDOFF * 11)
    assert cols[0] == pytest.approx(2 * 3 * FP32_UNIT_ROUNDOFF * 11)  # K=2, m=1


def test_output_scale_is_rms_for_independent_operands():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((300, 256)) * 3, rng.standard_normal((256, 300)) * 0.5
    rms = np.sqrt(np.mean((a @ b) ** 2))
    assert output_scale(a, b) == pytest.approx(rms, rel=0.05)
    assert output_scale(a, b) == pytest.approx(np.sqrt(256 * np.mean(a**2) * np.mean(b**2)))
