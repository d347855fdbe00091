"""kernels.transient_draws against numpy's own Generator, and faults.sampling's two paths against each other."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.config.enums import Dataflow, Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.faults.checksum_faults import (
    STREAM_CHECKSUM,
    _numpy_words,
    check_geometry,
    sample_checksum_faults,
    word_rates,
    word_sites,
)
from simulator.faults.codes import SITE_OF_CODE
from simulator.faults.sampling import (
    STREAM_GEMM,
    STREAM_RETRY,
    _draw_transients,
    _numpy_draws,
    pe_windows,
    sample_attempt_faults,
    sample_gemm_faults,
    transient_rates,
)
from simulator.kernels.codes import T_CU, T_RU, T_TT
from simulator.kernels.poisson_screen import entropy_words, exp_neg
from simulator.kernels.transient_draws import checksum_word_draws, kernel_draws, transient_draws
from simulator.mapping.fold_table import fold_table
from simulator.mapping.loop_order import ROWS, LoopOrder
from simulator.workload.gemm import Gemm


def _numpy(key, rates, n_sites, ru, cu, steps, exposed):
    """The draws as numpy makes them: poisson over the (folds x sites) rates, then one integers call per column."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))
    counts = rng.poisson(rates.reshape(-1, n_sites)).ravel()
    pos = np.repeat(np.arange(counts.size), counts)
    fold_pos, site_pos = pos // n_sites, pos % n_sites
    columns = [rng.integers(0, ru[fold_pos]), rng.integers(0, cu[fold_pos]), rng.integers(0, steps[fold_pos]),
               rng.integers(0, exposed[site_pos])]  # fmt: skip
    return fold_pos, site_pos, *columns


def _case(seed: int):
    rs = np.random.default_rng(seed)
    key = (int(rs.choice([rs.integers(0, 2**31), rs.integers(2**32, 2**45)])), int(rs.integers(0, 6)),
           int(rs.integers(0, 80)), int(rs.integers(0, 50)))  # fmt: skip
    folds, n_sites = int(rs.integers(1, 40)), int(rs.integers(1, 8))
    rates = rs.random(folds * n_sites) * rs.choice([0.002, 0.3, 2.0, 9.5])  # every mean < 10
    rates[rs.random(rates.size) < 0.25] = 0.0  # no draw for a zero mean
    bound = int(rs.choice([2, 40, 3000, 2**31 + 12345, 2**32 - 1]))  # large bounds reject often (Lemire)
    ru, cu, steps = (rs.integers(1, bound + 1, folds) for _ in range(3))
    ru[rs.random(folds) < 0.2] = 1  # a bound of 1 draws nothing
    exposed = rs.integers(1, 33, n_sites)
    return key, rates, n_sites, ru, cu, steps, exposed


@pytest.mark.parametrize("seed", range(60))
def test_the_kernel_draws_numpys_values_from_numpys_stream(seed):
    key, rates, n_sites, ru, cu, steps, exposed = _case(seed)
    exp_neg = np.array([math.exp(-r) for r in rates.tolist()])
    got = transient_draws(np.array(entropy_words(key), np.uint64), rates, exp_neg, n_sites, ru, cu, steps, exposed)
    want = _numpy(key, rates, n_sites, ru, cu, steps, exposed)
    for name, g, w in zip(("fold", "site", "row", "col", "step", "bit"), got, want, strict=True):
        assert g.dtype == np.int64 and np.array_equal(g, w), name


def test_a_draw_with_only_zero_means_or_unit_bounds_is_exactly_numpys():
    key = (7, STREAM_GEMM, 0, 0)
    ones = np.ones(5, np.int64)
    rates = np.zeros(10)
    got = transient_draws(np.array(entropy_words(key), np.uint64), rates, np.ones(10), 2, ones, ones, ones, ones[:2])
    assert all(x.shape == (0,) for x in got)
    rates = np.full(10, 3.0)  # many faults, every bound 1: every column is zeros and no 32-bit draw is made
    got = transient_draws(np.array(entropy_words(key), np.uint64), rates, np.exp(-rates), 2, ones, ones, ones, ones[:2])
    want = _numpy(key, rates, 2, ones, ones, ones, ones[:2])
    assert got[0].shape[0] > 10 and all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


SPECS = [
    FaultSpec(ber=3e-5, seed=1),
    FaultSpec(ber=2e-4, seed=2**40 + 3, sites=("acc", "mult", "a_reg", "b_reg")),
    FaultSpec(ber=1e-4, seed=9, sites=("acc",), bits=(0, 7)),
    FaultSpec(ber=4e-5, seed=5, mbu_fraction=0.3),  # multi-bit upsets: numpy's Generator draws them
    FaultSpec(ber=0.02, seed=4, sites=("acc",)),  # means >= 10: numpy's Generator draws them
]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("dataflow", "order"), [(Dataflow.OS, None), (Dataflow.WS, None),
                                                 (Dataflow.OS, LoopOrder(ROWS, 2, k_chunks=3, middle_blocks=2))])  # fmt: skip
