"""kernels.checksum_check against its references: faults.checksum_faults.word_values / word_deltas,
verify.checksum_checks.checked_blocks (one integer block, tolerance 0) and FoldErrors.mark_detected,
by hand and on random folds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.abft.checksum import block_deviations
from simulator.abft.protocol import FoldVerification
from simulator.faults.checksum_faults import COL_WORD, ROW_WORD, ChecksumFaults, word_deltas, word_values
from simulator.kernels.checksum_check import (
    exact_check_with_checksum_faults,
    exact_checked_block,
    exact_range_check_with_checksum_faults,
    int32_flip_deltas,
    int_word_values,
)
from simulator.kernels.codes import CHK_CMP, CHK_PRED, CHK_SUM
from simulator.verify.checksum_checks import checked_blocks
from simulator.verify.ledger import FoldErrors

A = np.array([[1, 2], [3, 4]], np.int8)  # r = 2 output rows, k = 2
B = np.array([[5, 6, 7], [8, 9, 10]], np.int8)  # c = 3 output columns; C = [[21, 24, 27], [47, 54, 61]]


def _faults(site, axis, line, block, step, bit) -> ChecksumFaults:
    cols = [np.asarray(x, np.int64) for x in (site, axis, line, block, step, bit)]
    z = np.zeros(cols[0].size, np.int64)
    return ChecksumFaults(0, 0, z, z, np.arange(z.size, dtype=np.int64), *cols)


def _values(f: ChecksumFaults, a: np.ndarray, b: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    r, c = a.shape[0], b.shape[1]
    br = block[0] if 0 < block[0] < r else r
    bc = block[1] if 0 < block[1] < c else c
    return int_word_values(f.site, f.axis == ROW_WORD, f.line, f.block, f.step, a, b, br, bc)


def test_word_values_by_hand() -> None:
    """The by-hand words of tests/test_checksum_faults.py: B e = [18, 27], e^T A = [4, 6]."""
    f = _faults([CHK_PRED, CHK_PRED, CHK_PRED, CHK_SUM, CHK_SUM, CHK_CMP],
                [ROW_WORD, ROW_WORD, COL_WORD, ROW_WORD, COL_WORD, ROW_WORD],
                [0, 0, 1, 1, 2, 0], [0] * 6, [0, 1, 0, 1, 0, 0], [0] * 6)  # fmt: skip
    assert _values(f, A, B, (0, 0)).tolist() == [18, 72, 24, 101, 27, 0]
    g = _faults([CHK_PRED, CHK_SUM], [ROW_WORD, ROW_WORD], [0, 1], [2, 1], [1, 0], [0, 0])
    assert _values(g, A, B, (0, 1)).tolist() == [27, 54]


def test_checked_block_by_hand() -> None:
    """Data error +3 at (1, 2): row 1 and column 2 flagged. A chk_sum flip adds 4 to row 0's actual
    word (a false alarm on row 0), a chk_pred flip adds 3 to column 2's prediction (the check sees
    3 - 3 = 0: hidden), one latch flip on row 1 inverts its verdict (tolerance +inf: hidden)."""
    rsd, csd = np.array([0, 3], np.int64), np.array([0, 0, 3], np.int64)
    site = np.array([CHK_SUM, CHK_PRED, CHK_CMP], np.int64)
    row_word = np.array([True, False, True])
    line = np.array([0, 2, 1], np.int64)
    deltas = np.array([4, 3, 0], np.int64)
    r, c, rt, ct, rows, cols, false_alarm, hidden = exact_checked_block(rsd, csd, site, row_word, line, deltas)
    assert r.tolist() == [4, 3] and c.tolist() == [0, 0, 0]
    assert rt.tolist() == [0.0, np.inf] and ct.tolist() == [0.0] * 3
    assert rows.tolist() == [0] and cols.tolist() == []
    assert false_alarm.tolist() == [True, False, False] and hidden.tolist() == [False, True, True]
    assert rsd.tolist() == [0, 3]  # the inputs are not changed


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    r=st.integers(1, 9),
    c=st.integers(1, 9),
    k=st.integers(1, 12),
    n_faults=st.integers(1, 8),
    n_errors=st.integers(0, 6),
    block=st.tuples(st.integers(0, 4), st.integers(0, 4)),
)
def test_kernels_match_their_references(seed, r, c, k, n_faults, n_errors, block):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (r, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, c)).astype(np.int8)
    site = rng.choice([CHK_PRED, CHK_SUM, CHK_CMP], n_faults)
    axis = rng.choice([ROW_WORD, COL_WORD], n_faults)
    br = block[0] if 0 < block[0] < r else r
    bc = block[1] if 0 < block[1] < c else c
    line = np.where(axis == ROW_WORD, rng.integers(0, r, n_faults), rng.integers(0, c, n_faults))
    n_blocks = np.where(axis == ROW_WORD, -(-c // bc), -(-r // br))
    blk = rng.integers(0, n_blocks)
    width = np.where(axis == ROW_WORD, np.minimum(bc, c - blk * bc), np.minimum(br, r - blk * br))
    step = np.where(
        site == CHK_PRED, rng.integers(0, k, n_faults), np.where(site == CHK_SUM, rng.integers(0, width), 0)
    )
    bit = rng.integers(0, 32, n_faults)
    f = _faults(site, axis, line, blk, step, bit)
    values = word_values(f, a, b, block)
    assert _values(f, a, b, block).tolist() == values.astype(np.int64).tolist()

    # one whole-fold block: the checked block and the verdict flags
    one = _faults(site, axis, line, np.zeros(n_faults, np.int64), step, bit)
    deltas = word_deltas(word_values(one, a, b, (0, 0)), one.bit, integer=True)
    rows, cols = rng.integers(0, r, n_errors), rng.integers(0, c, n_errors)
    delta = rng.choice([-(2**20), -3, 1, 2, 7, 2**30], n_errors).astype(np.int64)
    data = block_deviations(rows, cols, delta, (r, c))
    ref = checked_blocks(data, one, deltas, (r, c), (0, 0), None, integer=True)
    rsd = data[0].rsd if data else np.zeros(r, np.int64)
    csd = data[0].csd if data else np.zeros(c, np.int64)
    got = exact_checked_block(rsd, csd, one.site, one.axis == ROW_WORD, one.line, deltas)
    (expected,) = ref.blocks
    for mine, theirs in zip(got[:6], (expected.rsd, expected.csd, expected.row_tolerance, expected.col_tolerance,
                                      expected.flagged_rows, expected.flagged_cols), strict=True):  # fmt: skip
        assert mine.dtype == theirs.dtype and mine.tolist() == theirs.tolist()
    assert got[6].tolist() == ref.false_alarm.tolist() and got[7].tolist() == ref.hidden.tolist()


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), seed=st.integers(0, 2**32 - 1))
def test_int32_flip_deltas_match_word_deltas(values, seed):
    bits = np.random.default_rng(seed).integers(0, 32, len(values))
    expected = word_deltas(np.array(values, np.float64), bits, integer=True)
    assert int32_flip_deltas(np.array(values, np.int64), bits).tolist() == expected.tolist()


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    r=st.integers(1, 8),
    c=st.integers(1, 8),
    k=st.integers(1, 10),
    n_faults=st.integers(1, 6),
    n_data_faults=st.integers(0, 5),
)
def test_one_call_check_matches_the_verifier_s_reference_path(seed, r, c, k, n_faults, n_data_faults):
    """exact_check_with_checksum_faults against what the verifier does for other folds: word_values,
    word_deltas, block_deviations over the live errors, checked_blocks, FoldErrors.mark_detected."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (r, k)).astype(np.int8)
    b = rng.integers(-128, 128, (k, c)).astype(np.int8)
    site = rng.choice([CHK_PRED, CHK_SUM, CHK_CMP], n_faults)
    axis = rng.choice([ROW_WORD, COL_WORD], n_faults)
    line = np.where(axis == ROW_WORD, rng.integers(0, r, n_faults), rng.integers(0, c, n_faults))
    width = np.where(axis == ROW_WORD, c, r)
    step = np.where(
        site == CHK_PRED, rng.integers(0, k, n_faults), np.where(site == CHK_SUM, rng.integers(0, width), 0)
    )
    f = _faults(site, axis, line, np.zeros(n_faults, np.int64), step, rng.integers(0, 32, n_faults))
    state = FoldErrors("fc1", 1.0, (r, c), integer=True)
    n_errors = int(rng.integers(0, 10)) if n_data_faults else 0
    state.rows, state.cols = rng.integers(0, r, n_errors), rng.integers(0, c, n_errors)
    state.delta = rng.choice([-(2**31), -5, 0, 1, 3, 2**12], n_errors).astype(np.int64)
    state.alive = rng.random(n_errors) < 0.8
    state.owner = rng.integers(0, n_data_faults, n_errors) if n_data_faults else np.zeros(0, np.int64)
    state.detected = np.zeros(n_data_faults, bool)

    live = state.live()
    data = block_deviations(state.rows[live], state.cols[live], state.delta[live], (r, c))
    deltas = word_deltas(word_values(f, a, b, (0, 0)), f.bit, integer=True)
    ref = checked_blocks(data, f, deltas, (r, c), (0, 0), None, integer=True)
    state.mark_detected(FoldVerification("fc1", 1.0, ref.blocks))
    got = exact_check_with_checksum_faults(state.rows, state.cols, state.delta, state.alive, state.owner,
                                           n_data_faults, f.site, f.axis == ROW_WORD, f.line, f.block, f.step,
                                           f.bit, a, b)  # fmt: skip
    # the same fold where a ledger segment keeps it: among other folds' elements, owners offset
    pad, shift = int(rng.integers(0, 4)), int(rng.integers(0, 3))
    junk = rng.integers(0, min(r, c), pad)

    def padded(x: np.ndarray, filler: np.ndarray) -> np.ndarray:
        return np.concatenate([filler.astype(x.dtype), x, filler.astype(x.dtype)])

    in_place = np.zeros(n_data_faults + 2 * shift, bool)
    ranged = exact_range_check_with_checksum_faults(
        padded(state.rows, junk), padded(state.cols, junk), padded(state.delta, junk + 1),
        padded(state.alive, np.ones(pad, bool)), padded(state.owner + shift, np.zeros(pad, np.int64)), pad,
        pad + state.delta.shape[0], in_place, f.site, f.axis == ROW_WORD, f.line, f.block, f.step, f.bit, a, b,
    )  # fmt: skip
    assert in_place[shift : shift + n_data_faults].tolist() == state.detected.tolist() and not in_place[:shift].any()
    assert not in_place[shift + n_data_faults :].any()
    for mine, theirs in zip(ranged, got, strict=False):
        assert mine.dtype == theirs.dtype and mine.tolist() == theirs.tolist()
    (expected,) = ref.blocks
    for mine, theirs in zip(got, (expected.rsd, expected.csd, expected.row_tolerance, expected.col_tolerance,
                                  expected.flagged_rows, expected.flagged_cols, ref.false_alarm, ref.hidden,
                                  state.detected), strict=True):  # fmt: skip
        assert mine.dtype == theirs.dtype and mine.tolist() == theirs.tolist()
