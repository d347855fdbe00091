"""The bundled digits ViT and the accelerator's functional path (simulator.functional)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.config.enums import Dataflow, Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import load_hw
from simulator.faults.effects import kernel_operands, resolve_gemm_faults
from simulator.faults.sampling import sample_gemm_faults
from simulator.functional.accelerator import FunctionalAccelerator, exact_int_matmul, quantise_static, wrap_int32
from simulator.functional.bundle import bundled_path, load_bundle, load_images
from simulator.functional.inference import evaluate, float_accuracy
from simulator.functional.vit import forward, gelu, gelu_erf, predictions, softmax
from simulator.kernels.codes import P_GEMM_COL, P_GEMM_ROW
from simulator.workload.gemm import Gemm

MAX_BUNDLE_BYTES = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def bundle():
    return load_bundle()


@pytest.fixture(scope="module")
def hw():
    return load_hw("edge_32x32")


def test_bundle_is_small_and_complete(bundle):
    assert bundled_path().stat().st_size < MAX_BUNDLE_BYTES
    cfg = bundle.params.config
    assert (cfg.image_size, cfg.patch_size, cfg.channels, cfg.classes) == (8, 2, 1, 10)
    for key in ("test_int8_correct", "test_int8_accuracy", "test_float_accuracy", "calibration_int8_correct"):
        assert key in bundle.recorded
    assert bundle.recorded["test_int8_accuracy"] >= 0.95


@pytest.mark.parametrize("split", ["test", "calibration"])
def test_numpy_inference_reproduces_the_recorded_clean_accuracy(bundle, hw, split):
    data = bundle.split(split)
    result = evaluate(bundle.params, data, hw)
    assert result.total == len(data) == int(bundle.recorded[f"{split}_size"])
    assert result.correct == int(bundle.recorded[f"{split}_int8_correct"])
    assert result.recomputed_macs == 0 and result.macs == sum(g.macs for g in bundle.params.config.gemms(len(data)))


def test_float_and_int8_accuracy_are_both_high(bundle):
    test = bundle.split("test")
    accuracy = float_accuracy(bundle.params, test)
    assert accuracy == pytest.approx(bundle.recorded["test_float_accuracy"], abs=1.5 / len(test)) and accuracy >= 0.95


def test_calibration_and_test_splits_do_not_overlap(bundle):
    test, calib = bundle.split("test"), bundle.split("calibration")
    assert not set(test.index.tolist()) & set(calib.index.tolist())
    assert len(set(test.index.tolist())) == len(test) and len(set(calib.index.tolist())) == len(calib)
    test_images = {img.tobytes() for img in test.images}
    assert not any(img.tobytes() in test_images for img in calib.images)
    for s in (test, calib):
        assert s.images.shape == (len(s), 8, 8) and s.images.max() <= 16
        assert set(np.unique(s.labels).tolist()) == set(range(10))  # stratified: every class present


def test_forward_runs_the_timing_workload_gemms_in_order(bundle):
    cfg, batch = bundle.params.config, 3
    gemms = cfg.gemms(batch)
    seen = []

    def recording(index, a, b, a_scale, b_scale):
        g = gemms[index]
        seen.append(index)
        assert a.reshape(-1, g.m, g.k).shape[0] == g.count and b.shape[-2:] == (g.k, g.n)
        assert a_scale > 0 and b_scale > 0
        return np.matmul(a, b, dtype=np.float32)

    logits = forward(bundle.params, bundle.split("test").head(batch).inputs(), recording)
    assert seen == list(range(len(gemms))) and logits.shape == (batch, 10)
    assert [g.kind for g in gemms[:7]] == ["patch_embed", "qkv", "qk", "av", "proj", "fc1", "fc2"]
    assert gemms[-1].kind == "head" and gemms[2].count == batch * cfg.heads and gemms[1].m == batch * cfg.tokens


def test_quantisation_saturates_and_the_accumulator_wraps():
    q = quantise_static(np.array([-1000.0, -0.26, 0.24, 0.26, 1000.0]), 0.5)
    assert q.tolist() == [-127, -1, 0, 1, 127] and q.dtype == np.int8
    assert wrap_int32(np.array([2**31, -(2**31) - 1, 5])).tolist() == [-(2**31), 2**31 - 1, 5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantise_static_equals_the_plain_formula(dtype):
    """quantise_static (in place, one float64 temporary) against clip(rint(x / scale)) of a float64 copy,
    on a strided view with infinities and ties."""
    x = (np.random.default_rng(2).standard_normal((40, 17, 34)) * 50).astype(dtype)
    x.flat[:6] = [np.inf, -np.inf, 1e30, -0.185, 0.185, 0.555]
    view = x[:, :, ::2]
    expected = np.clip(np.rint(np.asarray(view, np.float64) / 0.37), -127, 127).astype(np.int8)
    assert np.array_equal(quantise_static(view, 0.37), expected)


@pytest.mark.parametrize("k", [1, 1024, 1025, 3000])
def test_exact_int_matmul_equals_integer_matmul_on_either_side_of_the_float32_bound(k):
    # K <= 1024 int8 codes run in float32 (every partial sum <= 2^24), longer K in float64
    rng = np.random.default_rng(k)
    a = rng.choice(np.array([-128, -127, -1, 0, 1, 126, 127], np.int8), size=(3, 5, k))
    b = rng.choice(np.array([-128, -127, -3, 0, 2, 125, 127], np.int8), size=(1, k, 4))
    a[0, 0], b[0, :, 0] = -128, -128  # one output at the bound itself: K x 2^14
    expected = np.matmul(a.astype(np.int64), b.astype(np.int64))
    got = exact_int_matmul(a, b)
    assert got.dtype == np.int64 and np.array_equal(got, expected) and got[0, 0, 0] == k * 2**14


@pytest.mark.parametrize("shared", [True, False])
def test_exact_int_matmul_in_row_blocks_equals_integer_matmul(shared):
    """A shared B (the weights) runs as one (count M) x K GEMM in row blocks small enough for one BLAS
    thread (functional.accelerator._single_thread_gemm): 2 x 301 rows, K 64, N 96 make 15 blocks, the
    last one short; per-instance B (attention) as a batched matmul. Both exact."""
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, size=(2, 301, 64)).astype(np.int8)
    b = rng.integers(-128, 128, size=(1 if shared else 2, 64, 96)).astype(np.int8)
    expected = np.matmul(a.astype(np.int64), b.astype(np.int64))
    got = exact_int_matmul(a, b)
    assert got.dtype == np.int64 and got.shape == (2, 301, 96) and np.array_equal(got, expected)


def test_wrap_int32_returns_in_range_values_unchanged():
    inside = np.array([[-(2**31), 0, 2**31 - 1]], np.int64)
    assert wrap_int32(inside) is inside and wrap_int32(np.zeros((0, 3), np.int64)).shape == (0, 3)


def test_predictions_count_non_finite_logits_as_wrong():
    logits = np.array([[0.0, 2.0, 1.0], [np.nan, 0.0, 1.0]], np.float32)
    assert predictions(logits).tolist() == [1, -1]


@pytest.mark.parametrize(("dataflow", "count"), [("os", 1), ("ws", 1), ("is", 2)])
def test_faulty_gemm_is_clean_gemm_plus_the_exact_fault_effects(dataflow, count):
    """Policy `none`: the accumulator = clean A @ B + the effects of the sampled faults (faults.effects)."""
    hw = load_hw("edge_32x32", [f"array.dataflow={dataflow}", "array.rows=4", "array.cols=4"])
    gemm = Gemm("g", "qk", 9, 7, 6, count=count)
    rng = np.random.default_rng(3)
    a = rng.integers(-127, 128, (count, gemm.m, gemm.k)).astype(np.int8)
    b = rng.integers(-127, 128, (count, gemm.k, gemm.n)).astype(np.int8)
    spec = FaultSpec(ber=2e-3, seed=11)
    acc = FunctionalAccelerator(hw, [gemm], "none", spec)
    faulty = acc.accumulate(0, a, b)
    clean = np.matmul(a.astype(np.int64), b.astype(np.int64))
    arr = hw.array
    injected = 0
    for inst in range(count):
        batch = sample_gemm_faults(spec, gemm, 0, inst, Dataflow(dataflow), Datatype.INT8, arr.rows, arr.cols)
        ops = kernel_operands(Datatype.INT8, a[inst], b[inst])
        effects = resolve_gemm_faults(arr.dataflow, arr.rows, arr.cols, ops, batch)
        expected = clean[inst].copy()
        np.add.at(expected, (effects.positions[:, P_GEMM_ROW], effects.positions[:, P_GEMM_COL]), effects.delta)
        assert np.array_equal(faulty[inst], wrap_int32(expected))
        injected += len(batch)
    assert injected > 0 and not np.array_equal(faulty, clean)
    assert acc.stats.outcomes.faults_injected == injected and acc.stats.outcomes.escaped > 0


def test_classical_abft_removes_every_error_of_a_small_gemm():
    hw = load_hw("edge_32x32", ["array.rows=4", "array.cols=4", "recompute.max_retries=8"])
    gemm = Gemm("g", "fc1", 12, 8, 10)
    rng = np.random.default_rng(5)
    a = rng.integers(-127, 128, (1, gemm.m, gemm.k)).astype(np.int8)
    b = rng.integers(-127, 128, (1, gemm.k, gemm.n)).astype(np.int8)
    acc = FunctionalAccelerator(hw, [gemm], "abft", FaultSpec(ber=1e-4, seed=2))
    out = acc.accumulate(0, a, b)
    assert acc.stats.outcomes.faults_injected > 0 and acc.stats.recomputed_macs > 0
    assert acc.stats.outcomes.gave_up_folds == 0 and acc.stats.outcomes.escaped == 0
    assert np.array_equal(out, np.matmul(a.astype(np.int64), b.astype(np.int64)))


def test_captured_operands_cover_every_gemm_instance(bundle, hw):
    from simulator.functional.inference import capture_operands
    from simulator.mapping.schedule import schedule_gemm
    from simulator.verify.verifier import OperandCache

    workload, operands = capture_operands(bundle.params, bundle.split("test").head(2), hw)
    assert set(operands) == {(i, inst) for i, g in enumerate(workload.gemms) for inst in range(g.count)}
    for (i, _), ops in operands.items():
        g = workload.gemms[i]
        assert ops.a.shape == (g.m, g.k) and ops.b.shape == (g.k, g.n) and ops.a.dtype == np.int8
    cache = OperandCache(hw, [schedule_gemm(g, hw) for g in workload.gemms], 0, operands)
    assert cache.operands(2, 3) is operands[(2, 3)] and cache.scale(1, 0) > 0


def test_checking_macs_follow_the_fold_grid_and_the_block_size(bundle):
    # OS on an R x C array, checks beside the array (checksum_pe): a fold of r x c outputs over K
    # costs k c + r k prediction MACs, so one instance costs K (ceil(M/R) N + ceil(N/C) M)
    # (every column appears once per row block, every row once per column block).
    from simulator.config.abft_options import AbftConfig, Blocking

    hw8 = load_hw("edge_32x32", ["array.rows=8", "array.cols=8"])
    data = bundle.split("test").head(3)
    gemms = bundle.params.config.gemms(len(data))

    def closed_form(g, blocks=1):
        return g.count * g.k * blocks * (-(-g.m // 8) * g.n + -(-g.n // 8) * g.m)

    plain = evaluate(bundle.params, data, hw8, "detect_only")
    assert plain.check_macs == sum(closed_form(g) for g in gemms)
    assert evaluate(bundle.params, data, hw8, "none").check_macs == 0
    # 4x4 blocks of block0.fc1 (hidden 32 -> N = 64, M = 3 x 17 = 51): full folds hold 2 x 2 blocks,
    # the last row block (51 = 6 x 8 + 3 rows) one block row: sum over folds of nb_r k c + nb_c r k
    fc1 = next(g for g in gemms if g.name == "block0.fc1")
    abft = AbftConfig(blocking={"block0.fc1": Blocking(rows=4, cols=4)})
    blocked = evaluate(bundle.params, data, hw8, "detect_only", abft=abft)
    row_blocks = [(8, 2)] * 6 + [(3, 1)]  # (rows r, nb_r) per fold row; every fold has c = 8, nb_c = 2
    fc1_blocked = sum(8 * (nb_r * fc1.k * 8 + 2 * r * fc1.k) for r, nb_r in row_blocks)  # 8 fold columns
    assert blocked.check_macs - plain.check_macs == fc1_blocked - closed_form(fc1)


@pytest.mark.parametrize("dataflow,k_chunk", [("os", None), ("os", 16), ("ws", None), ("is", None)])
@pytest.mark.parametrize("placement", ["in_array", "checksum_pe", "side_unit"])
def test_instance_check_macs_equal_the_sum_over_every_fold(dataflow, k_chunk, placement):
    """The accelerator counts checking once per fold position class (engine.plan); asking the
    policy fold by fold gives the same MACs, for every bundled policy, a ragged GEMM and K chunks
    (a shorter last chunk)."""
    from simulator.abft.registry import policy_names
    from simulator.mapping.tiling import iter_folds

    chunk = [f"mapping.k_chunk={k_chunk}"] if k_chunk else []
    hw = load_hw("edge_32x32", ["array.rows=8", "array.cols=8", f"array.dataflow={dataflow}",
                                f"checksum_unit.placement={placement}", *chunk])  # fmt: skip
    gemms = [Gemm("b.fc1", "fc1", 51, 37, 70), Gemm("b.qk", "qk", 17, 9, 17, 3)]
    for name in policy_names():
        acc = FunctionalAccelerator(hw, gemms, name)
        for index, g in enumerate(gemms):
            s = acc.schedules[index]
            folds = list(iter_folds(s.dataflow, g.m, g.k, g.n, s.rows, s.cols, s.order))
            assert len(folds) == s.folds_per_instance
            works = [acc.policy.check_work(s, f) for f in folds]
            assert acc.instance_check_macs(index) == sum(w.checksum_macs + w.extra_array_macs for w in works), name


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 not really a zip"])
def test_an_empty_or_broken_bundle_is_a_clean_error(tmp_path, content):
    # np.load raises EOFError on an empty file and BadZipFile on a broken zip (the CLI fuzz found
    # the first as a traceback from `accuracy --config empty`)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="cannot read the model bundle"):
        load_bundle(bad)
    # the same for a user data set (`accuracy --data empty`, found by the CLI fuzz)
    with pytest.raises(ValueError, match="cannot read images and labels"):
        load_images(bad)


@pytest.mark.parametrize("dataflow,k_chunk", [("os", None), ("os", 16), ("ws", None), ("is", None)])
@pytest.mark.parametrize("placement", ["in_array", "side_unit"])
def test_shared_pass_prices_equal_each_folds_own_price(dataflow, k_chunk, placement):
    """The accelerator memoises a recompute pass's MACs and a fold's check MACs by the fold's
    extents, across passes (functional.accelerator._PassPrices): every fold of a ragged GEMM, asked
    after the others filled the memo, is priced as mapping.region and the policy price it alone."""
    from simulator.abft.registry import policy_names
    from simulator.functional.accelerator import recomputed_macs
    from simulator.mapping.region import Region, Scope
    from simulator.mapping.tiling import iter_folds

    chunk = [f"mapping.k_chunk={k_chunk}"] if k_chunk else []
    hw = load_hw("edge_32x32", ["array.rows=8", "array.cols=8", f"array.dataflow={dataflow}",
                                f"checksum_unit.placement={placement}", *chunk])  # fmt: skip
    gemms = [Gemm("b.fc1", "fc1", 51, 37, 70), Gemm("b.qk", "qk", 17, 9, 17, 3)]
    regions = [Region(Scope.TILE), Region(Scope.GEMM), Region(Scope.ROWS, rows=(0,)), Region(Scope.COLS, cols=(0,)),
               Region(Scope.LINES, rows=(0,), cols=(0,)), Region(Scope.ELEMENTS, rows=(0, 0), cols=(0, 0))]  # fmt: skip
    for name in policy_names():
        for _ in range(2):  # the second accelerator finds every price in the shared memo
            acc = FunctionalAccelerator(hw, gemms, name)
            for index, g in enumerate(gemms):
                s = acc.schedules[index]
                for fold in iter_folds(s.dataflow, g.m, g.k, g.n, s.rows, s.cols, s.order):
                    work = acc.policy.check_work(s, fold)
                    assert acc._check_macs_of(index, fold.index, fold) == work.checksum_macs + work.extra_array_macs
                    for region in regions:
                        price = recomputed_macs(hw, s, fold, region)
                        assert acc._recompute_pass_macs(index, fold.index, fold, region) == price, (name, fold)


@pytest.mark.parametrize("shared", [True, False])
def test_call_operands_are_the_instances_operands_made_on_demand(shared):
    """functional.accelerator._CallOperands, the `supplied` operands of one GEMM call: the same keys
    and GemmOperands as the eager dict (capture's), and an OperandCache reads only what it is asked."""
    from simulator.config.enums import Datatype
    from simulator.functional.accelerator import _CallOperands
    from simulator.mapping.schedule import schedule_gemms
    from simulator.verify.operand_cache import OperandCache

    hw8 = load_hw("edge_32x32", ["array.rows=8", "array.cols=8"])
    gemms = [Gemm("a", "fc1", 5, 4, 3), Gemm("b.qk", "qk", 6, 4, 5, count=4)]
    rng = np.random.default_rng(1)
    qa = rng.integers(-127, 128, (4, 6, 4)).astype(np.int8)
    qb = rng.integers(-127, 128, (1 if shared else 4, 4, 5)).astype(np.int8)
    acc = FunctionalAccelerator(hw8, gemms, capture=True)
    eager = acc._operands(1, qa, qb, (0.5, 0.25))
    lazy = _CallOperands(Datatype.INT8, 1, qa, qb, (0.5, 0.25))
    assert list(lazy) == list(eager) and len(lazy) == 4
    for key, ops in eager.items():
        got = lazy[key]
        assert key in lazy and np.array_equal(got.a, ops.a) and np.array_equal(got.b, ops.b)
        assert (got.datatype, got.a_scale, got.b_scale) == (ops.datatype, ops.a_scale, ops.b_scale)
    assert (1, 4) not in lazy and (0, 0) not in lazy and "x" not in lazy
    with pytest.raises(KeyError):
        lazy[(1, 4)]
    asked = []

    class Counting(_CallOperands):
        def __getitem__(self, key):
            asked.append(key)
            return super().__getitem__(key)

    cache = OperandCache(hw8, schedule_gemms(gemms, hw8), 0, Counting(Datatype.INT8, 1, qa, qb, (0.5, 0.25)))
    assert np.array_equal(cache.operands(1, 2).a, qa[2]) and cache.operands(1, 2) is cache.operands(1, 2)
    assert cache.operands(0, 0).a.shape == (5, 4) and asked == [(1, 2)]  # GEMM 0: synthetic


def test_activations_are_accurate_and_the_same_on_every_cpu():
    """GELU (tanh and erf forms) and softmax against plain numpy in float64 (within a float32 rounding),
    and a digest of their bits recorded on an AVX-512 machine: they use faults.portable_math, not numpy's
    CPU-specific float32 tanh / exp, so an int8 accuracy study gives the same report everywhere."""
    import hashlib
    import math

    x = (np.random.default_rng(11).standard_normal((64, 97)) * 3).astype(np.float32)
    z = x.astype(np.float64)
    want_tanh = 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))
    want_erf = 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    for got, want, atol in (
        (gelu(x), want_tanh, 1e-6),
        (gelu_erf(x), want_erf, 2e-6),
        (softmax(x), e / e.sum(-1, keepdims=True), 1e-7),
    ):
        assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6, atol=atol)
    digest = hashlib.sha256(gelu(x).tobytes() + softmax(x).tobytes() + gelu_erf(x).tobytes()).hexdigest()[:16]
    assert digest == "a85eb87b59a0027a"
