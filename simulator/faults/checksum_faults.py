"""Soft errors in the checksum hardware: where they strike (exposure, sampling) and what they change.

A fold's Huang-Abraham check (abft.checksum, abft.check_cost) keeps, per check block of h x w
outputs, one word per block row and one per block column in each of three places:

* `chk_pred`: the predicted sums A (B e) (row words) and (e^T A) B (column words), accumulated over
  the fold's K-extent k, one multiply-accumulate per step: a word takes k operations;
* `chk_sum`: the actual sums C e and e^T C of the drained outputs: a row word adds the w outputs of
  its block row, a column word the h of its block column (2 h w operations per block);
* `chk_cmp`: the comparator's verdict latch of each row and column compare, one bit written once.

Rate convention (as for the PE registers, faults.sampling): a bit of a word flips with probability
`ber` per operation that writes the word, so a fold check's flips per site are
Poisson(operations x word bits x ber): chk_pred k (r nb_c + c nb_r) x acc bits, chk_sum 2 r c x acc
bits, chk_cmp (r nb_c + c nb_r) x 1 bit, for an r x c output block in nb_r x nb_c check blocks. The
words and operations are those abft.check_cost prices on every placement (in_array: the array's
checksum row / column PEs hold the predicted sums; checksum_pe: the extra PE row / column; side_unit:
the unit's lanes), so the exposure per check is the same on all three; the placement changes when
the check runs, not what it holds. in_array's corner element (the checksum of the checksums) and the
operand encoders e^T A, B e are not modelled.

Effects (exact for integer words): a flip of bit b of a word at its operation s changes the word's
value v_s (its clean partial sum after s + 1 operations, int32) to v_s XOR 2^b, and every later
operation adds on, so the final word differs by delta = (v_s XOR 2^b) - v_s in two's complement
(+-2^b). A predicted word's delta shifts its deviation (actual - predicted) by -delta, an actual
sum's by +delta. In floating point v_s is the float64 partial sum rounded to fp32 and delta the fp32
flip's difference, carried to the final word unchanged (later additions' rounding is not re-run: a
first-order model, far below the check's round-off tolerance). A verdict-latch flip inverts the
verdict of its row or column. So on a fold with no data error a flip makes the check see a deviation
(a false alarm, and a wasted recomputation under a recomputing policy); on a faulty fold it can hide
a real error's flag.

Keying (faults.sampling uses streams 1-3, the verifier's DMR copy 5, reliability's single faults 6):
attempt a of every fold of a GEMM instance draws from SeedSequence([seed, 7, gemm_index, instance,
a]), one Generator, in this order: the Poisson counts (folds x checksum sites, fold-major), then for
all faults at once the axis draw, the row, the column, the block draw, the K step, the bit, then
(mbu_fraction > 0) the multi-bit widths. Every checking policy of a run sees the same draw (the check
blocks are run-wide ABFT options).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow, Datatype, FaultKind
from simulator.config.fault_spec import FaultSpec
from simulator.faults.codes import CHECKSUM_SITES, SITE_CODE, SITE_OF_CODE
from simulator.faults.mbu import widen
from simulator.kernels.codes import CHK_CMP, CHK_PRED, CHK_SUM, T_CU, T_RU
from simulator.mapping.dataflow import geometry_of
from simulator.mapping.fold_table import FoldTable

STREAM_CHECKSUM = 7
ROW_WORD, COL_WORD = 0, 1
_COLUMNS = ("fold_index", "attempt", "ordinal", "site", "axis", "line", "block", "step", "bit")


@dataclass(frozen=True, slots=True)
class CheckGeometry:
    """Per fold: output block rows r, cols c, K-extent k, and the check blocks' sizes (br, bc: the block
    shape with 0 meaning the whole extent) and counts nb_r, nb_c."""

    rows: np.ndarray
    cols: np.ndarray
    k: np.ndarray
    block_rows: np.ndarray
    block_cols: np.ndarray
    n_block_rows: np.ndarray
    n_block_cols: np.ndarray

    @property
    def words(self) -> np.ndarray:
        """Row words plus column words of a fold's check (per site; one verdict bit each)."""
        return self.rows * self.n_block_cols + self.cols * self.n_block_rows


