"""Numba kernels against their plain-numpy twins."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config.enums import Dataflow, Datatype
from simulator.faults.codes import DATAFLOW_CODE, DATATYPE_CODE
from simulator.faults.effects import kernel_operands
from simulator.faults.operands import round_bf16
from simulator.kernels import words
from simulator.kernels.codes import BF16, FAULT_COLUMNS, FP16, FP32, STUCK0, STUCK1
from simulator.kernels.fault_effects import effect_sizes, resolve_faults
from simulator.kernels.fault_effects_reference import effect_sizes_reference, resolve_faults_reference
from simulator.mapping.fold_table import fold_table

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
WIDTHS = (8, 16, 32)


def test_int_words_match_twins() -> None:
    rng = np.random.default_rng(0)
    for width in WIDTHS:
        values = [*rng.integers(-(2 ** (width - 1)), 2 ** (width - 1), size=60).tolist(), 0, -1, 2 ** (width - 1) - 1]
        for value in values:
            for bit in range(width):
                for mode in (0, STUCK0, STUCK1):
                    got = words.modify_int(value, width, bit, mode)
                    assert got == words.modify_int_reference(value, width, bit, mode)
            assert words.wrap_bits(value + 2**width + 3, width) == words.wrap_bits_reference(value + 3, width)


def test_fp16_conversions_exhaustive() -> None:
    """Every fp16 pattern goes through the kernels' layout helpers as through their numpy twins."""
    for word in range(2**16):
        value = words.f16_value_reference(word)
        same_float(words.f16_value(word), value)
        if not np.isnan(value):
            assert words.f16_bits(value) == words.f16_bits_reference(value) == word


def test_fp32_bit_views() -> None:
    rng = np.random.default_rng(2)
    for word in [0, 0x80000000, 0x7F800000, 0xFF800000, 1, 0x00800000, *rng.integers(0, 2**32, 500).tolist()]:
        value = words.f32_from_bits_reference(word)
        if not np.isnan(value):
            same_float(words.f32_from_bits(word), value)
            assert words.f32_bits(value) == words.f32_bits_reference(value) == word


@settings(max_examples=400, **SETTINGS)
@given(st.floats(width=32, allow_nan=False), st.sampled_from([FP16, BF16, FP32]), st.integers(0, 31), st.integers(0, 2))
def test_float_words_match_twins(x: float, datatype: int, bit: int, mode: int) -> None:
    value = np.float32(x)
    if datatype == FP16:
        with np.errstate(over="ignore"):
            value = np.float32(np.float16(value))
        bit %= 16
    elif datatype == BF16:
        value = round_bf16(np.array([value]))[0]
        bit %= 16
    same_float(
        words.modify_operand_float(value, datatype, bit, mode),
        words.modify_operand_float_reference(value, datatype, bit, mode),
    )
    same_float(words.modify_f32(value, bit, mode), words.modify_f32_reference(value, bit, mode))


def same_float(got: float, want: float) -> None:
    """Bit-identical, or both NaN (a float32 NaN's payload does not survive the trip to Python)."""
    if np.isnan(want):
        assert np.isnan(got)
    else:
        assert np.float32(got).view(np.uint32) == np.float32(want).view(np.uint32)


def random_operands(datatype: Datatype, m: int, k: int, n: int, rng: np.random.Generator):
    if datatype is Datatype.INT8:
        return rng.integers(-128, 128, (m, k)).astype(np.int8), rng.integers(-128, 128, (k, n)).astype(np.int8)
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    if datatype is Datatype.FP16:
        return a.astype(np.float16), b.astype(np.float16)
    if datatype is Datatype.BF16:
        return round_bf16(a), round_bf16(b)
    return a.astype(np.float32), b.astype(np.float32)


