"""The fate of one fault alone in its fold under one policy: the policy's own checks and decisions, replayed.

With a single upset per trial, every recomputation pass is clean, so a fold's story is: the checksum
deviations the fault leaves (abft.checksum.block_deviations, per check block, with the fp round-off
tolerance), the policy's decide() on them, the decision applied (a correction C[i,j] -= RSD_i restores the
element exactly when the fault's error in row i of the block sits at (i, j) alone; a recomputation removes the
errors inside its region), and again, up to `recompute.max_retries` passes, as the engine does. DMR's second
copy is clean, so the copies differ exactly when the fault left an error.

A fault is judged on the stored outputs as a faulty run is (verify.writeback): when every error it leaves in
the output (undetected, tolerated, or left after given-up retries) rounds back to the fault-free stored value,
it is `masked` (`at_write_back`, shared with reliability.fast_fates; `stored` says per error whether it alone
changes its stored output, judged once per fault by reliability.avf).

Fates (FATES): masked (no stored output changed), corrected, recomputed, tolerated (a detected deviation accepted by a
policy that tolerates by design), due (detected unrecoverable error: detected and left in place by a policy that
does not tolerate, or retries exhausted) and sdc (silent data corruption: undetected, or miscorrected).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.abft.checksum import BlockDeviation, block_deviations
from simulator.abft.protocol import Action, FoldVerification, Policy, TileCheck
from simulator.mapping.region import Region
from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval, wilson_interval

FATES = ("masked", "corrected", "recomputed", "tolerated", "due", "sdc")
FATE_CODE = {name: code for code, name in enumerate(FATES)}


class FateTally:
    """Fate counts and AVF intervals of a single-fault campaign: `fate` holds one FATES code per
    (policy, fault), rows in `policies` order (PE-register and checksum-hardware campaigns alike)."""

    policies: tuple[str, ...]
    fate: np.ndarray

    def counts(self, policy: str, mask: np.ndarray | None = None) -> dict[str, int]:
        codes = self.fate[self.policies.index(policy)]
        tally = np.bincount(codes if mask is None else codes[mask], minlength=len(FATES))
        return {name: int(tally[FATE_CODE[name]]) for name in FATES}

    def avf(
        self, policy: str, fate: str, mask: np.ndarray | None = None, confidence: float = DEFAULT_CONFIDENCE
    ) -> Interval:
        """P(fate | one upset in an exposed slot of the selection), Wilson interval."""
        counts = self.counts(policy, mask)
        return wilson_interval(counts[fate], sum(counts.values()), confidence)


_LEFT_IN_OUTPUT = np.array([FATE_CODE["tolerated"], FATE_CODE["due"], FATE_CODE["sdc"]], np.int8)


def at_write_back(fate: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Fate codes judged at write-back: a fate that leaves errors in the output (tolerated, due, sdc) whose
    remaining errors change no stored output (`visible` False) is `masked`; other codes pass unchanged."""
    fate = np.asarray(fate)
    return np.where(np.isin(fate, _LEFT_IN_OUTPUT) & ~np.asarray(visible, bool), FATE_CODE["masked"], fate).astype(
        fate.dtype
    )


@dataclass(frozen=True)
class FoldContext:
    """What the checks of one fold need besides the errors: ids, kind, output scale, shape, tolerances."""

    gemm_index: int
    instance: int
    fold_index: int
    kind: str
    scale: float  # clean output scale, accumulator units (ApproxABFT's relative unit)
    shape: tuple[int, int]  # the fold's output block
    block_shape: tuple[int, int]  # check blocks (0 = the whole extent)
    tolerances: tuple[np.ndarray, np.ndarray] | None  # fp round-off bounds per row / column (None: exact)
    resolve: Callable[[Region], Region] = lambda region: region  # what the engine reruns for a decision's region


def fates(
    policies: Sequence[Policy],
    ctx: FoldContext,
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    max_retries: int,
    stored: np.ndarray,
) -> list[str]:
    """The fate of one fault (its errors at fold-block `rows`, `cols`: `delta`; `stored`: whether each error
    changes its stored output, verify.writeback) under each policy."""
    nonzero = delta != 0
    if not nonzero.any():
        return ["masked"] * len(policies)
    rows, cols, delta, stored = rows[nonzero], cols[nonzero], delta[nonzero], stored[nonzero]
    first = block_deviations(rows, cols, delta, ctx.shape, ctx.block_shape, ctx.tolerances)
    return [_fate(p, ctx, rows, cols, delta, stored, first, max_retries) for p in policies]


def _fate(
    policy: Policy,
    ctx: FoldContext,
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    stored: np.ndarray,
    first: list[BlockDeviation],
    max_retries: int,
) -> str:
    name, left = _accumulator_fate(policy, ctx, rows, cols, delta, first, max_retries)
    judged = at_write_back(np.array([FATE_CODE[name]], np.int8), np.array([stored[left].any()]))
    return FATES[int(judged[0])]


def _accumulator_fate(
    policy: Policy,
    ctx: FoldContext,
    rows: np.ndarray,
    cols: np.ndarray,
    delta: np.ndarray,
    first: list[BlockDeviation],
    max_retries: int,
) -> tuple[str, np.ndarray]:
    """The fault's fate on the accumulators and which of its errors are left in the output."""
    contract = policy.contract
    checks, duplicates, tolerates = contract.checksums, contract.duplicate, contract.tolerates
    alive = np.ones(delta.size, bool)
    detected = corrected = gave_up = False
    action = Action.ACCEPT
    attempt = 0
    while True:
        if attempt == 0:
            blocks = first if checks else []
        else:
            live = alive
            blocks = block_deviations(rows[live], cols[live], delta[live], ctx.shape, ctx.block_shape,
                                      ctx.tolerances) if checks and live.any() else []  # fmt: skip
        check = FoldVerification(ctx.kind, ctx.scale, tuple(blocks), duplicates and bool(alive.any()))
        detected = detected or check.detected or check.copies_differ
        decision = policy.decide(TileCheck(ctx.gemm_index, ctx.instance, ctx.fold_index, attempt, check))
        action = decision.action
        if action is Action.CORRECT:
            corrected = _correct(check.blocks, rows, cols, delta, alive)
            break
        if action is not Action.RECOMPUTE:
            break
        if attempt >= max_retries:
            gave_up = True
            break
        assert decision.region is not None
        alive &= ~ctx.resolve(decision.region).covers(rows, cols)
        attempt += 1
    if not alive.any():
        return ("corrected" if corrected else "recomputed"), alive
    if gave_up or (detected and action is Action.ACCEPT and not tolerates):
        return "due", alive
    if detected and action is Action.ACCEPT:
        return "tolerated", alive
    return "sdc", alive


def _correct(
    blocks: Sequence[BlockDeviation], rows: np.ndarray, cols: np.ndarray, delta: np.ndarray, alive: np.ndarray
) -> bool:
    """C[i,j] -= RSD_i in every detected block (one flagged row i and column j each); whether any
    element was restored (its error, alone in row i of the block, equals RSD_i)."""
    restored = False
    for b in blocks:
        if not b.detected:
            continue
        (i,), (j,) = b.flagged_rows.tolist(), b.flagged_cols.tolist()
        at = alive & (rows == i) & (cols == j)
        if at.any() and delta[at].sum() == b.rsd[i - b.row0]:
            alive &= ~at
            restored = True
    return restored