def test_the_samplers_draws_are_numpys_draws(spec, dataflow, order):
    """sample_gemm_faults / sample_attempt_faults (the kernel where it applies) equal `_numpy_draws`
    (numpy's Generator itself) column by column, for whole-K folds and K chunks (steps per fold)."""
    gemm = Gemm("g", "fc1", m=37, k=70, n=29, count=4)
    folds = fold_table(dataflow, gemm.m, gemm.k, gemm.n, 8, 8, order)
    _, windows, codes = pe_windows(spec, Datatype.INT8)
    t = folds.table
    rates = transient_rates(spec, Datatype.INT8, folds)  # folds x sites
    ids = np.arange(len(folds), dtype=np.int64)
    drawn = 0
    for instance in range(gemm.count):
        for attempt, stream in ((0, STREAM_GEMM), (2, STREAM_RETRY)):
            key = (spec.seed, stream, 1, instance) + ((attempt,) if attempt else ())
            want = _numpy_draws(key, spec, dataflow, 8, windows, codes, rates, t[:, T_RU], t[:, T_CU], t[:, T_TT],
                                folds.temporal, ids, 1, instance, attempt)  # fmt: skip
            got = _draw_transients(key, spec, dataflow, Datatype.INT8, 8, folds, ids, 1, instance, attempt)
            sampled = (sample_gemm_faults(spec, gemm, 1, instance, dataflow, Datatype.INT8, 8, 8, folds) if not attempt
                       else sample_attempt_faults(spec, gemm, 1, instance, attempt, dataflow, Datatype.INT8, 8, 8, folds))  # fmt: skip
            for c in ("fold_index", "attempt", "ordinal", "row", "col", "cycle", "site", "bit", "mode"):
                assert np.array_equal(getattr(got, c), getattr(want, c)), c
                assert np.array_equal(getattr(sampled, c), getattr(want, c)), c
            drawn += len(want)
    assert drawn > 10


@pytest.mark.parametrize("seed", range(40))
def test_the_checksum_word_kernel_draws_numpys_values_from_numpys_stream(seed):
    # doubles (a whole 64-bit output each) between 32-bit bounded draws: a kept half survives them
    key, rates, n_sites, rows, cols, k, exposed = _case(seed + 1000)
    exp_neg = np.array([math.exp(-r) for r in rates.tolist()])
    got = checksum_word_draws(np.array(entropy_words(key), np.uint64), rates, exp_neg, n_sites, rows, cols, k, exposed)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))
    counts = rng.poisson(rates.reshape(-1, n_sites)).ravel()
    pos = np.repeat(np.arange(counts.size), counts)
    f, s = pos // n_sites, pos % n_sites
    want = (f, s, rng.random(f.size), rng.integers(0, rows[f]), rng.integers(0, cols[f]), rng.random(f.size),
            rng.integers(0, k[f]), rng.integers(0, exposed[s]))  # fmt: skip
    for name, g, w in zip(("fold", "site", "u", "x", "y", "v", "step", "bit"), got, want, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w), name


@pytest.mark.parametrize("spec", [
    FaultSpec(ber=2e-4, seed=3, sites=("chk_pred", "chk_sum", "chk_cmp")),
    FaultSpec(ber=5e-4, seed=2**40 + 1, sites=("acc", "chk_pred", "chk_cmp"), bits=(2, 9)),
    FaultSpec(ber=3e-4, seed=8, sites=("chk_sum", "chk_cmp"), mbu_fraction=0.4),  # numpy's Generator
])  # fmt: skip
@pytest.mark.parametrize("block", [(0, 0), (4, 3)])
def test_the_checksum_words_sampled_are_numpys_draws(spec, block):
    """sample_checksum_faults (the kernel where it applies) against `_numpy_words` (numpy's Generator and
    place_words, the words' sampler before the kernel) for the same key."""
    folds = fold_table(Dataflow.OS, 37, 70, 29, 8, 8)
    geom = check_geometry(Dataflow.OS, folds, block)
    sites = word_sites(spec)
    windows = np.array([spec.site_bits(SITE_OF_CODE[c], Datatype.INT8) for c in sites], np.int64).reshape(-1, 2)
    drawn = 0
    for instance, attempt in ((0, 0), (1, 0), (2, 3), (5, 1)):
        got = sample_checksum_faults(spec, geom, Datatype.INT8, 2, instance, attempt)
        key = (spec.seed, STREAM_CHECKSUM, 2, instance, attempt)
        f, site, axis, line, blk, step, upset, bit = _numpy_words(
            key, spec, geom, sites, windows, word_rates(spec, geom, Datatype.INT8)
        )
        want = {"fold_index": f[upset], "site": site[upset], "axis": axis[upset], "line": line[upset],
                "block": blk[upset], "step": step[upset], "bit": bit}  # fmt: skip
        for name, values in want.items():
            assert np.array_equal(getattr(got, name), values), name
        assert np.all(got.attempt == attempt)
        drawn += len(got)
    assert drawn > 10


def test_exp_neg_is_the_c_librarys_exp_of_each_mean():
    rates = np.array([0.0, 3e-5, 2.5, 3e-5, 9.99, 0.0, 1e-300])
    assert exp_neg(rates).tolist() == [math.exp(-r) for r in rates.tolist()]
    assert exp_neg(np.zeros(0)).shape == (0,)


def test_kernel_draws_leaves_multi_bit_upsets_large_means_and_64_bit_bounds_to_numpy():
    small = np.array([0.5, 0.0, 9.99])
    bounds = np.array([8, 2**32 - 1])
    assert kernel_draws(0.0, small, bounds) and kernel_draws(0.0, np.zeros(0), np.zeros(0, np.int64))
    assert not kernel_draws(0.1, small, bounds)  # multi-bit widths are drawn after the placement
    assert not kernel_draws(0.0, np.array([0.5, 10.0]), bounds)  # numpy's PTRS method for means >= 10
    assert not kernel_draws(0.0, small, np.array([8, 2**32]))  # integers() from 64-bit words
