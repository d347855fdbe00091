"""Fault sampling: Poisson counts, uniform placement, reproducible keying, permanent faults."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.codes import SITE_CODE
from simulator.faults.sampling import (
    FaultBatch,
    permanent_batch,
    sample_fold_faults,
    sample_gemm_faults,
    sample_permanent_faults,
)
from simulator.mapping.dataflow import mac_tau
from simulator.mapping.fold_table import fold_table
from simulator.mapping.tiling import iter_folds
from simulator.workload.gemm import Gemm

P_MIN = 1e-3  # goodness-of-fit tests at fixed seeds must not reject at this level
ROWS = COLS = 8


def chi_square_p(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson chi-square p-value; bins with expected < 5 are merged into their neighbour."""
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    expected = expected * observed.sum() / expected.sum()
    obs, exp, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5:
            obs.append(acc_o)
            exp.append(acc_e)
            acc_o = acc_e = 0.0
    if acc_e:
        obs[-1] += acc_o
        exp[-1] += acc_e
    return float(stats.chisquare(obs, exp).pvalue)


def lam_per_fold(gemm: Gemm, dataflow: Dataflow, spec: FaultSpec, datatype: Datatype) -> np.ndarray:
    folds = fold_table(dataflow, gemm.m, gemm.k, gemm.n, ROWS, COLS)
    bits = sum(spec.site_bits(s, datatype)[1] for s in spec.sites if s.in_pe)  # the PE sampler draws PE sites
    return folds.table[:, 2] * folds.table[:, 3] * folds.temporal * bits * spec.ber


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_fault_counts_per_fold_are_poisson(dataflow: Dataflow) -> None:
    gemm = Gemm("g", "fc1", 100, 60, 90, count=8)  # edge folds: heterogeneous expected counts
    spec = FaultSpec(ber=2.5e-5, seed=11)
    lam = lam_per_fold(gemm, dataflow, spec, Datatype.INT8)
    counts = []
    for inst in range(gemm.count):
        batch = sample_gemm_faults(spec, gemm, 0, inst, dataflow, Datatype.INT8, ROWS, COLS)
        counts.append(np.bincount(batch.fold_index, minlength=lam.size))
    counts = np.concatenate(counts)
    lam_all = np.tile(lam, gemm.count)
    top = int(counts.max()) + 1
    observed = np.bincount(counts, minlength=top + 1)[: top + 1].astype(float)
    expected = np.array(
        [stats.poisson.pmf(k, lam_all).sum() for k in range(top)] + [stats.poisson.sf(top - 1, lam_all).sum()]
    )
    observed[-1] = 0.0  # values >= top: none by construction of top
    assert chi_square_p(observed, expected) > P_MIN
    # The total is Poisson(sum lam): its standardised deviation stays moderate.
    assert abs(counts.sum() - lam_all.sum()) < 4 * np.sqrt(lam_all.sum())


def test_retry_counts_are_poisson() -> None:
    gemm = Gemm("g", "qkv", 64, 40, 64)
    spec = FaultSpec(ber=1e-4, sites=("acc",), seed=3)
    lam = 8 * 8 * 40 * 32 * spec.ber  # full folds only
    counts = np.array(
        [
            len(sample_fold_faults(spec, gemm, 2, 0, f, attempt, Dataflow.OS, Datatype.INT8, ROWS, COLS))
            for f in range(64)
            for attempt in range(1, 9)
        ]
    )
    top = int(counts.max()) + 1
    expected = [stats.poisson.pmf(k, lam) for k in range(top)] + [stats.poisson.sf(top - 1, lam)]
    assert chi_square_p(np.bincount(counts, minlength=top + 1), expected) > P_MIN


@pytest.fixture(scope="module")
def many_faults() -> tuple[FaultBatch, Gemm]:
    gemm = Gemm("g", "fc2", 60, 50, 45)  # OS folds 8 x 6, edge folds 4 rows / 5 cols
    spec = FaultSpec(ber=2e-3, seed=5)
    return sample_gemm_faults(spec, gemm, 1, 0, Dataflow.OS, Datatype.INT8, ROWS, COLS), gemm


