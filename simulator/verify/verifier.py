"""The PE fault model as the checksum hardware sees it: faults per fold attempt, checks, verdicts, fates.

`FaultVerifier` (built by `make_verifier`) implements the engine's TileVerifier. Per GEMM instance
whose draws the screen (faults.draw_cache, one kernel call per GEMM) cannot rule out as empty, it
draws the first pass's faults (the same draw for every policy of a run), resolves their exact
output errors into the fault ledger (verify.ledger) and runs abft.retry's loop over every
flagged fold of the instance in rounds: round a draws the recomputation faults of attempt a once
for the instance (faults.sampling), keeps those in the (PE, cycle) slots each retrying pass uses,
resolves them in one kernel call, and checks every fold as the policy's contract asks
(checksum deviations, a DMR copy compare); integer folds checked as one block are checked where
the ledger keeps their errors (one kernels.fold_check call per segment of the round, no
gathering), and the policy still decides each fold's TileCheck. At the end every fault's fate is classified once
(verify.fates) against the stored outputs (verify.writeback).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.abft.checksum import BlockDeviation, block_deviations, tolerance_for
from simulator.abft.protocol import (
    Action,
    Decision,
    FoldAttempts,
    FoldVerification,
    Policy,
    Rerun,
    TileCheck,
    flagged_by_instance,
)
from simulator.abft.retry import retry_rounds
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Dataflow, FaultKind
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.checksum_faults import (
    ROW_WORD,
    CheckGeometry,
    ChecksumFaults,
    check_geometry,
    checksum_sites,
    word_deltas,
    word_values,
)
from simulator.faults.draw_cache import DirectDraws, ScreenedDraws
from simulator.faults.effects import EffectBatch, resolve_gemm_faults
from simulator.faults.explicit_sites import has_explicit_checksum, with_explicit_checksum
from simulator.faults.sampling import (
    FaultBatch,
    permanent_batch,
    sample_permanent_faults,
)
from simulator.kernels.checksum_check import exact_range_check_with_checksum_faults
from simulator.kernels.codes import CHK_ENC, FLIP, P_FOLD_COL, P_FOLD_ROW, T_CU, T_RU
from simulator.kernels.error_map import copies_differ, live_error_map
from simulator.kernels.fold_check import exact_fold_check, exact_fold_checks, exact_range_checks
from simulator.kernels.output_damage import sum_by_code
from simulator.mapping.dataflow import geometry_of
from simulator.mapping.fold_table import FoldTable
from simulator.mapping.region import Region, Scope, member_mask, resolve_region
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold
from simulator.verify.checksum_checks import ChecksumLog, ChecksumVerdicts, checked_blocks
from simulator.verify.fates import FATES, UNRECOVERABLE, Fates, classify
from simulator.verify.ledger import ElementSpan, FaultLedger, FoldErrors, LedgerTable, segment_runs
from simulator.verify.operand_cache import OperandCache
from simulator.verify.outcomes import Outcomes
from simulator.verify.output_effects import OutputPathInjector
from simulator.verify.records import FaultRecords, fault_records
from simulator.verify.sram_effects import SramInjector

_EMPTY_INT = np.zeros(0, np.int64)
_DUPLICATE_STREAM = 5  # SeedSequence stream of DMR's second copy (faults.sampling uses 1-4)
_WHOLE_TILE = Region(Scope.TILE)  # attempt 0 computes every fold whole
_SPAN_COLUMNS = ("grows", "gcols", "delta", "alive")  # what residual_errors reads of an element span
_BATCHED_CHECK_FOLDS = 8  # from this many exact folds in a check round on, one kernel call checks them all
Drawn = tuple[FaultBatch, EffectBatch | None]


def make_verifier(
    policy: Policy,
    hw: HwConfig,
    schedules: Sequence[GemmSchedule],
    spec: FaultSpec,
    abft: AbftConfig | None = None,
    operands: OperandCache | None = None,
    draws: DirectDraws | None = None,
) -> FaultVerifier:
    """The verifier of one policy's run: the faults of `spec` on `hw`, checked as the policy's
    contract asks and decided by the policy (`operands`: the run's shared cache; `draws`: a
    faults.draw_cache.FaultDraws shared with other runs of the same trial, e.g. the accuracy study's
    passes, which have operands of their own)."""
    return FaultVerifier(policy, hw, schedules, spec, abft or AbftConfig(), operands, draws)


class FaultVerifier:
    """TileVerifier backed by the PE fault model (DESIGN.md sections 4 and 5)."""

    def __init__(
        self,
        policy: Policy,
        hw: HwConfig,
        schedules: Sequence[GemmSchedule],
        spec: FaultSpec,
        abft: AbftConfig,
        operands: OperandCache | None = None,
        draws: DirectDraws | None = None,
    ) -> None:
        self.policy, self.contract = policy, policy.contract
        self.draws = ScreenedDraws() if draws is None else draws
        self.hw, self.schedules, self.spec, self.abft = hw, schedules, spec, abft
        self.operands = operands or OperandCache(hw, schedules, spec.seed)
        arr = hw.array
        self._permanent = sample_permanent_faults(spec, arr.datatype, arr.rows, arr.cols)
        self._duplicate_spec = (
            spec.model_copy(update={"seed": _derived_seed(spec.seed)}) if self.contract.duplicate else None
        )
        self.ledger = FaultLedger(arr.datatype.is_integer)
        self._flagged: dict[int, frozenset[tuple[int, int]]] = {}
        self._attempts: dict[tuple[int, int], dict[int, FoldAttempts]] = {}
        self._fates: tuple[LedgerTable, Fates] | None = None
        self._sorted: dict[int, bool] = {}  # id of a classified column -> it is sorted (_span)
        self._flagged_of: dict[int, dict[int, list[int]]] = {}
        self._folds: dict[tuple[int, int], Fold] = {}
        self._keys_of: tuple[int, dict[int, list[tuple[int, int, int]]]] | None = None
        self.recomputations = 0
        # the checksum hardware's own faults (faults.checksum_faults), for policies that check checksums
        random = bool(checksum_sites(spec)) and spec.kind is FaultKind.TRANSIENT and spec.ber > 0
        self._checksum_faulty = self.contract.checksums and (random or has_explicit_checksum(spec))
        self.checksum_log = ChecksumLog()
        self.sram = SramInjector(hw, schedules, spec, self.operands)  # A / B scratchpad upsets (opt-in sites)
        self.output_path = OutputPathInjector(hw, schedules, spec, self.operands)  # C words, drain (opt-in)

    # -- explicit faults in, per-fault records out --------------------------------------------
    def records(self) -> FaultRecords:
        """Every fault of the run with its fate (struct of arrays, ledger table order)."""
        return fault_records(*self._classified())

    # -- TileVerifier -------------------------------------------------------------------------
    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        if gemm_index not in self._flagged:
            self._flagged[gemm_index] = self._sample_gemm(gemm_index)
        return self._flagged[gemm_index]

    def attempts(self, gemm_index: int, instance: int, fold: Fold, rerun: Rerun | None = None) -> FoldAttempts:
        """(`rerun` is ignored: this verifier resolves regions with mapping.region.resolve_region,
        the function the engine prices passes with.)"""
        key = (gemm_index, instance)
        if key not in self._attempts:
            self._attempts[key] = self._run_instance(gemm_index, instance)
        return self._attempts[key][fold.index]

    # -- results ------------------------------------------------------------------------------
    def fates(self) -> Fates:
        """Every fault's fate (in `table()` order), classified once."""
        return self._classified()[1]

    def table(self) -> LedgerTable:
        """The ledger flattened: every fault (coordinates, site, bit, mode, attempt, detected) and
        every element it corrupted."""
        return self._classified()[0]

    def _classified(self) -> tuple[LedgerTable, Fates]:
        if self._fates is None:
            table = self.ledger.table(self.checksum_log.rows())  # the checksum-hardware faults in the same pass
            if self.sram or self.output_path:
                finals = self.ledger.finals()
                table = self.output_path.merged(self.sram.merged(table, finals), finals)
            fates = classify(table, self.contract.tolerates, self.operands.writeback, self.operands.clean_accumulators)
            fates = self.output_path.with_unrecoverable(table, fates)  # C upsets ECC detected: DUE
            self._fates, self._sorted = (table, fates), {}
        return self._fates

    def outcomes(self) -> Outcomes:
        return self._outcomes(None)

    def unrecoverable(self, gemm_index: int | None = None) -> int:
        """Faults with fate `unrecoverable` (C upsets SEC-DED detected: verify.output_effects), of the run or a GEMM."""
        table, fates = self._classified()
        mine = slice(None) if gemm_index is None else self._span(table.gemm, gemm_index)
        return int(np.count_nonzero(fates.fate[mine] == UNRECOVERABLE))

    def layer_outcomes(self, gemm_index: int) -> dict[str, float]:
        """Outcome counts and residual error of one GEMM: max |E| and ||E||_F relative to the
        clean output's expected Frobenius norm (OperandCache.clean_frobenius)."""
        fates = self.fates()
        errors = np.abs(fates.out_error[self._span(fates.out_gemm, gemm_index)])
        max_abs = float(errors.max()) if errors.size else 0.0
        err_sq = float(np.sum(errors * errors))
        rel = float(np.sqrt(err_sq) / self.operands.clean_frobenius(gemm_index)) if err_sq > 0 else 0.0
        counts = self._outcomes(gemm_index).to_dict()
        del counts["recomputations"], counts["gave_up_folds"]
        return {**counts, "residual_max_abs": max_abs, "residual_rel_fro": rel}

    def residual_errors(self, gemm_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(instances, rows, cols, delta) of the errors left in the outputs C[M,N] of every instance of
        GEMM `gemm_index`, summed per element (WS/IS folds' partial-sum errors add up in C), nonzero
        sums only, instance-major then row-major: one pass over the GEMM's folds, whatever its count
        (a study's attention GEMMs have hundreds of instances)."""
        g = self.schedules[gemm_index].gemm
        keys = self._gemm_keys().get(gemm_index, [])  # (gemm, instance, fold), sorted
        states = [self.ledger.folds[k] for k in keys]
        parts = []  # (output codes (instance * M + row) * N + col, errors)
        if states:  # the folds' errors in fold order (where the ledger keeps them), masked once
            spans = [s.element_span() for s in states]
            instance = np.repeat(np.array([k[1] for k in keys], np.int64), [e.hi - e.lo for e in spans])
            joined = _joined_spans(spans)
            grows, gcols, delta, alive = (np.concatenate([getattr(e, c)[e.lo : e.hi] for e in joined])
                                          for c in _SPAN_COLUMNS)  # fmt: skip
            live = alive & (delta != 0)
            parts.append(((instance[live] * g.m + grows[live]) * g.n + gcols[live], delta[live]))
        parts += self.sram.live_errors(gemm_index, g.m, g.n)  # SRAM upsets (verify.sram_effects)
        parts += self.output_path.live_errors(gemm_index, g.m, g.n)  # C words, drain (verify.output_effects)
        dtype = np.int64 if self.hw.array.datatype.is_integer else np.float64
        if not parts:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, np.zeros(0, dtype)
        codes, values = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        # per output, its errors summed in the order above (np.unique and np.add.at, in one pass)
        keys_out, sums, _ = sum_by_code(codes, values.astype(dtype))
        keep = sums != 0
        at, cols = np.divmod(keys_out[keep], g.n)
        instances, rows = np.divmod(at, g.m)
        return instances, rows, cols, sums[keep]

    def _span(self, gemms: np.ndarray, gemm_index: int) -> slice | np.ndarray:
        """Where GEMM `gemm_index` sits in a column of GEMM indices of the table or the fates:
        a slice, as both are gemm-major (np.searchsorted, O(log n) per layer instead of a mask
        over every fault); a mask if a column is ever not sorted."""
        ordered = self._sorted.get(id(gemms))
        if ordered is None:  # checked once per column, not per call
            ordered = self._sorted[id(gemms)] = bool(np.all(gemms[1:] >= gemms[:-1]))
        if not ordered:
            return gemms == gemm_index
        lo, hi = np.searchsorted(gemms, (gemm_index, gemm_index + 1))
        return slice(int(lo), int(hi))

    def _gemm_keys(self) -> dict[int, list[tuple[int, int, int]]]:
        """The ledger's fold keys per GEMM, sorted (rebuilt when the ledger grew)."""
        if self._keys_of is None or self._keys_of[0] != len(self.ledger.folds):
            index: dict[int, list[tuple[int, int, int]]] = {}
            for key in sorted(self.ledger.folds):
                index.setdefault(key[0], []).append(key)
            self._keys_of = (len(self.ledger.folds), index)
        return self._keys_of[1]

    def _outcomes(self, gemm_index: int | None) -> Outcomes:
        table, fates = self._classified()
        mine = slice(None) if gemm_index is None else self._span(table.gemm, gemm_index)
        fate = fates.fate[mine]
        per_fate = np.bincount(fate, minlength=len(FATES))
        outputs_of = slice(None) if gemm_index is None else self._span(fates.out_gemm, gemm_index)
        outputs = fates.out_corrupted[outputs_of]
        worst = fates.out_rel[outputs_of][outputs]
        masked, corrected, recomputed, tolerated, escaped = (int(x) for x in per_fate[:UNRECOVERABLE])
        return Outcomes(
            faults_injected=int(fate.shape[0]), detected=int(table.detected[mine].sum()), masked=masked,
            masked_at_output=int(fates.masked_at_output[mine].sum()), corrected=corrected, recomputed=recomputed,
            tolerated=tolerated, escaped=escaped,
            gave_up_folds=self.ledger.given_up() if gemm_index is None else 0,
            recomputations=self.recomputations if gemm_index is None else 0,
            corrupted_outputs=int(outputs.sum()), max_rel_error=float(worst.max()) if worst.size else 0.0,
            false_alarms=int(table.false_alarm[mine].sum()), hidden_errors=int(table.hidden[mine].sum()),
        )  # fmt: skip

    # -- first pass ---------------------------------------------------------------------------
    def _sample_gemm(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        s = self.schedules[gemm_index]
        if not self.spec.selects(s.gemm):
            return frozenset()
        flagged: set[tuple[int, int]] = set()
        for instance in self._drawn_instances(gemm_index):
            batch, effects = self._first_pass(self.spec, gemm_index, instance, permanent=True)
            if effects is not None:
                runs = _fold_runs(batch.fold_index)
                self.ledger.add_runs(batch, effects, [(self._state(gemm_index, instance, f), lo, hi, None)
                                                      for f, lo, hi in runs])  # fmt: skip
                flagged.update((instance, f) for f, _, _ in runs)
            if self._duplicate_spec is not None:
                dup, _ = self._first_pass(self._duplicate_spec, gemm_index, instance, permanent=False)
                flagged.update((instance, int(f)) for f in np.unique(dup.fold_index))
            if self._checksum_faulty:
                checksum = self._checksum_faults(gemm_index, instance, 0)
                flagged.update((instance, int(f)) for f in np.unique(checksum.fold_index))
        return frozenset(flagged)

    def _drawn_instances(self, gemm_index: int) -> list[int]:
        """The instances whose first pass may hold a fault: every instance of the GEMM, less those
        whose attempt-0 draws (the PE draw, DMR's copy's, the checksum hardware's) the draws screen
        as empty, one kernel call per draw stream for the whole GEMM (most instances of a small GEMM
        draw nothing: they need not be visited one by one). Stuck-at faults are in every instance."""
        s, arr = self.schedules[gemm_index], self.hw.array
        count = s.gemm.count
        if self._permanent:
            return list(range(count))
        folds = self.operands.folds(gemm_index)
        empty = self.draws.empty_gemm_draws(self.spec, s.gemm, gemm_index, count, arr.datatype, folds)
        if self._duplicate_spec is not None and empty.any():
            empty &= self.draws.empty_gemm_draws(self._duplicate_spec, s.gemm, gemm_index, count, arr.datatype, folds)
        if self._checksum_faulty and empty.any():
            _, geom = self._check_geometry(gemm_index)
            empty &= self.draws.empty_checksum_draws(self.spec, geom, arr.datatype, gemm_index, count, 0)
        return np.flatnonzero(~empty).tolist()

    def _check_geometry(self, gemm_index: int) -> tuple[tuple[int, int], CheckGeometry]:
        g = self.schedules[gemm_index].gemm
        block = self.abft.block_for(g.kind, g.name)
        folds, dataflow = self.operands.folds(gemm_index), self.hw.array.dataflow
        geom = self.operands.memo(("check_geometry", gemm_index, block), lambda: check_geometry(dataflow, folds, block))
        return block, geom

    def _checksum_faults(self, gemm_index: int, instance: int, attempt: int) -> ChecksumFaults:
        """The checksum-hardware faults of one attempt of every fold of a GEMM instance (one draw,
        shared by the run's checking policies)."""
        block, geom = self._check_geometry(gemm_index)
        datatype = self.hw.array.datatype
        name = self.schedules[gemm_index].gemm.name  # the random draw, then the spec's explicit words
        return self.operands.memo(
            ("checksum", self.operands.token(self.spec), block, gemm_index, instance, attempt),
            lambda: with_explicit_checksum(
                self.draws.checksum_faults(self.spec, geom, datatype, gemm_index, instance, attempt),
                self.spec,
                name,
                attempt,
                geom,
            ),
        )

    def _checksum_spans(self, gemm_index: int, instance: int, attempt: int, folds: list[int]) -> tuple[
            ChecksumFaults | None, dict[int, tuple[int, int, bool]]]:  # fmt: skip
        """A round's checksum-hardware draw and, per fold of the round that it hits, its rows (lo,
        hi) and whether one of them names another check block's word or sits in an operand
        encoder (chk_enc): such a fold takes the general path (`_exact_with_checksum_faults`)."""
        if not self._checksum_faulty:
            return None, {}
        drawn = self._checksum_faults(gemm_index, instance, attempt)
        if not len(drawn):
            return None, {}
        ids = np.asarray(folds, np.int64)
        lo = np.searchsorted(drawn.fold_index, ids)
        hi = np.searchsorted(drawn.fold_index, ids, side="right")
        hit = np.flatnonzero(hi > lo)
        lo, hi = lo[hit], hi[hit]
        general = np.concatenate(([0], np.cumsum((drawn.block != 0) | (drawn.site == CHK_ENC))))
        spans = zip(ids[hit].tolist(), lo.tolist(), hi.tolist(), (general[hi] > general[lo]).tolist(), strict=True)
        return drawn, {f: (a, b, g) for f, a, b, g in spans}

    def _with_checksum_faults(self, gemm_index: int, instance: int, fold: Fold, state: FoldErrors,
                              blocks: list, faults: ChecksumFaults) -> list:  # fmt: skip
        """The fold attempt's check blocks with its checksum-hardware faults applied (logged)."""
        block, _ = self._check_geometry(gemm_index)
        datatype = self.hw.array.datatype
        a_blk, b_blk = self.operands.fold_blocks(gemm_index, instance, fold)
        deltas = word_deltas(word_values(faults, a_blk, b_blk, block), faults.bit, datatype.is_integer)
        tol = tolerance_for(datatype, a_blk, b_blk, self.abft.fp_tolerance_factor)
        verdicts = checked_blocks(blocks, faults, deltas, state.shape, block, tol, datatype.is_integer, (a_blk, b_blk))
        self.checksum_log.add(faults, verdicts)
        return list(verdicts.blocks)

    def _exact_with_checksum_faults(self, gemm_index: int, instance: int, fold: Fold, state: FoldErrors,
                                    drawn: ChecksumFaults | None, span: tuple[int, int, bool]) -> tuple[
            BlockDeviation, ...] | None:  # fmt: skip
        """`_with_checksum_faults` over `_deviations` and `mark_detected` for an integer fold checked
        as one block, in one kernels.checksum_check call (logged): the check blocks, or None
        (nothing done) when the operand blocks do not span the fold's output block, or a fault
        names another check block's word or sits in an operand encoder (chk_enc; it shifts many
        predicted words): `span` (lo, hi, general) says so (`_checksum_spans`)."""
        assert drawn is not None
        lo, hi, general = span
        if general:
            return None
        a_blk, b_blk = self.operands.fold_blocks(gemm_index, instance, fold)
        n_rows, n_cols = state.shape
        if a_blk.shape[0] != n_rows or b_blk.shape[1] != n_cols:
            return None
        rows = slice(lo, hi)  # this fold's faults of the attempt's draw, in place (logged as a slice)
        errors = state.element_span()  # (marks the detected faults where the ledger keeps them)
        checked = exact_range_check_with_checksum_faults(
            errors.rows, errors.cols, errors.delta, errors.alive, errors.owner, errors.lo, errors.hi, errors.detected,
            drawn.site[rows], drawn.axis[rows] == ROW_WORD, drawn.line[rows], drawn.block[rows], drawn.step[rows],
            drawn.bit[rows], a_blk, b_blk,
        )  # fmt: skip
        rsd, csd, row_tol, col_tol, flagged_rows, flagged_cols, false_alarm, hidden = checked
        blocks = (BlockDeviation.with_flags(0, 0, rsd, csd, row_tol, col_tol, flagged_rows, flagged_cols),)
        self.checksum_log.add(drawn, ChecksumVerdicts(blocks, false_alarm, hidden), rows)
        return blocks

    def _first_pass(self, spec: FaultSpec, gemm_index: int, instance: int, permanent: bool) -> Drawn:
        """Attempt-0 faults of a GEMM instance (fold order) and their effects; shared by the run's policies."""

        def draw() -> Drawn:
            s, arr = self.schedules[gemm_index], self.hw.array
            folds = self.operands.folds(gemm_index)
            batch = self.draws.gemm_faults(spec, s.gemm, gemm_index, instance, arr.dataflow, arr.datatype,
                                           arr.rows, arr.cols, folds)  # fmt: skip
            if permanent and self._permanent:
                batch = batch.concat(permanent_batch(self._permanent, np.arange(len(folds)), gemm_index, instance))
                batch = batch.select(np.argsort(batch.fold_index, kind="stable"))
            return batch, (self._resolve(gemm_index, instance, batch) if len(batch) else None)

        return self.operands.memo(("first_pass", self.operands.token(spec), permanent, gemm_index, instance), draw)

    def _resolve(self, gemm_index: int, instance: int, batch: FaultBatch) -> EffectBatch:
        arr = self.hw.array
        ops = self.operands.kernel(gemm_index, instance)
        return resolve_gemm_faults(arr.dataflow, arr.rows, arr.cols, ops, batch, self.operands.folds(gemm_index))

    def _state(self, gemm_index: int, instance: int, fold_index: int) -> FoldErrors:
        key = (gemm_index, instance, fold_index)
        state = self.ledger.folds.get(key)
        if state is None:
            shapes = self._block_shapes(gemm_index)
            scale = self.operands.scale(gemm_index, instance) if self.contract.checksums else 0.0
            state = self.ledger.fold(key, self.schedules[gemm_index].gemm.kind, scale, shapes[fold_index])
        return state

    def _block_shapes(self, gemm_index: int) -> list[tuple[int, int]]:
        """Every fold's output-block shape (output_block_shapes): instances share their folds'
        output blocks and the run's policies their fold tables, so it is built once per GEMM for the
        whole run, not once per policy for each GEMM with a flagged fold."""
        dataflow, folds = self.hw.array.dataflow, self.operands.folds(gemm_index)
        return self.operands.memo(("block_shapes", gemm_index), lambda: output_block_shapes(dataflow, folds))

    def _fold(self, gemm_index: int, fold_index: int) -> Fold:
        """Fold `fold_index` of GEMM `gemm_index` (built once: instances share their folds)."""
        key = (gemm_index, fold_index)
        fold = self._folds.get(key)
        if fold is None:
            fold = self._folds[key] = self.operands.folds(gemm_index).fold(fold_index)
        return fold

    # -- the retry loop over one instance ------------------------------------------------------
    def _run_instance(self, gemm_index: int, instance: int) -> dict[int, FoldAttempts]:
        if gemm_index not in self._flagged_of:
            self._flagged_of[gemm_index] = flagged_by_instance(self.flagged_folds(gemm_index))
        folds = [self._fold(gemm_index, f) for f in self._flagged_of[gemm_index].get(instance, [])]

        def check_round(batch: list[tuple[Fold, int, Region | None]]) -> list[TileCheck]:
            return self._check_round(gemm_index, instance, batch)

        histories = retry_rounds(folds, check_round, self._decide, self.hw.recompute.max_retries)
        self._fates = None
        return {fold.index: h for fold, h in zip(folds, histories, strict=True)}

    def _check_round(
        self, gemm_index: int, instance: int, batch: list[tuple[Fold, int, Region | None]]
    ) -> list[TileCheck]:
        attempt = batch[0][1]
        s = self.schedules[gemm_index]  # a rerun covers the region as the engine prices it (resolve_region)
        ids = [fold.index for fold, _, _ in batch]
        regions = dict.fromkeys(ids, _WHOLE_TILE) if attempt == 0 else {
            fold.index: resolve_region(self.hw, s, fold, region) if region else _WHOLE_TILE
            for fold, _, region in batch
        }  # fmt: skip
        states = [self._state(gemm_index, instance, f) for f in ids]
        if attempt > 0:
            self.recomputations += len(batch)
            self._rerun(gemm_index, instance, attempt, regions, dict(zip(ids, states, strict=True)))
        checksum, checksum_spans = self._checksum_spans(gemm_index, instance, attempt, ids)
        name = s.gemm.name
        block = self.abft.block_for(s.gemm.kind, name)
        exact = self.contract.checksums and self.ledger.integer
        differs = [False] * len(ids)
        if self._duplicate_spec is not None:
            differs = self._copies_differ(gemm_index, instance, attempt, regions, ids, states)
        plain = [  # exact, one block, no checksum-unit fault: one kernels.fold_check call per segment
            i for i, f in enumerate(ids)
            if exact and not differs[i] and f not in checksum_spans and _one_block(block, states[i].shape)
        ] if exact else []  # fmt: skip
        exact_checks = dict(zip(plain, _exact_checks([states[i] for i in plain]), strict=True))
        checks = []
        for i, (fold, _, _) in enumerate(batch):
            state, differ = states[i], differs[i]
            exact_blocks = exact_checks.get(i)
            if exact_blocks is not None:
                found = FoldVerification(state.kind, state.scale, exact_blocks, False, name)
            elif exact and not differ and _one_block(block, state.shape) and (
                hit_blocks := self._exact_with_checksum_faults(gemm_index, instance, fold, state, checksum,
                                                               checksum_spans[fold.index])) is not None:  # fmt: skip
                found = FoldVerification(state.kind, state.scale, hit_blocks, False, name)
            else:
                blocks = self._deviations(gemm_index, instance, fold, state) if self.contract.checksums else []
                if fold.index in checksum_spans:
                    assert checksum is not None
                    faults = checksum.select(slice(*checksum_spans[fold.index][:2]))
                    blocks = self._with_checksum_faults(gemm_index, instance, fold, state, list(blocks), faults)
                found = FoldVerification(state.kind, state.scale, tuple(blocks), differ, name)
                state.mark_detected(found)
            checks.append(TileCheck(gemm_index, instance, fold.index, attempt, found))
        return checks

    def _rerun(self, gemm_index: int, instance: int, attempt: int, regions: dict[int, Region],
               states: dict[int, FoldErrors]) -> None:  # fmt: skip
        """Recomputation pass `attempt` over `regions`: it rewrites the elements each region covers
        (erasing their errors), then its own faults join the ledger (those a partial pass wrote)."""
        for f, region in regions.items():
            states[f].erase(None if region.whole_fold else region.covers(states[f].rows, states[f].cols))
        drawn = self._pass_faults(self.spec, gemm_index, instance, attempt, regions, permanent=True)
        sub, effects = drawn if drawn is not None else (None, None)
        if sub is None or effects is None:
            return
        runs: list[tuple[FoldErrors, int, int, np.ndarray | None]] = []
        for f, lo, hi in _fold_runs(sub.fold_index):
            written = None  # a whole-fold pass writes back every element it computes
            if not regions[f].whole_fold:
                pos = effects.positions[int(effects.offsets[lo]) : int(effects.offsets[hi])]
                written = regions[f].covers(pos[:, 0], pos[:, 1])
            runs.append((states[f], lo, hi, written))
        self.ledger.add_runs(sub, effects, runs)

    def _decide(self, check: TileCheck) -> Decision:
        decision = self.policy.decide(check)
        state = self.ledger.folds[(check.gemm_index, check.instance, check.fold_index)]
        state.final = decision.action
        if decision.action is Action.CORRECT:
            state.correct(check.details)
        state.gave_up = decision.action is Action.RECOMPUTE and check.attempt >= self.hw.recompute.max_retries
        return decision

    def _pass_faults(
        self, spec: FaultSpec, gemm_index: int, instance: int, attempt: int, regions: dict[int, Region], permanent: bool
    ) -> Drawn | None:
        """`pass_batch` with the faults' effects (one kernel call), None without faults."""
        sub = self.pass_batch(spec, gemm_index, instance, attempt, regions, permanent)
        return (sub, self._resolve(gemm_index, instance, sub)) if len(sub) else None

    def pass_batch(
        self, spec: FaultSpec, gemm_index: int, instance: int, attempt: int, regions: dict[int, Region], permanent: bool
    ) -> FaultBatch:
        """Faults of recomputation passes `attempt` >= 1 over the folds in `regions` (fold index ->
        region rerun), fold order: the instance's attempt draw (faults.sampling, shared by the
        run's policies) thinned to the (PE, cycle) slots each pass uses (`_uses`), plus the
        stuck-at faults of the PEs it uses (`permanent`)."""
        s, arr = self.schedules[gemm_index], self.hw.array
        folds = self.operands.folds(gemm_index)

        def draw() -> FaultBatch:
            return self.draws.attempt_faults(spec, s.gemm, gemm_index, instance, attempt, arr.dataflow,
                                             arr.datatype, arr.rows, arr.cols, folds)  # fmt: skip

        whole = self.operands.memo(("attempt", self.operands.token(spec), gemm_index, instance, attempt), draw)
        ids = np.array(sorted(regions), np.int64)
        if all(r.whole_fold for r in regions.values()):  # every slot of each fold is used
            rerun = np.zeros(len(folds), bool)
            rerun[ids] = True
            sub = whole.select(np.flatnonzero(rerun[whole.fold_index]))
        else:
            lo, hi = np.searchsorted(whole.fold_index, ids), np.searchsorted(whole.fold_index, ids, side="right")
            keep = [
                np.arange(a, b)[self._uses(regions[int(f)], whole, a, b)] for f, a, b in zip(ids, lo, hi, strict=True)
            ]
            sub = whole.select(np.concatenate(keep) if keep else np.zeros(0, np.int64))
        if permanent and self._permanent:
            stuck = permanent_batch(self._permanent, ids, gemm_index, instance, attempt)
            mask = np.concatenate(
                [self._uses(regions[int(f)], stuck, a, b) for f, (a, b) in _fold_spans(stuck.fold_index, ids)]
            )
            sub = sub.concat(stuck.select(mask))
            sub = sub.select(np.argsort(sub.fold_index, kind="stable"))
        return sub

    def _uses(self, region: Region, batch: FaultBatch, lo: int, hi: int) -> np.ndarray:
        """Which faults lo..hi-1 (one fold) sit in (PE, cycle) slots a pass over `region` uses:
        a slot computes output (row, col) = OS (PE row, PE col), WS (step, PE col), IS (PE col,
        step) (mapping.region); stuck-at faults (no cycle) by their PE's output coordinate."""
        n = hi - lo
        if region.whole_fold or n == 0:
            return np.ones(n, bool)
        geometry, rows = geometry_of(self.hw.array.dataflow), self.hw.array.rows
        r, c, cycle = batch.row[lo:hi], batch.col[lo:hi], batch.cycle[lo:hi]
        tau = np.asarray(cycle - r - c - (rows if geometry.preload_rows else 0))  # geometry.mac_tau, vectorised
        slot = (r, c, tau)  # (PE row, PE col, step), named by GEMM dimension in geometry.dims
        out_row, out_col = slot[geometry.dims.index("m")], slot[geometry.dims.index("n")]
        stuck = batch.mode[lo:hi] != FLIP
        row_temporal, col_temporal = geometry.dims[2] == "m", geometry.dims[2] == "n"
        if region.scope is Scope.ROWS:
            return member_mask(out_row, region.rows) | (stuck & row_temporal)
        if region.scope is Scope.COLS:
            return member_mask(out_col, region.cols) | (stuck & col_temporal)
        in_pairs = region.covers(out_row, out_col)
        return in_pairs | stuck

    def _copies_differ(self, gemm_index: int, instance: int, attempt: int, regions: dict[int, Region],
                       ids: list[int], states: list[FoldErrors]) -> list[bool]:  # fmt: skip
        """DMR: per fold of the round, whether the second copy's error map (its own transient faults;
        stuck-at bits hit both copies alike and are left out of both maps) differs from the first
        copy's: one kernels.error_map.copies_differ call per ledger segment the folds' errors lie in
        and one for the folds without a fault in the first copy; a loose part alone (`_differs`)."""
        assert self._duplicate_spec is not None
        if attempt == 0:
            drawn: Drawn | None = self._first_pass(self._duplicate_spec, gemm_index, instance, permanent=False)
        else:
            drawn = self._pass_faults(self._duplicate_spec, gemm_index, instance, attempt, regions, permanent=False)
        dup_lo, dup_hi = np.zeros(len(ids), np.int64), np.zeros(len(ids), np.int64)
        effects = drawn[1] if drawn is not None else None
        if drawn is not None and effects is not None:
            batch = drawn[0]
            at = {f: i for i, f in enumerate(ids)}
            for f, lo, hi in _fold_runs(batch.fold_index):
                if f in at:
                    dup_lo[at[f]], dup_hi[at[f]] = effects.offsets[lo], effects.offsets[hi]
            pos = effects.positions
            dup = (np.ascontiguousarray(pos[:, P_FOLD_ROW]), np.ascontiguousarray(pos[:, P_FOLD_COL]), effects.delta)
        else:
            dup = (_EMPTY_INT, _EMPTY_INT, np.zeros(0, np.int64 if self.ledger.integer else np.float64))
        n_cols = np.array([s.shape[1] for s in states], np.int64)
        differs = [False] * len(ids)
        runs, own = segment_runs(states)
        for run in runs:
            m = np.array(run.members, np.int64)
            found = copies_differ(run.rows, run.cols, run.delta, run.alive, run.owner, run.mode, run.element_lo,
                                  run.element_hi, n_cols[m], *dup, dup_lo[m], dup_hi[m])  # fmt: skip
            for i, d in zip(run.members, found.tolist(), strict=True):
                differs[i] = d
        for i in own:
            e = slice(int(dup_lo[i]), int(dup_hi[i]))
            n = e.stop - e.start
            second = live_error_map(dup[0][e], dup[1][e], dup[2][e], np.ones(n, bool), np.zeros(n, np.int64),
                                    _EMPTY_INT, states[i].shape[1], False)  # fmt: skip
            differs[i] = _differs(states[i], second)
        held = {i for run in runs for i in run.members} | set(own)
        free = np.array([i for i in range(len(ids)) if i not in held], np.int64)  # no fault in the first copy
        if free.size:
            empty = np.zeros(free.size, np.int64)
            found = copies_differ(_EMPTY_INT, _EMPTY_INT, dup[2][:0], np.zeros(0, bool), _EMPTY_INT, _EMPTY_INT,
                                  empty, empty, n_cols[free], *dup, dup_lo[free], dup_hi[free])  # fmt: skip
            for i, d in zip(free.tolist(), found.tolist(), strict=True):
                differs[i] = d
        return differs

    def _deviations(self, gemm_index: int, instance: int, fold: Fold, state: FoldErrors):
        live = state.live()
        if not live.any():
            return []
        tol = None
        if not self.hw.array.datatype.is_integer:
            a_blk, b_blk = self.operands.fold_blocks(gemm_index, instance, fold)
            tol = tolerance_for(self.hw.array.datatype, a_blk, b_blk, self.abft.fp_tolerance_factor)
        g = self.schedules[gemm_index].gemm
        block = self.abft.block_for(g.kind, g.name)
        return block_deviations(state.rows[live], state.cols[live], state.delta[live], state.shape, block, tol)


def output_block_shapes(dataflow: Dataflow, folds: FoldTable) -> list[tuple[int, int]]:
    """(rows, cols) of every fold's output block, in one pass over the fold table: the extent of
    the fold along M and along N (its used PE rows, used PE columns or temporal steps, as the
    dataflow maps M and N; abft.check_cost.check_extents fold by fold, which tests compare)."""
    extent = dict(zip(geometry_of(dataflow).dims, (folds.table[:, T_RU], folds.table[:, T_CU], folds.steps),
                      strict=True))  # fmt: skip
    return list(zip(extent["m"].tolist(), extent["n"].tolist(), strict=True))


def _differs(state: FoldErrors, second: tuple[np.ndarray, np.ndarray]) -> bool:
    """DMR: whether the first copy's transient error map (of `state`) differs from the second's."""
    first = state.error_map(transient_only=True)
    return not (np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1]))


def _one_block(block: tuple[int, int], shape: tuple[int, int]) -> bool:
    """Whether check blocks of `block` (0: the extent) cover a fold output block of `shape` whole."""
    return (block[0] == 0 or block[0] >= shape[0]) and (block[1] == 0 or block[1] >= shape[1])


def _exact_checks(states: list[FoldErrors]) -> list[tuple[BlockDeviation, ...]]:
    """Per fold, `block_deviations` over its live errors as one block with tolerance 0, marking
    the faults `mark_detected` would mark (integer deltas only): () for a fold without a live
    error. Folds holding rows of a ledger segment are checked where they lie, one
    kernels.fold_check.exact_range_checks call per segment; the others as `_gathered_checks`."""
    found: list[tuple[BlockDeviation, ...]] = [()] * len(states)
    runs, own = segment_runs(states)
    for run in runs:
        shapes = np.array([states[i].shape for i in run.members], np.int64).reshape(-1, 2)
        live, rsd, csd, flagged_rows, flagged_cols, *at = exact_range_checks(
            run.rows, run.cols, run.delta, run.alive, run.owner, run.element_lo, run.element_hi, shapes[:, 0],
            shapes[:, 1], run.detected,
        )  # fmt: skip
        for i, block in zip(run.members, _exact_blocks(live, rsd, csd, flagged_rows, flagged_cols, *at), strict=True):
            found[i] = block
    for i, (blocks, detected) in zip(own, _gathered_checks([states[i] for i in own]), strict=True):
        found[i] = blocks
        if detected is not None:
            states[i].detected |= detected
    return found


def _exact_blocks(
    live: np.ndarray, rsd: np.ndarray, csd: np.ndarray, flagged_rows: np.ndarray, flagged_cols: np.ndarray,
    row_at: np.ndarray, col_at: np.ndarray, flagged_row_at: np.ndarray, flagged_col_at: np.ndarray,
) -> list[tuple[BlockDeviation, ...]]:  # fmt: skip
    """The check blocks of folds checked in one kernels.fold_check call (its outputs, laid out by
    the offsets): one block per fold with a live error (views of the call's arrays), else ()."""
    r_at: list[int] = row_at.tolist()
    c_at: list[int] = col_at.tolist()
    fr_at: list[int] = flagged_row_at.tolist()
    fc_at: list[int] = flagged_col_at.tolist()
    zeros = np.zeros(max(r_at[-1], c_at[-1]))  # the tolerances: views of one read-only buffer
    zeros.flags.writeable = False
    found: list[tuple[BlockDeviation, ...]] = []
    for i, n_live in enumerate(live.tolist()):
        if not n_live:
            found.append(())
            continue
        r, c = rsd[r_at[i] : r_at[i + 1]], csd[c_at[i] : c_at[i + 1]]
        found.append((BlockDeviation.with_flags(0, 0, r, c, zeros[: r.shape[0]], zeros[: c.shape[0]],
                                                flagged_rows[fr_at[i] : fr_at[i + 1]],
                                                flagged_cols[fc_at[i] : fc_at[i + 1]]),))  # fmt: skip
    return found


def _gathered_checks(states: list[FoldErrors]) -> list[tuple[tuple[BlockDeviation, ...], np.ndarray | None]]:
    """`_exact_checks` of folds holding arrays of their own, without marking: per fold its blocks
    and the faults to mark detected (None without a live error), from one kernels.fold_check
    call over the folds' columns gathered (from _BATCHED_CHECK_FOLDS folds on) or one per fold."""
    if len(states) < _BATCHED_CHECK_FOLDS:  # a few folds: one call each costs less than gathering them
        return [_exact_check(s) for s in states]
    sizes = [s.delta.shape[0] for s in states]
    offsets = np.zeros(len(states) + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    rows, cols, delta, alive, owner = (
        np.concatenate([getattr(s, c) for s in states]) for c in ("rows", "cols", "delta", "alive", "owner")
    )
    n_rows = np.array([s.shape[0] for s in states], np.int64)
    n_cols = np.array([s.shape[1] for s in states], np.int64)
    n_faults = np.array([s.fault_count for s in states], np.int64)
    live, rsd, csd, flagged_rows, flagged_cols, detected, *at, fault_at = exact_fold_checks(
        rows, cols, delta, alive, owner, offsets, n_rows, n_cols, n_faults
    )
    f_at: list[int] = fault_at.tolist()
    blocks = _exact_blocks(live, rsd, csd, flagged_rows, flagged_cols, *at)
    return [(b, detected[f_at[i] : f_at[i + 1]] if b else None) for i, b in enumerate(blocks)]


def _exact_check(state: FoldErrors) -> tuple[tuple[BlockDeviation, ...], np.ndarray | None]:
    """`_gathered_checks` of one fold (one kernels.fold_check.exact_fold_check call)."""
    n_rows, n_cols = state.shape
    live, rsd, csd, rows, cols, detected = exact_fold_check(
        state.rows, state.cols, state.delta, state.alive, state.owner, n_rows, n_cols, state.fault_count
    )
    if not live:
        return (), None
    return (BlockDeviation.with_flags(0, 0, rsd, csd, np.zeros(n_rows), np.zeros(n_cols), rows, cols),), detected


def _joined_spans(spans: list[ElementSpan]) -> list[ElementSpan]:
    """Consecutive element spans of one segment that follow each other (a pass's folds, in fold
    order) joined into one span: the same elements in the same order, one slice instead of one
    per fold to concatenate (a large GEMM instance has thousands)."""
    runs: list[list] = []  # [first span of a run, the run's end]
    for e in spans:
        if runs:
            last, hi = runs[-1]
            if (
                hi == e.lo
                and last.delta is e.delta
                and last.alive is e.alive
                and last.grows is e.grows
                and (last.gcols is e.gcols)
            ):  # (the columns _SPAN_COLUMNS names: one segment's)
                runs[-1][1] = e.hi
                continue
        runs.append([e, e.hi])
    return [e if e.hi == hi else e._replace(hi=hi) for e, hi in runs]


def _fold_runs(fold_index: np.ndarray) -> list[tuple[int, int, int]]:
    """(fold, lo, hi) of each run of equal fold indices in a fold-sorted column."""
    if fold_index.size == 0:
        return []
    # (Python lists: np.r_ and np.diff cost ~4x this on the few-fault rounds of a retry loop)
    cuts: list[int] = (np.flatnonzero(fold_index[1:] != fold_index[:-1]) + 1).tolist()
    starts = [0, *cuts]
    return list(zip(fold_index[starts].tolist(), starts, [*cuts, fold_index.size], strict=True))


def _fold_spans(fold_index: np.ndarray, ids: np.ndarray) -> list[tuple[int, tuple[int, int]]]:
    lo, hi = np.searchsorted(fold_index, ids), np.searchsorted(fold_index, ids, side="right")
    return [(int(f), (int(a), int(b))) for f, a, b in zip(ids, lo, hi, strict=True)]


def _derived_seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, _DUPLICATE_STREAM]).generate_state(1, np.uint64)[0] >> 1)
