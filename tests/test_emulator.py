"""Tests of the cycle-level reference emulator: clean folds, hand-worked faults, wrap-around, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.faults.codes import PE_SITES
from simulator.faults.emulator import emulate_fold
from simulator.faults.model import PeFault
from simulator.mapping.dataflow import fold_cycles
from simulator.mapping.tiling import fold_operands, fold_output_block, iter_folds

OS, WS, IS = Dataflow.OS, Dataflow.WS, Dataflow.IS
INT8, FP16, BF16, FP32 = Datatype.INT8, Datatype.FP16, Datatype.BF16, Datatype.FP32
A_REG, B_REG, MULT, ACC = Site.A_REG, Site.B_REG, Site.MULT, Site.ACC


def flip(row: int, col: int, cycle: int, site: Site, bit: int) -> PeFault:
    return PeFault(row=row, col=col, cycle=cycle, site=site, bit=bit)


def stuck(row: int, col: int, site: Site, bit: int, value: int) -> PeFault:
    return PeFault(row=row, col=col, cycle=0, site=site, bit=bit, kind=FaultKind.PERMANENT, stuck_value=value)


def i8(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int8)


def wrap32(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def random_operand(datatype: Datatype, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    if datatype is INT8:
        return rng.integers(-128, 128, shape).astype(np.int8)
    x = rng.normal(0.0, 2.0, shape).astype(np.float32)
    if datatype is FP16:
        return x.astype(np.float16)
    if datatype is BF16:
        return (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    return x


def reference(datatype: Datatype, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Every dataflow's fold output is a_block @ b_block (contracted index ascending)."""
    if datatype is INT8:
        return wrap32(a.astype(np.int64) @ b.astype(np.int64))
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        out = out + a32[:, k : k + 1] * b32[k : k + 1, :]  # float32 product, float32 RNE add
    return out


