"""Architectural vulnerability per policy, site and GEMM kind from a single-fault injection campaign.

N faults are drawn uniformly over the workload's exposed slots (reliability.exposure); the faults of each hit
GEMM instance are resolved in one kernel call (faults.effects.resolve_gemm_faults, exact errors); each fault's
fate under every policy follows from the policy's own checks and decisions: vectorised for the bundled
policies where that is exact (reliability.fast_fates), one fault at a time otherwise
(reliability.single_fault). The fraction of faults with a fate estimates P(fate | an upset in an exposed
slot), with a Wilson interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.abft.check_cost import check_extents
from simulator.abft.checksum import tolerance_for
from simulator.abft.protocol import Policy
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Site
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.codes import SITE_CODE
from simulator.faults.effects import resolve_gemm_faults
from simulator.kernels.codes import P_FOLD_COL, P_FOLD_ROW, P_GEMM_COL, P_GEMM_ROW
from simulator.mapping.region import resolve_region
from simulator.mapping.schedule import GemmSchedule
from simulator.reliability.exposure import Exposure, SingleFaults, sample_single_faults, workload_exposure
from simulator.reliability.fast_fates import UNSETTLED, fast_fates, fault_checks
from simulator.reliability.single_fault import FATE_CODE, FateTally, FoldContext, fates
from simulator.verify.operand_cache import OperandCache


@dataclass(frozen=True)
class AvfCampaign(FateTally):
    """Per fault: its site, GEMM kind and fate under each policy (fate codes: single_fault.FATES order)."""

    policies: tuple[str, ...]
    faults: SingleFaults
    kinds: np.ndarray  # GEMM kind of each fault (object array of str)
    fate: np.ndarray  # (policies, faults) int8 fate codes
    exposure: Exposure
    generic: int  # (policy, fault) pairs settled one at a time by single_fault.fates

    def __len__(self) -> int:
        return len(self.faults)

    def mask(self, site: str | None = None, kind: str | None = None) -> np.ndarray:
        """Faults in a site and/or a GEMM kind (None: any)."""
        keep = np.ones(len(self), bool)
        if site is not None:
            keep &= self.faults.site == SITE_CODE[Site(site)]
        if kind is not None:
            keep &= self.kinds == kind
        return keep


@dataclass(frozen=True)
class _Errors:
    """Every fault's output errors in one CSR table ordered by trial: fault t owns offsets[t]..offsets[t+1]-1."""

    offsets: np.ndarray
    rows: np.ndarray  # fold-block coordinates
    cols: np.ndarray
    grows: np.ndarray  # GEMM output coordinates
    gcols: np.ndarray
    delta: np.ndarray


def run_avf_campaign(
    hw: HwConfig,
    schedules: Sequence[GemmSchedule],
    spec: FaultSpec,
    abft: AbftConfig,
    policies: Sequence[Policy],
    injections: int,
    seed: int,
    operands: OperandCache | None = None,
    vectorised: bool = True,
) -> AvfCampaign:
    """Draw `injections` single faults under `spec`'s sites / bits / GEMM selections and classify each one
    under every policy (operands: seeded synthetic ones unless an OperandCache is given; `vectorised`
    False settles every fault through the reference path)."""
    arr = hw.array
    operands = operands or OperandCache(hw, schedules, seed)
    exposure = workload_exposure(schedules, spec, arr.datatype)
    folds = {int(g): operands.folds(int(g)) for g in exposure.gemm_indices}
    faults = sample_single_faults(exposure, folds, arr.dataflow, arr.rows, injections, seed)
    fate, generic = classify_faults(hw, schedules, abft, policies, faults, operands, vectorised)
    kinds = np.array([schedules[g].gemm.kind for g in faults.gemm_index.tolist()], dtype=object)
    return AvfCampaign(tuple(p.name for p in policies), faults, kinds, fate, exposure, generic)


def classify_faults(
    hw: HwConfig,
    schedules: Sequence[GemmSchedule],
    abft: AbftConfig,
    policies: Sequence[Policy],
    faults: SingleFaults,
    operands: OperandCache,
    vectorised: bool = True,
) -> tuple[np.ndarray, int]:
    """(policies x faults) fate codes of faults each alone in its fold, and how many (policy, fault) pairs
    went through the one-at-a-time reference path."""
    arr = hw.array
    n = len(faults)
    errors = _resolve_all(hw, faults, operands)
    pairs = zip(faults.gemm_index.tolist(), faults.instance.tolist(), strict=True)
    scales = np.array([operands.scale(g, i) for g, i in pairs], np.float64)
    kinds = np.array([schedules[g].gemm.kind for g in faults.gemm_index.tolist()], dtype=object)
    fate = np.full((len(policies), n), UNSETTLED, np.int8)
    if vectorised and arr.datatype.is_integer and (abft.block_rows, abft.block_cols) == (0, 0):
        owner = np.repeat(np.arange(n), np.diff(errors.offsets))
        visible = _visible(faults, errors, operands)
        checks = fault_checks(n, owner, errors.rows, errors.cols, errors.delta, kinds, scales, visible)
        for p, policy in enumerate(policies):
            fast = fast_fates(policy, checks, hw.recompute.max_retries)
            if fast is not None:
                fate[p] = fast
    open_trials = np.flatnonzero(np.any(fate == UNSETTLED, axis=0))
    generic = int(np.sum(fate == UNSETTLED))
    contexts: dict[tuple[int, int, int], FoldContext] = {}
    for trial in open_trials.tolist():
        g, inst, f = (int(x[trial]) for x in (faults.gemm_index, faults.instance, faults.fold_index))
        if (g, inst, f) not in contexts:
            contexts[(g, inst, f)] = _context(hw, schedules[g], abft, operands, g, inst, f, float(scales[trial]))
        todo = [p for p in range(len(policies)) if fate[p, trial] == UNSETTLED]
        lo, hi = int(errors.offsets[trial]), int(errors.offsets[trial + 1])
        stored = _stored(operands, g, inst, errors.grows[lo:hi], errors.gcols[lo:hi], errors.delta[lo:hi])
        names = fates([policies[p] for p in todo], contexts[(g, inst, f)], errors.rows[lo:hi], errors.cols[lo:hi],
                      errors.delta[lo:hi], hw.recompute.max_retries, stored)  # fmt: skip
        fate[todo, trial] = [FATE_CODE[name] for name in names]
    return fate, generic