def test_sites_weighted_by_word_bits(many_faults) -> None:
    batch, _ = many_faults
    observed = np.bincount(batch.site, minlength=4)
    widths = [Site(s).word_bits(Datatype.INT8) for s in ("acc", "mult", "a_reg", "b_reg")]  # 32, 16, 8, 8
    assert chi_square_p(observed, widths) > P_MIN


def test_bits_uniform_per_site(many_faults) -> None:
    batch, _ = many_faults
    for site in (s for s in Site if s.in_pe):  # the checksum sites: tests/test_checksum_faults.py
        bits = batch.bit[batch.site == SITE_CODE[site]]
        width = site.word_bits(Datatype.INT8)
        assert bits.min() >= 0 and bits.max() < width
        assert chi_square_p(np.bincount(bits, minlength=width), np.ones(width)) > P_MIN


def test_pes_and_cycles_uniform_over_active_slots(many_faults) -> None:
    batch, gemm = many_faults
    folds = fold_table(Dataflow.OS, gemm.m, gemm.k, gemm.n, ROWS, COLS)
    ru, cu = folds.table[batch.fold_index, 2], folds.table[batch.fold_index, 3]
    assert np.all(batch.row < ru) and np.all(batch.col < cu)
    tau = mac_tau(Dataflow.OS, ROWS, batch.row, batch.col, batch.cycle)
    assert np.all((tau >= 0) & (tau < gemm.k))
    assert chi_square_p(np.bincount(tau, minlength=gemm.k), np.ones(gemm.k)) > P_MIN
    for extent, index, used in ((ROWS, batch.row, ru), (COLS, batch.col, cu)):
        full = used == extent
        assert chi_square_p(np.bincount(index[full], minlength=extent), np.ones(extent)) > P_MIN
        part = used < extent  # edge folds: uniform over the used PEs only
        n_used = int(used[part].max())
        assert chi_square_p(np.bincount(index[part], minlength=n_used), np.ones(n_used)) > P_MIN
    pe = batch.row[(ru == ROWS) & (cu == COLS)] * COLS + batch.col[(ru == ROWS) & (cu == COLS)]
    assert chi_square_p(np.bincount(pe, minlength=ROWS * COLS), np.ones(ROWS * COLS)) > P_MIN


@pytest.mark.parametrize("dataflow", [Dataflow.WS, Dataflow.IS])
def test_ws_is_cycles_follow_mac_cycle(dataflow: Dataflow) -> None:
    gemm = Gemm("g", "qk", 30, 20, 25)
    batch = sample_gemm_faults(FaultSpec(ber=1e-3, seed=2), gemm, 0, 0, dataflow, Datatype.FP16, ROWS, COLS)
    folds = fold_table(dataflow, gemm.m, gemm.k, gemm.n, ROWS, COLS)
    tau = mac_tau(dataflow, ROWS, batch.row, batch.col, batch.cycle)
    assert len(batch) > 1000 and np.all((tau >= 0) & (tau < folds.temporal))
    assert chi_square_p(np.bincount(tau, minlength=folds.temporal), np.ones(folds.temporal)) > P_MIN


def test_bit_range_restricts_exposed_bits() -> None:
    spec = FaultSpec(ber=1e-3, bits=(4, 11), seed=9)
    batch = sample_gemm_faults(spec, Gemm("g", "fc1", 16, 16, 16), 0, 0, Dataflow.OS, Datatype.INT8, ROWS, COLS)
    assert np.all((batch.bit >= 4) & (batch.bit <= 11))
    operand = np.isin(batch.site, [SITE_CODE[Site.A_REG], SITE_CODE[Site.B_REG]])
    assert np.all(batch.bit[operand] <= 7)  # an int8 operand word has bits 0..7 only
    # exposed bits: acc 8, mult 8, a_reg 4, b_reg 4
    assert chi_square_p(np.bincount(batch.site, minlength=4), [8, 8, 4, 4]) > P_MIN
    with pytest.raises(ValueError, match="leaves no bit"):
        FaultSpec(ber=1e-3, bits=(20, 31), sites=("a_reg",)).site_bits(Site.A_REG, Datatype.INT8)


