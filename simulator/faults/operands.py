"""GEMM operands for fault trials: seeded synthetic ones with ViT-like scales, or user arrays.

Each GEMM kind names its operands' statistics (simulator/workload/kinds.py); the generators:

| statistics       | values                                                     | kinds (built in)           |
|------------------|------------------------------------------------------------|----------------------------|
| pixels           | normalised pixels ~ N(0, 1)                                | A of patch_embed           |
| layernorm        | LayerNorm output: rows standardised, a few outlier         | A of qkv, fc1, head,       |
|                  | channels (x 6) as ViTs show                                | other, patch_merge, linear |
| attention_output | attention output ~ N(0, 0.5^2)                             | A of proj                  |
| gelu             | GELU(N(0, 1)): non-negative-skewed, min ~ -0.17            | A of fc2                   |
| relu             | ReLU(N(0, 1)): a CNN's post-activation im2col patches      | A of conv                  |
| gaussian         | N(0, 1): queries, keys, values                             | A of qk, matmul; B of qk,  |
|                  |                                                            | av, matmul                 |
| softmax          | softmax(N(0, 2^2) logits): rows in [0, 1], sum 1           | A of av                    |
| weights          | N(0, 0.02^2)                                               | B of every weight kind     |

int8 operands are quantised per tensor, symmetric: scale = max|x| / 127, q = clip(rint(x / scale),
-127, 127); the scales are recorded (real value = q x scale). fp16 operands are float16 arrays,
bf16 operands float32 arrays holding bf16 values (round to nearest even), fp32 operands float32.
Synthetic operands are keyed by SeedSequence([seed, 4, gemm_index, instance]).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype
from simulator.kernels.table_lookup import lookup_transposed
from simulator.workload.gemm import Gemm
from simulator.workload.kinds import BUILTIN_KINDS, Statistics

_STREAM_OPERANDS = 4
WEIGHT_STD = 0.02
INT8_WEIGHT_SIGMAS = 4.5  # synthetic int8 weights: code 127 = 4.5 standard deviations
INT8_WEIGHT_SCALE = WEIGHT_STD * INT8_WEIGHT_SIGMAS / 127.0  # their quantisation scale
_OUTLIER_FRACTION = 0.01
_OUTLIER_GAIN = 6.0


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


def _normal(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Standard normal float32 samples (float32 halves the cost of ViT-size weight tensors)."""
    return rng.standard_normal(shape, dtype=np.float32)


def _layernorm_rows(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    """(x - row mean) / (row std + 1e-6) of standard normals, in place (mean and std of the drawn x)."""
    x = _normal(rng, (m, k))
    mean, std = x.mean(axis=1, keepdims=True), x.std(axis=1, keepdims=True)
    std += np.float32(1e-6)
    x -= mean
    x /= std
    outliers = rng.random(k) < _OUTLIER_FRACTION
    x[:, outliers] *= _OUTLIER_GAIN
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2 / pi), float32, with the same operations
    in the same order as that expression (hence the same values) but one temporary: x is
    overwritten with the result (np.power's x^3 is most of the cost, and it must stay np.power:
    x * x * x rounds differently)."""
    c = np.float32(math.sqrt(2.0 / math.pi))
    inner = x**3
    inner *= np.float32(0.044715)
    inner += x
    inner *= c
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    x *= np.float32(0.5)
    x *= inner
    return x


def _softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row softmax, in place: the logits are overwritten with the probabilities."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def _softmax_logits(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    logits = _normal(rng, (m, k))
    logits *= np.float32(2.0)
    return _softmax_rows(logits)


def _scaled_normal(rng: np.random.Generator, shape: tuple[int, int], std: float) -> np.ndarray:
    """float32 N(0, std^2) samples: standard normals multiplied by float32(std) in place."""
    x = _normal(rng, shape)
    x *= np.float32(std)
    return x


def _relu_normal(rng: np.random.Generator, m: int, k: int) -> np.ndarray:
    x = _normal(rng, (m, k))
    np.maximum(x, np.float32(0.0), out=x)
    return x


# A generator per operand distribution (Statistics.WEIGHTS is B-only: see real_operands)
ACTIVATION_GENERATORS = {
    Statistics.PIXELS: lambda rng, m, k: _normal(rng, (m, k)),
    Statistics.LAYERNORM: _layernorm_rows,
    Statistics.ATTENTION_OUTPUT: lambda rng, m, k: _scaled_normal(rng, (m, k), 0.5),
    Statistics.GELU: lambda rng, m, k: _gelu(_normal(rng, (m, k))),
    Statistics.RELU: _relu_normal,
    Statistics.GAUSSIAN: lambda rng, m, k: _normal(rng, (m, k)),
    Statistics.SOFTMAX: _softmax_logits,
}


def real_operands(gemm: Gemm, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Real-valued (float32) A and B with the statistics of the GEMM's kind (see the module table):
    A first, then B (weights N(0, WEIGHT_STD^2), activations N(0, 1)) from the same stream."""
    kind = BUILTIN_KINDS[gemm.kind]
    a = ACTIVATION_GENERATORS[kind.a_statistics](rng, gemm.m, gemm.k)
    b = _scaled_normal(rng, (gemm.k, gemm.n), WEIGHT_STD) if kind.b_is_weight else _normal(rng, (gemm.k, gemm.n))
    return a, b


