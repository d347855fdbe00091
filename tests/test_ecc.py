"""SEC-DED ECC: single flips corrected and double flips detected by construction; the pattern classifier
equals encoding, flipping and decoding real words."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulator.faults.ecc import CLEAN, CORRECTED, DETECTED, MISCORRECTED, UNDETECTED, SecDed


def test_sizes() -> None:
    assert (SecDed(64).check_bits, SecDed(64).word_bits) == (7, 72)  # the (72, 64) code
    assert (SecDed(32).word_bits, SecDed(8).word_bits, SecDed(4).word_bits) == (39, 13, 8)
    with pytest.raises(ValueError):
        SecDed(0)


@pytest.mark.parametrize("data_bits", [8, 32, 64])
def test_every_single_flip_is_corrected_and_every_double_flip_detected(data_bits: int) -> None:
    code = SecDed(data_bits)
    rng = np.random.default_rng(data_bits)
    for _ in range(3):
        data = int(rng.integers(0, 2**data_bits, dtype=np.uint64)) if data_bits < 64 else int(rng.integers(0, 2**63))
        word = code.encode(data)
        assert code.decode(word) == (data, CLEAN)
        for p in range(code.word_bits):
            flipped = word.copy()
            flipped[p] ^= 1
            assert code.decode(flipped) == (data, CORRECTED)
        for p, q in itertools.combinations(range(code.word_bits), 2):
            flipped = word.copy()
            flipped[[p, q]] ^= 1
            assert code.decode(flipped)[1] == DETECTED


@pytest.mark.parametrize("width", [3, 4])
def test_classify_equals_decoding_real_words(width: int) -> None:
    code = SecDed(16)
    rng = np.random.default_rng(width)
    seen = set()
    for _ in range(400):
        data = int(rng.integers(0, 2**16))
        positions = rng.choice(code.word_bits, size=width, replace=False)
        word = code.encode(data)
        word[positions] ^= 1
        got, status = code.decode(word)
        if status == DETECTED:
            expected = DETECTED
        elif got == data:
            expected = CORRECTED
        else:
            expected = MISCORRECTED if status == CORRECTED else UNDETECTED
        assert code.classify(positions) == expected
        seen.add(expected)
    assert ({DETECTED, MISCORRECTED} if width == 3 else {DETECTED}) <= seen


def test_burst_outcomes_by_hand() -> None:
    code = SecDed(64)
    assert code.burst_outcomes(1) == {CORRECTED: 1.0} and code.burst_outcomes(2) == {DETECTED: 1.0}
    # positions 1, 2, 3: syndrome 1 ^ 2 ^ 3 = 0, odd weight: the decoder flips the parity bit (position 0)
    # and data bit 3 stays wrong
    assert code.classify(np.array([1, 2, 3])) == MISCORRECTED
    # positions 0, 1, 2: syndrome 3 (a data position) is flipped: data wrong
    assert code.classify(np.array([0, 1, 2])) == MISCORRECTED
    # positions 1, 2, 3, 4 hold check, check, data 3, check: syndrome 4, even weight: detected
    assert code.classify(np.array([1, 2, 3, 4])) == DETECTED
    # positions 1, 2, 4 (check bits) and 7 (data): syndrome 0, even weight: a codeword, wrong data, no flag
    assert code.classify(np.array([1, 2, 4, 7])) == UNDETECTED
    four = code.burst_outcomes(4)
    assert sum(four.values()) == pytest.approx(1.0) and set(four) <= {DETECTED, UNDETECTED}


def test_sram_fit_with_and_without_secded_by_hand() -> None:
    from simulator import api
    from simulator.reliability.environments import environment
    from simulator.reliability.sram import sram_fits

    hw = api.resolve_hw("edge_32x32", ["memory.sram.c.ecc=secded"])
    env = environment("sea_level")  # 1,000 FIT per Mbit
    plain = {x.name: x for x in sram_fits(hw, env)}
    a = plain["a"]
    assert a.data_bits == 8 * hw.memory.sram.a.size_bytes and a.secded_bits == a.data_bits // 64 * 72
    assert a.raw_fit == pytest.approx(1000 * a.data_bits / 1e6) == a.no_ecc["sdc"]
    # single-bit upsets only: SEC-DED corrects all of them (its check bits are exposed too)
    assert a.secded == pytest.approx({"sdc": 0, "due": 0, "refetch": 0, "corrected": 1000 * a.secded_bits / 1e6})
    assert (plain["a"].ecc, plain["c"].ecc) == ("none", "secded") and plain["c"].configured is plain["c"].secded
    # 20 % multi-bit upsets of 2, 3 or 4 adjacent bits: 2 -> detected; 3 -> miscorrected (every start, by
    # burst_outcomes); 4 -> detected or undetected by the code's syndromes
    mbu = {x.name: x for x in sram_fits(hw, env, 0.2, 4)}
    four = SecDed(64).burst_outcomes(4)
    w = 0.2 / 3
    stored = 1000 * a.secded_bits / 1e6
    assert mbu["a"].secded["corrected"] == pytest.approx(0.8 * stored)
    assert mbu["a"].secded["sdc"] == pytest.approx((w + w * four[UNDETECTED]) * stored)
    assert mbu["a"].secded["refetch"] == pytest.approx((w + w * four[DETECTED]) * stored)
    assert mbu["a"].secded["due"] == 0 and mbu["c"].secded["refetch"] == 0  # C has no other copy: DUE
    c = mbu["c"]  # the same fraction of C's upsets is DUE as of A's is a refetch
    assert c.secded["due"] / c.secded_bits == pytest.approx(mbu["a"].secded["refetch"] / a.secded_bits)
