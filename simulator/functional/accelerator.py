"""The accelerator's functional path: quantised GEMMs, exact results, and the errors faults + ABFT leave.

For each GEMM of a forward pass (`vit.forward` calls it as its matmul):

1. operands go to the array's datatype: int8 with the model's static per-tensor scales
   (q = clip(rint(x / scale), -127, 127)); fp16 / bf16 / fp32 by rounding (faults.operands);
2. the clean result is computed exactly: the int32 accumulation of int8 products by float32 BLAS
   while every partial sum is an integer of magnitude <= 2^24 (K <= 1024), else by float64 BLAS
   (every such sum is an integer below 2^53, DESIGN.md section 4); fp datatypes by float64 BLAS
   rounded to float32 (an approximation of the array's fp32 accumulation order);
3. with faults, a verifier (verify.make_verifier) over the run's hardware samples this GEMM's PE
   faults (keyed as in a timing run, faults.sampling, so they hit the same PEs), resolves their
   exact effects on these operands, and runs the engine's retry loop (abft.retry: recompute
   while the policy asks and attempts <= max_retries);
   the residual errors the verifier reports are added to the result (int32 wrap-around for int);
4. the result is dequantised (x a_scale x b_scale) to float32.

Recovery work is priced like the engine prices it (mapping.region.price_region): the
recomputed MACs and passes are accumulated in `stats`; so are the policy's checking MACs
(abft.check_cost: every fold's first pass and every recompute pass), which depend on the
check-block size chosen for each GEMM.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.abft.policies import PolicyContext
from simulator.abft.protocol import CheckWork, Policy
from simulator.abft.registry import BUNDLED_POLICIES, make_policy
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.engine.plan import instance_check_work
from simulator.faults.draw_cache import FaultDraws
from simulator.faults.operands import GemmOperands, to_datatype
from simulator.mapping.fold_table import FoldTable
from simulator.mapping.region import Region, price_region, resolve_region
from simulator.mapping.schedule import GemmSchedule, schedule_gemms
from simulator.mapping.tiling import Fold
from simulator.verify.operand_cache import OperandCache
from simulator.verify.outcomes import Outcomes
from simulator.verify.verifier import make_verifier
from simulator.workload.gemm import Gemm

INT8_MAX = 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT32_EXACT_INT = 2**24  # float32 holds every integer of magnitude <= 2^24 exactly
BLAS_SINGLE_THREAD_MNK = 4 * 65536  # OpenBLAS runs a GEMM of at most this many multiply-adds on one thread


def quantise_static(x: np.ndarray, scale: float) -> np.ndarray:
    """int8 codes of x for a fixed per-tensor scale (symmetric, saturating): rint(x / scale) in float64,
    clipped to +-127 (one float64 temporary, rounded and clipped in place)."""
    q = np.divide(x, scale, dtype=np.float64)
    np.rint(q, out=q)
    np.clip(q, -INT8_MAX, INT8_MAX, out=q)
    return q.astype(np.int8)


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 values to the int32 range (the accumulator's arithmetic);
    values already in range come back as they are (the common case: two reductions, no modulo)."""
    if x.size == 0 or (int(x.min()) >= INT32_MIN and int(x.max()) <= INT32_MAX):
        return x
    return ((x + 2**31) % 2**32) - 2**31


