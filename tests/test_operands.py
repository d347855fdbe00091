"""Synthetic and user-supplied operands: dtypes, scales, ViT-like statistics, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.enums import Datatype
from simulator.faults.operands import (
    INT8_WEIGHT_SIGMAS,
    WEIGHT_STD,
    _gelu,
    _int8_gaussian_table,
    _int8_weights,
    _layernorm_rows,
    _softmax_rows,
    operands_from_arrays,
    quantise_int8,
    real_operands,
    round_bf16,
    synthetic_int8_transposed,
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


@pytest.mark.parametrize("kind", GEMM_KINDS)
def test_int8_transposed_operands_are_synthetic_operands(kind: str) -> None:
    """synthetic_int8_transposed: the values of synthetic_operands(INT8), B handed over as B^T."""
    gemm = Gemm("g", kind, 13, 40, 21, count=3)
    want = synthetic_operands(gemm, Datatype.INT8, seed=7, gemm_index=2, instance=1)
    got = synthetic_int8_transposed(gemm, seed=7, gemm_index=2, instance=1)
    assert got.a.flags.c_contiguous and got.b_t.flags.c_contiguous and got.b_t.shape == (21, 40)
    assert np.array_equal(got.a, want.a) and np.array_equal(got.b, want.b)
    assert (got.a_scale, got.b_scale) == (want.a_scale, want.b_scale)
    again = got.gemm_operands()
    assert again.b.flags.c_contiguous and np.array_equal(again.b, want.b)
    with pytest.raises(ValueError):
        synthetic_int8_transposed(gemm, seed=7, gemm_index=2, instance=3)


def test_in_place_generators_match_their_expressions() -> None:
    """The in-place GELU, softmax, LayerNorm rows and quantisation give the bits of the plain numpy
    expressions they stand for (written out here as the reference)."""
    x = np.random.default_rng(3).standard_normal((23, 301), dtype=np.float32)
    c = np.float32(np.sqrt(2.0 / np.pi))
    want = np.float32(0.5) * x * (np.float32(1.0) + np.tanh(c * (x + np.float32(0.044715) * x**3)))
    assert np.array_equal(_gelu(x.copy()), want)
    logits = np.float32(2.0) * x
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    assert np.array_equal(_softmax_rows(logits.copy()), e / e.sum(axis=1, keepdims=True))
    rows = _layernorm_rows(np.random.default_rng(4), 23, 301)
    rng = np.random.default_rng(4)
    y = rng.standard_normal((23, 301), dtype=np.float32)
    y = (y - y.mean(axis=1, keepdims=True)) / (y.std(axis=1, keepdims=True) + np.float32(1e-6))
    y[:, rng.random(301) < 0.01] *= 6.0
    assert np.array_equal(rows, y)
    for v in (x, x.astype(np.float64), np.array([[0.0, -0.0]], np.float32), np.array([[np.nan, 1.0]])):
        peak = float(np.max(np.abs(v)))
        scale = peak / 127.0 if peak > 0.0 and np.isfinite(peak) else 1.0
        scaled = v * v.dtype.type(1.0 / scale) if v.dtype == np.float32 else v / scale
        with np.errstate(invalid="ignore"):
            q, s = quantise_int8(v)
            ref = np.clip(np.rint(scaled), -127, 127).astype(np.int8)
        assert s == scale and np.array_equal(q, ref)


def test_operand_cache_builds_b_from_b_transposed_only_when_asked() -> None:
    """OperandCache, int8: the kernels' A and B^T, the output scale and (on request) the GemmOperands
    are those of synthetic_operands; B itself is not held until a path asks for it."""
    from simulator import api
    from simulator.abft.checksum import output_scale
    from simulator.mapping.schedule import schedule_gemms
    from simulator.mapping.tiling import fold_operands, iter_folds
    from simulator.verify.operand_cache import OperandCache

    hw = api.resolve_hw("edge_32x32")
    gemms = [Gemm("w", "fc1", 40, 70, 33, count=2), Gemm("x", "qk", 20, 16, 20, count=2)]
    cache = OperandCache(hw, schedule_gemms(gemms, hw), 11)
    for index, gemm in enumerate(gemms):
        want = synthetic_operands(gemm, Datatype.INT8, 11, index, 1)
        kernel = cache.kernel(index, 1)
        assert np.array_equal(kernel.a, want.a) and np.array_equal(kernel.b_t, want.b.T) and kernel.b.size == 0
        assert cache.scale(index, 1) == output_scale(want.a, want.b)
        arr = hw.array
        for fold in iter_folds(arr.dataflow, gemm.m, gemm.k, gemm.n, arr.rows, arr.cols, cache.schedules[index].order):
            a_blk, b_blk = cache.fold_blocks(index, 1, fold)  # views of A and of B^T transposed
            want_a, want_b = fold_operands(hw.array.dataflow, fold, want.a, want.b)
            assert np.array_equal(a_blk, want_a) and np.array_equal(b_blk, want_b)
        assert not cache._operands  # B not built yet
        ops = cache.operands(index, 1)
        assert np.array_equal(ops.b, want.b) and ops.b.flags.c_contiguous
        assert (ops.a_scale, ops.b_scale) == (want.a_scale, want.b_scale) and ops.a is kernel.a
        assert cache.operands(index, 1) is ops and cache.kernel(index, 1) is kernel
        cache._operands.clear()


def test_operand_cache_tokens_name_values_and_memo_computes_each_key_once() -> None:
    """OperandCache.token: one int per value (equal specs built apart share it, so the policies of a
    run share their draws), stable per object; memo: compute() once per key, None results included."""
    from simulator.config.fault_spec import FaultSpec
    from simulator.config.loader import load_hw
    from simulator.mapping.schedule import schedule_gemms
    from simulator.verify.operand_cache import OperandCache

    hw = load_hw("edge_32x32")
    cache = OperandCache(hw, schedule_gemms([Gemm("g", "fc1", 8, 8, 8)], hw), 0)
    spec = FaultSpec(ber=1e-6, seed=3)
    twin, other = spec.model_copy(), spec.model_copy(update={"seed": 4})
    assert twin is not spec and cache.token(twin) == cache.token(spec) == cache.token(spec)
    assert cache.token(other) != cache.token(spec)
    calls: list[int] = []
    for _ in range(3):
        assert cache.memo(("x", cache.token(spec)), lambda: calls.append(1)) is None
    assert len(calls) == 1