def test_same_keys_same_faults_and_no_hidden_state() -> None:
    gemm = Gemm("g", "fc1", 40, 30, 50, count=3)
    spec = FaultSpec(ber=1e-4, seed=123)
    args = (Dataflow.WS, Datatype.BF16, ROWS, COLS)
    first = sample_gemm_faults(spec, gemm, 4, 2, *args)
    sample_gemm_faults(spec, gemm, 4, 1, *args)  # other draws in between change nothing
    sample_fold_faults(spec, gemm, 4, 2, 3, 2, *args)
    again = sample_gemm_faults(spec, gemm, 4, 2, *args)
    assert len(first) > 0 and batches_equal(first, again)
    assert not batches_equal(first, sample_gemm_faults(spec, gemm, 5, 2, *args))  # other GEMM index
    assert not batches_equal(first, sample_gemm_faults(spec, gemm, 4, 1, *args))  # other instance
    reordered = FaultSpec(ber=1e-4, seed=123, sites=("b_reg", "a_reg", "mult", "acc"))
    assert batches_equal(first, sample_gemm_faults(reordered, gemm, 4, 2, *args))


def batches_equal(x: FaultBatch, y: FaultBatch) -> bool:
    cols = ("fold_index", "attempt", "ordinal", "row", "col", "cycle", "site", "bit", "mode")
    return len(x) == len(y) and all(np.array_equal(getattr(x, c), getattr(y, c)) for c in cols)


def test_per_fold_draws_match_the_gemm_draw_in_any_order() -> None:
    """Workers that sample fold by fold, in any order, see the GEMM-level draw; retries are per fold."""
    gemm = Gemm("g", "proj", 50, 40, 30)
    spec = FaultSpec(ber=5e-5, seed=77)
    args = (Dataflow.OS, Datatype.INT8, ROWS, COLS)
    whole = sample_gemm_faults(spec, gemm, 3, 0, *args)
    n_folds = len(fold_table(Dataflow.OS, 50, 40, 30, ROWS, COLS))
    policy_a = {f: sample_fold_faults(spec, gemm, 3, 0, f, 0, *args) for f in range(n_folds)}
    policy_b = {f: sample_fold_faults(spec, gemm, 3, 0, f, 0, *args) for f in reversed(range(n_folds))}
    for f in range(n_folds):
        assert batches_equal(policy_a[f], whole.select(whole.fold_index == f))
        assert batches_equal(policy_a[f], policy_b[f])
    retry_a = [sample_fold_faults(spec, gemm, 3, 0, f, 1, *args) for f in range(n_folds)]
    retry_b = [sample_fold_faults(spec, gemm, 3, 0, f, 1, *args) for f in reversed(range(n_folds))][::-1]
    assert all(batches_equal(x, y) for x, y in zip(retry_a, retry_b, strict=True))
    assert sum(len(r) for r in retry_a) > 0
    assert not batches_equal(retry_a[0].concat(retry_a[1]), policy_a[0].concat(policy_a[1]))
    again = sample_fold_faults(spec, gemm, 3, 0, 5, 2, *args)
    assert batches_equal(again, sample_fold_faults(spec, gemm, 3, 0, 5, 2, *args))
    assert all(np.all(r.attempt == 1) for r in retry_a)