def exact_int_matmul(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """qa @ qb of integer codes, exactly, as int64 (the array's integer accumulation) by BLAS:
    float32 when every partial sum is an integer of magnitude <= 2^24 (K x max|a| x max|b|, e.g.
    int8 codes with K <= 1024), so every product, sum and fused multiply-add is exact in float32
    whatever the summation order; float64 otherwise (exact below 2^53, DESIGN.md section 4)."""
    bound = qa.shape[-1] * _magnitude(qa.dtype) * _magnitude(qb.dtype)
    work = np.float32 if bound <= FLOAT32_EXACT_INT else np.float64
    a, b = qa.astype(work), qb.astype(work)
    if a.ndim == 3 and b.ndim == 3 and b.shape[0] == 1:  # one B for every instance: one (count M) x K GEMM
        return _single_thread_gemm(a.reshape(-1, a.shape[-1]), b[0]).reshape(*a.shape[:-1], b.shape[-1])
    return np.matmul(a, b).astype(np.int64)


def _single_thread_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b (2-D, exact integers in the float dtype) as int64, in row blocks of at most
    BLAS_SINGLE_THREAD_MNK multiply-adds each. Why: OpenBLAS runs a larger GEMM on its thread pool,
    whose threads then spin-wait for more work while this process goes on in Python; on a shared
    machine that roughly doubled an accuracy study's CPU time. Blocks below OpenBLAS's threading
    threshold stay on the calling thread; the products are exact, so blocking changes no value."""
    k, n = b.shape
    step = max(1, BLAS_SINGLE_THREAD_MNK // max(1, k * n))
    out = np.empty((a.shape[0], n), np.int64)
    for lo in range(0, a.shape[0], step):
        out[lo : lo + step] = np.matmul(a[lo : lo + step], b)
    return out


def _magnitude(dtype: np.dtype) -> int:
    info = np.iinfo(dtype)
    return max(-int(info.min), int(info.max))


@dataclass
class AcceleratorStats:
    """What a forward pass cost beyond the clean GEMMs, and what happened to its faults."""

    macs: int = 0  # first-execution MACs of every GEMM run
    recomputed_macs: int = 0
    recompute_passes: int = 0
    recomputed_macs_by_kind: dict[str, int] = field(default_factory=dict)
    check_macs: int = 0  # MACs the policy spends checking: checksums, or DMR's duplicate pass
    outcomes: Outcomes | None = field(default_factory=Outcomes)  # None: not tallied (the pass did not ask)

    @property
    def recovery_overhead(self) -> float:
        """Recomputed MACs as a fraction of the clean MACs."""
        return self.recomputed_macs / self.macs if self.macs else 0.0


class FunctionalAccelerator:
    """A `vit.Matmul` that runs each GEMM of a fixed GEMM list on the simulated hardware."""

    def __init__(
        self,
        hw: HwConfig,
        gemms: Sequence[Gemm],
        policy: str = "none",
        faults: FaultSpec | None = None,
        abft: AbftConfig | None = None,
        capture: bool = False,
        draws: FaultDraws | None = None,
        outcomes: bool = True,
    ) -> None:
        """`capture`: keep every GEMM instance's operands in `captured` ((gemm index, instance) ->
        GemmOperands), the `supplied` operands of OperandCache for a timing run on real activations.
        `draws`: fault draws shared with the other passes of a trial (faults.draw_cache; a pass of
        its own draws each GEMM instance's faults once anyway). `outcomes`: tally every fault's fate
        in `stats.outcomes` (each GEMM call's faults classified, verify.fates); False leaves it None
        and skips the classification (a threshold search reads only accuracy and recovery cost)."""
        self.hw = hw
        self.draws = draws
        self.captured: dict[tuple[int, int], GemmOperands] | None = {} if capture else None
        self.gemms = tuple(gemms)
        self.schedules = _schedules(self.gemms, hw)
        self.abft = abft or AbftConfig()
        unknown = self.abft.unknown_keys(g.name for g in self.gemms)
        if unknown:
            raise ValueError(f"abft: unknown GEMM kind or name {unknown[0]!r} in this model")
        self.policy = make_policy(policy, PolicyContext(hw.checksum_unit.placement, self.abft))
        self.faults = faults if faults is not None and faults.injects else None
        self.stats = AcceleratorStats(outcomes=Outcomes() if outcomes else None)
        self._check_macs: dict[int, int] = {}
        # folds, recompute-pass MACs and fold check MACs, shared by every instance, call and pass of
        # a study on these GEMMs and this array (_PassPrices)
        self._prices = _pass_prices(self.gemms, hw)
        self._check_of, self._check_by_shape = self._prices.checks_of(self.policy)

    @property
    def datatype(self) -> Datatype:
        return self.hw.array.datatype

    def __call__(self, index: int, a: np.ndarray, b: np.ndarray, a_scale: float, b_scale: float) -> np.ndarray:
        g = self.gemms[index]
        a3, b3 = self._shaped(g, a, b)
        if self.datatype.is_integer:
            qa, qb = quantise_static(a3, a_scale), quantise_static(b3, b_scale)
            out = self.accumulate(index, qa, qb, (a_scale, b_scale)).astype(np.float64) * (a_scale * b_scale)
        else:
            qa, qb = to_datatype(a3, self.datatype)[0], to_datatype(b3, self.datatype)[0]
            out = self.accumulate(index, qa, qb)
        return out.astype(np.float32).reshape(*a.shape[:-1], b.shape[-1])

    def accumulate(
        self, index: int, qa: np.ndarray, qb: np.ndarray, scales: tuple[float, float] = (1.0, 1.0)
    ) -> np.ndarray:
        """The accumulator contents (count x M x N) of GEMM `index` on operands already in the
        datatype (count x M x K, count or 1 x K x N): int64 holding int32 values for int8,
        float64 holding fp32 values otherwise; the clean result plus the residual fault errors."""
        g = self.gemms[index]
        if self.datatype.is_integer:
            c = exact_int_matmul(qa, qb)
        else:
            c = np.matmul(qa.astype(np.float64), qb.astype(np.float64)).astype(np.float32).astype(np.float64)
        self.stats.macs += g.macs
        self.stats.check_macs += self.instance_check_macs(index) * g.count
        if self.captured is not None:
            self.captured.update(self._operands(index, qa, qb, scales))
        if self.faults is not None:
            self._inject(index, qa, qb, c, scales)
        return wrap_int32(c) if self.datatype.is_integer else c

    def instance_check_macs(self, index: int) -> int:
        """Checking MACs of one instance of GEMM `index` (every fold's first pass) under the policy."""
        if index not in self._check_macs:
            # one policy call per fold position class (engine.plan; K chunks are classes of their own)
            runs = instance_check_work(self.schedules[index], self.policy)
            self._check_macs[index] = sum(_macs(work) * folds for work, folds in runs)
        return self._check_macs[index]

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _shaped(g: Gemm, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(count, M, K) and (count or 1, K, N) views; raises if they do not match the Gemm."""
        a3 = a.reshape(-1, *a.shape[-2:]) if a.ndim >= 2 else a
        b3 = b.reshape(-1, *b.shape[-2:]) if b.ndim >= 2 else b
        ok = (
            a.ndim >= 2 and b.ndim >= 2 and a3.shape == (g.count, g.m, g.k)
            and b3.shape[1:] == (g.k, g.n) and b3.shape[0] in (1, g.count)
        )  # fmt: skip
        if not ok:
            raise ValueError(f"gemm {g.name!r} expects A ({g.count} x {g.m} x {g.k}) and B ({g.k} x {g.n}), "
                             f"got {a.shape} and {b.shape}")  # fmt: skip
        return a3, b3

    def _operands(
        self, index: int, qa: np.ndarray, qb: np.ndarray, scales: tuple[float, float]
    ) -> dict[tuple[int, int], GemmOperands]:
        shared = qb.shape[0] == 1
        return {
            (index, i): GemmOperands(self.datatype, qa[i], qb[0 if shared else i], *scales)
            for i in range(self.gemms[index].count)
        }

    def _inject(self, index: int, qa: np.ndarray, qb: np.ndarray, c: np.ndarray, scales: tuple[float, float]) -> None:
        """Add the errors the faults of GEMM `index` leave after the policy's recovery to c (in place)."""
        g, hw, pol = self.gemms[index], self.hw, self.policy
        assert self.faults is not None
        supplied = _CallOperands(self.datatype, index, qa, qb, scales)
        verifier = make_verifier(
            pol,
            hw,
            self.schedules,
            self.faults,
            self.abft,
            OperandCache(hw, self.schedules, self.faults.seed, supplied),
            self.draws,
        )
        folds = verifier.operands.folds(index)
        flagged = sorted(verifier.flagged_folds(index))
        recomputed = passes = check_macs = 0  # (integer sums: the order they are added in does not matter)
        for instance, f in flagged:  # the retry loop ran in the verifier; price the passes it asked for
            fold = self._fold(index, f, folds)
            decisions = verifier.attempts(index, instance, fold).decisions
            if len(decisions) < 2:  # accepted (or corrected) at once: no recompute pass
                continue
            check = self._check_macs_of(index, f, fold)
            for decision in decisions[:-1]:
                assert decision.region is not None
                recomputed += self._recompute_pass_macs(index, f, fold, decision.region)
                passes += 1
                check_macs += check
        if passes:
            st = self.stats
            st.recomputed_macs += recomputed
            st.recomputed_macs_by_kind[g.kind] = st.recomputed_macs_by_kind.get(g.kind, 0) + recomputed
            st.recompute_passes += passes
            st.check_macs += check_macs
        instances, rows, cols, delta = verifier.residual_errors(index)
        c[instances, rows, cols] += delta  # (one sum per output element: no repeated index)
        if self.stats.outcomes is not None:
            self.stats.outcomes += verifier.outcomes()

    def _fold(self, index: int, f: int, folds: FoldTable) -> Fold:
        """Fold `f` of GEMM `index` from its fold table (instances, calls and passes share their folds)."""
        key = (index, f)
        fold = self._prices.folds.get(key)
        if fold is None:
            fold = self._prices.folds[key] = folds.fold(f)
        return fold

    def _recompute_pass_macs(self, index: int, f: int, fold: Fold, region: Region) -> int:
        """Recomputed MACs of one recompute pass over `region` of fold `f` of GEMM `index`: memoised
        by the fold's extents (what mapping.region's price reads of a fold; folds of one shape share it)."""
        key = (index, fold.rows_used, fold.cols_used, fold.temporal, fold.t0 > 0, region)
        found = self._prices.macs.get(key)
        if found is None:
            found = self._prices.macs[key] = recomputed_macs(self.hw, self.schedules[index], fold, region)
        return found

    def _check_macs_of(self, index: int, f: int, fold: Fold) -> int:
        """MACs of the check of fold `f` of GEMM `index` (the same for every pass over it, whatever its
        region); memoised by the fold's extents for the bundled policies (_PassPrices.checks_of)."""
        key = (
            (index, fold.rows_used, fold.cols_used, fold.temporal, fold.t0 > 0) if self._check_by_shape else (index, f)
        )
        found = self._check_of.get(key)
        if found is None:
            found = self._check_of[key] = _macs(self.policy.check_work(self.schedules[index], fold))
        return found


def recomputed_macs(hw: HwConfig, s: GemmSchedule, fold: Fold, region: Region) -> int:
    """MACs of one recompute pass over `region` of a fold, as the engine prices it (resolve_region,
    price_region); a pure function of frozen values, memoised by `_PassPrices.macs` (the passes of a
    study and its trials ask for the same prices again and again)."""
    return price_region(hw, s, fold, resolve_region(hw, s, fold, region)).counts.recomputed_macs


# the bundled policies (abft.policies): their check MACs are functions of a fold's extents
_SHAPE_PRICED = frozenset(BUNDLED_POLICIES)


class _PassPrices:
    """What pricing a pass's recovery looks up, shared by every pass on one GEMM list and array
    (`_pass_prices`): a study's or calibration's passes flag mostly folds of the same few shapes
    again and again. Every memo maps frozen values to what a pure function of them returns, so
    sharing cannot change a result:

    * `folds`: (GEMM index, fold index) -> its Fold (the fold table's);
    * `macs`: (GEMM index, rows used, cols used, temporal steps, a later K chunk, region) -> the
      recomputed MACs of one pass (recomputed_macs reads no more of a fold than that);
    * `checks_of(policy)`: the fold's check MACs, per (policy class, check_key of every GEMM): what
      the Policy protocol lets check_work depend on besides the fold and the schedule (every policy
      here is made with the hardware's checksum placement). A fold is named by its GEMM index and
      extents (as in `macs`) for the bundled policies, whose check MACs (abft.check_cost) read no
      more of a fold than its extents (an in_array check's edge spill costs cycles, not MACs);
      by its GEMM index and fold index for any other policy (its check may depend on where the
      fold lies)."""

    def __init__(self, schedules: tuple[GemmSchedule, ...]) -> None:
        self.schedules = schedules
        self.folds: dict[tuple[int, int], Fold] = {}
        self.macs: dict[tuple[int, int, int, int, bool, Region], int] = {}
        self._checks: dict[tuple, dict[tuple, int]] = {}

    def checks_of(self, policy: Policy) -> tuple[dict[tuple, int], bool]:
        """The check-MACs memo of `policy`, and whether it names folds by their extents."""
        key = (type(policy), tuple(policy.check_key(s) for s in self.schedules))
        return self._checks.setdefault(key, {}), type(policy) in _SHAPE_PRICED


@functools.lru_cache(maxsize=16)
def _pass_prices(gemms: tuple[Gemm, ...], hw: HwConfig) -> _PassPrices:
    """The pass prices of every pass on these GEMMs and this array (as `_schedules`, once per pair)."""
    return _PassPrices(_schedules(gemms, hw))


@functools.lru_cache(maxsize=16)
def _schedules(gemms: tuple[Gemm, ...], hw: HwConfig) -> tuple[GemmSchedule, ...]:
    """mapping.schedule_gemms, once per (GEMM list, hardware): every pass of a study or calibration
    runs the same GEMMs on the same array (schedules are frozen values, so passes share them)."""
    return tuple(schedule_gemms(gemms, hw))


class _CallOperands(Mapping[tuple[int, int], GemmOperands]):
    """Every instance's operands of one call of GEMM `index`, as OperandCache's `supplied`: each
    GemmOperands (views of the call's arrays) made when the verifier asks for it, not all of them
    up front (a call of an attention GEMM has one instance per image and head; most hold no fault)."""

    def __init__(
        self, datatype: Datatype, index: int, qa: np.ndarray, qb: np.ndarray, scales: tuple[float, float]
    ) -> None:
        self.datatype, self.index, self.qa, self.qb, self.scales = datatype, index, qa, qb, scales
        self.count, self.shared = qa.shape[0], qb.shape[0] == 1

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and key[0] == self.index and 0 <= key[1] < self.count

    def __getitem__(self, key: tuple[int, int]) -> GemmOperands:
        if key not in self:
            raise KeyError(key)
        i = key[1]
        return GemmOperands(self.datatype, self.qa[i], self.qb[0 if self.shared else i], *self.scales)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return ((self.index, i) for i in range(self.count))

    def __len__(self) -> int:
        return self.count


def _macs(work: CheckWork) -> int:
    """The MACs of a fold's check: on a checksum unit or as extra operand rows/columns on the array."""
    return work.checksum_macs + work.extra_array_macs