def check_geometry(dataflow: Dataflow, folds: FoldTable, block: tuple[int, int] = (0, 0)) -> CheckGeometry:
    """The check of every fold of a GEMM (abft.check_cost.check_extents, vectorised): OS ru x cu outputs
    over the fold's K steps (all of K, or its chunk); WS M x cu partial sums over ru; IS cu x N over ru."""
    g = geometry_of(dataflow)
    extent = dict(zip(g.dims, (folds.table[:, T_RU], folds.table[:, T_CU], folds.steps), strict=True))
    r, c, k = (np.asarray(extent[d], np.int64) for d in ("m", "n", "k"))
    br = np.where((block[0] <= 0) | (block[0] >= r), r, block[0]).astype(np.int64)
    bc = np.where((block[1] <= 0) | (block[1] >= c), c, block[1]).astype(np.int64)
    return CheckGeometry(r, c, k, br, bc, -(-r // br), -(-c // bc))


def checksum_operations(geom: CheckGeometry) -> dict[int, np.ndarray]:
    """Operations that write a word of each checksum site, per fold (site code -> float64 array)."""
    words = geom.words.astype(np.float64)
    return {
        CHK_PRED: geom.k * words,
        CHK_SUM: 2.0 * geom.rows * geom.cols,
        CHK_CMP: words,
    }


@dataclass(frozen=True, slots=True)
class ChecksumFaults:
    """Checksum-hardware faults of one GEMM instance and attempt, fold order, as parallel int64 arrays.

    `axis`: ROW_WORD (the word of output row `line` of the fold block, in block column `block`) or
    COL_WORD (output column `line`, block row `block`); `step`: the operation after which the bit flips
    (0..k-1 for chk_pred, the position in the block row / column for chk_sum, 0 for chk_cmp);
    `ordinal`: index among the checksum faults of its fold and attempt.
    """

    gemm_index: int
    instance: int
    fold_index: np.ndarray
    attempt: np.ndarray
    ordinal: np.ndarray
    site: np.ndarray
    axis: np.ndarray
    line: np.ndarray
    block: np.ndarray
    step: np.ndarray
    bit: np.ndarray

    def __len__(self) -> int:
        return int(self.fold_index.shape[0])

    @classmethod
    def empty(cls, gemm_index: int, instance: int) -> ChecksumFaults:
        return cls(gemm_index, instance, *(np.zeros(0, np.int64) for _ in _COLUMNS))

    def select(self, mask: np.ndarray | slice) -> ChecksumFaults:
        return ChecksumFaults(self.gemm_index, self.instance, *(getattr(self, c)[mask] for c in _COLUMNS))

    def of_fold(self, fold_index: int) -> ChecksumFaults:
        lo, hi = np.searchsorted(self.fold_index, [fold_index, fold_index + 1])
        return self.select(slice(int(lo), int(hi)))


def checksum_sites(spec: FaultSpec) -> list[int]:
    """Codes of the checksum sites a spec selects, canonical order."""
    return [SITE_CODE[s] for s in CHECKSUM_SITES if s in spec.sites]


def sample_checksum_faults(
    spec: FaultSpec,
    geom: CheckGeometry,
    datatype: Datatype,
    gemm_index: int,
    instance: int,
    attempt: int,
) -> ChecksumFaults:
    """The checksum-hardware transients of attempt `attempt` of every fold of one GEMM instance (the caller
    checks that the GEMM is selected and the policy checks checksums). See the module doc for the keying."""
    sites = checksum_sites(spec)
    if spec.kind is not FaultKind.TRANSIENT or spec.ber == 0.0 or not sites:
        return ChecksumFaults.empty(gemm_index, instance)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec.seed, STREAM_CHECKSUM, gemm_index,
                                                                       instance, attempt])))  # fmt: skip
    windows = np.array([spec.site_bits(SITE_OF_CODE[s], datatype) for s in sites], np.int64)
    ops = checksum_operations(geom)
    rates = np.stack([ops[s] for s in sites], axis=1) * windows[None, :, 1] * spec.ber
    counts = rng.poisson(rates).astype(np.int64)  # folds x sites
    total = int(counts.sum())
    if total == 0:
        return ChecksumFaults.empty(gemm_index, instance)
    pos = np.repeat(np.arange(counts.size), counts.ravel())
    f, s_pos = pos // len(sites), pos % len(sites)
    site = np.array(sites, np.int64)[s_pos]
    axis, line, block, step = place_words(rng, site, geom, f)
    bit = windows[s_pos, 0] + rng.integers(0, windows[s_pos, 1])
    upset, bit = widen(rng, spec.mbu_fraction, spec.mbu_max_bits, bit, windows[s_pos, 0], windows[s_pos, 1])
    f, site, axis, line, block, step = (a[upset] for a in (f, site, axis, line, block, step))
    per_fold = np.bincount(f, minlength=geom.rows.shape[0])
    ordinal = np.arange(f.shape[0]) - (np.cumsum(per_fold) - per_fold)[f]
    n = f.shape[0]
    return ChecksumFaults(gemm_index, instance, f.astype(np.int64), np.full(n, attempt, np.int64),
                          ordinal.astype(np.int64), site, axis, line.astype(np.int64), block, step, bit)  # fmt: skip