def test_ids_are_unique_and_stable() -> None:
    gemm = Gemm("g", "fc1", 40, 30, 50)
    batch = sample_gemm_faults(FaultSpec(ber=1e-4, seed=1), gemm, 7, 0, Dataflow.OS, Datatype.INT8, ROWS, COLS)
    ids = batch.fault_ids()
    assert len(set(ids)) == len(ids) > 10
    events = batch.events()
    assert [e.fault_id for e in events] == ids
    e = events[3]
    assert e.fault_id == f"g7/i0/f{e.fold_index}/a0/{int(batch.ordinal[3])}"
    assert e.fault.site is Site(["acc", "mult", "a_reg", "b_reg"][int(batch.site[3])])


def test_restriction_to_gemms_and_kinds() -> None:
    args = (0, 0, Dataflow.OS, Datatype.INT8, ROWS, COLS)
    fc1, qk = Gemm("blk0.fc1", "fc1", 20, 20, 20), Gemm("blk0.qk", "qk", 20, 20, 20)
    assert len(sample_gemm_faults(FaultSpec(ber=1e-3, kinds=("qk",)), fc1, *args)) == 0
    assert len(sample_gemm_faults(FaultSpec(ber=1e-3, kinds=("qk",)), qk, *args)) > 0
    assert len(sample_gemm_faults(FaultSpec(ber=1e-3, gemms=("blk0.fc1",)), qk, *args)) == 0
    assert len(sample_gemm_faults(FaultSpec(ber=1e-3, gemms=("blk0.fc1",)), fc1, *args)) > 0
    assert len(sample_gemm_faults(FaultSpec(ber=0.0), fc1, *args)) == 0
    assert len(sample_gemm_faults(FaultSpec(ber=1e-3, kind="permanent"), fc1, *args)) == 0


def test_permanent_faults() -> None:
    spec = FaultSpec(kind="permanent", permanent_count=3000, stuck_value=0, seed=4)
    events = sample_permanent_faults(spec, Datatype.FP32, ROWS, COLS)
    assert events == sample_permanent_faults(spec, Datatype.FP32, ROWS, COLS)
    keys = {(e.fault.row, e.fault.col, e.fault.site, e.fault.bit) for e in events}
    assert len(keys) == 3000 and [e.fault_id for e in events] == [f"p{i}" for i in range(3000)]
    assert all(e.fault.kind is FaultKind.PERMANENT and e.fault.stuck_value == 0 for e in events)
    pe = np.array([e.fault.row * COLS + e.fault.col for e in events])
    assert chi_square_p(np.bincount(pe, minlength=ROWS * COLS), np.ones(ROWS * COLS)) > P_MIN
    sites = np.array([SITE_CODE[e.fault.site] for e in events])
    assert chi_square_p(np.bincount(sites, minlength=4), np.ones(4)) > P_MIN  # fp32: all words 32 bits
    bits = np.array([e.fault.bit for e in events])
    assert chi_square_p(np.bincount(bits, minlength=32), np.ones(32)) > P_MIN
    other = sample_permanent_faults(spec.model_copy(update={"seed": 5}), Datatype.FP32, ROWS, COLS)
    assert other != events
    assert sample_permanent_faults(FaultSpec(ber=1e-3), Datatype.FP32, ROWS, COLS) == ()
    batch = permanent_batch(events[:3], np.arange(4), gemm_index=2, instance=1)
    assert len(batch) == 12 and list(batch.fold_index) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    assert batch.fault_ids()[:4] == ["p0", "p1", "p2", "p0"]
    assert [batch.fault(i) for i in range(3)] == [e.fault for e in events[:3]]
    with pytest.raises(ValueError, match="exceeds"):
        sample_permanent_faults(FaultSpec(kind="permanent", permanent_count=10**6), Datatype.INT8, 2, 2)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.sampled_from(list(Dataflow)),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(1, 9),
    st.integers(1, 9),
)
def test_fold_table_is_iter_folds(dataflow, m, k, n, rows, cols) -> None:
    table = fold_table(dataflow, m, k, n, rows, cols)
    assert [table.fold(i) for i in range(len(table))] == list(iter_folds(dataflow, m, k, n, rows, cols))
