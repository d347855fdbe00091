"""Multi-bit upsets: one particle strike flipping 2 to `max_bits` adjacent bits of one word.

An upset drawn by the sampler (one slot, one bit) is, with probability `fraction`, widened into a
multi-bit upset (MBU) of width w uniform over 2..max_bits: the flipped bits are w adjacent bits of the
same word at the same cycle, the drawn bit among them (the run is shifted down where it would leave
the site's exposed bits; a word with fewer exposed bits than w flips all of them). Each flipped bit
is one fault row (the same slot and site, adjacent bits), so `faults_injected` counts flipped bits.

Exactness: for integer words the error of flipping several distinct bits at once is the sum of the
errors of flipping each one alone (a two's-complement value is a weighted sum of its bits, and a
product or a sum is linear in it), so the kernels' per-fault effects, summed per output as the
ledger does, are exact. For floating-point words that sum is a first-order model (an exponent and a
mantissa bit flipped together do not add).

Measured ratio, for the default and the README: Sakamoto et al., "Multiple-Cell Upset Analysis on
16/12-nm Bulk FinFET SRAM Caused by Proton Irradiation", IEEE Trans. Nucl. Sci., 2025,
doi:10.1109/TNS.2025.3544154: at perpendicular incidence multiple-bit upsets within one word hardly
occurred in 16 and 12 nm FinFET SRAM (multiple-cell upsets of at most 3 cells, spread over words by
the bit interleaving); tilted at 75 degrees, 73 % of the multiple-cell events were multi-bit upsets,
of at most 2 bits. The default fraction is 0 (upsets flip one bit, as before); `mbu_fraction` is the
sensitivity knob.

Keying: the widths are drawn from the sampler's own Generator after all its other draws, and only
when `fraction` > 0, so a spec with fraction 0 draws exactly what it drew before MBUs existed and a
positive fraction widens the same upsets.
"""

from __future__ import annotations

import numpy as np


def widen(
    rng: np.random.Generator,
    fraction: float,
    max_bits: int,
    bit: np.ndarray,
    first: np.ndarray,
    exposed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(upset index of each flipped bit, the flipped bits) for upsets at bits `bit` of words whose exposed
    bits are first..first+exposed-1 (arrays per upset). Without MBUs: (arange(n), bit)."""
    n = int(bit.shape[0])
    if fraction <= 0.0 or n == 0:
        return np.arange(n, dtype=np.int64), bit.astype(np.int64)
    multi = rng.random(n) < fraction
    width = np.where(multi, rng.integers(2, max_bits + 1, size=n), 1)
    width = np.minimum(width, exposed).astype(np.int64)
    start = np.maximum(first, np.minimum(bit, first + exposed - width))
    upset = np.repeat(np.arange(n, dtype=np.int64), width)
    offset = np.arange(int(width.sum()), dtype=np.int64) - np.repeat(np.cumsum(width) - width, width)
    return upset, (start[upset] + offset).astype(np.int64)
