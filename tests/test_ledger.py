"""The fault ledger's column store: `FaultLedger.table()` (segments, loose parts, one sort) against
`table_by_parts` (one piece per fold part), by hand and on random verifier runs; a fold's error map
(kernels.error_map) against its numpy twin."""

from __future__ import annotations

import numpy as np
import pytest
from abft_driver import drive, small_hw
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.config.fault_spec import FaultSpec
from simulator.faults.effects import EffectBatch
from simulator.faults.sampling import FaultBatch
from simulator.kernels.codes import FLIP
from simulator.kernels.error_map import live_error_map, live_error_map_reference
from simulator.verify.ledger import FaultLedger, FoldErrors, LedgerTable
from simulator.workload.gemm import Gemm


def _batch(folds: list[int], ordinals: list[int]) -> FaultBatch:
    n = len(folds)
    col = np.arange(n, dtype=np.int64)
    return FaultBatch(0, 0, np.array(folds, np.int64), np.zeros(n, np.int64), np.array(ordinals, np.int64), col, col,
                      col, np.zeros(n, np.int64), col, np.full(n, FLIP, np.int64))  # fmt: skip


def _effects(sizes: list[int], deltas: list[int]) -> EffectBatch:
    offsets = np.r_[0, np.cumsum(sizes)].astype(np.int64)
    e = int(offsets[-1])
    positions = np.stack([np.arange(e), np.arange(e), 100 + np.arange(e), 200 + np.arange(e)], axis=1).astype(np.int64)
    return EffectBatch(offsets, positions, np.array(deltas, np.int64))


def assert_tables_equal(a: LedgerTable, b: LedgerTable) -> None:
    for name in LedgerTable.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        pairs = [(x[c], y[c]) for c in x] if isinstance(x, dict) else [(x, y)]
        for u, v in pairs:
            nan = u.dtype.kind == "f"  # a flip can make NaN
            assert u.dtype == v.dtype and np.array_equal(u, v, equal_nan=nan), name


def test_table_by_hand():
    """Fold (0,0,1) is created before (0,0,0): the table still lists fold 0 first.
    First pass A: f0 (fold 0, 1 element), f1 (fold 0, none), f2 (fold 1, 2 elements).
    Fold 0 is rerun whole (f0, f1 retire), then gets g0 from round B; fold 1 is rerun in part (f2's
    first element rewritten) and gets g1 on top of f2 (its part leaves segment A: a loose part)."""
    ledger = FaultLedger(integer=True)
    a, ea = _batch([0, 0, 1], [10, 11, 12]), _effects([1, 0, 2], [5, 6, 7])
    b, eb = _batch([0, 1], [20, 21]), _effects([1, 1], [8, 9])
    fold1 = ledger.fold((0, 0, 1), "fc1", 1.0, (4, 4))
    fold0 = ledger.fold((0, 0, 0), "fc1", 1.0, (4, 4))
    fold1.add(a, 2, 3, ea)
    fold0.add(a, 0, 2, ea)
    fold0.detected[0] = True  # in place: segment A sees it
    fold0.erase(None)
    fold0.add(b, 0, 1, eb)
    fold1.erase(np.array([True, False]))
    fold1.add(b, 1, 2, eb)
    fold1.detected[1] = True
    fold1.final = None
    fold1.gave_up = True
    table = ledger.table()
    assert table.faults["ordinal"].tolist() == [10, 11, 20, 12, 21]
    assert table.fold.tolist() == [0, 0, 0, 1, 1]
    assert table.detected.tolist() == [True, False, False, False, True]
    assert table.gave_up.tolist() == [False, False, False, True, True]
    assert table.owner.tolist() == [0, 2, 3, 3, 4]
    assert table.delta.tolist() == [5, 8, 6, 7, 9]
    assert table.alive.tolist() == [False, True, False, True, True]
    assert table.grows.tolist() == [100, 100, 101, 102, 101]
    assert_tables_equal(table, ledger.table_by_parts())


