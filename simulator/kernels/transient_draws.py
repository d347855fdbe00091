"""A transient fault draw of one key (faults.sampling's PE faults, faults.checksum_faults' checksum
words) in one numba call, on numpy's own stream.

faults.sampling draws a GEMM instance's transient faults (attempt 0, or a recomputation attempt)
from `Generator(PCG64(SeedSequence(key)))`: Poisson counts per (fold, site) in C order, then each
fault's PE row, PE column, temporal step and bit within its site's window, one `integers` call per
column. Setting the Generator up and a dozen small numpy calls cost ~0.2 ms per draw, and an
accuracy study or a calibration draws thousands. `transient_draws` makes the same draws, value for
value, from the same stream (`checksum_word_draws` likewise for the checksum words, whose
placement also draws doubles):

* the SeedSequence hashing and PCG64 seeding, step and XSL-RR output of kernels.poisson_screen;
* `poisson(lam)` for 0 < lam < 10 by numpy's multiplication method (`prod *= U` while `prod >
  exp(-lam)`, U the 53-bit double of the next 64-bit output; no draw for lam == 0), the caller
  giving exp(-lam) from the C library's exp, which numpy's sampler calls (rates >= 10 are not
  handled: numpy draws those another way);
* `integers(0, high)` of an int64 column (array or scalar `high` alike) by Lemire's bounded method
  on 32-bit draws (a 64-bit output gives its low half first and keeps the high half for the next
  32-bit draw; a draw with high == 1 takes nothing), one column after the other.

Sources (the algorithms, written here from their descriptions, not copied): numpy.random's
documentation of Generator.poisson / Generator.integers and of the PCG64 bit generator (the 32-bit
draws from halves of a 64-bit output); D. Lemire, "Fast Random Integer Generation in an Interval",
ACM TOMACS 29(1), 2019 for the bounded integers; Knuth, TAOCP vol. 2, 3.4.1 for the multiplication
method. tests/test_transient_draws.py holds the kernel equal to numpy's Generator on random keys,
rates and bounds, and the sampler's two paths equal.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.poisson_screen import _M32, _SHIFT32, POISSON_MULT_MAX, _double, _output, _seeded, _step

_TWO_32 = 2**32


def kernel_draws(mbu_fraction: float, rates: np.ndarray, *bounds: np.ndarray) -> bool:
    """Whether a draw is the kernels' to make: single-bit upsets only (multi-bit widths are drawn
    after, by numpy), every Poisson mean < 10 (numpy draws larger ones another way) and every
    integers() bound < 2^32 (numpy draws larger ones from 64-bit words)."""
    if mbu_fraction > 0.0 or (rates.size and not float(rates.max()) < POISSON_MULT_MAX):
        return False
    return all(b.size == 0 or int(b.max()) < _TWO_32 for b in bounds)


@njit(cache=True)
def _bounded(
    high: np.int64, hi: np.uint64, lo: np.uint64, inc_hi: np.uint64, inc_lo: np.uint64, half: np.int64
) -> tuple[np.int64, np.uint64, np.uint64, np.int64]:
    """integers(0, high) (high < 2^32) by Lemire's method on 32-bit draws, and the new state; `half`:
    the kept high half of the last 64-bit output, or -1 when none is kept."""
    rng = np.uint64(high - 1)
    if rng == 0:
        return np.int64(0), hi, lo, half
    excl = rng + np.uint64(1)
    threshold = np.uint64(0)
    first = True
    while True:
        if half >= 0:
            word = np.uint64(half)
            half = np.int64(-1)
        else:
            hi, lo = _step(hi, lo, inc_hi, inc_lo)
            out = _output(hi, lo)
            word = out & _M32
            half = np.int64(out >> _SHIFT32)
        m = word * excl
        leftover = m & _M32
        if first:
            first = False
            if leftover >= excl:
                return np.int64(m >> _SHIFT32), hi, lo, half
            threshold = (_M32 - rng) % excl
        if leftover >= threshold:
            return np.int64(m >> _SHIFT32), hi, lo, half


@njit(cache=True)
def _poisson_positions(
    rates: np.ndarray,
    exp_neg: np.ndarray,
    n_sites: int,
    hi: np.uint64,
    lo: np.uint64,
    inc_hi: np.uint64,
    inc_lo: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.uint64, np.uint64]:
    """counts = poisson(rates) (C order over folds x n_sites, every rate < 10, exp_neg = exp(-rate)),
    as (fold position, site position) per fault in count order, and the new state."""
    n = rates.shape[0]
    counts = np.zeros(n, np.int64)
    for j in range(n):
        if rates[j] == 0.0:
            continue
        x = 0
        prod = 1.0
        while True:
            hi, lo = _step(hi, lo, inc_hi, inc_lo)
            prod *= _double(hi, lo)
            if prod > exp_neg[j]:
                x += 1
            else:
                break
        counts[j] = x
    total = int(counts.sum())
    fold_pos, site_pos = np.empty(total, np.int64), np.empty(total, np.int64)
    k = 0
    for j in range(n):
        for _ in range(counts[j]):
            fold_pos[k], site_pos[k] = j // n_sites, j % n_sites
            k += 1
    return fold_pos, site_pos, hi, lo


@njit(cache=True)
def transient_draws(
    entropy: np.ndarray,
    rates: np.ndarray,
    exp_neg: np.ndarray,
    n_sites: int,
    rows_used: np.ndarray,
    cols_used: np.ndarray,
    steps: np.ndarray,
    exposed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """numpy's draws, for the key whose SeedSequence entropy words are `entropy`, of
    counts = poisson(rates) (C order over folds x n_sites; every rate < 10, exp_neg = exp(-rate)),
    then per fault (in count order) integers(0, rows_used[fold]), integers(0, cols_used[fold]),
    integers(0, steps[fold]) and integers(0, exposed[site]), each a column drawn whole before the
    next (faults.sampling). Returns (fold position, site position, row, col, temporal step, bit
    offset) per fault."""
    hi, lo, inc_hi, inc_lo = _seeded(entropy)
    fold_pos, site_pos, hi, lo = _poisson_positions(rates, exp_neg, n_sites, hi, lo, inc_hi, inc_lo)
    total = fold_pos.shape[0]
    half = np.int64(-1)  # a fresh Generator keeps no half: the Poisson draws take whole 64-bit outputs
    columns = np.empty((4, total), np.int64)
    for c in range(4):
        for i in range(total):
            if c == 0:
                high = rows_used[fold_pos[i]]
            elif c == 1:
                high = cols_used[fold_pos[i]]
            elif c == 2:
                high = steps[fold_pos[i]]
            else:
                high = exposed[site_pos[i]]
            columns[c, i], hi, lo, half = _bounded(high, hi, lo, inc_hi, inc_lo, half)
    return fold_pos, site_pos, columns[0], columns[1], columns[2], columns[3]


@njit(cache=True)
def checksum_word_draws(
    entropy: np.ndarray,
    rates: np.ndarray,
    exp_neg: np.ndarray,
    n_sites: int,
    rows: np.ndarray,
    cols: np.ndarray,
    k: np.ndarray,
    exposed: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """numpy's draws of the checksum words' faults (faults.checksum_faults: `_sample_words`, then
    `place_words`): counts = poisson(rates) as `transient_draws`, then per fault, each a column drawn
    whole: random(), integers(0, rows[fold]), integers(0, cols[fold]), random(), integers(0, k[fold])
    and integers(0, exposed[site]) (a double takes a whole 64-bit output and leaves a kept 32-bit half
    kept). Returns (fold position, site position, u, x, y, v, K step, bit offset) per fault."""
    hi, lo, inc_hi, inc_lo = _seeded(entropy)
    fold_pos, site_pos, hi, lo = _poisson_positions(rates, exp_neg, n_sites, hi, lo, inc_hi, inc_lo)
    total = fold_pos.shape[0]
    half = np.int64(-1)
    uniform = np.empty((2, total), np.float64)
    columns = np.empty((4, total), np.int64)
    for c in range(6):
        for i in range(total):
            if c == 0 or c == 3:
                hi, lo = _step(hi, lo, inc_hi, inc_lo)
                uniform[c // 3, i] = _double(hi, lo)
                continue
            if c == 1:
                high = rows[fold_pos[i]]
            elif c == 2:
                high = cols[fold_pos[i]]
            elif c == 4:
                high = k[fold_pos[i]]
            else:
                high = exposed[site_pos[i]]
            at = c - 1 if c < 3 else c - 2
            columns[at, i], hi, lo, half = _bounded(high, hi, lo, inc_hi, inc_lo, half)
    return fold_pos, site_pos, uniform[0], columns[0], columns[1], uniform[1], columns[2], columns[3]