def random_fault_table(rng, n_faults, n_folds, rows, cols, temporal, datatype: Datatype) -> np.ndarray:
    """Faults anywhere (also on unused PEs and at cycles without a MAC, which must be masked)."""
    table = np.empty((n_faults, FAULT_COLUMNS), np.int64)
    table[:, 0] = rng.integers(0, n_folds, n_faults)
    table[:, 1] = rng.integers(0, rows, n_faults)
    table[:, 2] = rng.integers(0, cols, n_faults)
    table[:, 3] = rng.integers(-2, 2 * rows + cols + temporal + 2, n_faults)
    table[:, 4] = rng.integers(0, 4, n_faults)
    widths = np.array([32, datatype.product_bits, datatype.operand_bits, datatype.operand_bits])
    table[:, 5] = rng.integers(0, widths[table[:, 4]])
    table[:, 6] = rng.choice([0, 0, 0, STUCK0, STUCK1], n_faults)
    return table


def run_both(dataflow, datatype, rows, cols, a, b, faults):
    ops = kernel_operands(datatype, a, b)
    folds = fold_table(dataflow, a.shape[0], a.shape[1], b.shape[1], rows, cols)
    flow = DATAFLOW_CODE[dataflow]
    sizes = effect_sizes(flow, rows, folds.table, faults)
    assert np.array_equal(sizes, effect_sizes_reference(flow, rows, folds.table, faults))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    out = []
    for kernel in (resolve_faults, resolve_faults_reference):
        total = int(offsets[-1])
        pos = np.full((total, 4), -7, np.int64)
        d_int = np.zeros(total if datatype.is_integer else 0, np.int64)
        d_float = np.zeros(0 if datatype.is_integer else total, np.float64)
        kernel(
            ops.a,
            ops.b,
            ops.a_t,
            ops.b_t,
            DATATYPE_CODE[datatype],
            flow,
            rows,
            folds.table,
            faults,
            offsets,
            pos,
            d_int,
            d_float,
        )
        out.append((pos, d_int if datatype.is_integer else d_float))
    return out


@settings(max_examples=600, **SETTINGS)
@given(
    st.sampled_from(list(Dataflow)),
    st.sampled_from(list(Datatype)),
    st.integers(1, 9),
    st.integers(1, 9),
    st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20)),
    st.integers(0, 2**32 - 1),
)
def test_resolve_kernel_matches_twin(dataflow, datatype, rows, cols, mkn, seed) -> None:
    rng = np.random.default_rng(seed)
    m, k, n = mkn
    a, b = random_operands(datatype, m, k, n, rng)
    folds = fold_table(dataflow, m, k, n, rows, cols)
    faults = random_fault_table(rng, 12, len(folds), rows, cols, folds.temporal, datatype)
    (pos, delta), (pos_ref, delta_ref) = run_both(dataflow, datatype, rows, cols, a, b, faults)
    assert np.array_equal(pos, pos_ref)
    if datatype.is_integer:
        assert np.array_equal(delta, delta_ref)
    else:  # same operations in the same order: bit-identical
        assert np.array_equal(delta, delta_ref, equal_nan=True)


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_kernel_on_vit_like_shape_matches_twin(dataflow: Dataflow) -> None:
    """A longer chain (K = 96) on a 16 x 16 array, int8 and fp16."""
    rng = np.random.default_rng(5)
    for datatype in (Datatype.INT8, Datatype.FP16):
        a, b = random_operands(datatype, 40, 96, 36, rng)
        folds = fold_table(dataflow, 40, 96, 36, 16, 16)
        faults = random_fault_table(rng, 40, len(folds), 16, 16, folds.temporal, datatype)
        (pos, delta), (pos_ref, delta_ref) = run_both(dataflow, datatype, 16, 16, a, b, faults)
        assert np.array_equal(pos, pos_ref)
        assert np.array_equal(delta, delta_ref, equal_nan=not datatype.is_integer)


def test_datatype_codes_are_distinct() -> None:
    assert sorted(DATATYPE_CODE.values()) == [0, 1, 2, 3] and DATATYPE_CODE[Datatype.FP32] == FP32