@pytest.mark.parametrize("seed", range(15))
def test_a_pass_added_at_once_matches_adding_it_part_by_part(seed):
    """FaultLedger.add_runs (a pass's fault-free parts take their segment rows together) against
    FoldErrors.add part by part: same table, same per-part flattening, over three passes with whole
    and partial reruns (partial ones go through add) and empty runs."""
    rng = np.random.default_rng(seed)
    n_folds = int(rng.integers(1, 8))
    by_part, at_once = FaultLedger(integer=True), FaultLedger(integer=True)
    ordinal = 0
    for round_ in range(3):
        folds = np.sort(rng.integers(0, n_folds, int(rng.integers(0, 3 * n_folds))))
        sizes = rng.integers(0, 3, folds.shape[0]).tolist()
        batch = _batch(folds.tolist(), list(range(ordinal, ordinal + folds.shape[0])))
        effects = _effects(sizes, rng.integers(-4, 5, sum(sizes)).tolist())
        ordinal += folds.shape[0]
        runs = []
        for f in np.unique(folds).tolist():
            lo, hi = int(np.searchsorted(folds, f)), int(np.searchsorted(folds, f, side="right"))
            n_elements = int(effects.offsets[hi] - effects.offsets[lo])
            partial = round_ and rng.random() < 0.4
            written = rng.random(n_elements) < 0.5 if partial else None
            whole = round_ and not partial and rng.random() < 0.7
            key = (0, int(rng.integers(0, 2)) if round_ == 0 else 0, f)
            runs.append((key, lo, hi, written, whole))
        for ledger in (by_part, at_once):
            parts = []
            for key, lo, hi, written, whole in runs:
                part = ledger.fold(key, "fc1", 1.0, (4, 4))
                if whole:
                    part.erase(None)
                parts.append((part, lo, hi, None if written is None else written.copy()))
            if ledger is by_part:
                for part, lo, hi, written in parts:
                    part.add(batch, lo, hi, effects, written)
            else:
                ledger.add_runs(batch, effects, parts)
    assert_tables_equal(at_once.table(), by_part.table())
    assert_tables_equal(at_once.table_by_parts(), by_part.table_by_parts())
    assert_tables_equal(at_once.table(), at_once.table_by_parts())


def test_empty_ledger_table():
    assert_tables_equal(FaultLedger(integer=False).table(), FaultLedger(integer=False).table_by_parts())
    assert len(FaultLedger(integer=True).table()) == 0


@pytest.mark.parametrize("datatype", ["int8", "fp16"])
@settings(max_examples=25, deadline=None)
@given(
    dataflow=st.sampled_from(["os", "ws", "is"]),
    policy=st.sampled_from(["abft", "abft_correct", "approx_abft", "dmr", "detect_only"]),
    seed=st.integers(0, 10**6),
    count=st.integers(1, 3),
)
def test_table_matches_the_per_part_flattening(datatype, dataflow, policy, seed, count):
    """Random verifier runs (whole and partial reruns, corrections, DMR): the column store's table is
    the per-part flattening, column by column."""
    spec = FaultSpec(ber=3e-4, seed=seed)
    gemms = [Gemm("g", "fc1", 11, 20, 9, count=count), Gemm("h", "qkv", 6, 9, 13)]
    verifier, _ = drive(small_hw(dataflow, datatype=datatype, retries=3), gemms, policy, spec)
    assert_tables_equal(verifier.ledger.table(), verifier.ledger.table_by_parts())


def test_partial_reruns_leave_loose_parts_that_the_table_keeps():
    """approx_abft reruns rows / columns: faults of a later pass join a part that still has faults."""
    hw, gemms = small_hw("os", retries=3), [Gemm("g", "fc1", 11, 20, 9, count=2)]
    loose = 0
    for seed in range(3):
        verifier, _ = drive(hw, gemms, "approx_abft", FaultSpec(ber=3e-4, seed=seed))
        loose += verifier.ledger.loose_parts
        assert_tables_equal(verifier.ledger.table(), verifier.ledger.table_by_parts())
    assert loose > 0


@pytest.mark.parametrize("integer", [True, False])
@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 40), transient_only=st.booleans())
def test_error_map_kernel_matches_its_numpy_twin(integer, seed, n, transient_only):
    """kernels.error_map.live_error_map against np.unique + np.add.at: same codes, same sums to the
    bit (float errors of one element are added in the order they were recorded), NaN kept."""
    rng = np.random.default_rng(seed)
    n_faults = 5
    rows, cols = rng.integers(0, 4, n), rng.integers(0, 3, n)  # few elements: many collide
    if integer:
        delta = rng.choice([-7, -1, 0, 1, 2, 7], n).astype(np.int64)
    else:
        delta = rng.choice([-0.1, 0.0, 0.3, 1e-17, 1e17, -1e17, np.nan], n)
    alive, owner = rng.random(n) < 0.8, rng.integers(0, n_faults, n)
    mode = rng.choice([FLIP, FLIP + 1], n_faults).astype(np.int64)
    args = (rows, cols, delta, alive, owner, mode, 3, transient_only)
    (keys, sums), (ref_keys, ref_sums) = live_error_map(*args), live_error_map_reference(*args)
    assert keys.tolist() == ref_keys.tolist() and sums.dtype == ref_sums.dtype
    assert np.array_equal(sums, ref_sums, equal_nan=not integer)


