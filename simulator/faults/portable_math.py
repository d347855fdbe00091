"""exp, tanh and GELU from IEEE-754 basic operations only: the same bits on every CPU.

numpy's transcendental ufuncs dispatch on the CPU: on AVX-512 machines float32 `x**3`, `tanh` and
`exp` run Intel SVML or numpy's own SIMD kernels, elsewhere glibc's libm or Apple's, and the last
bit differs between them. A synthetic operand rounded to int8 or float16 from such a value then
differs now and then, and so does every result built on it: the same seed would not give the same
report on a laptop and on a cluster node. The functions here use only +, -, *, /, rint and ldexp,
which IEEE 754 rounds exactly (numpy applies each as its own ufunc, so nothing is fused into an
FMA), and so return identical float64 bits everywhere.

exp: Cody-Waite range reduction x = n ln2 + r with ln2 split into a 32-bit head (n x head is exact
for |n| < 2^21) and a tail (fdlibm's constants, e_exp.c), |r| <= ln2 / 2, then the Taylor series of
e^r to degree 13 (truncation < 2e-17 relative) by Horner, scaled by 2^n. Accurate to a few ulp,
which is all a synthetic operand needs; bit-reproducibility is the point.
"""

from __future__ import annotations

import math

import numpy as np

_LN2_HI = 6.93147180369123816490e-01  # fdlibm ln2_hi: 32 significant bits
_LN2_LO = 1.90821492927058770002e-10  # ln2 - ln2_hi
_INV_LN2 = 1.44269504088896338700e00
_EXP_MAX = 709.0  # e^709 < float64 max
_EXP_MIN = -745.0  # e^-745 rounds to the smallest subnormal or 0
_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(14))  # 1/0!, ..., 1/13!


def exp(x: np.ndarray) -> np.ndarray:
    """e^x of a float64 array (clipped to [-745, 709]) from basic operations only."""
    x = np.clip(np.asarray(x, np.float64), _EXP_MIN, _EXP_MAX)
    n = np.rint(x * _INV_LN2)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = np.full_like(r, _TAYLOR[-1])
    for c in reversed(_TAYLOR[:-1]):
        p *= r
        p += c
    return np.ldexp(p, n.astype(np.int32))


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh of a float64 array as sign(x) (1 - e^(-2|x|)) / (1 + e^(-2|x|)) (no overflow; absolute
    error ~1e-16, which is what 1 + tanh in GELU needs)."""
    x = np.asarray(x, np.float64)
    e = exp(-2.0 * np.abs(x))
    return np.copysign((1.0 - e) / (1.0 + e), x)


_GELU_C = math.sqrt(2.0 / math.pi)


def gelu_tanh(z: np.ndarray) -> np.ndarray:
    """The tanh form of GELU, 0.5 z (1 + tanh(sqrt(2 / pi) (z + 0.044715 z^3))), of a float64 array
    (torch.nn.GELU(approximate='tanh')): the synthetic gelu operands' law and the functional ViT's."""
    z = np.asarray(z, np.float64)
    return 0.5 * z * (1.0 + tanh(_GELU_C * (z + 0.044715 * (z * z * z))))