def place_words(
    rng: np.random.Generator, site: np.ndarray, geom: CheckGeometry, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(axis, line, block, step) of faults at sites `site` in folds `f`, uniform over each site's operations:
    chk_pred / chk_cmp uniform over words (r nb_c row words, c nb_r column words; chk_pred then uniform over
    its k steps); chk_sum uniform over its operations, i.e. an output (x, y) added into its row word (half)
    or its column word. Draws, in order: the axis, the row, the column, the block, the K step."""
    total = int(site.shape[0])
    r, c, k = geom.rows[f], geom.cols[f], geom.k[f]
    br, bc, nbr, nbc = geom.block_rows[f], geom.block_cols[f], geom.n_block_rows[f], geom.n_block_cols[f]
    u = rng.random(total)
    x = rng.integers(0, r)
    y = rng.integers(0, c)
    v = rng.random(total)
    step_k = rng.integers(0, k)
    summed = site == CHK_SUM
    row_share = np.where(summed, 0.5, (r * nbc) / (r * nbc + c * nbr))
    axis = np.where(u < row_share, ROW_WORD, COL_WORD).astype(np.int64)
    line = np.where(axis == ROW_WORD, x, y).astype(np.int64)
    n_words = np.where(axis == ROW_WORD, nbc, nbr)
    word_block = np.minimum(np.floor(v * n_words), n_words - 1)
    block = np.where(summed, np.where(axis == ROW_WORD, y // bc, x // br), word_block).astype(np.int64)
    sum_step = np.where(axis == ROW_WORD, y - (y // bc) * bc, x - (x // br) * br)
    step = np.where(summed, sum_step, np.where(site == CHK_PRED, step_k, 0)).astype(np.int64)
    return axis, line, block, step


def word_values(
    faults: ChecksumFaults, a_block: np.ndarray, b_block: np.ndarray, block_shape: tuple[int, int]
) -> np.ndarray:
    """The clean value of each fault's word right after its operation `step` (float64; integer blocks
    give exact integers): one fold's faults, its operand blocks (output = a_block @ b_block)."""
    integer = np.issubdtype(a_block.dtype, np.integer)
    dtype = np.int64 if integer else np.float64
    a, b = a_block.astype(dtype), b_block.astype(dtype)
    r, c = a.shape[0], b.shape[1]
    br = block_shape[0] if 0 < block_shape[0] < r else r
    bc = block_shape[1] if 0 < block_shape[1] < c else c
    out = np.zeros(len(faults), np.float64)
    for i in range(len(faults)):
        site, axis, line, blk, step = (int(getattr(faults, n)[i]) for n in ("site", "axis", "line", "block", "step"))
        if site == CHK_CMP:
            continue
        if axis == ROW_WORD:
            lo, hi = blk * bc, min(c, (blk + 1) * bc)
            if site == CHK_PRED:
                value = a[line, : step + 1] @ b[: step + 1, lo:hi].sum(axis=1)
            else:
                value = (a[line] @ b[:, lo : lo + step + 1]).sum()
        else:
            lo, hi = blk * br, min(r, (blk + 1) * br)
            if site == CHK_PRED:
                value = a[lo:hi, : step + 1].sum(axis=0) @ b[: step + 1, line]
            else:
                value = (a[lo : lo + step + 1] @ b[:, line]).sum()
        out[i] = float(value)
    return out


def word_deltas(values: np.ndarray, bits: np.ndarray, integer: bool) -> np.ndarray:
    """(flipped - value) of words holding `values` when bit `bits` flips: int32 two's complement words
    (int64 result), or fp32 words (float64 result; inf / NaN when the flip makes one)."""
    bits = np.asarray(bits, np.int64)
    if integer:
        word = ((np.asarray(values).astype(np.int64) + 2**31) % 2**32) - 2**31
        flipped = word ^ (np.int64(1) << bits)
        flipped = ((flipped + 2**31) % 2**32) - 2**31
        return flipped - word
    word32 = np.asarray(values, np.float64).astype(np.float32)
    flipped = (word32.view(np.uint32) ^ (np.uint32(1) << bits.astype(np.uint32))).view(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        return flipped.astype(np.float64) - word32.astype(np.float64)
