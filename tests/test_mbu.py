"""Multi-bit upsets: widths and adjacency, keying (fraction 0 draws what it drew before), exact int8 effects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from simulator.config.enums import Dataflow, Datatype, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.effects import fold_fault_effects
from simulator.faults.emulator import emulate_fold
from simulator.faults.mbu import widen
from simulator.faults.model import PeFault
from simulator.faults.sampling import sample_gemm_faults
from simulator.mapping.dataflow import mac_cycle
from simulator.workload.gemm import Gemm
from tests.test_emulator import blocks
from tests.test_fault_sampling import P_MIN, chi_square_p


def test_widen_by_hand() -> None:
    rng = np.random.default_rng(0)
    bit, first, exposed = np.array([5, 31, 0]), np.array([0, 0, 0]), np.array([32, 32, 1])
    upset, bits = widen(rng, 0.0, 4, bit, first, exposed)
    assert upset.tolist() == [0, 1, 2] and bits.tolist() == [5, 31, 0]  # fraction 0: unchanged, no draw
    assert rng.random() == np.random.default_rng(0).random()
    upset, bits = widen(np.random.default_rng(1), 1.0, 2, bit, first, exposed)
    # width 2 each: 5 -> 5, 6; 31 sits at the word's top: 30, 31; a one-bit window keeps one bit
    assert upset.tolist() == [0, 0, 1, 1, 2] and bits.tolist() == [5, 6, 30, 31, 0]


def test_widths_adjacency_and_fraction() -> None:
    rng = np.random.default_rng(3)
    n = 20000
    first = rng.integers(0, 8, n)
    exposed = rng.integers(4, 25, n)
    bit = first + rng.integers(0, exposed)
    upset, bits = widen(np.random.default_rng(4), 0.3, 4, bit, first, exposed)
    width = np.bincount(upset, minlength=n)
    multi = width > 1
    assert stats.binomtest(int(multi.sum()), n, 0.3).pvalue > P_MIN
    assert chi_square_p(np.bincount(width[multi], minlength=5)[2:], np.ones(3)) > P_MIN  # 2, 3, 4 alike
    starts = np.cumsum(width) - width
    for u in rng.choice(n, 300, replace=False):
        mine = bits[starts[u] : starts[u] + width[u]]
        assert np.array_equal(mine, np.arange(mine[0], mine[0] + width[u]))  # adjacent bits
        assert bit[u] in mine and mine[0] >= first[u] and mine[-1] < first[u] + exposed[u]


def test_fraction_zero_is_todays_draw_and_mbus_widen_the_same_upsets() -> None:
    gemm = Gemm("g", "fc1", 30, 20, 25, count=2)
    plain = FaultSpec(ber=1e-4, seed=9)
    widened = FaultSpec(ber=1e-4, seed=9, mbu_fraction=0.5, mbu_max_bits=3)
    assert plain.model_dump() == FaultSpec(ber=1e-4, seed=9, mbu_fraction=0.0).model_dump()
    assert "mbu_fraction" not in plain.model_dump() and widened.model_dump()["mbu_fraction"] == 0.5
    for inst in range(2):
        x = sample_gemm_faults(plain, gemm, 0, inst, Dataflow.OS, Datatype.INT8, 8, 8)
        y = sample_gemm_faults(widened, gemm, 0, inst, Dataflow.OS, Datatype.INT8, 8, 8)

        def slots(b):
            return set(zip(b.fold_index, b.row, b.col, b.cycle, b.site, strict=True))

        assert len(y) > len(x) > 0 and slots(y) == slots(x)
        # ordinals count each fold's flipped bits 0..n-1 (ids stay unique)
        for f in np.unique(y.fold_index):
            assert y.ordinal[y.fold_index == f].tolist() == list(range(int((y.fold_index == f).sum())))


@pytest.mark.parametrize("dataflow", list(Dataflow))
@pytest.mark.parametrize("site", [Site.ACC, Site.MULT, Site.A_REG, Site.B_REG])
def test_int8_mbu_effect_is_the_emulators(dataflow: Dataflow, site: Site) -> None:
    """The kernels resolve each flipped bit on its own; their sum per output is exactly the emulator's
    output with all the bits of the upset flipped together in one register at one cycle."""
    rng = np.random.default_rng([list(Dataflow).index(dataflow), list(Site).index(site)])
    rows, cols, ru, cu, temporal = 4, 3, 4, 3, 5
    a_shape, b_shape = blocks(dataflow, ru, cu, temporal)
    a = rng.integers(-128, 128, a_shape).astype(np.int8)
    b = rng.integers(-128, 128, b_shape).astype(np.int8)
    clean = emulate_fold(dataflow, Datatype.INT8, rows, cols, a, b).out.astype(np.int64)
    for _ in range(6):
        r, c, tau = int(rng.integers(ru)), int(rng.integers(cu)), int(rng.integers(temporal))
        width = int(rng.integers(2, 5))
        lo = int(rng.integers(0, site.word_bits(Datatype.INT8) - width + 1))
        cycle = mac_cycle(dataflow, rows, r, c, tau)
        upset = [PeFault(r, c, cycle, site, lo + j) for j in range(width)]
        faulty = emulate_fold(dataflow, Datatype.INT8, rows, cols, a, b, upset).out.astype(np.int64)
        expected = faulty - clean
        summed = np.zeros_like(expected)
        for e in fold_fault_effects(dataflow, Datatype.INT8, rows, cols, a, b, upset):
            np.add.at(summed, (e.out_rows, e.out_cols), e.delta)
        assert np.array_equal((summed - expected) % 2**32, np.zeros_like(expected)), (r, c, tau, lo, width)
