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
the check runs, not what it holds. in_array's corner element (the checksum of the checksums,
(e^T A_i)(B e_j)) is not modelled: the check compares row and column words only, so no verdict reads it.

`chk_enc` (opt-in, Site.opt_in: not in the default site set) is the operand encoders that form the
prediction's operands: per block row group i (the h rows of a check block row) and K step t the column sum
(e^T A_i)_t = sum of A[m, t] over the group's rows, and per block column group j the row sum (B e_j)_t = sum
of B[t, n] over its columns. Each word is formed by a chain of adds (the first element loaded, every further
one added: h - 1 adds for a group of h rows), which is what abft.check_cost prices as encoding, (r - nb_r) k
+ (c - nb_c) k adds per fold check, on every placement: in_array encodes at the array's edge (the checksum
row / column it feeds in as an extra operand), checksum_pe in the checksum PEs' input adders, side_unit in
the unit's lanes; the words and adds are the same, so the exposure per checked fold attempt is Poisson(k (r
- nb_r + c - nb_c) x acc bits x ber) on all three. A group of one row (or column) has no encoder: its
operand is used as it is. Register width: the accumulator word (int32 for int8, fp32 otherwise). An exact
int8 sum of h values needs 8 + ceil(log2 h) bits, and an adder that narrow would expose fewer bits; the
model takes the accumulator width because the encoded word is the operand of the int32 (fp32) prediction
MACs, and the cost model prices an encoding add as it prices a verify add of the accumulator-wide chk_sum
words (one checksum add, metrics.energy's checksum_add_pj): one adder width for the unit, so the upper bits
are stored and can flip. A fault's coordinates: `axis` ROW_WORD for a row-group encoder e^T A_i (`line`: the
output row m of the fold's block whose A element the faulty add brings in, never the group's first row;
`block` = i = m // h) or COL_WORD for a column-group encoder B e_j (`line`: the output column n, `block` =
j); `step`: the K step t. A flip of bit b after that add changes the partial sum v to v XOR 2^b, delta = (v
XOR 2^b) - v (int32 two's complement, or the fp32 flip's difference), carried to the final word; then every
predicted column word n of block row i (all block columns) changes by delta x B[t, n] (int32 wrap arithmetic
on the exact predicted word; fp: first-order, in float64), and a predicted row word is unaffected;
symmetrically a B e_j fault changes every predicted row word m of block column j by A[m, t] x delta
(checksum_checks.checked_blocks applies it, encoder_shifts computes it).

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
blocks are run-wide ABFT options). `chk_enc` draws from its own stream, SeedSequence([seed, 12,
gemm_index, instance, a]) (12: unused by the streams above, faults.sram_faults 8, faults.output_faults
9-10, faults.operands 4, reliability's campaigns 6, 8, 11), in this order: the Poisson counts per fold,
then for all faults the axis draw, the position draw, the K step, the bit, then the multi-bit widths; so
selecting it leaves the other sites' faults exactly as they were. Its faults follow the other checksum
faults of their fold (ordinals after theirs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.codes import CHECKSUM_SITES, SITE_CODE, SITE_OF_CODE
from simulator.faults.mbu import widen
from simulator.kernels.codes import CHK_CMP, CHK_ENC, CHK_PRED, CHK_SUM, T_CU, T_RU
from simulator.kernels.poisson_screen import entropy_words, exp_neg
from simulator.kernels.transient_draws import checksum_word_draws, kernel_draws
from simulator.mapping.dataflow import geometry_of
from simulator.mapping.fold_table import FoldTable

STREAM_CHECKSUM = 7
STREAM_ENCODER = 12
ROW_WORD, COL_WORD = 0, 1  # chk_enc: ROW_WORD = a row-group encoder e^T A_i, COL_WORD = a column-group one B e_j
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
        CHK_ENC: geom.k * encoder_adds(geom).astype(np.float64),
    }


def encoder_adds(geom: CheckGeometry) -> np.ndarray:
    """Adds per K step of a fold's operand encoders (abft.check_cost's encoding): (r - nb_r) for the
    row-group words e^T A_i plus (c - nb_c) for the column-group words B e_j."""
    return (geom.rows - geom.n_block_rows) + (geom.cols - geom.n_block_cols)


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
    """Codes of the checksum sites a spec selects, canonical order (chk_enc included)."""
    return [SITE_CODE[s] for s in CHECKSUM_SITES if s in spec.sites]


def sample_checksum_faults(
    spec: FaultSpec,
    geom: CheckGeometry,
    datatype: Datatype,
    gemm_index: int,
    instance: int,
    attempt: int,
    means: tuple[np.ndarray, np.ndarray] | None = None,
) -> ChecksumFaults:
    """The checksum-hardware transients of attempt `attempt` of every fold of one GEMM instance (the caller
    checks that the GEMM is selected and the policy checks checksums). See the module doc for the keying:
    the words' draw, then (chk_enc selected) the encoders' own, each fold's encoder faults last. `means`:
    the words' Poisson means (word_rates, C order) and exp(-mean) of each, if the caller has them."""
    words = _sample_words(spec, geom, datatype, gemm_index, instance, attempt, means)
    if Site.CHK_ENC not in spec.sites or spec.kind is not FaultKind.TRANSIENT or spec.ber == 0.0:
        return words
    encoders = sample_encoder_faults(spec, geom, datatype, gemm_index, instance, attempt)
    return merged_after(words, encoders)


def merged_after(first: ChecksumFaults, then: ChecksumFaults) -> ChecksumFaults:
    """`first` and `then` in fold order, each fold's `then` faults after its `first` ones (ordinals renumbered
    after them; `first`'s unchanged)."""
    if not len(then):
        return first
    if not len(first):
        return then
    used = np.bincount(first.fold_index, minlength=int(then.fold_index.max()) + 1)
    shifted = dataclasses.replace(then, ordinal=then.ordinal + used[then.fold_index])
    columns = {c: np.concatenate([getattr(first, c), getattr(shifted, c)]) for c in _COLUMNS}
    order = np.argsort(columns["fold_index"], kind="stable")
    return ChecksumFaults(first.gemm_index, first.instance, **{c: v[order] for c, v in columns.items()})


def word_sites(spec: FaultSpec) -> list[int]:
    """Codes of the checksum word sites (chk_pred / chk_sum / chk_cmp) a spec selects: the words' draw
    (chk_enc has a stream of its own)."""
    return [s for s in checksum_sites(spec) if s != CHK_ENC]


def word_rates(spec: FaultSpec, geom: CheckGeometry, datatype: Datatype) -> np.ndarray:
    """The Poisson means (folds x word_sites) the words' draw of an instance and attempt starts from
    (what `_sample_words` hands rng.poisson; faults.draw_cache screens the draws they leave empty)."""
    sites = word_sites(spec)
    return _word_rates(spec, geom, sites, _word_windows(spec, sites, datatype))


def _word_windows(spec: FaultSpec, sites: list[int], datatype: Datatype) -> np.ndarray:
    return np.array([spec.site_bits(SITE_OF_CODE[s], datatype) for s in sites], np.int64).reshape(len(sites), 2)


def _word_rates(spec: FaultSpec, geom: CheckGeometry, sites: list[int], windows: np.ndarray) -> np.ndarray:
    ops = checksum_operations(geom)
    return np.stack([ops[s] for s in sites], axis=1) * windows[None, :, 1] * spec.ber


def _sample_words(
    spec: FaultSpec,
    geom: CheckGeometry,
    datatype: Datatype,
    gemm_index: int,
    instance: int,
    attempt: int,
    means: tuple[np.ndarray, np.ndarray] | None = None,
) -> ChecksumFaults:
    """The faults of the words chk_pred / chk_sum / chk_cmp (stream 7; chk_enc has its own)."""
    sites = word_sites(spec)
    if spec.kind is not FaultKind.TRANSIENT or spec.ber == 0.0 or not sites:
        return ChecksumFaults.empty(gemm_index, instance)
    key = (spec.seed, STREAM_CHECKSUM, gemm_index, instance, attempt)
    windows = _word_windows(spec, sites, datatype)
    # folds x sites in C order (the caller's means are word_rates', as faults.sampling takes its own)
    rates = means[0] if means is not None else _word_rates(spec, geom, sites, windows).ravel()
    if not kernel_draws(spec.mbu_fraction, rates, geom.rows, geom.cols, geom.k):
        f, site, axis, line, block, step, upset, bit = _numpy_words(key, spec, geom, sites, windows, rates)
    else:  # the same draws in one kernels.transient_draws call (exp(-rate) by the C library's exp, as numpy's)
        f, s_pos, u, x, y, v, step_k, offset = checksum_word_draws(
            np.array(entropy_words(key), np.uint64), rates, means[1] if means is not None else exp_neg(rates),
            len(sites), geom.rows, geom.cols, geom.k, windows[:, 1],
        )  # fmt: skip
        site = np.array(sites, np.int64)[s_pos]
        axis, line, block, step = _placed(site, geom, f, u, x, y, v, step_k)
        bit, upset = windows[s_pos, 0] + offset, np.arange(f.shape[0])
    if f.shape[0] == 0:
        return ChecksumFaults.empty(gemm_index, instance)
    f, site, axis, line, block, step = (a[upset] for a in (f, site, axis, line, block, step))
    per_fold = np.bincount(f, minlength=geom.rows.shape[0])
    ordinal = np.arange(f.shape[0]) - (np.cumsum(per_fold) - per_fold)[f]
    n = f.shape[0]
    return ChecksumFaults(gemm_index, instance, f.astype(np.int64), np.full(n, attempt, np.int64),
                          ordinal.astype(np.int64), site, axis, line.astype(np.int64), block, step, bit)  # fmt: skip


def _numpy_words(
    key: tuple[int, ...], spec: FaultSpec, geom: CheckGeometry, sites: list[int], windows: np.ndarray, rates: np.ndarray
) -> tuple[np.ndarray, ...]:
    """`_sample_words`' draws by numpy's Generator itself (any mean, multi-bit upsets; the kernel's
    oracle), `rates` the Poisson means per (fold, site), C order: (fold, site, axis, line, block, step)
    per fault, then the upset of each flipped bit and its bit."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))
    counts = rng.poisson(rates).astype(np.int64).ravel()  # (drawn in C order whatever the shape)
    pos = np.repeat(np.arange(counts.size), counts)
    f, s_pos = pos // len(sites), pos % len(sites)
    site = np.array(sites, np.int64)[s_pos]
    axis, line, block, step = place_words(rng, site, geom, f)
    bit = windows[s_pos, 0] + rng.integers(0, windows[s_pos, 1])
    upset, bit = widen(rng, spec.mbu_fraction, spec.mbu_max_bits, bit, windows[s_pos, 0], windows[s_pos, 1])
    return f, site, axis, line, block, step, upset, bit


def sample_encoder_faults(
    spec: FaultSpec, geom: CheckGeometry, datatype: Datatype, gemm_index: int, instance: int, attempt: int
) -> ChecksumFaults:
    """The chk_enc transients of attempt `attempt` of every fold of one GEMM instance (stream 12, module doc):
    Poisson(k (r - nb_r + c - nb_c) x bits x ber) per fold, uniform over the encoders' adds."""
    seq = np.random.SeedSequence([spec.seed, STREAM_ENCODER, gemm_index, instance, attempt])
    rng = np.random.Generator(np.random.PCG64(seq))
    first, width = spec.site_bits(Site.CHK_ENC, datatype)
    counts = rng.poisson(checksum_operations(geom)[CHK_ENC] * width * spec.ber).astype(np.int64)
    f = np.repeat(np.arange(counts.shape[0]), counts)
    if not f.shape[0]:
        return ChecksumFaults.empty(gemm_index, instance)
    axis, line, block, step = place_encoder_adds(rng, geom, f)
    bit = first + rng.integers(0, width, f.shape[0])
    upset, bit = widen(
        rng, spec.mbu_fraction, spec.mbu_max_bits, bit, np.full_like(bit, first), np.full_like(bit, width)
    )
    f, axis, line, block, step = (a[upset] for a in (f, axis, line, block, step))
    per_fold = np.bincount(f, minlength=geom.rows.shape[0])
    ordinal = np.arange(f.shape[0]) - (np.cumsum(per_fold) - per_fold)[f]
    n, code = f.shape[0], np.full(f.shape[0], CHK_ENC, np.int64)
    return ChecksumFaults(gemm_index, instance, f.astype(np.int64), np.full(n, attempt, np.int64),
                          ordinal.astype(np.int64), code, axis, line, block, step, bit)  # fmt: skip


def place_encoder_adds(
    rng: np.random.Generator, geom: CheckGeometry, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(axis, line, block, step) of encoder faults in folds `f`, uniform over the encoders' adds: the axis
    (row groups with probability (r - nb_r) / (r - nb_r + c - nb_c)), then the add (uniform over the rows,
    or columns, that are not the first of their group: the add that brings that line in), then the K step.
    Draws, in order: the axis, the position, the K step."""
    total = int(f.shape[0])
    r, c, k = geom.rows[f], geom.cols[f], geom.k[f]
    br, bc, nbr, nbc = geom.block_rows[f], geom.block_cols[f], geom.n_block_rows[f], geom.n_block_cols[f]
    row_adds, col_adds = r - nbr, c - nbc
    u, v = rng.random(total), rng.random(total)
    step = rng.integers(0, k).astype(np.int64)
    axis = np.where(u * (row_adds + col_adds) < row_adds, ROW_WORD, COL_WORD).astype(np.int64)
    adds = np.where(axis == ROW_WORD, row_adds, col_adds)
    size = np.where(axis == ROW_WORD, br, bc)
    pos = np.minimum(np.floor(v * adds), adds - 1).astype(np.int64)  # which add of the axis' encoders
    block = pos // np.maximum(size - 1, 1)
    line = block * size + 1 + pos - block * (size - 1)
    return axis, line.astype(np.int64), block.astype(np.int64), step


def place_words(
    rng: np.random.Generator, site: np.ndarray, geom: CheckGeometry, f: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(axis, line, block, step) of faults at sites `site` in folds `f`, uniform over each site's operations:
    chk_pred / chk_cmp uniform over words (r nb_c row words, c nb_r column words; chk_pred then uniform over
    its k steps); chk_sum uniform over its operations, i.e. an output (x, y) added into its row word (half)
    or its column word. Draws, in order: the axis, the row, the column, the block, the K step."""
    total = int(site.shape[0])
    u = rng.random(total)
    x = rng.integers(0, geom.rows[f])
    y = rng.integers(0, geom.cols[f])
    v = rng.random(total)
    step_k = rng.integers(0, geom.k[f])
    return _placed(site, geom, f, u, x, y, v, step_k)


def _placed(
    site: np.ndarray,
    geom: CheckGeometry,
    f: np.ndarray,
    u: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    v: np.ndarray,
    step_k: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`place_words` from its draws (u, v uniform doubles; x, y, step_k a row, column and K step)."""
    r, c = geom.rows[f], geom.cols[f]
    br, bc, nbr, nbc = geom.block_rows[f], geom.block_cols[f], geom.n_block_rows[f], geom.n_block_cols[f]
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
        if site == CHK_ENC:  # the encoder's partial sum after the add that brings `line` in
            if axis == ROW_WORD:
                value = a[(line // br) * br : line + 1, step].sum()
            else:
                value = b[step, (line // bc) * bc : line + 1].sum()
        elif axis == ROW_WORD:
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


def encoder_shifts(
    faults: ChecksumFaults,
    deltas: np.ndarray,
    a_block: np.ndarray,
    b_block: np.ndarray,
    block_shape: tuple[int, int],
) -> list[np.ndarray]:
    """Per fault of one fold (chk_enc ones; others get an empty array) the change of the predicted words its
    encoder word feeds, given `deltas` (word_deltas of word_values): a row-group fault (e^T A_i at step t) the
    c predicted column words of block row i, delta x B[t, n]; a column-group one (B e_j) the r predicted row
    words of block column j, A[m, t] x delta. Integer words: the exact int32 (wrapping) change of each
    predicted word (int64); fp: delta x operand in float64 (first order, as for the other sites)."""
    integer = np.issubdtype(a_block.dtype, np.integer)
    a = a_block.astype(np.int64 if integer else np.float64)
    b = b_block.astype(np.int64 if integer else np.float64)
    r, c = a.shape[0], b.shape[1]
    br = block_shape[0] if 0 < block_shape[0] < r else r
    bc = block_shape[1] if 0 < block_shape[1] < c else c
    out: list[np.ndarray] = []
    for i in range(len(faults)):
        if int(faults.site[i]) != CHK_ENC:
            out.append(np.zeros(0, np.int64 if integer else np.float64))
            continue
        blk, step = int(faults.block[i]), int(faults.step[i])
        if int(faults.axis[i]) == ROW_WORD:
            operand = b[step]
            clean = a[blk * br : (blk + 1) * br].sum(axis=0) @ b  # the predicted column words of block row i
        else:
            operand = a[:, step]
            clean = a @ b[:, blk * bc : (blk + 1) * bc].sum(axis=1)  # the predicted row words of block column j
        if integer:
            delta = np.int64(deltas[i])
            out.append(_wrap32(clean + delta * operand) - _wrap32(clean))
        else:
            out.append(float(deltas[i]) * operand)
    return out


def _wrap32(values: np.ndarray) -> np.ndarray:
    """int64 values as an int32 register holds them (two's complement), as int64."""
    return ((values + 2**31) % 2**32) - 2**31
