"""The fast fault -> effect mapping against the cycle-level reference emulator (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.codes import PE_SITES
from simulator.faults.effects import (
    fault_records,
    fold_fault_effect,
    fold_fault_effects,
    int8_kernel_operands,
    kernel_operands,
    resolve_gemm_faults,
)
from simulator.faults.emulator import emulate_fold
from simulator.faults.model import PeFault
from simulator.faults.operands import round_bf16
from simulator.faults.sampling import FaultBatch, permanent_batch, sample_gemm_faults, sample_permanent_faults
from simulator.mapping.dataflow import k_chunk_count, mac_cycle
from simulator.mapping.fold_table import fold_table
from simulator.mapping.loop_order import COLS, LoopOrder
from simulator.mapping.tiling import fold_operands, iter_folds
from simulator.workload.gemm import Gemm

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def make_operands(datatype: Datatype, shape_a, shape_b, seed: int, scale: float, zeros: float):
    """Random operand blocks in the datatype's storage dtype (some zeros, varied magnitudes)."""
    rng = np.random.default_rng(seed)
    out = []
    for shape in (shape_a, shape_b):
        if datatype is Datatype.INT8:
            x = rng.integers(-128, 128, size=shape).astype(np.int8)
        else:
            x = rng.standard_normal(shape) * scale
        x[rng.random(shape) < zeros] = 0
        if datatype is Datatype.FP16:
            x = x.astype(np.float16)
        elif datatype is Datatype.BF16:
            x = round_bf16(x)
        elif datatype is Datatype.FP32:
            x = x.astype(np.float32)
        out.append(x)
    return out


def block_shapes(dataflow: Dataflow, ru: int, cu: int, temporal: int):
    if dataflow is Dataflow.OS:
        return (ru, temporal), (temporal, cu)
    if dataflow is Dataflow.WS:
        return (temporal, ru), (ru, cu)
    return (cu, ru), (ru, temporal)


def reconstruct(datatype: Datatype, clean: np.ndarray, rows, cols, delta) -> np.ndarray:
    """Clean output plus the effect, in the effect's arithmetic."""
    if datatype.is_integer:
        out = clean.astype(np.int64)
        out[rows, cols] += delta
        return ((out + 2**31) % 2**32) - 2**31
    out = clean.astype(np.float64)
    with np.errstate(all="ignore"):
        out[rows, cols] += delta
    return out


def assert_matches(datatype: Datatype, clean: np.ndarray, faulty: np.ndarray, effect, label: str) -> None:
    rows, cols = effect.out_rows, effect.out_cols
    assert rows.shape == cols.shape == effect.delta.shape
    flat = np.ravel_multi_index((rows, cols), clean.shape)  # also checks the bounds
    assert np.unique(flat).size == flat.size, label
    rec = reconstruct(datatype, clean, rows, cols, effect.delta)
    if datatype.is_integer:
        assert effect.delta.dtype == np.int64
        assert np.array_equal(rec, faulty.astype(np.int64)), f"{label}\n{rec - faulty}"
        return
    assert effect.delta.dtype == np.float64
    with np.errstate(invalid="ignore"):
        want = faulty.astype(np.float64)
    assert np.array_equal(np.isnan(rec), np.isnan(want)), f"{label}: NaN pattern\n{rec}\n{want}"
    assert np.array_equal(np.isinf(rec), np.isinf(want)), f"{label}: inf pattern\n{rec}\n{want}"
    inf = np.isinf(want)
    assert np.array_equal(np.sign(rec[inf]), np.sign(want[inf])), label
    fin = np.isfinite(want)
    # One ulp of fp32 at the value, plus the float64 rounding of delta itself (which cannot hold
    # faulty - clean exactly when a tiny faulty value cancels a large clean one).
    tol = np.spacing(np.abs(faulty[fin])).astype(np.float64) + 2 * np.spacing(np.abs(clean[fin]) + np.abs(want[fin]))
    err = np.abs(rec[fin] - want[fin])
    assert np.all(err <= tol), f"{label}: err {err.max()} tol\n{rec}\n{want}"


@st.composite
def fold_cases(draw, datatypes=tuple(Datatype)):
    dataflow = draw(st.sampled_from(list(Dataflow)))
    datatype = draw(st.sampled_from(list(datatypes)))
    rows, cols = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    ru, cu = draw(st.integers(1, rows)), draw(st.integers(1, cols))
    temporal = draw(st.integers(1, 10))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0]))
    zeros = draw(st.sampled_from([0.0, 0.3]))
    a, b = make_operands(datatype, *block_shapes(dataflow, ru, cu, temporal), seed, scale, zeros)
    faults = []
    for _ in range(draw(st.integers(1, 6))):
        site = draw(st.sampled_from(PE_SITES))
        bit = draw(st.integers(0, site.word_bits(datatype) - 1))
        if draw(st.booleans()):
            r, c, tau = draw(st.integers(0, ru - 1)), draw(st.integers(0, cu - 1)), draw(st.integers(0, temporal - 1))
            faults.append(PeFault(r, c, mac_cycle(dataflow, rows, r, c, tau), site, bit))
        else:
            r, c = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
            stuck = draw(st.integers(0, 1))
            faults.append(PeFault(r, c, -1, site, bit, FaultKind.PERMANENT, stuck))
    return dataflow, datatype, rows, cols, a, b, faults