def _resolve_all(hw: HwConfig, faults: SingleFaults, operands: OperandCache) -> _Errors:
    """Exact errors of every fault (one kernel call per hit GEMM instance), ordered by trial."""
    arr = hw.array
    parts: list[tuple[np.ndarray, ...]] = []
    for gemm_index, instance, trials in faults.groups():
        batch = faults.batch(gemm_index, instance, trials)
        effects = resolve_gemm_faults(arr.dataflow, arr.rows, arr.cols, operands.kernel(gemm_index, instance),
                                      batch, operands.folds(gemm_index))  # fmt: skip
        owner = np.repeat(trials, effects.sizes)
        pos = effects.positions
        parts.append((owner, pos[:, P_FOLD_ROW], pos[:, P_FOLD_COL], pos[:, P_GEMM_ROW], pos[:, P_GEMM_COL],
                      effects.delta))  # fmt: skip
    owner, rows, cols, grows, gcols, delta = (np.concatenate(column) for column in zip(*parts, strict=True))
    order = np.argsort(owner, kind="stable")
    offsets = np.zeros(len(faults) + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=len(faults)), out=offsets[1:])
    return _Errors(offsets, rows[order], cols[order], grows[order], gcols[order], delta[order])


def _stored(
    operands: OperandCache, g: int, inst: int, grows: np.ndarray, gcols: np.ndarray, delta: np.ndarray
) -> np.ndarray:
    """Whether each error (alone on its output) changes the stored output: verify.writeback's judgement against
    the operand cache's clean accumulators and output scale, as a faulty run judges it."""
    stored = np.zeros(delta.shape, bool)
    hit = np.flatnonzero(delta != 0)
    if hit.size:
        clean = operands.clean_accumulators(g, inst, grows[hit], gcols[hit])
        stored[hit] = operands.writeback(g, inst).judge(clean, delta[hit])[0]
    return stored


def _visible(faults: SingleFaults, errors: _Errors, operands: OperandCache) -> np.ndarray:
    """Per fault: whether some error of it changes a stored output (_stored). The largest |error| of each fault
    is judged first; only the faults it leaves undecided have the rest of their errors judged."""
    n = len(faults)
    sizes = np.diff(errors.offsets)
    owner = np.repeat(np.arange(n), sizes)
    has = sizes > 0
    starts = errors.offsets[:-1][has]
    size = np.abs(errors.delta.astype(np.float64))
    largest = np.flatnonzero(size == np.repeat(np.maximum.reduceat(size, starts), sizes[has]))
    first = largest[np.searchsorted(largest, starts)]  # each fault's (first) largest error
    visible = np.zeros(n, bool)
    visible[has] = _stored_at(faults, errors, operands, owner, first)
    undecided = ~visible[owner]
    undecided[first] = False
    rest = np.flatnonzero(undecided)
    if rest.size:
        visible |= np.bincount(owner[rest][_stored_at(faults, errors, operands, owner, rest)], minlength=n) > 0
    return visible


def _stored_at(
    faults: SingleFaults, errors: _Errors, operands: OperandCache, owner: np.ndarray, at: np.ndarray
) -> np.ndarray:
    """_stored of the errors at positions `at` of the table (owner: each position's fault)."""
    out = np.zeros(at.size, bool)
    g, inst = faults.gemm_index[owner[at]], faults.instance[owner[at]]
    key = g * (int(inst.max(initial=0)) + 1) + inst
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, at.size], strict=True):
        if hi <= lo:
            continue
        sel = order[lo:hi]
        e = at[sel]
        out[sel] = _stored(operands, int(g[sel[0]]), int(inst[sel[0]]), errors.grows[e], errors.gcols[e],
                           errors.delta[e])  # fmt: skip
    return out


def _context(
    hw: HwConfig, s: GemmSchedule, abft: AbftConfig, operands: OperandCache, g: int, inst: int, f: int, scale: float
) -> FoldContext:
    fold = operands.folds(g).fold(f)
    e = check_extents(s, fold)
    tol = None
    if not hw.array.datatype.is_integer:
        a_blk, b_blk = operands.fold_blocks(g, inst, fold)
        tol = tolerance_for(hw.array.datatype, a_blk, b_blk, abft.fp_tolerance_factor)
    return FoldContext(g, inst, f, s.gemm.kind, scale, (e.out_rows, e.out_cols), (abft.block_rows, abft.block_cols),
                       tol, lambda region: resolve_region(hw, s, fold, region))  # fmt: skip
