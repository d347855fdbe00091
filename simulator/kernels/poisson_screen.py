"""Which keyed fault draws come out empty, for many keys in one call, without building a Generator.

Every fault draw of faults.sampling and faults.checksum_faults begins the same way: a Generator
(PCG64 seeded by `np.random.SeedSequence(key)`) draws `poisson(rates)`, and a draw whose counts are
all zero returns an empty batch. At the error rates studied most draws of a small GEMM instance are
empty (an accuracy study makes ~20,000 such draws), and setting a Generator up costs more than the
draw itself. `empty_draws` answers "are all counts zero?" for many keys at once, on the same
streams: numpy's SeedSequence entropy mixing (32-bit hash words, a pool of four), the PCG64 seeding
from its first four 64-bit state words and the XSL-RR output of the 128-bit LCG, then numpy's
Poisson draw for lam < 10 (multiplication method: `prod *= U` until `prod <= exp(-lam)`, U the
53-bit double of the next output; no draw for lam == 0). A count is zero exactly when its first
uniform is <= exp(-lam), so the screen reads one uniform per positive rate and stops at the first
nonzero count. The caller gives exp(-lam) (computed with math.exp, the C library's exp that numpy's
sampler calls) and does not screen rates >= 10 (numpy draws those another way).

`empty_draws_reference` is the plain twin: numpy's own Generator per key (the oracle of the tests).

Sources of the algorithms (written here from their descriptions, not copied): M. E. O'Neill, "PCG: A
Family of Simple Fast Space-Efficient Statistically Good Algorithms for Random Number Generation"
(HMC-CS-2014-0905, 2014) for the 128-bit LCG and its XSL-RR output; numpy's `SeedSequence` (NEP 19
and numpy.random.bit_generator's documentation; after O'Neill's `seed_seq_fe` mixing) for the key
hashing, whose streams numpy keeps stable across releases; Knuth, TAOCP vol. 2, 3.4.1 for the
multiplication method of Poisson sampling. If numpy ever changed one of them, tests/test_poisson_screen.py
(which compares with numpy's own Generator) fails.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_M32 = np.uint64(0xFFFFFFFF)
_INIT_A, _MULT_A = np.uint64(0x43B0D7E5), np.uint64(0x931E8875)  # SeedSequence's entropy hash
_INIT_B, _MULT_B = np.uint64(0x8B51F9DD), np.uint64(0x58F38DED)  # ... and its state generation
_MIX_L, _MIX_R = np.uint64(0xCA01F9DD), np.uint64(0x4973F715)
_XSHIFT = np.uint64(16)
_POOL = 4  # SeedSequence's default pool size (32-bit words)
_MUL_HI, _MUL_LO = np.uint64(0x2360ED051FC65DA4), np.uint64(0x4385DF649FCCF645)  # PCG64's multiplier
_ONE, _SHIFT32, _SHIFT63, _ROT, _MANTISSA = np.uint64(1), np.uint64(32), np.uint64(63), np.uint64(58), np.uint64(11)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2^-53
POISSON_MULT_MAX = 10.0  # numpy draws Poisson(lam) by multiplication for 0 < lam < this, else another way


def entropy_words(key: tuple[int, ...]) -> list[int]:
    """The 32-bit entropy words SeedSequence makes of a key of non-negative ints (each int little
    endian, at least one word)."""
    words = []
    for value in key:
        if value < 0:
            raise ValueError(f"a draw key holds non-negative ints, got {value}")
        words.append(value & 0xFFFFFFFF)
        value >>= 32
        while value:
            words.append(value & 0xFFFFFFFF)
            value >>= 32
    return words


def exp_neg(rates: np.ndarray) -> np.ndarray:
    """exp(-rate) of each of a flat float64 array of Poisson means, by the C library's exp (math.exp),
    which numpy's Poisson sampler calls: once per distinct mean (a draw's means take a few values)."""
    values = np.unique(rates)
    table = np.array([math.exp(-v) for v in values.tolist()], np.float64)
    return table[np.searchsorted(values, rates)]


@njit(cache=True)
def _hashmix(value: np.uint64, hash_const: np.ndarray) -> np.uint64:
    value = (value ^ hash_const[0]) & _M32
    hash_const[0] = (hash_const[0] * _MULT_A) & _M32
    value = (value * hash_const[0]) & _M32
    return value ^ (value >> _XSHIFT)


@njit(cache=True)
def _mix(x: np.uint64, y: np.uint64) -> np.uint64:
    result = (_MIX_L * x - _MIX_R * y) & _M32
    return result ^ (result >> _XSHIFT)


@njit(cache=True)
def _mul_hi(a: np.uint64, b: np.uint64) -> np.uint64:
    """The high 64 bits of the 128-bit product a * b."""
    a0, a1, b0, b1 = a & _M32, a >> _SHIFT32, b & _M32, b >> _SHIFT32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _SHIFT32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> _SHIFT32) + (p10 >> _SHIFT32) + (mid >> _SHIFT32)


@njit(cache=True)
def _step(hi: np.uint64, lo: np.uint64, inc_hi: np.uint64, inc_lo: np.uint64) -> tuple[np.uint64, np.uint64]:
    """One step of the 128-bit LCG: state * multiplier + inc (mod 2^128), as (high, low) words."""
    new_hi = hi * _MUL_LO + lo * _MUL_HI + _mul_hi(lo, _MUL_LO)
    new_lo = lo * _MUL_LO
    out_lo = new_lo + inc_lo
    carry = _ONE if out_lo < new_lo else np.uint64(0)
    return new_hi + inc_hi + carry, out_lo


@njit(cache=True)
def _seeded(entropy: np.ndarray) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """PCG64's (state high, state low, inc high, inc low) after seeding from SeedSequence(entropy)."""
    hash_const = np.empty(1, np.uint64)
    hash_const[0] = _INIT_A
    pool = np.empty(_POOL, np.uint64)
    n = entropy.shape[0]
    for i in range(_POOL):
        pool[i] = _hashmix(entropy[i] if i < n else np.uint64(0), hash_const)
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = _mix(pool[i_dst], _hashmix(pool[i_src], hash_const))
    for i_src in range(_POOL, n):
        for i_dst in range(_POOL):
            pool[i_dst] = _mix(pool[i_dst], _hashmix(entropy[i_src], hash_const))
    words = np.empty(2 * _POOL, np.uint64)  # generate_state(4, uint64): eight 32-bit words
    const = _INIT_B
    for i in range(2 * _POOL):
        value = (pool[i % _POOL] ^ const) & _M32
        const = (const * _MULT_B) & _M32
        value = (value * const) & _M32
        words[i] = value ^ (value >> _XSHIFT)
    seed_hi, seed_lo = words[0] | (words[1] << _SHIFT32), words[2] | (words[3] << _SHIFT32)
    seq_hi, seq_lo = words[4] | (words[5] << _SHIFT32), words[6] | (words[7] << _SHIFT32)
    inc_hi, inc_lo = (seq_hi << _ONE) | (seq_lo >> _SHIFT63), (seq_lo << _ONE) | _ONE
    hi, lo = _step(np.uint64(0), np.uint64(0), inc_hi, inc_lo)
    lo_sum = lo + seed_lo
    hi = hi + seed_hi + (_ONE if lo_sum < lo else np.uint64(0))
    hi, lo = _step(hi, lo_sum, inc_hi, inc_lo)
    return hi, lo, inc_hi, inc_lo


