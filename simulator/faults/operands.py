"""GEMM operands for fault trials: seeded synthetic ones with ViT-like statistics, or user arrays.

Each GEMM kind names its operands' statistics (simulator/workload/kinds.py). Every statistic is a
law: the real value as an elementwise function of a standard normal z (OPERAND_LAWS), and the real
value that int8 code 127 stands for:

| statistics       | real value of z ~ N(0, 1)                           | code 127 | kinds (built in)           |
|------------------|-----------------------------------------------------|----------|----------------------------|
| pixels           | z (normalised pixels)                               | 4.5      | A of patch_embed           |
| layernorm        | z, x 6 in 1 % of the K channels (ViTs' outlier      | 27       | A of qkv, fc1, head,       |
|                  | channels), a channel drawn per GEMM instance        |          | other, patch_merge, linear |
| attention_output | 0.5 z                                               | 2.25     | A of proj                  |
| gelu             | GELU(z) (tanh form): skewed, min ~ -0.17            | 4.5      | A of fc2                   |
| relu             | max(z, 0): a CNN's post-activation im2col patches   | 4.5      | A of conv                  |
| gaussian         | z: queries, keys, values                            | 4.5      | A of qk, matmul; B of qk,  |
|                  |                                                     |          | av, matmul                 |
| softmax          | e^l / (e^l + (K - 1) E[e^l]), l = 2z: one entry of  | 1.0      | A of av                    |
|                  | a softmax over K logits N(0, 2^2) (mean ~ 1/K)      |          |                            |
| weights          | 0.02 z                                              | 0.09     | B of every weight kind     |

int8 operands are drawn directly as codes: a 16-bit uniform indexes a table of 65,536 equiprobable
codes, table[i] = clip(rint(127 value(z_i) / peak)) at the standard normal quantiles
z_i = Phi^-1((i + 0.5) / 65536) (code_table), so a code's frequency is its probability under the
law to within 1/65536, and the scale (real value = code x scale) is peak / 127, fixed per law. This
is ~10x cheaper than drawing floats and quantising them, and it is integer arithmetic only: the
codes are the same on every CPU. fp16 / bf16 / fp32 operands are the laws' values of float64
normal draws computed with IEEE basic operations only (faults.portable_math: numpy's exp, tanh
and power differ in the last bit between CPUs), rounded to the datatype (bf16: to nearest even).
Synthetic operands are keyed by SeedSequence([seed, 4, gemm_index, instance]); A is drawn first
(a layernorm A draws its outlier channels first), then B.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype
from simulator.faults import portable_math
from simulator.kernels.table_lookup import lookup, lookup_transposed
from simulator.workload.gemm import Gemm
from simulator.workload.kinds import BUILTIN_KINDS, Statistics

_STREAM_OPERANDS = 4
WEIGHT_STD = 0.02


@dataclass(frozen=True, slots=True)
class GemmOperands:
    """A (M x K) and B (K x N) in the datatype's storage dtype, with their quantisation scales."""

    datatype: Datatype
    a: np.ndarray
    b: np.ndarray
    a_scale: float = 1.0  # real value = stored value x scale (1.0 for fp datatypes)
    b_scale: float = 1.0


def round_bf16(x: np.ndarray) -> np.ndarray:
    """float32 array of the bf16 values nearest to x (round to nearest even; NaN stays NaN)."""
    words = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (words + 0x7FFF + ((words >> 16) & 1)) & 0xFFFF0000
    out = rounded.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), np.float32(np.nan), out).astype(np.float32)


