"""Register-word bit manipulation for the fault kernels: int wrap, IEEE 754 layouts, flips, stuck bits.

Every helper exists twice: a numba `@njit(cache=True)` version (used inside the kernels) and a
plain-numpy/Python twin with the suffix `_reference` (used as the test oracle). Words are handled as
Python/numba integers; `mode` is codes.FLIP, codes.STUCK0 or codes.STUCK1.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.codes import BF16, FLIP, FP16, STUCK0

# A register word inside a kernel: numba computes on int64 scalars (np.int64 when run as plain
# Python), callers pass Python ints; the annotation says both (numba itself ignores annotations).
Word = int | np.int64


@njit(cache=True)
def apply_bit(word: Word, bit: int, mode: int) -> Word:
    """Invert (FLIP) or force to 0 / 1 (STUCK0 / STUCK1) bit `bit` of a non-negative word."""
    mask = np.int64(1) << bit
    if mode == FLIP:
        return word ^ mask
    if mode == STUCK0:
        return word & ~mask
    return word | mask


@njit(cache=True)
def wrap_bits(value: Word, width: int) -> Word:
    """Two's-complement value of the low `width` bits of `value` (int32 wrap for width 32)."""
    half = np.int64(1) << (width - 1)
    full = np.int64(1) << width
    return ((value + half) & (full - 1)) - half


@njit(cache=True)
def modify_int(value: Word, width: int, bit: int, mode: int) -> Word:
    """A signed `width`-bit register value with one bit flipped or stuck."""
    full = np.int64(1) << width
    return wrap_bits(apply_bit(value & (full - 1), bit, mode), width)


@njit(cache=True)
def f32_bits(x: np.float32) -> Word:
    return np.int64(np.float32(x).view(np.uint32))


@njit(cache=True)
def f32_from_bits(word: Word) -> np.float32:
    return np.uint32(word & 0xFFFFFFFF).view(np.float32)


@njit(cache=True)
def f16_bits(x: np.float32) -> Word:
    """IEEE binary16 pattern of an fp32 value that is exactly representable in fp16 (or inf/NaN)."""
    w = f32_bits(x)
    sign = (w >> 16) & 0x8000
    exp32 = (w >> 23) & 0xFF
    mant32 = w & 0x7FFFFF
    if exp32 == 0xFF:
        return sign | 0x7C00 | (mant32 >> 13)
    ax = abs(np.float64(x))
    if ax == 0.0:
        return sign
    if ax < 2.0**-14:  # fp16 subnormal: an integer multiple of 2^-24
        return sign | np.int64(ax * 2.0**24)
    return sign | ((exp32 - 112) << 10) | (mant32 >> 13)


@njit(cache=True)
def f16_value(word: Word) -> np.float32:
    """The fp32 value of an IEEE binary16 pattern (exact)."""
    sign = (word & 0x8000) << 16
    exp16 = (word >> 10) & 0x1F
    mant16 = word & 0x3FF
    if exp16 == 0x1F:
        return f32_from_bits(sign | 0x7F800000 | (mant16 << 13))
    if exp16 == 0:
        value = np.float32(np.float64(mant16) * 2.0**-24)
        return -value if sign else value
    return f32_from_bits(sign | ((exp16 + 112) << 23) | (mant16 << 13))


@njit(cache=True)
def modify_f32(x: np.float32, bit: int, mode: int) -> np.float32:
    """An fp32 register value (product or accumulator) with one bit flipped or stuck."""
    return f32_from_bits(apply_bit(f32_bits(x), bit, mode))


@njit(cache=True)
def modify_operand_float(x: np.float32, datatype: int, bit: int, mode: int) -> np.float32:
    """A floating-point operand register with one bit of its fp16 / bf16 / fp32 word changed."""
    if datatype == FP16:
        return f16_value(apply_bit(f16_bits(x), bit, mode))
    if datatype == BF16:
        return f32_from_bits(apply_bit(f32_bits(x), bit + 16, mode))
    return f32_from_bits(apply_bit(f32_bits(x), bit, mode))


# ---- plain-numpy twins (test oracles) -------------------------------------------------------------


def apply_bit_reference(word: int, bit: int, mode: int) -> int:
    if mode == FLIP:
        return word ^ (1 << bit)
    if mode == STUCK0:
        return word & ~(1 << bit)
    return word | (1 << bit)


def wrap_bits_reference(value: int, width: int) -> int:
    dtype = {8: np.int8, 16: np.int16, 32: np.int32}[width]
    return int(np.array(value & ((1 << width) - 1), dtype=np.uint64).astype(dtype))


def modify_int_reference(value: int, width: int, bit: int, mode: int) -> int:
    return wrap_bits_reference(apply_bit_reference(value & ((1 << width) - 1), bit, mode), width)


def f32_bits_reference(x: float) -> int:
    return int(np.array(x, np.float32).view(np.uint32))


def f32_from_bits_reference(word: int) -> np.float32:
    # a one-element array indexed by position: the float32 scalar with exactly these bits
    return np.array([word & 0xFFFFFFFF], np.uint32).view(np.float32)[0]


def f16_bits_reference(x: float) -> int:
    return int(np.array(x, np.float16).view(np.uint16))


def f16_value_reference(word: int) -> np.float32:
    return np.float32(np.array(word, np.uint16).view(np.float16)[()])


def modify_f32_reference(x: float, bit: int, mode: int) -> np.float32:
    word = int(np.array(x, np.float32).view(np.uint32))
    return np.array([apply_bit_reference(word, bit, mode)], np.uint32).view(np.float32)[0]


def modify_operand_float_reference(x: float, datatype: int, bit: int, mode: int) -> np.float32:
    if datatype == FP16:
        word = int(np.array(x, np.float16).view(np.uint16))
        return np.float32(np.array(apply_bit_reference(word, bit, mode), np.uint16).view(np.float16)[()])
    offset = 16 if datatype == BF16 else 0
    return modify_f32_reference(x, bit + offset, mode)
