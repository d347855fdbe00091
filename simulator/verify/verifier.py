"""Fault outcomes of fold attempts as the checksum hardware sees them, and each fault's fate.

`FaultVerifier` implements the engine's TileVerifier: it samples every GEMM instance's faults
(the same draw for every policy), resolves their exact output errors, and for each fold attempt
the engine reports on computes the checksum deviations the policy decides on. It follows the
decisions (correct in place, recompute a region: the region's errors are replaced by the faults
of the new pass) and finally classifies every fault: masked, detected, corrected, recomputed,
tolerated or escaped, and measures the residual error of every GEMM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.abft.check_cost import check_extents
from simulator.abft.checksum import BlockDeviation, block_deviations, output_scale, tolerance_for
from simulator.abft.protocol import Action, Decision, TileCheck
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.effects import EffectBatch, kernel_operands, resolve_gemm_faults
from simulator.faults.model import PeFault
from simulator.faults.operands import GemmOperands, synthetic_operands
from simulator.faults.sampling import (
    FaultBatch,
    permanent_batch,
    sample_fold_faults,
    sample_gemm_faults,
    sample_permanent_faults,
)
from simulator.kernels.codes import FLIP, P_FOLD_COL, P_FOLD_ROW, P_GEMM_COL, P_GEMM_ROW
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.mapping.region import Region, Scope
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold, fold_operands

OUTCOMES = ("masked", "corrected", "recomputed", "tolerated", "escaped")
_DUPLICATE_STREAM = 5  # SeedSequence stream of DMR's second copy (faults.sampling uses 1-4)


@dataclass
class FaultTrack:
    """One fault (a permanent one: its occurrence in one fold) and what is left of its error."""

    fault_id: str
    fold_rows: np.ndarray  # fold output-block coordinates of the corrupted elements
    fold_cols: np.ndarray
    gemm_rows: np.ndarray
    gemm_cols: np.ndarray
    delta: np.ndarray  # faulty - clean, accumulator units
    alive: np.ndarray  # still present in the output
    permanent: bool = False  # a stuck-at bit: it hits both copies of DMR alike
    detected: bool = False
    corrected: bool = False
    fault: PeFault | None = None  # where it struck (for the fault log)
    attempt: int = 0  # the pass it hit (0 = first execution)

    @property
    def masked(self) -> bool:
        return not bool(np.any(self.delta != 0))

    @property
    def residual(self) -> bool:
        return bool(np.any(self.delta[self.alive] != 0))


@dataclass
class FoldState:
    """The errors in one fold's output block and how its last attempt ended."""

    kind: str
    scale: float
    shape: tuple[int, int]
    tracks: list[FaultTrack] = field(default_factory=list)
    last_check: FoldVerification | None = None
    final: Action | None = None
    gave_up: bool = False


@dataclass(frozen=True)
class FoldVerification:
    """What one attempt's checks saw (TileCheck.details)."""

    kind: str
    scale: float  # clean output scale (ApproxABFT's relative unit), accumulator units
    blocks: tuple[BlockDeviation, ...]
    copies_differ: bool = False  # DMR: the duplicate execution disagreed

    @property
    def detected(self) -> bool:
        return any(b.detected for b in self.blocks)


