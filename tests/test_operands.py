"""Synthetic and user-supplied operands: dtypes, scales, ViT-like statistics, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.enums import Datatype
from simulator.faults import portable_math
from simulator.faults.operands import (
    OPERAND_LAWS,
    TABLE_SIZE,
    WEIGHT_STD,
    code_table,
    operands_from_arrays,
    quantise_int8,
    real_operands,
    round_bf16,
    synthetic_int8_transposed,
    synthetic_operands,
    uint16_draws,
)
from simulator.workload.gemm import GEMM_KINDS, Gemm
from simulator.workload.kinds import BUILTIN_KINDS, Statistics

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
    if datatype is Datatype.INT8:  # codes of each law, with its fixed scale
        kind_ = BUILTIN_KINDS[kind]
        assert ops.a_scale == OPERAND_LAWS[kind_.a_statistics].peak / 127
        assert ops.b_scale == OPERAND_LAWS[kind_.b_statistics].peak / 127
        assert np.isin(ops.a, code_table(kind_.a_statistics, gemm.k, kind_.a_statistics is Statistics.LAYERNORM)).all()
        assert np.isin(ops.b, code_table(kind_.b_statistics)).all() and np.abs(ops.b.astype(int)).max() <= 127
    else:
        assert ops.a_scale == ops.b_scale == 1.0
        assert np.all(np.isfinite(ops.a)) and np.all(np.isfinite(ops.b))
    if datatype is Datatype.BF16:
        assert not np.any(ops.a.view(np.uint32) & 0xFFFF) and not np.any(ops.b.view(np.uint32) & 0xFFFF)


def test_vit_like_scales() -> None:
    rng = np.random.default_rng(0)
    a, b = real_operands(Gemm("g", "qkv", 197, 768, 256), rng)
    assert abs(np.mean(a)) < 0.05 and abs(np.std(b) - WEIGHT_STD) < 0.002
    loud = np.abs(a).max(axis=0) > 7  # outlier channels (x 6) stand out over 197 tokens
    assert 1 <= loud.sum() <= 25 and 0.9 < np.std(a[:, ~loud]) < 1.1 and 5 < np.std(a[:, loud]) < 7
    a, _ = real_operands(Gemm("g", "fc2", 197, 512, 8), rng)
    assert a.min() > -0.2 and np.mean(a) > 0.2 and np.mean(a > 0) > 0.45  # GELU: skewed non-negative
    a, _ = real_operands(Gemm("g", "av", 197, 197, 64), rng)
    assert a.min() >= 0 and a.max() <= 1 and 0.5 / 197 < a.mean() < 2 / 197  # softmax entries, mean ~ 1/K
    assert 0.5 < a.sum(axis=1).mean() < 2


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


def test_normal_code_tables_follow_the_quantised_normal() -> None:
    """Code frequencies of the weight (and gaussian) table against N(0, 1) rounded at 127 / 4.5 codes
    per sigma: the quantile table gives each code its probability to within one entry."""
    import math

    table = code_table(Statistics.WEIGHTS)
    assert table.size == TABLE_SIZE and not table.flags.writeable and np.all(np.diff(table.astype(int)) >= 0)
    assert np.array_equal(table, code_table(Statistics.GAUSSIAN))  # the same codes, scaled 0.02 vs 1
    step = 4.5 / 127
    for code in (0, 1, 10, 28, 60, 90, 120):
        lo, hi = (code - 0.5) * step, (code + 0.5) * step
        p = 0.5 * (math.erf(hi / math.sqrt(2)) - math.erf(lo / math.sqrt(2)))
        assert abs(np.count_nonzero(table == code) / TABLE_SIZE - p) <= 1 / TABLE_SIZE
    ops = synthetic_operands(Gemm("w", "fc1", 4, 768, 3072), Datatype.INT8, 0, 0, 0)
    assert abs(np.std(ops.b * ops.b_scale) - WEIGHT_STD) < 2e-4 and abs(np.mean(ops.b)) < 0.05


@pytest.mark.parametrize("stats", list(Statistics))
def test_code_tables_match_quantised_draws_of_the_law(stats: Statistics) -> None:
    """Each law's code frequencies against an independent Monte Carlo: 2 M normal draws pushed through
    the law written out here in plain numpy and quantised at its peak; within 5 sigma per code."""
    k = 197
    z = np.random.default_rng(5).standard_normal(2_000_000)
    plain = {
        Statistics.GELU: 0.5 * z * (1 + np.tanh(np.sqrt(2 / np.pi) * (z + 0.044715 * z**3))),
        Statistics.RELU: np.maximum(z, 0),
        Statistics.SOFTMAX: np.exp(2 * z) / (np.exp(2 * z) + (k - 1) * np.exp(2.0)),
        Statistics.ATTENTION_OUTPUT: 0.5 * z,
        Statistics.WEIGHTS: 0.02 * z,
    }.get(stats, z)
    law = OPERAND_LAWS[stats]
    cases = [(plain, code_table(stats, k))]
    if stats is Statistics.LAYERNORM:  # outlier channels: 6 z on the same scale
        cases.append((6 * z, code_table(stats, k, outlier=True)))
    for values, table in cases:
        codes = np.clip(np.rint(values * 127 / law.peak), -127, 127).astype(int)
        want = np.bincount(codes + 127, minlength=255) / z.size
        got = np.bincount(table.astype(int) + 127, minlength=255) / TABLE_SIZE
        sigma = np.sqrt(want * (1 - want) / z.size)
        assert np.all(np.abs(got - want) <= 5 * sigma + 1 / TABLE_SIZE)


def test_portable_exp_and_tanh_are_accurate() -> None:
    """portable_math against numpy's (CPU-specific) exp and tanh: a few ulp over the range used."""
    x = np.concatenate([np.linspace(-40, 40, 100_001), [0.0, -0.0, 1e-300, 709.0, -745.0, 1e-8]])
    assert np.max(np.abs(portable_math.exp(x) / np.exp(x) - 1)) < 4e-16
    assert portable_math.exp(np.array([0.0]))[0] == 1.0 and portable_math.exp(np.array([-800.0]))[0] < 1e-320
    assert np.max(np.abs(portable_math.tanh(x) - np.tanh(x))) < 4e-16
    assert np.array_equal(np.signbit(portable_math.tanh(np.array([-0.0, 0.0]))), [True, False])