def check_case(case) -> None:
    dataflow, datatype, rows, cols, a, b, faults = case
    clean = emulate_fold(dataflow, datatype, rows, cols, a, b).out
    effects = fold_fault_effects(dataflow, datatype, rows, cols, a, b, faults)
    for fault, effect in zip(faults, effects, strict=True):
        faulty = emulate_fold(dataflow, datatype, rows, cols, a, b, (fault,)).out
        assert_matches(datatype, clean, faulty, effect, f"{dataflow} {datatype} {rows}x{cols} {fault}")


@pytest.mark.slow
@settings(max_examples=2500, **SETTINGS)
@given(fold_cases(datatypes=(Datatype.INT8,)))
def test_int8_effects_are_bit_exact(case) -> None:
    check_case(case)


@pytest.mark.slow
@settings(max_examples=3500, **SETTINGS)
@given(fold_cases(datatypes=(Datatype.FP16, Datatype.BF16, Datatype.FP32)))
def test_fp_effects_within_one_ulp(case) -> None:
    check_case(case)


@pytest.mark.slow
@settings(max_examples=200, **SETTINGS)
@given(
    st.sampled_from(list(Dataflow)),
    st.sampled_from(list(Datatype)),
    st.integers(1, 5),
    st.integers(1, 5),
    st.tuples(st.integers(1, 11), st.integers(1, 11), st.integers(1, 11)),
    st.integers(0, 2**32 - 1),
    st.integers(1, 4),
)
def test_gemm_batch_matches_emulator_per_fold(dataflow, datatype, rows, cols, mkn, seed, chunks) -> None:
    """resolve_gemm_faults on a whole GEMM (all folds, tiling offsets; OS K split into `chunks`
    chunks, each fold emulated on its chunk's operands) against per-fold emulation."""
    m, k, n = mkn
    a, b = make_operands(datatype, (m, k), (k, n), seed, 1.0, 0.1)
    rng = np.random.default_rng(seed)
    chunks = k_chunk_count(k, -(-k // chunks)) if dataflow is Dataflow.OS else 1  # no empty chunk
    order = LoopOrder(COLS, 1, chunks, 1) if chunks > 1 else None
    folds = list(iter_folds(dataflow, m, k, n, rows, cols, order))
    table = fold_table(dataflow, m, k, n, rows, cols, order)
    assert [table.fold(f.index) for f in folds] == folds
    per_fold, batches = [], []
    for fold in folds:
        faults = []
        for _ in range(2):
            site = list(Site)[rng.integers(4)]
            bit = int(rng.integers(site.word_bits(datatype)))
            r, c = int(rng.integers(fold.rows_used)), int(rng.integers(fold.cols_used))
            tau = int(rng.integers(fold.temporal))
            faults.append(PeFault(r, c, mac_cycle(dataflow, rows, r, c, tau), site, bit))
        per_fold.append(faults)
        batches.append(FaultBatch.from_faults(faults, fold.index))
    batch = batches[0]
    for extra in batches[1:]:
        batch = batch.concat(extra)
    effects = resolve_gemm_faults(dataflow, rows, cols, kernel_operands(datatype, a, b), batch, table)
    i = 0
    for fold, faults in zip(folds, per_fold, strict=True):
        a_blk, b_blk = fold_operands(dataflow, fold, a, b)
        clean = emulate_fold(dataflow, datatype, rows, cols, a_blk, b_blk).out
        for fault in faults:
            faulty = emulate_fold(dataflow, datatype, rows, cols, a_blk, b_blk, (fault,)).out
            assert_matches(datatype, clean, faulty, effects.effect(i, fault), f"{dataflow} {datatype} {fold} {fault}")
            i += 1
    records = fault_records(batch, effects)
    assert [r.fault_id for r in records] == batch.fault_ids()


@pytest.mark.parametrize("datatype", list(Datatype))
@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_permanent_faults_repeat_in_every_fold(dataflow: Dataflow, datatype: Datatype) -> None:
    """Sampled stuck-at faults expanded over all folds of a GEMM, against per-fold emulation."""
    rows, cols, m, k, n = 4, 3, 9, 7, 10
    a, b = make_operands(datatype, (m, k), (k, n), 8, 1.0, 0.1)
    events = sample_permanent_faults(FaultSpec(kind="permanent", permanent_count=4, seed=3), datatype, rows, cols)
    folds = list(iter_folds(dataflow, m, k, n, rows, cols))
    batch = permanent_batch(events, np.arange(len(folds)), gemm_index=0, instance=0)
    effects = resolve_gemm_faults(dataflow, rows, cols, kernel_operands(datatype, a, b), batch)
    for i in range(len(batch)):
        fold = folds[int(batch.fold_index[i])]
        a_blk, b_blk = fold_operands(dataflow, fold, a, b)
        fault = batch.fault(i)
        clean = emulate_fold(dataflow, datatype, rows, cols, a_blk, b_blk).out
        faulty = emulate_fold(dataflow, datatype, rows, cols, a_blk, b_blk, (fault,)).out
        assert_matches(datatype, clean, faulty, effects.effect(i, fault), f"{dataflow} {datatype} {fold} {fault}")


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_design_table_geometry(dataflow: Dataflow) -> None:
    """Shapes of the corrupted sets on a full 4 x 4 fold, as in DESIGN.md's table."""
    rows = cols = 4
    t = 6
    a, b = make_operands(Datatype.INT8, *block_shapes(dataflow, 4, 4, t), 1, 1.0, 0.0)
    r, c, tau = 1, 2, 3
    cyc = mac_cycle(dataflow, rows, r, c, tau)
    size = {}
    for site in PE_SITES:
        effect = fold_fault_effect(dataflow, Datatype.INT8, rows, cols, a, b, PeFault(r, c, cyc, site, 2))
        size[site] = (len(set(effect.out_rows.tolist())), len(set(effect.out_cols.tolist())), effect.delta.size)
    if dataflow is Dataflow.OS or dataflow is Dataflow.WS:
        assert size == {Site.ACC: (1, 1, 1), Site.MULT: (1, 1, 1), Site.A_REG: (1, 2, 2), Site.B_REG: (3, 1, 3)}
    else:  # IS: stationary activation -> row segment, moving weight -> column segment
        assert size == {Site.ACC: (1, 1, 1), Site.MULT: (1, 1, 1), Site.A_REG: (1, 3, 3), Site.B_REG: (2, 1, 2)}


def test_bad_faults_are_rejected() -> None:
    a, b = make_operands(Datatype.INT8, (3, 5), (5, 2), 0, 1.0, 0.0)
    with pytest.raises(ValueError, match="no MAC"):
        fold_fault_effect(Dataflow.OS, Datatype.INT8, 4, 4, a, b, PeFault(0, 3, 3, Site.ACC, 0))
    with pytest.raises(ValueError, match="bit"):
        fold_fault_effect(Dataflow.OS, Datatype.INT8, 4, 4, a, b, PeFault(0, 0, 0, Site.A_REG, 8))
    with pytest.raises(ValueError, match="outside"):
        fold_fault_effect(Dataflow.OS, Datatype.INT8, 4, 4, a, b, PeFault(4, 0, 0, Site.ACC, 0))
    with pytest.raises(ValueError, match="int8"):
        fold_fault_effect(Dataflow.OS, Datatype.INT8, 4, 4, a.astype(np.float32), b, PeFault(0, 0, 0, Site.ACC, 0))


@pytest.mark.parametrize("dataflow", list(Dataflow))
def test_int8_lean_operands_give_the_effects_of_the_float_copies(dataflow: Dataflow) -> None:
    """kernel_operands(lean=True) and int8_kernel_operands (A and B^T as int8, empty placeholders)
    resolve every fault to the same positions and deltas as the float32 copies and the numpy twin."""
    rows, cols, (m, k, n) = 4, 3, (9, 11, 7)
    a, b = make_operands(Datatype.INT8, (m, k), (k, n), 5, 1.0, 0.1)
    spec = FaultSpec(ber=0.02, seed=4, kind=FaultKind.TRANSIENT)
    table = fold_table(dataflow, m, k, n, rows, cols)
    batch = sample_gemm_faults(spec, Gemm("g", "fc1", m, k, n), 0, 0, dataflow, Datatype.INT8, rows, cols, table)
    assert len(batch) > 10
    lean = kernel_operands(Datatype.INT8, a, b, lean=True)
    direct = int8_kernel_operands(np.ascontiguousarray(a), np.ascontiguousarray(b.T))
    assert lean.b.size == lean.a_t.size == direct.b.size == 0  # placeholders allocate nothing
    want = resolve_gemm_faults(dataflow, rows, cols, kernel_operands(Datatype.INT8, a, b), batch, table)
    twin = resolve_gemm_faults(dataflow, rows, cols, kernel_operands(Datatype.INT8, a, b), batch, table, reference=True)
    for ops in (lean, direct):
        got = resolve_gemm_faults(dataflow, rows, cols, ops, batch, table)
        for other in (want, twin):
            assert np.array_equal(got.offsets, other.offsets) and np.array_equal(got.positions, other.positions)
            assert np.array_equal(got.delta, other.delta)
    with pytest.raises(ValueError):
        int8_kernel_operands(a, np.ascontiguousarray(b))  # B not transposed: K does not chain
    with pytest.raises(ValueError):
        int8_kernel_operands(a, b.T)  # not C-contiguous