@functools.cache
def _int8_gaussian_table() -> np.ndarray:
    """65,536 int8 codes whose empirical distribution is N(0, 1) scaled so that +-127 sits at
    INT8_WEIGHT_SIGMAS standard deviations, rounded to the nearest code (immutable, built once)."""
    step = INT8_WEIGHT_SIGMAS / 127.0  # sigma units per code
    edges = (np.arange(-127, 128) + 0.5) * step  # upper edge of each code's rounding interval
    cdf = np.array([0.5 * (1.0 + math.erf(e / math.sqrt(2.0))) for e in edges])
    cdf[-1] = 1.0
    counts = np.diff(np.concatenate([[0], np.rint(cdf * 65536).astype(np.int64)]))
    table = np.repeat(np.arange(-127, 128, dtype=np.int8), counts)
    table.setflags(write=False)
    return table


def _int8_weights(
    rng: np.random.Generator, shape: tuple[int, int], transposed: bool = False
) -> tuple[np.ndarray, float]:
    """int8 weights ~ N(0, WEIGHT_STD^2) quantised with the clip at INT8_WEIGHT_SIGMAS sigma,
    drawn directly as codes (a 16-bit uniform into a table: ~5x cheaper than normals + rounding,
    which matters for ViT-size weight tensors), and their scale. `transposed`: the codes of the
    K x N `shape` handed over as N x K, looked up straight into that order (kernels.table_lookup)."""
    draws, table = rng.integers(0, 65536, size=shape, dtype=np.uint16), _int8_gaussian_table()
    return (lookup_transposed(table, draws) if transposed else table[draws]), INT8_WEIGHT_SCALE


def synthetic_operands(gemm: Gemm, datatype: Datatype, seed: int, gemm_index: int, instance: int) -> GemmOperands:
    """Seeded synthetic operands of one GEMM instance in the datatype (keyed by seed, gemm, instance).

    int8 weights (B of every kind whose B is a weight; qk and av multiply two activations) are
    drawn directly as codes (_int8_weights); everything else is drawn in float32 and quantised
    per tensor.
    """
    return _drawn_operands(gemm, datatype, _operand_stream(gemm, seed, gemm_index, instance))


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
    """synthetic_operands(gemm, INT8, ...) with B handed over transposed: the same values (the same
    stream and arithmetic), weight codes looked up straight into B^T (kernels.table_lookup), other
    B copied into B^T and dropped, so that a run that only resolves PE faults keeps one int8 copy
    of each weight tensor, not two."""
    rng = _operand_stream(gemm, seed, gemm_index, instance)
    if BUILTIN_KINDS[gemm.kind].b_is_weight:
        qa, sa = _int8_activations(gemm, rng)
        b_t, sb = _int8_weights(rng, (gemm.k, gemm.n), transposed=True)
        return Int8TransposedOperands(qa, b_t, sa, sb)
    ops = _drawn_operands(gemm, Datatype.INT8, rng)
    return Int8TransposedOperands(ops.a, np.ascontiguousarray(ops.b.T), ops.a_scale, ops.b_scale)


def _drawn_operands(gemm: Gemm, datatype: Datatype, rng: np.random.Generator) -> GemmOperands:
    """A and B of a GEMM drawn from its stream and stored in the datatype: int8 weights as codes
    (_int8_activations, then _int8_weights: synthetic_int8_transposed draws them the same way, only
    transposed), everything else in float32, quantised per tensor (synthetic_operands and
    synthetic_int8_transposed both draw it through here)."""
    if datatype is Datatype.INT8 and BUILTIN_KINDS[gemm.kind].b_is_weight:
        qa, sa = _int8_activations(gemm, rng)
        qb, sb = _int8_weights(rng, (gemm.k, gemm.n))
        return GemmOperands(datatype, qa, qb, sa, sb)
    a, b = real_operands(gemm, rng)
    qa, sa = to_datatype(a, datatype)
    del a  # the float A goes before B is quantised (one float tensor alive at a time)
    qb, sb = to_datatype(b, datatype)
    return GemmOperands(datatype, qa, qb, sa, sb)


def _operand_stream(gemm: Gemm, seed: int, gemm_index: int, instance: int) -> np.random.Generator:
    """The random stream of one GEMM instance's synthetic operands (checks the key)."""
    if seed < 0 or gemm_index < 0 or not 0 <= instance < gemm.count:
        raise ValueError(f"bad operand key (seed {seed}, gemm {gemm_index}, instance {instance} of {gemm.count})")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _STREAM_OPERANDS, gemm_index, instance])))


def _int8_activations(gemm: Gemm, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A of a GEMM whose B is an int8 weight, quantised: real_operands' A, drawn as for an N = 1
    GEMM (its float B, one K x 1 column, is discarded; the int8 codes come next in the stream)."""
    a, _ = real_operands(Gemm(gemm.name, gemm.kind, gemm.m, gemm.k, 1), rng)
    return to_datatype(a, Datatype.INT8)


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