def test_synthetic_operands_have_the_same_bits_on_every_cpu() -> None:
    """Digests of synthetic operands, int8 and fp16, recorded on an AVX-512 machine: a CPU whose
    numpy dispatches exp / tanh / power differently must still produce these bytes (operands are
    integer table lookups and IEEE basic operations only)."""
    import hashlib

    digests = {}
    for datatype in (Datatype.INT8, Datatype.FP16, Datatype.BF16):
        for kind in ("qkv", "fc2", "av", "qk", "proj", "conv", "patch_embed"):
            ops = synthetic_operands(Gemm("g", kind, 37, 197, 29), datatype, seed=2023, gemm_index=3, instance=0)
            digests[f"{datatype.value}.{kind}"] = hashlib.sha256(ops.a.tobytes() + ops.b.tobytes()).hexdigest()[:12]
    assert digests == DIGESTS


DIGESTS = {
    "int8.qkv": "edae759c80b7",
    "int8.fc2": "39b194ed0177",
    "int8.av": "df78d3356d7a",
    "int8.qk": "d9e433c1a48a",
    "int8.proj": "d9e433c1a48a",
    "int8.conv": "03cc09ae5962",
    "int8.patch_embed": "d9e433c1a48a",
    "fp16.qkv": "67ea03178a7b",
    "fp16.fc2": "3def8afca011",
    "fp16.av": "20309b2c0a2c",
    "fp16.qk": "7ac7a7bd2f07",
    "fp16.proj": "de9180bf1337",
    "fp16.conv": "bd8e8f70a0c8",
    "fp16.patch_embed": "7aeab3461165",
    "bf16.qkv": "8be062cd9c87",
    "bf16.fc2": "33285fdc5c7a",
    "bf16.av": "f1bdd5d965ee",
    "bf16.qk": "37cf703b2dea",
    "bf16.proj": "ebc27ad66805",
    "bf16.conv": "ecef83855a3b",
    "bf16.patch_embed": "e6b9ac1c1c18",
}


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


def test_quantise_int8_equals_the_plain_formula() -> None:
    """quantise_int8 (one float temporary rounded and clipped in place) gives the bits of
    clip(rint(x / scale)) with scale = max |x| / 127, for float32, float64, signed zeros and NaN."""
    x = np.random.default_rng(3).standard_normal((23, 301), dtype=np.float32)
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


def _advanced(rng: np.random.Generator, before: str) -> np.random.Generator:
    """rng after a draw that leaves PCG64's kept 32-bit half set (`odd32`) or not (`double`, `none`)."""
    if before == "odd32":
        rng.integers(0, 2**32, size=3, dtype=np.uint32)
        assert rng.bit_generator.state["has_uint32"]
    elif before == "double":
        rng.random(5)
    return rng


@pytest.mark.parametrize("before", ["none", "odd32", "double"])
@pytest.mark.parametrize(
    "shape", [(0, 3), (1, 1), (1, 2), (1, 3), (2, 2), (1, 5), (3, 2), (7, 1), (37, 197), (197, 29)]
)
def test_uint16_draws_are_numpys_integers_and_leave_the_same_state(shape, before) -> None:
    """Values, dtype, layout, the bit generator's whole state after (the kept half included) and the
    next draws of either width all equal numpy's own full-range uint16 draw, for every count modulo 4
    with and without a kept half before."""
    want_rng = _advanced(np.random.default_rng(11), before)
    got_rng = _advanced(np.random.default_rng(11), before)
    want = want_rng.integers(0, TABLE_SIZE, size=shape, dtype=np.uint16)
    got = uint16_draws(got_rng, shape)
    assert got.dtype == np.uint16 and got.shape == shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)
    assert got_rng.bit_generator.state == want_rng.bit_generator.state
    np.testing.assert_array_equal(got_rng.integers(0, 2**32, 3, np.uint32), want_rng.integers(0, 2**32, 3, np.uint32))
    assert got_rng.random() == want_rng.random()


def test_uint16_draws_by_hand() -> None:
    """Two raw 64-bit outputs read as little-endian uint16: low half first."""
    raw = np.random.Generator(np.random.PCG64(3)).bit_generator.random_raw(2)
    words = [(int(r) >> (16 * i)) & 0xFFFF for r in raw for i in range(4)]
    assert uint16_draws(np.random.Generator(np.random.PCG64(3)), (2, 4)).tolist() == [words[:4], words[4:]]


def test_uint16_draws_of_another_bit_generator_are_numpys() -> None:
    want = np.random.Generator(np.random.Philox(5)).integers(0, TABLE_SIZE, size=(3, 7), dtype=np.uint16)
    np.testing.assert_array_equal(uint16_draws(np.random.Generator(np.random.Philox(5)), (3, 7)), want)
