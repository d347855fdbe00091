"""Synthetic and user-supplied operands: dtypes, scales, ViT-like statistics, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.enums import Datatype
from simulator.faults.operands import (
    INT8_WEIGHT_SIGMAS,
    WEIGHT_STD,
    _int8_gaussian_table,
    _int8_weights,
    operands_from_arrays,
    quantise_int8,
    real_operands,
    round_bf16,
    synthetic_operands,
)
from simulator.workload.gemm import GEMM_KINDS, Gemm
from simulator.workload.kinds import BUILTIN_KINDS

STORAGE = {Datatype.INT8: np.int8, Datatype.FP16: np.float16, Datatype.BF16: np.float32, Datatype.FP32: np.float32}


@pytest.mark.parametrize("datatype", list(Datatype))
@pytest.mark.parametrize("kind", GEMM_KINDS)
def test_dtypes_shapes_and_determinism(kind: str, datatype: Datatype) -> None:
    gemm = Gemm("g", kind, 17, 24, 9, count=2)
    ops = synthetic_operands(gemm, datatype, seed=3, gemm_index=1, instance=1)
    assert ops.a.shape == (17, 24) and ops.b.shape == (24, 9)
    assert ops.a.dtype == STORAGE[datatype] and ops.b.dtype == STORAGE[datatype]
    again = synthetic_operands(gemm, datatype, seed=3, gemm_index=1, instance=1)
    assert np.array_equal(ops.a, again.a) and np.array_equal(ops.b, again.b)
    other = synthetic_operands(gemm, datatype, seed=3, gemm_index=1, instance=0)
    assert not np.array_equal(ops.a, other.a)
    if datatype is Datatype.INT8:
        assert ops.a_scale > 0 and ops.b_scale > 0
        assert np.abs(ops.a.astype(int)).max() == 127  # activations: per-tensor peak scaling
        if not BUILTIN_KINDS[kind].b_is_weight:  # activations: per-tensor peak scaling too
            assert np.abs(ops.b.astype(int)).max() == 127
        else:  # weights drawn as codes with 127 at INT8_WEIGHT_SIGMAS sigma
            assert ops.b_scale == pytest.approx(WEIGHT_STD * INT8_WEIGHT_SIGMAS / 127)
            assert np.abs(ops.b.astype(int)).max() <= 127
    else:
        assert ops.a_scale == ops.b_scale == 1.0
        assert np.all(np.isfinite(ops.a)) and np.all(np.isfinite(ops.b))
    if datatype is Datatype.BF16:
        assert not np.any(ops.a.view(np.uint32) & 0xFFFF) and not np.any(ops.b.view(np.uint32) & 0xFFFF)


def test_vit_like_scales() -> None:
    rng = np.random.default_rng(0)
    a, b = real_operands(Gemm("g", "qkv", 197, 768, 256), rng)
    assert abs(np.mean(a)) < 0.05 and 0.8 < np.std(a, axis=1).mean() < 1.5
    assert abs(np.std(b) - WEIGHT_STD) < 0.002
    a, _ = real_operands(Gemm("g", "fc2", 197, 512, 8), rng)
    assert a.min() > -0.2 and np.mean(a) > 0.2 and np.mean(a > 0) > 0.45  # GELU: skewed non-negative
    a, _ = real_operands(Gemm("g", "av", 197, 197, 64), rng)
    assert a.min() >= 0 and a.max() <= 1 and np.allclose(a.sum(axis=1), 1.0)


def test_int8_quantisation_round_trip() -> None:
    x = np.random.default_rng(1).standard_normal((50, 40))
    q, scale = quantise_int8(x)
    assert q.dtype == np.int8 and np.isclose(scale, np.abs(x).max() / 127)
    assert np.max(np.abs(q * scale - x)) <= scale / 2 + 1e-12
    assert quantise_int8(np.zeros((2, 2)))[1] == 1.0


def test_bf16_rounding_is_nearest_even() -> None:
    ones = np.float32(1.0).view(np.uint32)
    ulp_half = np.array([ones + 0x8000, ones + 0x18000, ones + 0x8001], np.uint32).view(np.float32)
    rounded = round_bf16(ulp_half).view(np.uint32)
    assert list(rounded) == [ones, ones + 0x20000, ones + 0x10000]  # ties to even, above half rounds up
    assert np.isnan(round_bf16(np.array([np.nan], np.float32))[0])
    assert np.isinf(round_bf16(np.array([np.inf], np.float32))[0])


def test_user_arrays() -> None:
    a = np.arange(12, dtype=np.int8).reshape(3, 4)
    b = np.ones((4, 2), np.int8)
    ops = operands_from_arrays(a, b, Datatype.INT8, a_scale=0.5)
    assert ops.a is not None and np.array_equal(ops.a, a) and ops.a_scale == 0.5 and ops.b_scale == 1.0
    real = np.linspace(-2, 2, 12).reshape(3, 4)
    ops = operands_from_arrays(real, real.T.copy(), Datatype.INT8)
    assert ops.a.dtype == np.int8 and np.isclose(ops.a_scale, 2 / 127)
    ops = operands_from_arrays(real, real.T, Datatype.FP16)
    assert ops.a.dtype == np.float16 and ops.b.flags.c_contiguous
    with pytest.raises(ValueError, match="A \\(M x K\\)"):
        operands_from_arrays(real, real, Datatype.FP32)
    with pytest.raises(ValueError, match="scale"):
        operands_from_arrays(real, real.T, Datatype.FP32, a_scale=2.0)
    with pytest.raises(ValueError, match="finite"):
        operands_from_arrays(np.full((2, 2), np.nan), np.ones((2, 2)), Datatype.BF16)
    with pytest.raises(ValueError, match="instance"):
        synthetic_operands(Gemm("g", "qk", 2, 2, 2), Datatype.INT8, 0, 0, instance=1)


def test_int8_weight_codes_follow_the_quantised_normal() -> None:
    """Code frequencies of the weight table against N(0, 1) rounded at 127/4.5 codes per sigma."""
    import math

    table = _int8_gaussian_table()
    assert table.size == 65536 and not table.flags.writeable
    step = INT8_WEIGHT_SIGMAS / 127
    for code in (0, 1, 10, 28, 60, 90):
        lo, hi = (code - 0.5) * step, (code + 0.5) * step
        p = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
        assert abs(np.count_nonzero(table == code) / 65536 - p) <= 1 / 65536
    w, scale = _int8_weights(np.random.default_rng(0), (768, 3072))
    assert abs(np.std(w * scale) - WEIGHT_STD) < 2e-4 and abs(np.mean(w)) < 0.05