def test_error_map_by_hand():
    """Fold 2 x 3: errors (0,1) +2 and -2 cancel, (1,2) +5 and +1 sum to 6, (1,0) +4 is dead, (0,0)
    +3 comes from a stuck-at fault (left out with transient_only)."""
    fold = FoldErrors("fc1", 1.0, (2, 3), integer=True)
    batch = _batch([0, 0, 0], [0, 1, 2])
    batch = FaultBatch(0, 0, batch.fold_index, batch.attempt, batch.ordinal, batch.row, batch.col, batch.cycle,
                       batch.site, batch.bit, np.array([FLIP, FLIP, FLIP + 1], np.int64))  # fmt: skip
    offsets = np.array([0, 3, 5, 6], np.int64)
    positions = np.array([[0, 1, 0, 1], [1, 2, 1, 2], [1, 0, 1, 0], [0, 1, 0, 1], [1, 2, 1, 2], [0, 0, 0, 0]])
    fold.add(batch, 0, 3, EffectBatch(offsets, positions.astype(np.int64), np.array([2, 5, 4, -2, 1, 3], np.int64)))
    fold.alive[2] = False
    codes, sums = fold.error_map()
    assert codes.tolist() == [0, 5] and sums.tolist() == [3, 6]
    codes, sums = fold.error_map(transient_only=True)
    assert codes.tolist() == [5] and sums.tolist() == [6]


@pytest.mark.parametrize("integer", [True, False])
@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_folds=st.integers(0, 6))
def test_copies_differ_compares_each_folds_two_maps(integer, seed, n_folds):
    """kernels.error_map.copies_differ (a DMR round in one call) against comparing each fold's two
    maps from live_error_map_reference: the first copy's transient live errors in its element range
    (ranges may be empty), the second copy's every error in its range; NaN sums never equal."""
    from simulator.kernels.error_map import copies_differ

    rng = np.random.default_rng(seed)

    def column(n):
        if integer:
            return rng.choice([-2, -1, 0, 1, 2], n).astype(np.int64)
        return rng.choice([-0.5, 0.0, 0.5, 1.0, np.nan], n, p=[0.3, 0.2, 0.3, 0.15, 0.05])

    def ranges(n):  # consecutive, some empty
        cuts = np.sort(rng.integers(0, n + 1, 2 * n_folds)).reshape(-1, 2) if n_folds else np.zeros((0, 2), int)
        return cuts[:, 0].astype(np.int64), cuts[:, 1].astype(np.int64)

    n1, n2, n_faults = int(rng.integers(0, 30)), int(rng.integers(0, 30)), 6
    rows, cols, delta = rng.integers(0, 2, n1), rng.integers(0, 3, n1), column(n1)  # few elements: collisions
    alive, owner = rng.random(n1) < 0.8, rng.integers(0, n_faults, n1)
    mode = rng.choice([FLIP, FLIP + 1], n_faults).astype(np.int64)
    dup_rows, dup_cols, dup_delta = rng.integers(0, 2, n2), rng.integers(0, 3, n2), column(n2)
    lo, hi = ranges(n1)
    dlo, dhi = ranges(n2)
    n_cols = np.full(n_folds, 3, np.int64)
    got = copies_differ(rows, cols, delta, alive, owner, mode, lo, hi, n_cols, dup_rows, dup_cols, dup_delta, dlo, dhi)
    for i in range(n_folds):
        a, b, c, d = lo[i], hi[i], dlo[i], dhi[i]
        first = live_error_map_reference(rows[a:b], cols[a:b], delta[a:b], alive[a:b], owner[a:b], mode, 3, True)
        second = live_error_map_reference(dup_rows[c:d], dup_cols[c:d], dup_delta[c:d], np.ones(d - c, bool),
                                          np.zeros(d - c, np.int64), mode, 3, False)  # fmt: skip
        same = np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])
        assert got[i] == (not same)