def blocks(dataflow: Dataflow, ru: int, cu: int, temporal: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Operand block shapes of a fold (as tiling.fold_operands returns them)."""
    if dataflow is OS:
        return (ru, temporal), (temporal, cu)
    if dataflow is WS:
        return (temporal, ru), (ru, cu)
    return (cu, ru), (ru, temporal)


def same_bits(x: np.ndarray, y: np.ndarray) -> bool:
    return (
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x.view(f"u{x.itemsize}"), y.view(f"u{y.itemsize}"))
    )


# --- clean folds -------------------------------------------------------------------------------


@pytest.mark.parametrize("datatype", list(Datatype))
@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize(
    ("rows", "cols", "ru", "cu", "temporal"), [(4, 3, 4, 3, 5), (4, 3, 2, 1, 6), (3, 5, 3, 2, 1), (1, 1, 1, 1, 4)]
)
def test_clean_fold_matches_reference_and_fold_cycles(dataflow, datatype, rows, cols, ru, cu, temporal):
    rng = np.random.default_rng([rows, cols, ru, cu, temporal])
    a_shape, b_shape = blocks(dataflow, ru, cu, temporal)
    a, b = random_operand(datatype, a_shape, rng), random_operand(datatype, b_shape, rng)
    result = emulate_fold(dataflow, datatype, rows, cols, a, b)
    assert result.out.dtype == datatype.acc_numpy_dtype
    assert same_bits(result.out, reference(datatype, a, b))
    assert result.cycles == fold_cycles(dataflow, rows, cols, temporal)


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_folds_of_a_gemm_assemble_the_product(dataflow):
    m, k, n, rows, cols = 7, 9, 5, 3, 4
    rng = np.random.default_rng(7)
    a, b = random_operand(INT8, (m, k), rng), random_operand(INT8, (k, n), rng)
    c = np.zeros((m, n), np.int64)
    for fold in iter_folds(dataflow, m, k, n, rows, cols):
        a_block, b_block = fold_operands(dataflow, fold, a, b)
        result = emulate_fold(dataflow, INT8, rows, cols, a_block, b_block)
        assert result.cycles == fold_cycles(dataflow, rows, cols, fold.temporal)
        c[fold_output_block(dataflow, fold, m, n)] += result.out
    np.testing.assert_array_equal(c, a.astype(np.int64) @ b.astype(np.int64))


def test_int32_accumulation_wraps_like_hardware():
    # K = 2^17 products of (-128)(-128) = 2^14 sum to 2^31, one past INT32_MAX: wraps to -2^31.
    # Column 1: 2^17 * (-128 * 127) = -2130706432 fits, no wrap.
    k = 2**17
    a = np.full((1, k), -128, np.int8)
    b = np.full((k, 2), -128, np.int8)
    b[:, 1] = 127
    out = emulate_fold(OS, INT8, 1, 2, a, b).out
    np.testing.assert_array_equal(out, [[-(2**31), -2130706432]])
    np.testing.assert_array_equal(out, wrap32(a.astype(np.int64) @ b.astype(np.int64)))


# --- hand-worked transient faults ----------------------------------------------------------------

# OS 2x2, int8: A = [[1,2],[3,4]], B = [[5,6],[7,8]], C = [[19,22],[43,50]].
# PE(r, c) does the MAC of k at cycle r + c + k.
A2, B2 = i8([[1, 2], [3, 4]]), i8([[5, 6], [7, 8]])


def test_os_clean_hand_case():
    result = emulate_fold(OS, INT8, 2, 2, A2, B2)
    np.testing.assert_array_equal(result.out, [[19, 22], [43, 50]])
    assert result.cycles == 2 + 2 + 2 - 2


def test_os_a_reg_flip_moves_right_along_the_row():
    # PE(0,0) latches A[0,0] = 1 at cycle 0; bit 0 -> 0, delta -1, also used by PE(0,1) at cycle 1:
    # C[0,0] = 19 - B[0,0] = 14, C[0,1] = 22 - B[0,1] = 16; row 1 untouched.
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [flip(0, 0, 0, A_REG, 0)]).out
    np.testing.assert_array_equal(out, [[14, 16], [43, 50]])


def test_os_b_reg_flip_moves_down_the_column():
    # PE(0,1) latches B[1,1] = 8 at cycle 0+1+1 = 2; bit 1 -> 10, delta +2, passed to PE(1,1):
    # C[0,1] = 22 + 2*A[0,1] = 26, C[1,1] = 50 + 2*A[1,1] = 58.
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [flip(0, 1, 2, B_REG, 1)]).out
    np.testing.assert_array_equal(out, [[19, 26], [43, 58]])


def test_os_acc_sign_flip_keeps_accumulating():
    # PE(1,1) at cycle 2 (k=0): acc = 3*6 = 18, bit 31 set -> 18 - 2^31; k=1 adds 4*8 = 32:
    # C[1,1] = 50 - 2^31 = -2147483598.
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [flip(1, 1, 2, ACC, 31)]).out
    np.testing.assert_array_equal(out, [[19, 22], [43, -2147483598]])


def test_os_mult_flip_of_int16_sign_bit():
    # PE(0,0) at cycle 1 (k=1): product 2*7 = 14, bit 15 -> 14 - 32768 = -32754 (sign-extended):
    # C[0,0] = 1*5 + (-32754) = -32749.
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [flip(0, 0, 1, MULT, 15)]).out
    np.testing.assert_array_equal(out, [[-32749, 22], [43, 50]])


# WS 2x2, int8: A (M=3 x K=2) = [[1,2],[3,4],[5,6]], B = [[5,6],[7,8]], out = [[19,22],[43,50],[67,78]].
# Weights preload in cycles 0, 1; PE(r, c) does the MAC of row i at cycle 2 + r + c + i.
A3 = i8([[1, 2], [3, 4], [5, 6]])


def test_ws_stationary_weight_flip_corrupts_later_rows_of_its_column():
    # PE(1,0) holds B[1,0] = 7; at cycle 2+1+0+1 = 4 (row i=1) bit 1 -> 5, delta -2, resident:
    # out[1,0] = 43 - 2*A[1,1] = 35, out[2,0] = 67 - 2*A[2,1] = 55; out[0,0] and column 1 clean.
    out = emulate_fold(WS, INT8, 2, 2, A3, B2, [flip(1, 0, 4, B_REG, 1)]).out
    np.testing.assert_array_equal(out, [[19, 22], [35, 50], [55, 78]])


def test_ws_moving_activation_flip_corrupts_one_row_segment():
    # PE(0,0) latches A[2,0] = 5 at cycle 2+0+0+2 = 4; bit 0 -> 4, delta -1, moves right:
    # out[2,0] = 67 - B[0,0] = 62, out[2,1] = 78 - B[0,1] = 72.
    out = emulate_fold(WS, INT8, 2, 2, A3, B2, [flip(0, 0, 4, A_REG, 0)]).out
    np.testing.assert_array_equal(out, [[19, 22], [43, 50], [62, 72]])


def test_ws_psum_sign_flip_wraps_downstream():
    # A row 2 = [-5, 6]: clean out[2] = [-25+42, -30+48] = [17, 18].
    # PE(0,0) at cycle 4 writes psum -25; bit 31 cleared -> -25 + 2^31 = 2147483623; PE(1,0) at
    # cycle 5 adds 6*7 = 42 -> 2147483665, which wraps to 2147483665 - 2^32 = -2147483631
    # (= 17 - 2^31). Only out[2,0] changes.
    a = i8([[1, 2], [3, 4], [-5, 6]])
    out = emulate_fold(WS, INT8, 2, 2, a, B2, [flip(0, 0, 4, ACC, 31)]).out
    np.testing.assert_array_equal(out, [[19, 22], [43, 50], [-2147483631, 18]])


# IS 2x2, int8: A block (M=2 x K=2) = [[1,2],[3,4]] stationary (PE(r,c) holds A[c,r]);
# B block (K=2 x N=3) = [[5,6,7],[8,9,10]] streams; out = [[21,24,27],[47,54,61]].
# PE(r, c) does the MAC of column j at cycle 2 + r + c + j.
B_IS = i8([[5, 6, 7], [8, 9, 10]])


def test_is_stationary_activation_flip_corrupts_later_columns_of_its_row():
    # PE(0,1) holds A[1,0] = 3; at cycle 2+0+1+1 = 4 (j=1) bit 2 -> 7, delta +4, resident:
    # out[1,1] = 54 + 4*B[0,1] = 78, out[1,2] = 61 + 4*B[0,2] = 89; out[1,0] and row 0 clean.
    out = emulate_fold(IS, INT8, 2, 2, A2, B_IS, [flip(0, 1, 4, A_REG, 2)]).out
    np.testing.assert_array_equal(out, [[21, 24, 27], [47, 78, 89]])


def test_is_moving_weight_flip_corrupts_one_output_column():
    # PE(0,0) latches B[0,0] = 5 at cycle 2; bit 0 -> 4, delta -1, moves right to PE(0,1):
    # out[0,0] = 21 - A[0,0] = 20, out[1,0] = 47 - A[1,0] = 44.
    out = emulate_fold(IS, INT8, 2, 2, A2, B_IS, [flip(0, 0, 2, B_REG, 0)]).out
    np.testing.assert_array_equal(out, [[20, 24, 27], [44, 54, 61]])


# --- hand-worked permanent faults ----------------------------------------------------------------


def test_os_stuck_at_one_operand_bit_corrupts_everything_passing_through():
    # B column 1 = [6, 8] passes PE(0,1) with bit 0 stuck at 1 -> [7, 9], then flows to PE(1,1):
    # C[0,1] = 1*7 + 2*9 = 25, C[1,1] = 3*7 + 4*9 = 57.
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [stuck(0, 1, B_REG, 0, 1)]).out
    np.testing.assert_array_equal(out, [[19, 25], [43, 57]])


@pytest.mark.parametrize(
    ("bit", "value", "expected"),
    [
        (4, 1, 51),  # acc 0+5 = 0b101 -> 0b10101 = 21; 21+14 = 35 = 0b100011 -> 0b110011 = 51
        (1, 0, 17),  # acc 5 (bit 1 already 0); 5+14 = 19 = 0b10011 -> 0b10001 = 17
    ],
)
def test_os_stuck_accumulator_bit_is_forced_after_every_mac(bit, value, expected):
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [stuck(0, 0, ACC, bit, value)]).out
    np.testing.assert_array_equal(out, [[expected, 22], [43, 50]])


def test_accumulator_reset_is_not_a_write():
    # PE(1,1) partial sums 18 = 0b10010 and 50 = 0b110010 both have bit 4 set, so stuck-at-1 on
    # bit 4 is masked. (Forcing it on the reset value too would give 16+18 = 34 -> 50, 50+32 = 82.)
    out = emulate_fold(OS, INT8, 2, 2, A2, B2, [stuck(1, 1, ACC, 4, 1)]).out
    np.testing.assert_array_equal(out, [[19, 22], [43, 50]])


def test_stuck_bit_wins_over_a_transient_on_the_same_bit():
    # a_reg of PE(0,0) bit 0 stuck at 0: A[0,0] = 1 -> 0, A[0,1] = 2 unchanged, so
    # C[0,0] = 0*5 + 2*7 = 14, C[0,1] = 0*6 + 2*8 = 16; flipping the same bit at cycle 0 changes nothing.
    fault = stuck(0, 0, A_REG, 0, 0)
    expected = [[14, 16], [43, 50]]
    np.testing.assert_array_equal(emulate_fold(OS, INT8, 2, 2, A2, B2, [fault]).out, expected)
    both = [fault, flip(0, 0, 0, A_REG, 0)]
    np.testing.assert_array_equal(emulate_fold(OS, INT8, 2, 2, A2, B2, both).out, expected)


@pytest.mark.parametrize(
    ("row", "expected_col0"),
    [
        (1, [17, 39, 61]),  # B[1,0] = 7 -> 6: out[:,0] = 5*A[:,0] + 6*A[:,1]
        (0, [18, 40, 62]),  # B[0,0] = 5 -> 4; B[1,0] preloads through another chain, stays 7
    ],
)
def test_ws_stuck_weight_bit_corrupts_only_that_pes_weight(row, expected_col0):
    out = emulate_fold(WS, INT8, 2, 2, A3, B2, [stuck(row, 0, B_REG, 0, 0)]).out
    np.testing.assert_array_equal(out[:, 0], expected_col0)
    np.testing.assert_array_equal(out[:, 1], [22, 50, 78])


@pytest.mark.parametrize(
    ("dataflow", "a", "b", "faults"),
    [
        # OS on 3x3 with ru = cu = 2: A leaves the used columns to the right, B leaves downwards.
        (OS, A2, B2, [stuck(0, 2, A_REG, 0, 1), stuck(2, 0, B_REG, 0, 1), stuck(2, 2, ACC, 3, 1)]),
        # WS: the output leaves PE(ru-1, c); row 2 and column 2 are unused.
        (WS, A3, B2, [stuck(2, 0, ACC, 5, 1), stuck(0, 2, A_REG, 1, 1), stuck(2, 1, B_REG, 0, 1)]),
        (IS, A2, B_IS, [stuck(2, 1, ACC, 5, 1), stuck(1, 2, B_REG, 1, 1), stuck(2, 0, A_REG, 0, 1)]),
    ],
)
def test_permanent_faults_outside_the_used_pes_are_masked(dataflow, a, b, faults):
    clean = emulate_fold(dataflow, INT8, 3, 3, a, b).out
    np.testing.assert_array_equal(emulate_fold(dataflow, INT8, 3, 3, a, b, faults).out, clean)


# --- floating point ------------------------------------------------------------------------------

A2F = np.array([[1, 2], [3, 4]], np.float32)
B2F = np.array([[0.5, 1], [1.5, 2]], np.float32)  # clean C = [[3.5, 5], [7.5, 11]]


def test_fp16_exponent_bit_flips():
    a, b = A2F.astype(np.float16), B2F.astype(np.float16)
    np.testing.assert_array_equal(emulate_fold(OS, FP16, 2, 2, a, b).out, [[3.5, 5], [7.5, 11]])
    # 1.0 = 0x3C00; bit 10 (lowest exponent bit) -> 0x3800 = 0.5, moves right:
    # C[0,0] = 0.5*0.5 + 2*1.5 = 3.25, C[0,1] = 0.5*1 + 2*2 = 4.5.
    out = emulate_fold(OS, FP16, 2, 2, a, b, [flip(0, 0, 0, A_REG, 10)]).out
    np.testing.assert_array_equal(out, [[3.25, 4.5], [7.5, 11]])
    # bit 14 (top exponent bit) -> 0x7C00 = +inf: C[0,0] = C[0,1] = inf.
    out = emulate_fold(OS, FP16, 2, 2, a, b, [flip(0, 0, 0, A_REG, 14)]).out
    np.testing.assert_array_equal(out, [[np.inf, np.inf], [7.5, 11]])
    # with B[0,0] = 0: inf * 0 = NaN in C[0,0], which stays NaN.
    b0 = b.copy()
    b0[0, 0] = 0
    out = emulate_fold(OS, FP16, 2, 2, a, b0, [flip(0, 0, 0, A_REG, 14)]).out
    assert np.isnan(out[0, 0]) and out[0, 1] == np.inf


def test_fp16_product_exponent_flip():
    # PE(1,1) at cycle 3 (k=1): product 4*2 = 8.0 = 0x41000000; bit 23 -> exponent 131 -> 16.0:
    # C[1,1] = 3*1 + 16 = 19.
    a, b = A2F.astype(np.float16), B2F.astype(np.float16)
    out = emulate_fold(OS, FP16, 2, 2, a, b, [flip(1, 1, 3, MULT, 23)]).out
    np.testing.assert_array_equal(out, [[3.5, 5], [7.5, 19]])


def test_bf16_word_is_the_top_half_of_fp32():
    # bf16 bit 15 is the sign: A[0,0] = 1 -> -1, moves right: C[0,0] = -0.5 + 3 = 2.5, C[0,1] = 3.
    out = emulate_fold(OS, BF16, 2, 2, A2F, B2F, [flip(0, 0, 0, A_REG, 15)]).out
    np.testing.assert_array_equal(out, [[2.5, 3], [7.5, 11]])
    # bf16 bit 7 is the lowest exponent bit: 1.0 -> 0.5 as in the fp16 case.
    out = emulate_fold(OS, BF16, 2, 2, A2F, B2F, [flip(0, 0, 0, A_REG, 7)]).out
    np.testing.assert_array_equal(out, [[3.25, 4.5], [7.5, 11]])


def test_fp32_product_mantissa_and_psum_sign_flips():
    # OS: product 8.0 at PE(1,1) cycle 3, bit 0 -> 8 + 2^-20: C[1,1] = 11 + 2^-20 (exact in fp32).
    out = emulate_fold(OS, FP32, 2, 2, A2F, B2F, [flip(1, 1, 3, MULT, 0)]).out
    assert out[1, 1] == np.float32(11 + 2**-20) and out[1, 1] != 11
    # WS fp32, A = [[1,2],[3,4],[5,6]], B = [[5,6],[7,8]]: PE(0,1) at cycle 2+0+1+0 = 3 writes
    # psum 1*6 = 6; bit 31 -> -6; PE(1,1) adds 2*8: out[0,1] = 10 instead of 22.
    a, b = A3.astype(np.float32), B2.astype(np.float32)
    out = emulate_fold(WS, FP32, 2, 2, a, b, [flip(0, 1, 3, ACC, 31)]).out
    np.testing.assert_array_equal(out, [[19, 10], [43, 50], [67, 78]])


# --- transient faults against an independent closed form (int8, exact mod 2^32) ---------------


def flip_int(value: int, bit: int, bits: int) -> int:
    u = (value % 2**bits) ^ (1 << bit)
    return u - 2**bits if u >= 2 ** (bits - 1) else u


def expected_out(dataflow: Dataflow, a: np.ndarray, b: np.ndarray, r: int, c: int, tau: int, site: Site, bit: int):
    """Output under one transient fault, from the fault table of DESIGN.md section 4.

    Every dataflow's fold output is a_block @ b_block, and in each of them a corrupted A word
    reaches the outputs to the right of (i, j) in its row, a corrupted B word those below it.
    """
    a64, b64 = a.astype(np.int64), b.astype(np.int64)
    out = a64 @ b64
    # Per dataflow: (output index of the PE's MAC, A value, B value, its contracted index).
    if dataflow is OS:
        i, j, ka = r, c, tau
    elif dataflow is WS:
        i, j, ka = tau, c, r
    else:
        i, j, ka = c, tau, r
    av, bv = int(a64[i, ka]), int(b64[ka, j])
    if site is MULT:
        out[i, j] += flip_int(av * bv, bit, 16) - av * bv
    elif site is ACC:
        partial = int(a64[i, : ka + 1] @ b64[: ka + 1, j])
        out[i, j] += flip_int(partial, bit, 32) - partial
    elif site is A_REG:  # moving right (OS, WS) or resident for later taus (IS): later output columns
        out[i, j:] += (flip_int(av, bit, 8) - av) * b64[ka, j:]
    else:  # moving down (OS), resident for later taus (WS) or moving right (IS): later output rows
        out[i:, j] += a64[i:, ka] * (flip_int(bv, bit, 8) - bv)
    return wrap32(out)


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_random_transients_match_closed_form(dataflow):
    rows, cols, ru, cu, temporal = 4, 3, 3, 3, 5
    rng = np.random.default_rng([11, list(Dataflow).index(dataflow)])
    a_shape, b_shape = blocks(dataflow, ru, cu, temporal)
    offset = 0 if dataflow is OS else rows
    for _ in range(60):
        a, b = random_operand(INT8, a_shape, rng), random_operand(INT8, b_shape, rng)
        r, c, tau = int(rng.integers(ru)), int(rng.integers(cu)), int(rng.integers(temporal))
        site = list(Site)[int(rng.integers(4))]
        bit = int(rng.integers(site.word_bits(INT8)))
        fault = flip(r, c, offset + r + c + tau, site, bit)
        out = emulate_fold(dataflow, INT8, rows, cols, a, b, [fault]).out
        np.testing.assert_array_equal(out, expected_out(dataflow, a, b, r, c, tau, site, bit), err_msg=str(fault))


# --- invalid input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        flip(0, 0, -1, A_REG, 0),  # before the fold
        flip(0, 0, 2, A_REG, 0),  # PE(0,0): k = 2 = T, no MAC
        flip(1, 1, 1, ACC, 0),  # PE(1,1): k = -1, no MAC yet
        flip(0, 0, 99, MULT, 0),  # after the fold
        flip(2, 0, 2, A_REG, 0),  # outside the array
        flip(0, 0, 0, A_REG, 8),  # int8 operand word has bits 0..7
        flip(0, 0, 0, MULT, 16),  # int16 product word
        flip(0, 0, 0, ACC, 32),  # int32 accumulator word
        flip(0, 0, 0, B_REG, -1),
        PeFault(0, 0, 0, ACC, 0, FaultKind.PERMANENT, None),
        PeFault(0, 0, 0, ACC, 0, FaultKind.PERMANENT, 2),
        stuck(0, 2, ACC, 0, 1),  # outside the 2x2 array
    ],
)
def test_invalid_faults_raise(fault):
    with pytest.raises(ValueError):
        emulate_fold(OS, INT8, 2, 2, A2, B2, [fault])


def test_transient_outside_the_used_pes_or_in_preload_raises():
    # 3x3 WS array, ru = cu = 2: PE(2, 0) is unused; cycles 0..2 are the weight preload.
    with pytest.raises(ValueError):
        emulate_fold(WS, INT8, 3, 3, A3, B2, [flip(2, 0, 5, B_REG, 0)])
    with pytest.raises(ValueError):
        emulate_fold(WS, INT8, 3, 3, A3, B2, [flip(0, 0, 2, B_REG, 0)])
    with pytest.raises(ValueError):
        emulate_fold(OS, FP16, 2, 2, A2F.astype(np.float16), B2F.astype(np.float16), [flip(0, 0, 0, A_REG, 16)])


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_every_active_slot_accepts_a_transient(dataflow):
    a_shape, b_shape = blocks(dataflow, 2, 2, 2)
    a, b = np.ones(a_shape, np.int8), np.ones(b_shape, np.int8)
    offset = 0 if dataflow is OS else 2
    clean = emulate_fold(dataflow, INT8, 2, 2, a, b).out
    for r in range(2):
        for c in range(2):
            for tau in range(2):
                for site in PE_SITES:
                    faulty = emulate_fold(dataflow, INT8, 2, 2, a, b, [flip(r, c, offset + r + c + tau, site, 0)]).out
                    assert not np.array_equal(faulty, clean)  # bit 0 of a nonzero word always matters here


@pytest.mark.parametrize(
    ("dataflow", "datatype", "a", "b"),
    [
        (OS, INT8, A2.astype(np.int16), B2),  # wrong operand dtype
        (OS, FP16, A2F, B2F),  # fp16 needs float16 arrays
        (OS, BF16, A2F + np.float32(2**-10), B2F),  # not bf16-representable
        (OS, INT8, i8([[1, 2, 3]]), B2),  # K of A and B differ
        (WS, INT8, A3, i8([[1, 2]])),  # ru of A and B differ
        (OS, INT8, i8([[1, 2]] * 3), B2),  # ru = 3 > rows = 2
    ],
)
def test_malformed_blocks_raise(dataflow, datatype, a, b):
    with pytest.raises(ValueError):
        emulate_fold(dataflow, datatype, 2, 2, a, b)