class FaultVerifier:
    """TileVerifier backed by the PE fault model (DESIGN.md sections 4 and 5)."""

    def __init__(
        self,
        hw: HwConfig,
        schedules: Sequence[GemmSchedule],
        spec: FaultSpec,
        abft: AbftConfig,
        *,
        checks: bool,
        duplicates: bool = False,
        tolerates: bool = False,
        operands: OperandCache | None = None,
    ) -> None:
        self.hw, self.schedules, self.spec, self.abft = hw, schedules, spec, abft
        self.checks, self.duplicates, self.tolerates = checks, duplicates, tolerates
        self.operands = operands or OperandCache(hw, schedules, spec.seed)
        arr = hw.array
        self._permanent = sample_permanent_faults(spec, arr.datatype, arr.rows, arr.cols)
        self._duplicate_spec = spec.model_copy(update={"seed": _derived_seed(spec.seed)}) if duplicates else None
        self._states: dict[tuple[int, int, int], FoldState] = {}
        self._by_instance: dict[tuple[int, int], list[FoldState]] = {}
        self._flagged: dict[int, frozenset[tuple[int, int]]] = {}
        self._duplicate_batches: dict[tuple[int, int], tuple[FaultBatch, EffectBatch | None]] = {}
        self.recomputations = 0

    # -- TileVerifier -------------------------------------------------------------------------
    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        if gemm_index not in self._flagged:
            self._flagged[gemm_index] = self._sample_gemm(gemm_index)
        return self._flagged[gemm_index]

    def verify(self, gemm_index: int, instance: int, fold: Fold, attempt: int, region: Region | None) -> TileCheck:
        state = self._state(gemm_index, instance, fold)
        if attempt > 0:
            self.recomputations += 1
            self._rerun(gemm_index, instance, fold, attempt, region or Region(Scope.TILE), state)
        copies_differ = False
        if self.duplicates:
            copies_differ = self._copies_differ(gemm_index, instance, fold, attempt, state)
        blocks = self._deviations(gemm_index, instance, fold, state) if self.checks else ()
        check = FoldVerification(state.kind, state.scale, tuple(blocks), copies_differ)
        self._mark_detected(state, check)
        state.last_check = check
        return TileCheck(gemm_index, instance, fold.index, attempt, check)

    # -- decisions (fed by DecisionRecorder) ------------------------------------------------------
    def record(self, check: TileCheck, decision: Decision) -> None:
        state = self._states.get((check.gemm_index, check.instance, check.fold_index))
        if state is None:
            return
        state.final = decision.action
        if decision.action is Action.CORRECT:
            self._correct(state, check.details)
        if decision.action is Action.RECOMPUTE and check.attempt >= self.hw.recompute.max_retries:
            state.gave_up = True

    # -- results ------------------------------------------------------------------------------
    def outcomes(self) -> dict[str, int]:
        states = list(self._states.values())
        counts = self._count(states)
        counts["gave_up_folds"] = sum(state.gave_up for state in states)
        counts["recomputations"] = self.recomputations
        return counts

    def layer_outcomes(self, gemm_index: int) -> dict[str, float]:
        """Outcome counts and residual error of one GEMM: max |E| and ||E||_F relative to the
        clean output's expected Frobenius norm (OperandCache.clean_frobenius)."""
        by_instance = [states for (g, _), states in self._by_instance.items() if g == gemm_index]
        counts = self._count([state for states in by_instance for state in states])
        max_abs, err_sq = 0.0, 0.0
        for states in by_instance:
            errors = _error_map((track for state in states for track in state.tracks), gemm_coords=True)
            values = np.abs(np.array(list(errors.values()), np.float64))
            if values.size:
                max_abs = max(max_abs, float(values.max()))
                err_sq += float(np.sum(values * values))
        rel = 0.0
        if err_sq > 0 or not np.isfinite(err_sq):
            rel = float(np.sqrt(err_sq) / self.operands.clean_frobenius(gemm_index))
        return {**counts, "residual_max_abs": max_abs, "residual_rel_fro": rel}

    def residual_errors(self, gemm_index: int, instance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, cols, delta) of the errors left in one GEMM instance's output C[M,N], summed
        per element (WS/IS folds' partial-sum errors add up in C)."""
        states = self._by_instance.get((gemm_index, instance), ())
        errors = _error_map((track for state in states for track in state.tracks), gemm_coords=True)
        keys = sorted(errors)
        rows = np.array([k[0] for k in keys], np.int64)
        cols = np.array([k[1] for k in keys], np.int64)
        dtype = np.int64 if self.hw.array.datatype.is_integer else np.float64
        return rows, cols, np.array([errors[k] for k in keys], dtype)

    def fault_records(self) -> list[dict[str, Any]]:
        """One record per injected fault (a stuck-at bit: per fold pass it hit), in (GEMM, instance, fold)
        order: where it struck, the pass, its fate, the outputs it corrupted and the largest absolute error
        it left (accumulator units) and relative to the clean output scale (the RMS of C)."""
        records = []
        for (g, inst, f), state in sorted(self._states.items()):
            for track in state.tracks:
                pe = track.fault
                assert pe is not None
                left = np.abs(track.delta[track.alive & (track.delta != 0)].astype(np.float64))
                worst = float(left.max()) if left.size else 0.0
                scale = self.operands.scale(g, inst)
                kind = "transient" if pe.stuck_value is None else f"stuck{pe.stuck_value}"
                records.append({
                    "fault_id": track.fault_id, "gemm": self.schedules[g].gemm.name, "gemm_index": g,
                    "instance": inst, "fold": f, "attempt": track.attempt, "row": pe.row, "col": pe.col,
                    "cycle": pe.cycle, "site": str(pe.site), "bit": pe.bit, "kind": kind,
                    "detected": track.detected, "fate": self._fate(state, track),
                    "outputs_corrupted": int(np.count_nonzero(track.delta)),
                    "max_abs_error": worst, "max_rel_error": worst / scale if scale > 0 else float(worst > 0),
                })  # fmt: skip
        return records

    def _count(self, states: Sequence[FoldState]) -> dict[str, int]:
        """Injected and detected faults and each fault's fate, over some fold states."""
        counts = dict.fromkeys(("faults_injected", "detected", *OUTCOMES), 0)
        for state in states:
            for track in state.tracks:
                counts["faults_injected"] += 1
                counts["detected"] += int(track.detected)
                counts[self._fate(state, track)] += 1
        return counts

    def _fate(self, state: FoldState, track: FaultTrack) -> str:
        if track.masked:
            return "masked"
        if not track.residual:
            return "corrected" if track.corrected else "recomputed"
        tolerated = self.tolerates and track.detected and state.final is Action.ACCEPT and not state.gave_up
        return "tolerated" if tolerated else "escaped"

    # -- internals ----------------------------------------------------------------------------
    def _sample_gemm(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        s = self.schedules[gemm_index]
        flagged: set[tuple[int, int]] = set()
        if not self.spec.selects(s.gemm):
            return frozenset()
        folds = self.operands.folds(gemm_index)
        for instance in range(s.gemm.count):
            batch, effects = self._first_pass(self.spec, gemm_index, instance, permanent=True)
            if self._duplicate_spec is not None:
                dup, dup_effects = self._first_pass(self._duplicate_spec, gemm_index, instance, permanent=False)
                self._duplicate_batches[(gemm_index, instance)] = (dup, dup_effects)
                flagged.update((instance, int(f)) for f in np.unique(dup.fold_index))
            for i, fid in enumerate(batch.fault_ids()):
                assert effects is not None  # _first_pass resolves the effects of every non-empty batch
                f = int(batch.fold_index[i])
                state = self._state(gemm_index, instance, folds.fold(f))
                track = _track(fid, effects, i, permanent=bool(batch.mode[i] != FLIP))
                track.fault = batch.fault(i)
                state.tracks.append(track)
                flagged.add((instance, f))
        return frozenset(flagged)

    def _first_pass(
        self, spec: FaultSpec, gemm_index: int, instance: int, permanent: bool
    ) -> tuple[FaultBatch, EffectBatch | None]:
        """Attempt-0 faults of a GEMM instance and their effects; shared by the run's policies."""

        def draw() -> tuple[FaultBatch, EffectBatch | None]:
            s, arr = self.schedules[gemm_index], self.hw.array
            folds = self.operands.folds(gemm_index)
            batch = sample_gemm_faults(spec, s.gemm, gemm_index, instance, arr.dataflow, arr.datatype,
                                       arr.rows, arr.cols, folds)  # fmt: skip
            if permanent and self._permanent:
                batch = batch.concat(permanent_batch(self._permanent, np.arange(len(folds)), gemm_index, instance))
            return batch, (self._resolve(gemm_index, instance, batch) if len(batch) else None)

        return self.operands.memo(("first_pass", spec, permanent, gemm_index, instance), draw)

    def _resolve(self, gemm_index: int, instance: int, batch: FaultBatch) -> EffectBatch:
        arr = self.hw.array
        ops = self.operands.kernel(gemm_index, instance)
        return resolve_gemm_faults(arr.dataflow, arr.rows, arr.cols, ops, batch, self.operands.folds(gemm_index))

    def _state(self, gemm_index: int, instance: int, fold: Fold) -> FoldState:
        key = (gemm_index, instance, fold.index)
        state = self._states.get(key)
        if state is None:
            s = self.schedules[gemm_index]
            e = check_extents(s, fold)
            scale = self.operands.scale(gemm_index, instance) if self.checks else 0.0
            state = FoldState(s.gemm.kind, scale, (e.out_rows, e.out_cols))
            self._states[key] = state
            self._by_instance.setdefault((gemm_index, instance), []).append(state)
        return state

    def _rerun(
        self, gemm_index: int, instance: int, fold: Fold, attempt: int, region: Region, state: FoldState
    ) -> None:
        """A recompute pass replaces the region's errors with those of the new pass."""
        for track in state.tracks:
            track.alive &= ~_in_region(region, track.fold_rows, track.fold_cols)
        s, arr = self.schedules[gemm_index], self.hw.array
        batch = sample_fold_faults(self.spec, s.gemm, gemm_index, instance, fold.index, attempt, arr.dataflow,
                                   arr.datatype, arr.rows, arr.cols, self.operands.folds(gemm_index))  # fmt: skip
        if self._permanent:  # the same PEs fail again
            batch = batch.concat(
                permanent_batch(self._permanent, np.array([fold.index]), gemm_index, instance, attempt)
            )
        if len(batch) == 0:
            return
        effects = self._resolve(gemm_index, instance, batch)
        for i, fid in enumerate(batch.fault_ids()):
            permanent = bool(batch.mode[i] != FLIP)
            track = _track(f"{fid}@a{attempt}" if permanent else fid, effects, i, permanent=permanent)
            track.fault, track.attempt = batch.fault(i), attempt
            track.alive &= _in_region(region, track.fold_rows, track.fold_cols)
            state.tracks.append(track)

    def _copies_differ(self, gemm_index: int, instance: int, fold: Fold, attempt: int, state: FoldState) -> bool:
        """DMR: the second copy runs with its own transient faults (permanent ones hit both alike)."""
        s, arr = self.schedules[gemm_index], self.hw.array
        assert self._duplicate_spec is not None
        second: dict[tuple[int, int], float] = {}
        if attempt == 0:
            whole, effects = self._duplicate_batches.get((gemm_index, instance), (None, None))
            if whole is not None and effects is not None:
                idx = np.flatnonzero(whole.fold_index == fold.index)
                second = _error_map(_track("dup", effects, int(i)) for i in idx)
        else:
            dup = sample_fold_faults(self._duplicate_spec, s.gemm, gemm_index, instance, fold.index, attempt,
                                     arr.dataflow, arr.datatype, arr.rows, arr.cols,
                                     self.operands.folds(gemm_index))  # fmt: skip
            if len(dup):
                effects = self._resolve(gemm_index, instance, dup)
                second = _error_map(_track(fid, effects, i) for i, fid in enumerate(dup.fault_ids()))
        first = _error_map(t for t in state.tracks if not t.permanent)
        return first != second

    def _deviations(self, gemm_index: int, instance: int, fold: Fold, state: FoldState) -> list[BlockDeviation]:
        live = [(t.fold_rows[t.alive], t.fold_cols[t.alive], t.delta[t.alive]) for t in state.tracks]
        live = [x for x in live if x[2].size]
        if not live:
            return []
        rows, cols, delta = (np.concatenate(parts) for parts in zip(*live, strict=True))
        tol = None
        if not self.hw.array.datatype.is_integer:
            a_blk, b_blk = self.operands.fold_blocks(gemm_index, instance, fold)
            tol = tolerance_for(self.hw.array.datatype, a_blk, b_blk, self.abft.fp_tolerance_factor)
        block = (self.abft.block_rows, self.abft.block_cols)
        return block_deviations(rows, cols, delta, state.shape, block, tol)

    @staticmethod
    def _mark_detected(state: FoldState, check: FoldVerification) -> None:
        flagged = [(set(b.flagged_rows.tolist()), set(b.flagged_cols.tolist())) for b in check.blocks if b.detected]
        for track in state.tracks:
            if track.detected or not track.residual:
                continue
            if check.copies_differ:
                track.detected = True
                continue
            live = track.alive & (track.delta != 0)
            pairs = zip(track.fold_rows[live].tolist(), track.fold_cols[live].tolist(), strict=True)
            track.detected = any(i in rows or j in cols for i, j in pairs for rows, cols in flagged)

    @staticmethod
    def _correct(state: FoldState, check: FoldVerification) -> None:
        """C[i,j] -= RSD_i for each block with one flagged row i and one flagged column j; the
        element's errors are gone exactly when they were the block's only ones in row i."""
        for b in check.blocks:
            if not b.detected:
                continue
            (i,), (j,) = b.flagged_rows.tolist(), b.flagged_cols.tolist()
            rsd_i = b.rsd[i - b.row0]
            at_ij = [(t, (t.fold_rows == i) & (t.fold_cols == j) & t.alive) for t in state.tracks]
            total = sum(t.delta[mask].sum() for t, mask in at_ij)
            if total != rsd_i:
                continue  # other errors in row i: the correction does not restore the element
            for t, mask in at_ij:
                if mask.any():
                    t.alive &= ~mask
                    t.corrected = True


class DecisionRecorder:
    """Wraps a policy so that the verifier learns every decision (the engine stays unaware)."""

    def __init__(self, policy, verifier: FaultVerifier) -> None:
        self.policy, self.verifier = policy, verifier
        self.name = policy.name

    def check_work(self, schedule, fold):
        return self.policy.check_work(schedule, fold)

    def decide(self, check: TileCheck) -> Decision:
        decision = self.policy.decide(check)
        self.verifier.record(check, decision)
        return decision


class OperandCache:
    """Operands, fold tables and clean-output norms of a run, computed once and shared by policies."""

    def __init__(
        self,
        hw: HwConfig,
        schedules: Sequence[GemmSchedule],
        seed: int,
        supplied: dict[tuple[int, int], GemmOperands] | None = None,
    ) -> None:
        """`supplied` maps (gemm_index, instance) to real operands (e.g. captured from a model);
        every other GEMM instance gets seeded synthetic operands."""
        self.hw, self.schedules, self.seed = hw, schedules, seed
        self._operands: dict[tuple[int, int], GemmOperands] = dict(supplied or {})
        self._kernel: dict[tuple[int, int], object] = {}
        self._folds: dict[int, FoldTable] = {}
        self._scale: dict[tuple[int, int], float] = {}
        self._fro: dict[int, float] = {}
        self._memo: dict[tuple, Any] = {}

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key for the whole run (e.g. attempt-0 fault draws and effects,
        which are the same for every policy)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def operands(self, gemm_index: int, instance: int) -> GemmOperands:
        key = (gemm_index, instance)
        if key not in self._operands:
            gemm = self.schedules[gemm_index].gemm
            self._operands[key] = synthetic_operands(gemm, self.hw.array.datatype, self.seed, gemm_index, instance)
        return self._operands[key]

    def kernel(self, gemm_index: int, instance: int):
        key = (gemm_index, instance)
        if key not in self._kernel:
            ops = self.operands(gemm_index, instance)
            self._kernel[key] = kernel_operands(ops.datatype, ops.a, ops.b)
        return self._kernel[key]

    def folds(self, gemm_index: int) -> FoldTable:
        if gemm_index not in self._folds:
            s, arr = self.schedules[gemm_index], self.hw.array
            g = s.gemm
            self._folds[gemm_index] = fold_table(arr.dataflow, g.m, g.k, g.n, arr.rows, arr.cols, s.order)
        return self._folds[gemm_index]

    def scale(self, gemm_index: int, instance: int) -> float:
        key = (gemm_index, instance)
        if key not in self._scale:
            ops = self.operands(gemm_index, instance)
            self._scale[key] = output_scale(ops.a, ops.b)
        return self._scale[key]

    def fold_blocks(self, gemm_index: int, instance: int, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
        ops = self.operands(gemm_index, instance)
        return fold_operands(self.hw.array.dataflow, fold, ops.a, ops.b)

    def clean_frobenius(self, gemm_index: int) -> float:
        """The clean output's expected Frobenius norm over all instances of a GEMM,
        sqrt(sum over instances of M N scale^2) with scale = checksum.output_scale (the RMS of C
        for independent operands; within a few % of the exact norm, see tests), which costs
        O(MK + KN) instead of a GEMM per instance."""
        if gemm_index not in self._fro:
            g = self.schedules[gemm_index].gemm
            total = sum(g.m * g.n * self.scale(gemm_index, inst) ** 2 for inst in range(g.count))
            self._fro[gemm_index] = float(np.sqrt(total)) or 1.0
        return self._fro[gemm_index]


def _track(fault_id: str, effects: EffectBatch, i: int, permanent: bool = False) -> FaultTrack:
    lo, hi = int(effects.offsets[i]), int(effects.offsets[i + 1])
    pos = effects.positions[lo:hi]
    delta = effects.delta[lo:hi]
    return FaultTrack(
        fault_id, pos[:, P_FOLD_ROW].copy(), pos[:, P_FOLD_COL].copy(), pos[:, P_GEMM_ROW].copy(),
        pos[:, P_GEMM_COL].copy(), delta.copy(), np.ones(hi - lo, bool), permanent,
    )  # fmt: skip


def _in_region(region: Region, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    if region.scope in (Scope.TILE, Scope.GEMM):
        return np.ones(rows.shape, bool)
    if region.scope is Scope.ROWS:
        return np.isin(rows, region.rows)
    if region.scope is Scope.COLS:
        return np.isin(cols, region.cols)
    pairs = set(zip(region.rows, region.cols, strict=True))
    return np.array([(i, j) in pairs for i, j in zip(rows.tolist(), cols.tolist(), strict=True)], bool)


def _error_map(tracks: Iterable[FaultTrack], gemm_coords: bool = False) -> dict[tuple[int, int], float]:
    """The live errors of some tracks summed per element (fold-block or GEMM coordinates); only
    elements whose error does not cancel to 0."""
    errors: dict[tuple[int, int], float] = {}
    for t in tracks:
        live = t.alive & (t.delta != 0)
        rows, cols = (t.gemm_rows, t.gemm_cols) if gemm_coords else (t.fold_rows, t.fold_cols)
        for i, j, d in zip(rows[live].tolist(), cols[live].tolist(), t.delta[live].tolist(), strict=True):
            errors[(i, j)] = errors.get((i, j), 0) + d
    return {k: v for k, v in errors.items() if v != 0}


def _derived_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, _DUPLICATE_STREAM]).generate_state(1, np.uint64)[0] >> 1)