def test_copies_differ_by_hand():
    """Fold 0: first copy (0,1) +2, second copy (0,1) +1 +1: the same map. Fold 1: first copy's
    only error is a stuck-at fault's (left out), second copy clean: the same. Fold 2: the second
    copy's (0,0) error cancels to 0 and is dropped, the first copy has (0,2) +1: they differ."""
    from simulator.kernels.error_map import copies_differ

    i64 = np.int64
    rows, cols, delta = np.array([0, 0, 0], i64), np.array([1, 0, 2], i64), np.array([2, 5, 1], i64)
    alive, owner, mode = np.ones(3, bool), np.array([0, 1, 2], i64), np.array([FLIP, FLIP + 1, FLIP], i64)
    lo, hi = np.array([0, 1, 2], i64), np.array([1, 2, 3], i64)
    dup_rows, dup_cols, dup_delta = np.zeros(4, i64), np.array([1, 1, 0, 0], i64), np.array([1, 1, 3, -3], i64)
    dlo, dhi = np.array([0, 2, 2], i64), np.array([2, 2, 4], i64)
    got = copies_differ(rows, cols, delta, alive, owner, mode, lo, hi, np.full(3, 3, i64), dup_rows, dup_cols,
                        dup_delta, dlo, dhi)  # fmt: skip
    assert got.tolist() == [False, False, True]


def _added_reference(table, keys, faults, flags, final_of, elements):
    """`with_added_faults` the plain way: both fault lists concatenated, one stable sort by (gemm,
    instance, fold, added after the table's), the elements' owners renumbered through it."""
    from simulator.verify.ledger import FAULT_COLUMNS

    gemm, instance, fold = keys
    n, m = len(gemm), len(table)
    finals = [final_of.get(k, (True, False)) for k in zip(gemm.tolist(), instance.tolist(), fold.tolist(), strict=True)]
    order = np.lexsort((np.r_[np.zeros(m, int), np.ones(n, int)], np.r_[table.fold, fold],
                        np.r_[table.instance, instance], np.r_[table.gemm, gemm]))  # fmt: skip
    position = np.argsort(order)

    def cat(old, new):
        return np.concatenate([old, new.astype(old.dtype)])[order]

    def grown(old, name):
        return old if elements is None else np.concatenate([old, getattr(elements, name).astype(old.dtype)])

    owner = table.owner if elements is None else np.r_[table.owner, elements.owner + m]
    return LedgerTable(
        gemm=cat(table.gemm, gemm), instance=cat(table.instance, instance), fold=cat(table.fold, fold),
        faults={c: cat(table.faults[c], faults[c]) for c in FAULT_COLUMNS},
        detected=cat(table.detected, flags["detected"]), corrected=cat(table.corrected, flags["corrected"]),
        accepted=cat(table.accepted, np.array([a for a, _ in finals], bool)),
        gave_up=cat(table.gave_up, np.array([g for _, g in finals], bool)), owner=position[owner],
        grows=grown(table.grows, "grows"), gcols=grown(table.gcols, "gcols"), delta=grown(table.delta, "delta"),
        alive=grown(table.alive, "alive"), false_alarm=cat(table.false_alarm, flags["false_alarm"]),
        hidden=cat(table.hidden, flags["hidden"]),
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(0, 30), n=st.integers(0, 12), with_elements=st.booleans())
def test_added_faults_merge_as_a_sort_would(seed, m, n, with_elements):
    """verify.ledger.with_added_faults (a merge into the key-ordered table) against concatenating and
    sorting both fault lists: same rows in the same order (an added fault after its fold's table
    rows, added faults of one fold in the order given), owners renumbered, finals looked up."""
    from simulator.verify.ledger import FAULT_COLUMNS, NewElements, with_added_faults

    rng = np.random.default_rng(seed)

    def keys(k):  # few distinct keys: many ties
        return tuple(rng.integers(0, 3, k).astype(np.int64) for _ in range(3))

    g, i, f = keys(m)
    order = np.lexsort((f, i, g))
    g, i, f = g[order], i[order], f[order]
    sizes = rng.integers(0, 3, m)
    e = int(sizes.sum())
    table = LedgerTable(
        gemm=g, instance=i, fold=f, faults={c: rng.integers(0, 99, m) for c in FAULT_COLUMNS},
        detected=rng.random(m) < 0.5, corrected=rng.random(m) < 0.5, accepted=rng.random(m) < 0.5,
        gave_up=rng.random(m) < 0.5, owner=np.repeat(np.arange(m), sizes), grows=rng.integers(0, 9, e),
        gcols=rng.integers(0, 9, e), delta=rng.integers(-5, 5, e), alive=rng.random(e) < 0.5,
        false_alarm=np.zeros(m, bool), hidden=np.zeros(m, bool),
    )  # fmt: skip
    added = keys(n)
    faults = {c: rng.integers(0, 99, n) for c in FAULT_COLUMNS}
    flags = {c: rng.random(n) < 0.5 for c in ("detected", "corrected", "false_alarm", "hidden")}
    final_of = {(0, 0, 0): (False, True), (1, 2, 1): (True, True)}
    elements = None
    if with_elements:
        k = int(rng.integers(0, 8))
        elements = NewElements(np.sort(rng.integers(0, max(n, 1), k)) if n else np.zeros(0, np.int64),
                               rng.integers(0, 9, k), rng.integers(0, 9, k), rng.integers(-5, 5, k),
                               rng.random(k) < 0.5)  # fmt: skip
    got = with_added_faults(table, added, faults, flags, final_of, elements)
    assert_tables_equal(got, _added_reference(table, added, faults, flags, final_of, elements))