def quantise_int8(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-tensor symmetric int8 quantisation: (q, scale) with x ~ q x scale (computed in the
    input's float precision; x is not modified, one float temporary is rounded and clipped in place)."""
    peak = _peak_magnitude(x)
    scale = peak / 127.0 if peak > 0.0 and math.isfinite(peak) else 1.0
    scaled = x * x.dtype.type(1.0 / scale) if x.dtype == np.float32 else x / scale
    np.rint(scaled, out=scaled)
    np.clip(scaled, -127, 127, out=scaled)
    return scaled.astype(np.int8), scale


def _peak_magnitude(x: np.ndarray) -> float:
    """max |x| (0.0 for an empty array; NaN if x holds one) without an |x| temporary: the larger
    of -min and max."""
    if not x.size:
        return 0.0
    return float(np.abs(x).max()) if not np.issubdtype(x.dtype, np.floating) else max(-float(x.min()), float(x.max()))


def to_datatype(x: np.ndarray, datatype: Datatype) -> tuple[np.ndarray, float]:
    """A real-valued array in the datatype's storage dtype, and its scale (1.0 for fp)."""
    if datatype is Datatype.INT8:
        x = np.asarray(x)
        return quantise_int8(x if x.dtype in (np.float32, np.float64) else x.astype(np.float64))
    if datatype is Datatype.FP16:
        return np.asarray(x).astype(np.float16), 1.0
    if datatype is Datatype.BF16:
        return round_bf16(np.asarray(x, np.float32)), 1.0
    return np.asarray(x).astype(np.float32), 1.0


TABLE_SIZE = 1 << 16  # codes per int8 table: drawn with one uint16 each
_OUTLIER_FRACTION = 0.01
_OUTLIER_GAIN = 6.0
_CLIP_SIGMAS = 4.5  # a normal law's code 127, in standard deviations
_SOFTMAX_LOGIT_STD = 2.0


def _softmax_entry(z: np.ndarray, k: int) -> np.ndarray:
    """e^l / (e^l + (k - 1) E[e^l]) for l = 2z, E[e^l] = e^2: a softmax entry against the mean of the
    other k - 1 terms (in [0, 1]; 1 for k = 1)."""
    s = _SOFTMAX_LOGIT_STD
    return 1.0 / (1.0 + (k - 1) * portable_math.exp(s * s / 2.0 - s * z))


@dataclass(frozen=True, slots=True)
class OperandLaw:
    """A synthetic operand's real value as an elementwise function of a standard normal z (and of
    K, the length of the rows a softmax normalises), the real value of int8 code 127, and the gain of
    outlier channels (a fraction _OUTLIER_FRACTION of the K columns; 1.0: none)."""

    value: Callable[[np.ndarray, int], np.ndarray]
    peak: float
    outlier_gain: float = 1.0
    depends_on_k: bool = False

    @property
    def int8_scale(self) -> float:
        """The real value of one int8 code."""
        return self.peak / 127.0


def _times(gain: float) -> Callable[[np.ndarray, int], np.ndarray]:
    return lambda z, _k: gain * z


OPERAND_LAWS: dict[Statistics, OperandLaw] = {
    Statistics.PIXELS: OperandLaw(_times(1.0), _CLIP_SIGMAS),
    Statistics.LAYERNORM: OperandLaw(_times(1.0), _OUTLIER_GAIN * _CLIP_SIGMAS, outlier_gain=_OUTLIER_GAIN),
    Statistics.ATTENTION_OUTPUT: OperandLaw(_times(0.5), 0.5 * _CLIP_SIGMAS),
    Statistics.GELU: OperandLaw(lambda z, _k: portable_math.gelu_tanh(z), _CLIP_SIGMAS),
    Statistics.RELU: OperandLaw(lambda z, _k: np.maximum(z, 0.0), _CLIP_SIGMAS),
    Statistics.GAUSSIAN: OperandLaw(_times(1.0), _CLIP_SIGMAS),
    Statistics.SOFTMAX: OperandLaw(_softmax_entry, 1.0, depends_on_k=True),
    Statistics.WEIGHTS: OperandLaw(_times(WEIGHT_STD), WEIGHT_STD * _CLIP_SIGMAS),
}


@functools.cache
def _normal_quantiles() -> np.ndarray:
    """Phi^-1((i + 0.5) / TABLE_SIZE) for i < TABLE_SIZE (float64; C `statistics` inverse CDF)."""
    inverse = statistics.NormalDist().inv_cdf
    return np.array([inverse((i + 0.5) / TABLE_SIZE) for i in range(TABLE_SIZE)])


def code_table(stats: Statistics, k: int = 1, outlier: bool = False) -> np.ndarray:
    """The law's 65,536 equiprobable int8 codes (read-only, sorted where the law is monotone):
    clip(rint(127 value(z_i) / peak), -127, 127) at the normal quantiles z_i; `outlier`: the codes of
    the law's outlier channels (value x outlier_gain, same peak). A quantile value lands within a
    float64 ulp of a rounding edge with probability ~1e-12, so the table is the same everywhere."""
    law = OPERAND_LAWS[stats]
    return _code_table(stats, k if law.depends_on_k else 1, outlier)


@functools.lru_cache(maxsize=256)
def _code_table(stats: Statistics, k: int, outlier: bool) -> np.ndarray:
    law = OPERAND_LAWS[stats]
    values = law.value(_normal_quantiles(), k) * (law.outlier_gain if outlier else 1.0)
    table = np.clip(np.rint(values * (127.0 / law.peak)), -127, 127).astype(np.int8)
    table.setflags(write=False)
    return table


def _outlier_columns(rng: np.random.Generator, law: OperandLaw, cols: int) -> np.ndarray | None:
    """The outlier channels of a law that has them (each of the `cols` columns with probability
    _OUTLIER_FRACTION), drawn before the values; None for a law without."""
    return np.flatnonzero(rng.random(cols) < _OUTLIER_FRACTION) if law.outlier_gain != 1.0 else None


def uint16_draws(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """`rng.integers(0, 65536, size=shape, dtype=np.uint16)`: the same values, and the same stream
    state after, at less than half the cost (C order).

    numpy draws a full-range uint16 as the halves of 32-bit words (low half first; the high half of
    an odd count's last word is dropped), and PCG64 makes a 32-bit word of half a 64-bit output (low
    half first; the high half is kept in the bit generator's `has_uint32` / `uinteger` for the next
    32-bit draw). The values are therefore the kept half, if there is one, then the raw 64-bit
    outputs read as little-endian uint16, which `random_raw` gives without numpy's per-value
    buffering; the kept half is then left as numpy would have left it. A bit generator other than
    PCG64 takes numpy's own path. tests/test_operands.py holds the two equal (values, next draws,
    state) for every count modulo 4 with and without a kept half."""
    bits = rng.bit_generator
    if not isinstance(bits, np.random.PCG64):
        return rng.integers(0, TABLE_SIZE, size=shape, dtype=np.uint16)
    count = math.prod(shape)
    state = bits.state
    head: list[int] = []
    if state["has_uint32"] and count:  # the kept half of the last 64-bit output comes first
        kept = int(state["uinteger"])
        head = [kept & 0xFFFF, kept >> 16][:count]
        state["has_uint32"] = 0  # numpy leaves `uinteger` as it was
        bits.state = state
    rest = count - len(head)
    raw = bits.random_raw(-(-rest // 4)).astype("<u8", copy=False)
    draws = raw.view("<u2")[:rest].astype(np.uint16, copy=False)
    if rest:  # the last output's high half went through `uinteger`, and is still kept if unused
        state = bits.state
        state["has_uint32"], state["uinteger"] = int(rest % 4 in (1, 2)), int(raw[-1] >> np.uint64(32))
        bits.state = state
    if head:
        draws = np.concatenate([np.array(head, np.uint16), draws])
    return draws.reshape(shape)


def _int8_codes(
    rng: np.random.Generator, stats: Statistics, shape: tuple[int, int], k: int, transposed: bool = False
) -> np.ndarray:
    """int8 codes of a (rows x cols) operand of the law, from one uint16 draw each (a layernorm law
    draws its outlier columns first); `transposed`: handed over as cols x rows, C order, looked up
    straight into that order (kernels.table_lookup)."""
    law = OPERAND_LAWS[stats]
    outliers = _outlier_columns(rng, law, shape[1])
    draws = uint16_draws(rng, shape)
    table = code_table(stats, k)
    codes = lookup_transposed(table, draws) if transposed else lookup(table, draws)
    if outliers is not None and outliers.size:
        loud = np.take(code_table(stats, k, outlier=True), draws[:, outliers])
        if transposed:
            codes[outliers, :] = loud.T
        else:
            codes[:, outliers] = loud
    return codes


def _real_values(rng: np.random.Generator, stats: Statistics, shape: tuple[int, int], k: int) -> np.ndarray:
    """float32 real values of a (rows x cols) operand of the law: its value of float64 normal draws
    (a layernorm law draws its outlier columns first), rounded once to float32."""
    law = OPERAND_LAWS[stats]
    outliers = _outlier_columns(rng, law, shape[1])
    x = law.value(rng.standard_normal(shape), k)
    if outliers is not None and outliers.size:
        x[:, outliers] *= law.outlier_gain
    return x.astype(np.float32)


def real_operands(gemm: Gemm, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Real-valued (float32) A and B with the laws of the GEMM's kind (see the module table): A
    first, then B, from the same stream."""
    kind = BUILTIN_KINDS[gemm.kind]
    a = _real_values(rng, kind.a_statistics, (gemm.m, gemm.k), gemm.k)
    return a, _real_values(rng, kind.b_statistics, (gemm.k, gemm.n), gemm.k)


def synthetic_operands(gemm: Gemm, datatype: Datatype, seed: int, gemm_index: int, instance: int) -> GemmOperands:
    """Seeded synthetic operands of one GEMM instance in the datatype (keyed by seed, gemm, instance):
    int8 drawn as codes with each law's fixed scale, fp from real values rounded to the datatype."""
    rng = _operand_stream(gemm, seed, gemm_index, instance)
    kind = BUILTIN_KINDS[gemm.kind]
    if datatype is Datatype.INT8:
        a = _int8_codes(rng, kind.a_statistics, (gemm.m, gemm.k), gemm.k)
        b = _int8_codes(rng, kind.b_statistics, (gemm.k, gemm.n), gemm.k)
        return GemmOperands(datatype, a, b, *_int8_scales(gemm))
    a, b = real_operands(gemm, rng)
    return GemmOperands(datatype, to_datatype(a, datatype)[0], to_datatype(b, datatype)[0])


def _int8_scales(gemm: Gemm) -> tuple[float, float]:
    kind = BUILTIN_KINDS[gemm.kind]
    return OPERAND_LAWS[kind.a_statistics].int8_scale, OPERAND_LAWS[kind.b_statistics].int8_scale


@dataclass(frozen=True, slots=True)
class Int8TransposedOperands:
    """int8 A (M x K) and B transposed (N x K), both C-contiguous, with their scales: the layout the
    int8 fault kernels read (faults.effects.int8_kernel_operands), without a copy of B itself."""

    a: np.ndarray
    b_t: np.ndarray
    a_scale: float
    b_scale: float

    @property
    def b(self) -> np.ndarray:
        """B (K x N) as a view of b_t (not C-contiguous; gemm_operands() copies it into one)."""
        return self.b_t.T

    def gemm_operands(self) -> GemmOperands:
        """The same operands as GemmOperands (B copied back into C order)."""
        return GemmOperands(Datatype.INT8, self.a, np.ascontiguousarray(self.b_t.T), self.a_scale, self.b_scale)


def synthetic_int8_transposed(gemm: Gemm, seed: int, gemm_index: int, instance: int) -> Int8TransposedOperands:
    """synthetic_operands(gemm, INT8, ...) with B handed over transposed: the same draws and codes,
    B's looked up straight into B^T (kernels.table_lookup), so that a run that only resolves PE
    faults never holds B itself."""
    rng = _operand_stream(gemm, seed, gemm_index, instance)
    kind = BUILTIN_KINDS[gemm.kind]
    a = _int8_codes(rng, kind.a_statistics, (gemm.m, gemm.k), gemm.k)
    b_t = _int8_codes(rng, kind.b_statistics, (gemm.k, gemm.n), gemm.k, transposed=True)
    return Int8TransposedOperands(a, b_t, *_int8_scales(gemm))


def _operand_stream(gemm: Gemm, seed: int, gemm_index: int, instance: int) -> np.random.Generator:
    """The random stream of one GEMM instance's synthetic operands (checks the key)."""
    if seed < 0 or gemm_index < 0 or not 0 <= instance < gemm.count:
        raise ValueError(f"bad operand key (seed {seed}, gemm {gemm_index}, instance {instance} of {gemm.count})")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _STREAM_OPERANDS, gemm_index, instance])))


def operands_from_arrays(
    a: np.ndarray, b: np.ndarray, datatype: Datatype, a_scale: float | None = None, b_scale: float | None = None
) -> GemmOperands:
    """User-supplied operands (e.g. captured from a model) in the datatype.

    For int8, int8 arrays are taken as already quantised (scales as given, default 1.0) and any
    other array is quantised per tensor (the given scales must then be None). fp datatypes round
    the values to the datatype.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"operands must be A (M x K) and B (K x N), got {a.shape} and {b.shape}")
    for name, x in (("A", a), ("B", b)):
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"operand {name} must be numeric, got {x.dtype}")
    scales = []
    arrays = []
    for x, scale in ((a, a_scale), (b, b_scale)):
        if datatype is Datatype.INT8 and x.dtype == np.int8:
            arrays.append(np.ascontiguousarray(x))
            scales.append(1.0 if scale is None else float(scale))
            continue
        if scale is not None:
            raise ValueError("a scale is only meaningful for int8 operands that are already quantised")
        if not np.all(np.isfinite(x)):
            raise ValueError("operands must be finite")
        q, s = to_datatype(x, datatype)
        arrays.append(np.ascontiguousarray(q))
        scales.append(s)
    return GemmOperands(datatype, arrays[0], arrays[1], scales[0], scales[1])
