"""SEC-DED ECC of an SRAM word: an extended Hamming code, and what it does with an upset's bit pattern.

The code (Hamming, Bell System Technical Journal 29(2), 1950, extended by an overall parity bit): a
word of k data bits is stored as n + 1 bits, n = k + r with 2^r >= k + r + 1 (k = 64: the (72, 64) code
of common SRAM ECC). Codeword position p = 1..n holds a check bit when p is a power of two and the data
bits in order otherwise; check bit 2^i is the parity of the positions with bit i set; position 0 holds
the parity of all others. Decoding computes the syndrome s (XOR of the positions of the set bits) and
the overall parity P: s = 0, P = 0: clean; P = 1: a single error at position s, corrected (s > n: an
uncorrectable pattern, detected); s != 0, P = 0: a double error, detected.

The code is linear, so what the decoder does with an upset depends only on the flipped positions (the
error pattern), never on the data: `classify` settles a pattern without decoding any word, and the tests
hold it equal to encoding and decoding random words. A single flip is corrected, a double flip detected,
by construction; three or more flips are detected, miscorrected (an odd pattern whose syndrome names a
valid position: the decoder flips one more bit and wrong data comes out) or undetected (an even pattern
that is a codeword), unless every bit left wrong is a check bit (the data comes out right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLEAN, CORRECTED, DETECTED, MISCORRECTED, UNDETECTED = "clean", "corrected", "detected", "miscorrected", "undetected"


@dataclass(frozen=True, slots=True)
class SecDed:
    """The extended Hamming SEC-DED code of `data_bits`-bit words."""

    data_bits: int = 64

    def __post_init__(self) -> None:
        if self.data_bits < 1:
            raise ValueError(f"data_bits must be >= 1, got {self.data_bits}")

    @classmethod
    def of_words(cls, data_bits: int | None) -> SecDed | None:
        """The code of `data_bits`-bit words, None for None (a scratchpad without ECC)."""
        return None if data_bits is None else cls(data_bits)

    @property
    def check_bits(self) -> int:
        """Hamming check bits r (2^r >= k + r + 1), without the overall parity bit."""
        r = 1
        while 2**r < self.data_bits + r + 1:
            r += 1
        return r

    @property
    def word_bits(self) -> int:
        """Stored bits per word: data + check + the overall parity bit (72 for 64 data bits)."""
        return self.data_bits + self.check_bits + 1

    def _data_positions(self) -> np.ndarray:
        n = self.data_bits + self.check_bits
        p = np.arange(1, n + 1)
        return p[(p & (p - 1)) != 0]

    def encode(self, data: int) -> np.ndarray:
        """The codeword (uint8 bits, position 0 first) of a data word (bit i of `data` is data bit i)."""
        if not 0 <= data < 2**self.data_bits:
            raise ValueError(f"data out of range for {self.data_bits} bits")
        word = np.zeros(self.word_bits, np.uint8)
        word[self._data_positions()] = [(data >> i) & 1 for i in range(self.data_bits)]
        syndrome = _syndrome(word)
        for i in range(self.check_bits):
            word[1 << i] = (syndrome >> i) & 1
        word[0] = int(word[1:].sum()) & 1
        return word

    def decode(self, word: np.ndarray) -> tuple[int, str]:
        """(data as read, what the decoder did: CLEAN, CORRECTED or DETECTED)."""
        word = np.array(word, np.uint8)
        s, parity = _syndrome(word), int(word.sum()) & 1
        status = CLEAN
        if parity:
            if s < self.word_bits:
                word[s] ^= 1  # s = 0: the overall parity bit itself
                status = CORRECTED
            else:
                status = DETECTED
        elif s:
            status = DETECTED
        bits = word[self._data_positions()]
        return int(sum(int(b) << i for i, b in enumerate(bits))), status

    def classify(self, positions: np.ndarray) -> str:
        """What reading the word gives after flips at codeword `positions` (distinct): CLEAN (no flip),
        CORRECTED (the data comes out right), DETECTED (flagged uncorrectable), MISCORRECTED (the decoder
        'corrects' a wrong bit and the data comes out wrong) or UNDETECTED (no flag, wrong data)."""
        flipped = {int(p) for p in np.asarray(positions, np.int64).ravel()}
        if not flipped:
            return CLEAN
        s = 0
        for p in flipped:
            if p:  # the overall parity bit is not in the syndrome
                s ^= p
        if len(flipped) % 2 == 0:
            if s:
                return DETECTED
            wrong = flipped
        elif s >= self.word_bits:
            return DETECTED
        else:
            wrong = flipped ^ {s}  # the decoder flips position s
        data = {int(p) for p in self._data_positions()}
        if not wrong & data:
            return CORRECTED
        return UNDETECTED if len(flipped) % 2 == 0 else MISCORRECTED

    def burst_outcomes(self, width: int) -> dict[str, float]:
        """Fractions of the adjacent `width`-bit bursts (every start position in the stored word) by outcome."""
        if not 1 <= width <= self.word_bits:
            raise ValueError(f"burst width must be in [1, {self.word_bits}], got {width}")
        starts = range(self.word_bits - width + 1)
        tally: dict[str, int] = {}
        for start in starts:
            outcome = self.classify(np.arange(start, start + width))
            tally[outcome] = tally.get(outcome, 0) + 1
        return {k: v / len(starts) for k, v in tally.items()}


def _syndrome(word: np.ndarray) -> int:
    """XOR of the positions (1..n) of the set bits."""
    set_positions = np.flatnonzero(word[1:]) + 1
    return int(np.bitwise_xor.reduce(set_positions)) if set_positions.size else 0