def test_added_faults_need_a_key_ordered_table():
    from simulator.verify.ledger import FAULT_COLUMNS, with_added_faults

    two = np.array([1, 0], np.int64)
    table = LedgerTable(two, np.zeros(2, np.int64), np.zeros(2, np.int64), {c: np.zeros(2, np.int64) for c in
                        FAULT_COLUMNS}, *(np.zeros(2, bool) for _ in range(4)), *(np.zeros(0, np.int64) for _ in
                        range(4)), np.zeros(0, bool), np.zeros(2, bool), np.zeros(2, bool))  # fmt: skip
    one = np.zeros(1, np.int64)
    with pytest.raises(ValueError, match=r"not in \(gemm, instance, fold\) order"):
        with_added_faults(table, (one, one, one), {c: one for c in FAULT_COLUMNS},
                          {c: np.zeros(1, bool) for c in ("detected", "corrected", "false_alarm", "hidden")}, {})  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 12))
def test_copy_runs_moves_each_run_to_its_place(seed, n):
    """kernels.runs.copy_runs against slice assignments, for runs placed in a random order."""
    from simulator.kernels.runs import copy_runs

    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, 4, n)
    src = rng.integers(-99, 99, int(sizes.sum()) + 3)
    starts = rng.integers(0, 4, n)  # runs may overlap in the source; never in the destination
    placed = rng.permutation(n)
    dst_sizes = sizes[placed]
    dst_start = np.empty(n, np.int64)
    dst_start[placed] = np.cumsum(dst_sizes) - dst_sizes
    expected = np.full(int(sizes.sum()), 7, np.int64)
    for i in range(n):
        expected[dst_start[i] : dst_start[i] + sizes[i]] = src[starts[i] : starts[i] + sizes[i]]
    out = np.full(int(sizes.sum()), 7, np.int64)
    copy_runs(src, starts, sizes, dst_start, out)
    assert np.array_equal(out, expected)


@settings(max_examples=20, deadline=None)
@given(
    dataflow=st.sampled_from(["os", "ws", "is"]),
    policy=st.sampled_from(["abft", "abft_correct", "approx_abft", "detect_only"]),
    seed=st.integers(0, 10**6),
)
def test_checksum_faults_join_the_table_in_one_pass_as_a_merge_would_add_them(dataflow, policy, seed):
    """FaultLedger.table(checksum_log.rows()) against the ledger's table with the checksum-hardware
    faults merged in afterwards (ChecksumLog.merged: verify.ledger.with_added_faults), column by
    column, on random verifier runs whose checksum words and encoders are faulty too."""
    spec = FaultSpec(ber=3e-4, seed=seed, sites=("acc", "mult", "chk_pred", "chk_sum", "chk_cmp", "chk_enc"))
    gemms = [Gemm("g", "fc1", 11, 20, 9, count=2), Gemm("h", "qkv", 6, 9, 13)]
    verifier, _ = drive(small_hw(dataflow, retries=2), gemms, policy, spec)
    log = verifier.checksum_log
    merged = log.merged(verifier.ledger.table(), verifier.ledger.finals())
    assert len(log) > 0  # (~150 checksum-hardware faults at this rate)
    assert_tables_equal(verifier.ledger.table(log.rows()), merged)


def test_added_faults_must_sit_in_the_ledgers_folds():
    from simulator.verify.ledger import FAULT_COLUMNS, AddedFaults

    one = np.zeros(1, np.int64)
    added = AddedFaults((one, one, one), {c: one for c in FAULT_COLUMNS},
                        {c: np.zeros(1, bool) for c in ("detected", "corrected", "false_alarm", "hidden")})  # fmt: skip
    with pytest.raises(ValueError, match=r"fold \(0, 0, 0\) is not in the ledger"):
        FaultLedger(integer=True).table(added)