@njit(cache=True)
def _output(hi: np.uint64, lo: np.uint64) -> np.uint64:
    """PCG64's XSL-RR output of a state."""
    value = hi ^ lo
    rot = hi >> _ROT
    return (value >> rot) | (value << ((np.uint64(64) - rot) & _SHIFT63))


@njit(cache=True)
def _double(hi: np.uint64, lo: np.uint64) -> np.float64:
    """numpy's next_double of a state: the 53 high bits of its output, times 2^-53 (in [0, 1))."""
    return np.float64(_output(hi, lo) >> _MANTISSA) * _TO_DOUBLE


@njit(cache=True)
def first_uniforms(entropy: np.ndarray, count: int) -> np.ndarray:
    """The first `count` doubles Generator(PCG64(SeedSequence(entropy))).random() draws (a test hook)."""
    hi, lo, inc_hi, inc_lo = _seeded(entropy)
    out = np.empty(count)
    for i in range(count):
        hi, lo = _step(hi, lo, inc_hi, inc_lo)
        out[i] = _double(hi, lo)
    return out


@njit(cache=True)
def empty_draws(entropy: np.ndarray, rates: np.ndarray, exp_neg: np.ndarray) -> np.ndarray:
    """Per key (row of `entropy`, 32-bit words held as uint64): whether poisson(rates) drawn from
    Generator(PCG64(SeedSequence(key))) is all zeros. `rates`: the draw's lam, flattened in the
    order numpy draws them (C order), every one < 10; `exp_neg`: exp(-rate) of each."""
    out = np.ones(entropy.shape[0], np.bool_)
    for key in range(entropy.shape[0]):
        hi, lo, inc_hi, inc_lo = _seeded(entropy[key])
        for j in range(rates.shape[0]):
            if rates[j] == 0.0:
                continue
            hi, lo = _step(hi, lo, inc_hi, inc_lo)
            if _double(hi, lo) > exp_neg[j]:
                out[key] = False
                break
    return out


def empty_draws_reference(keys: list[tuple[int, ...]], rates: np.ndarray) -> np.ndarray:
    """`empty_draws` by numpy itself: one Generator per key, its Poisson counts all zero."""
    return np.array(
        [not np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(k)))).poisson(rates).any() for k in keys],
        bool,
    )
