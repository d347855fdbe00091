"""kernels.poisson_screen: numpy's SeedSequence -> PCG64 streams and its Poisson zeros, in numba, against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.kernels.poisson_screen import empty_draws, empty_draws_reference, entropy_words, first_uniforms


def _keys(n: int, seed: int) -> list[tuple[int, ...]]:
    """Keys as the samplers make them (seed, stream, GEMM, instance[, attempt]), with seeds of one to
    three 32-bit words, zeros, and a few longer keys (entropy beyond the pool of four words)."""
    rng = np.random.default_rng(seed)
    keys = []
    for _ in range(n):
        head = int(rng.choice([0, 1, 2**32 - 1, 2**32, 2**63 - 1, int(rng.integers(0, 2**62))]))
        tail = tuple(int(x) for x in rng.integers(0, 5000, int(rng.integers(0, 6))))
        keys.append((head, *tail))
    return keys


def test_entropy_words_are_little_endian_32_bit_words_of_each_int():
    assert entropy_words((0, 1, 2**32, 2**32 + 5)) == [0, 1, 0, 1, 5, 1]
    with pytest.raises(ValueError):
        entropy_words((3, -1))


def test_the_streams_are_numpys_generators():
    for key in _keys(400, 1):
        mine = first_uniforms(np.array(entropy_words(key), np.uint64), 6)
        theirs = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key)))).random(6)
        assert np.array_equal(mine, theirs), key


@pytest.mark.parametrize("scale", [0.02, 0.3, 3.0])
def test_empty_draws_are_numpys_all_zero_poisson_draws(scale):
    """A (folds x sites) table of means with zeros among them, drawn in C order, for keys of one
    shape (one batch, as a GEMM's instances) and the reference's answer per key."""
    rng = np.random.default_rng(7)
    rates = rng.random((5, 3)) * scale
    rates[1, :] = 0.0
    rates[3, 2] = 0.0
    keys = [(11, 1, 4, i) for i in range(600)]
    entropy = np.array([entropy_words(k) for k in keys], np.uint64)
    flat = rates.ravel()
    got = empty_draws(entropy, flat, np.array([math.exp(-r) for r in flat]))
    expected = empty_draws_reference(keys, rates)
    assert np.array_equal(got, expected)
    assert scale > 1 or 0 < expected.sum() < len(keys)  # both answers occur (at the small means)
