"""kernels.fold_check.exact_fold_check(s) against their references: abft.checksum.block_deviations
(one block, tolerance 0) and verify.ledger.FoldErrors.mark_detected."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.abft.checksum import block_deviations
from simulator.abft.protocol import FoldVerification
from simulator.faults.effects import EffectBatch
from simulator.faults.sampling import FaultBatch
from simulator.kernels.codes import FLIP
from simulator.kernels.fold_check import exact_fold_check
from simulator.verify.ledger import FaultLedger, FoldErrors
from simulator.verify.verifier import _BATCHED_CHECK_FOLDS, _exact_checks


def _fold(rng: np.random.Generator, n_rows: int, n_cols: int, n_faults: int, n_errors: int) -> FoldErrors:
    state = FoldErrors("qkv", 1.0, (n_rows, n_cols), integer=True)
    state.rows = rng.integers(0, n_rows, n_errors)
    state.cols = rng.integers(0, n_cols, n_errors)
    # small deltas of both signs, zeros (masked) and exact cancellations within a row happen often
    state.delta = rng.integers(-3, 4, n_errors).astype(np.int64)
    state.alive = rng.random(n_errors) < 0.8
    state.owner = rng.integers(0, n_faults, n_errors) if n_faults else np.zeros(0, np.int64)
    state.detected = np.zeros(n_faults, bool)
    return state


def _reference(state: FoldErrors) -> tuple[list, np.ndarray]:
    """(blocks, faults marked detected) by the numpy path the verifier takes for other folds."""
    live = state.live()
    blocks = block_deviations(state.rows[live], state.cols[live], state.delta[live], state.shape) if live.any() else []
    state.mark_detected(FoldVerification("qkv", 1.0, tuple(blocks)))
    return blocks, state.detected


@pytest.mark.parametrize("seed", range(40))
def test_exact_fold_check_matches_block_deviations_and_mark_detected(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_cols = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    n_faults = int(rng.integers(0, 6))
    n_errors = int(rng.integers(0, 12)) if n_faults else 0
    state = _fold(rng, n_rows, n_cols, n_faults, n_errors)
    live, rsd, csd, flagged_rows, flagged_cols, detected = exact_fold_check(
        state.rows, state.cols, state.delta, state.alive, state.owner, n_rows, n_cols, n_faults
    )
    blocks, marked = _reference(state)
    assert live == int(state.live().sum())
    if not blocks:
        assert not rsd.any() and not csd.any()
        assert not detected.any()
        return
    (block,) = blocks
    assert rsd.dtype == np.int64 and csd.dtype == np.int64
    np.testing.assert_array_equal(rsd, block.rsd)
    np.testing.assert_array_equal(csd, block.csd)
    np.testing.assert_array_equal(flagged_rows, block.flagged_rows)
    np.testing.assert_array_equal(flagged_cols, block.flagged_cols)
    assert block.detected == bool(rsd.any() or csd.any())
    np.testing.assert_array_equal(detected, marked)


def test_exact_fold_check_hand_case():
    """Two faults in a 2 x 3 block: fault 0 leaves +5 at (0, 1) and -5 at (0, 2) (row 0 sums to 0,
    columns 1 and 2 flag); fault 1 leaves +2 at (1, 0), already rewritten (not alive)."""
    rows, cols = np.array([0, 0, 1]), np.array([1, 2, 0])
    delta, alive, owner = np.array([5, -5, 2], np.int64), np.array([True, True, False]), np.array([0, 0, 1])
    live, rsd, csd, flagged_rows, flagged_cols, detected = exact_fold_check(rows, cols, delta, alive, owner, 2, 3, 2)
    assert live == 2
    assert flagged_rows.tolist() == [] and flagged_cols.tolist() == [1, 2]
    assert rsd.tolist() == [0, 0]
    assert csd.tolist() == [0, 5, -5]
    assert detected.tolist() == [True, False]


def test_block_flags_follow_replace_and_with_flags():
    """A block's flags are its deviations' (replace() recomputes them, as checksum-unit faults
    rewrite a block's sums); with_flags keeps the ones the kernel found."""
    import dataclasses

    from simulator.abft.checksum import BlockDeviation

    block = BlockDeviation(0, 0, np.array([0, 4]), np.array([4, 0, 0]), np.zeros(2), np.zeros(3))
    assert block.flagged_rows.tolist() == [1] and block.flagged_cols.tolist() == [0] and block.detected
    cleared = dataclasses.replace(block, rsd=np.zeros(2, np.int64), csd=np.zeros(3, np.int64))
    assert cleared.flagged_rows.size == 0 and cleared.flagged_cols.size == 0 and not cleared.detected
    given = BlockDeviation.with_flags(0, 0, block.rsd, block.csd, block.row_tolerance, block.col_tolerance,
                                      np.array([1]), np.array([0]))  # fmt: skip
    assert given.flagged_rows.tolist() == [1] and given.detected and given.rsd is block.rsd


def _assert_checks_match_one_call_per_fold(states: list[FoldErrors], references: list[FoldErrors]) -> None:
    """verify.verifier._exact_checks over `states` against exact_fold_check on each of
    `references` (equal copies): the blocks, and the faults marked detected in place."""
    batched = _exact_checks(states)
    for state, ref, blocks in zip(states, references, batched, strict=True):
        live, rsd, csd, flagged_rows, flagged_cols, one_detected = exact_fold_check(
            ref.rows, ref.cols, ref.delta, ref.alive, ref.owner, *ref.shape, ref.fault_count
        )
        assert state.detected.tolist() == (ref.detected | one_detected).tolist()
        if not live:
            assert blocks == ()
            continue
        (block,) = blocks
        for mine, theirs in ((block.rsd, rsd), (block.csd, csd), (block.flagged_rows, flagged_rows),
                             (block.flagged_cols, flagged_cols)):  # fmt: skip
            assert mine.dtype == theirs.dtype and mine.tolist() == theirs.tolist()
        assert block.row_tolerance.tolist() == [0.0] * state.shape[0]
        assert block.detected == bool(rsd.any() or csd.any())


def _copy(state: FoldErrors) -> FoldErrors:
    twin = FoldErrors("qkv", 1.0, state.shape, integer=True)
    for c in ("rows", "cols", "delta", "alive", "owner", "detected"):
        setattr(twin, c, getattr(state, c).copy())
    return twin


@pytest.mark.parametrize("seed", range(20))
def test_a_round_of_folds_in_one_call_matches_one_call_per_fold(seed):
    """kernels.fold_check.exact_fold_checks over concatenated folds (verify.verifier._exact_checks
    of folds with arrays of their own, one call per check round of at least _BATCHED_CHECK_FOLDS
    folds) against exact_fold_check fold by fold."""
    rng = np.random.default_rng(1000 + seed)
    states = []
    for _ in range(int(rng.integers(_BATCHED_CHECK_FOLDS, 3 * _BATCHED_CHECK_FOLDS))):
        n_faults = int(rng.integers(0, 6))
        n_errors = int(rng.integers(0, 12)) if n_faults else 0
        states.append(_fold(rng, int(rng.integers(1, 9)), int(rng.integers(1, 9)), n_faults, n_errors))
    _assert_checks_match_one_call_per_fold(states, [_copy(s) for s in states])
    assert _exact_checks([]) == []  # (a short round takes exact_fold_check fold by fold)


@pytest.mark.parametrize("seed", range(10))
def test_folds_checked_in_their_ledger_segment_match_one_call_per_fold(seed):
    """kernels.fold_check.exact_range_checks (verify.verifier._exact_checks of folds that hold rows
    of a ledger segment: checked where they lie, detected marked in the segment) against
    exact_fold_check fold by fold, on two passes' segments, whole and partial reruns, folds whose
    part left its segment (loose) and folds without faults, in one round."""
    rng = np.random.default_rng(2000 + seed)
    in_segment = loose = 0
    for _ in range(5):
        ledger = FaultLedger(integer=True)
        n_folds = int(rng.integers(1, 12))
        shapes = [(int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(n_folds)]
        parts = [ledger.fold((0, 0, f), "qkv", 1.0, shapes[f]) for f in range(n_folds)]
        for round_ in range(2):
            batch_folds = np.sort(rng.integers(0, n_folds, int(rng.integers(0, 3 * n_folds))))
            batch, effects = _pass(rng, batch_folds, shapes)
            for f, lo, hi in _runs(batch_folds):
                written = None
                if round_ and rng.random() < 0.5:  # a partial rerun: the new faults join the part
                    written = rng.random(int(effects.offsets[hi] - effects.offsets[lo])) < 0.7
                elif round_:
                    parts[f].erase(None)  # a whole rerun: the part retires, the new faults start one
                parts[f].add(batch, lo, hi, effects, written)
            for part in parts:
                if part.fault_count and rng.random() < 0.3:
                    part.detected[int(rng.integers(0, part.fault_count))] = True
        in_segment += sum(p._home is not None for p in parts)
        loose += ledger.loose_parts
        _assert_checks_match_one_call_per_fold(parts, [_copy(p) for p in parts])
    assert in_segment and loose


def _pass(rng: np.random.Generator, folds: np.ndarray, shapes: list[tuple[int, int]]):
    """A pass's faults on `folds` (sorted) and their effects: 0-4 errors each, inside its fold's block."""
    n = folds.shape[0]
    sizes = rng.integers(0, 5, n)
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    owner_fold = np.repeat(folds, sizes)
    n_rows = np.array([shapes[f][0] for f in owner_fold], np.int64)
    n_cols = np.array([shapes[f][1] for f in owner_fold], np.int64)
    rows = (rng.random(owner_fold.shape[0]) * n_rows).astype(np.int64)
    cols = (rng.random(owner_fold.shape[0]) * n_cols).astype(np.int64)
    positions = np.stack([rows, cols, rows, cols], axis=1).astype(np.int64).reshape(-1, 4)
    col = np.arange(n, dtype=np.int64)
    batch = FaultBatch(0, 0, folds.astype(np.int64), np.zeros(n, np.int64), col, col, col, col,
                       np.zeros(n, np.int64), col, np.full(n, FLIP, np.int64))  # fmt: skip
    return batch, EffectBatch(offsets, positions, rng.integers(-3, 4, offsets[-1]).astype(np.int64))


def _runs(folds: np.ndarray) -> list[tuple[int, int, int]]:
    return [(int(f), int(np.searchsorted(folds, f)), int(np.searchsorted(folds, f, side="right")))
            for f in np.unique(folds)]  # fmt: skip
