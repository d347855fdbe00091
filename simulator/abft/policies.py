"""The ABFT policies: none, detect_only, abft, abft_correct, approx_abft, dmr (DESIGN.md section 5).

Each policy declares what it asks of the verifier (`contract`), states its checking cost
(`check_work`) and, given what the verifier found in a fold attempt (`TileCheck.details`, a
protocol.FoldVerification), what to do (`decide`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simulator.abft.check_cost import abft_check_work, dmr_check_work
from simulator.abft.protocol import (
    ACCEPT,
    NO_CHECK,
    NO_CONTRACT,
    Action,
    CheckContract,
    CheckWork,
    Decision,
    TileCheck,
)
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Placement
from simulator.mapping.region import Region, Scope
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold

TILE = Decision(Action.RECOMPUTE, Region(Scope.TILE))
GEMM = Decision(Action.RECOMPUTE, Region(Scope.GEMM))
CORRECT = Decision(Action.CORRECT)


@dataclass(frozen=True)
class PolicyContext:
    """What a policy may know: where the checksum hardware sits and the ABFT options."""

    placement: Placement = Placement.SIDE_UNIT
    abft: AbftConfig = field(default_factory=AbftConfig)


class PolicyBase:
    """The base of every policy, and itself `none`: no checks; every error escapes."""

    name = "none"
    contract = NO_CONTRACT

    def __init__(self, context: PolicyContext | None = None) -> None:
        self.context = context or PolicyContext()

    def check_work(self, schedule: GemmSchedule, fold: Fold) -> CheckWork:
        return NO_CHECK

    def check_key(self, schedule: GemmSchedule) -> tuple:
        """What, beyond the GEMM's shape and kind, `check_work` depends on (the engine's cache key)."""
        return ()

    def decide(self, check: TileCheck) -> Decision:
        return ACCEPT


class _ChecksumPolicy(PolicyBase):
    contract = CheckContract(checksums=True)

    def check_work(self, schedule: GemmSchedule, fold: Fold) -> CheckWork:
        return abft_check_work(schedule, fold, self.context.placement, self.check_key(schedule))

    def check_key(self, schedule: GemmSchedule) -> tuple[int, int]:
        """The GEMM's check-block size (per name or kind in the ABFT options)."""
        return self.context.abft.block_for(schedule.gemm.kind, schedule.gemm.name)


class DetectOnly(_ChecksumPolicy):
    """`detect_only`: row and column checks; detections are counted, nothing is recovered."""

    name = "detect_only"


class ClassicalAbft(_ChecksumPolicy):
    """`abft` (Huang & Abraham 1984): any deviation beyond tolerance recomputes the tile (or the
    whole GEMM instance with `recompute_scope: gemm`)."""

    name = "abft"

    def decide(self, check: TileCheck) -> Decision:
        if not check.details.detected:
            return ACCEPT
        return GEMM if self.context.abft.recompute_scope == "gemm" else TILE


class CorrectingAbft(_ChecksumPolicy):
    """`abft_correct`: a check block with exactly one flagged row and one flagged column holds a
    single wrong element, fixed in place as C[i,j] - RSD_i; any other pattern recomputes the tile."""

    name = "abft_correct"

    def decide(self, check: TileCheck) -> Decision:
        blocks = [b for b in check.details.blocks if b.detected]
        if not blocks:
            return ACCEPT
        if all(b.flagged_rows.size == 1 and b.flagged_cols.size == 1 for b in blocks):
            return CORRECT
        return TILE


class ApproxAbft(_ChecksumPolicy):
    """`approx_abft` (Xue et al., arXiv 2302.10469): a block whose total deviation MSD = sum |RSD|
    is at most T1 is accepted; otherwise only rows / columns with |RSD| / |CSD| above T2 are
    recomputed. One row and one column above T2 (a single wrong element) recomputes the cheaper
    of the two on the array's geometry (Scope.LINES); several rows and columns: the tile.
    Thresholds are per GEMM name or kind, in accumulator units or relative to the clean output scale."""

    name = "approx_abft"
    contract = CheckContract(checksums=True, tolerates=True)

    def decide(self, check: TileCheck) -> Decision:
        details = check.details
        th = self.context.abft.thresholds_for(details.kind, details.name)
        unit = details.scale if self.context.abft.threshold_mode == "relative" else 1.0
        t1, t2 = th.t1 * unit, th.t2 * unit
        rows: set[int] = set()
        cols: set[int] = set()
        for b in details.blocks:
            if not b.detected or b.msd_abs <= t1:  # NaN never passes `<=`: it is recomputed
                continue
            rows.update(_above(t2, b.rsd, b.row_tolerance, b.row0, b.flagged_rows))
            cols.update(_above(t2, b.csd, b.col_tolerance, b.col0, b.flagged_cols))
        if len(rows) == 1 and len(cols) == 1:  # one wrong element: its row or its column fixes it
            return Decision(Action.RECOMPUTE, Region(Scope.LINES, rows=tuple(rows), cols=tuple(cols)))
        if rows and cols:
            return TILE
        if rows:
            return Decision(Action.RECOMPUTE, Region(Scope.ROWS, rows=tuple(sorted(rows))))
        if cols:
            return Decision(Action.RECOMPUTE, Region(Scope.COLS, cols=tuple(sorted(cols))))
        return ACCEPT


def _above(t2: float, deviation: np.ndarray, tolerance: np.ndarray, origin: int, flagged: np.ndarray) -> list[int]:
    """The lines origin + i whose |deviation_i| exceeds max(t2, tolerance_i) (np.maximum: a NaN on
    either side makes the line exceed), in order. For t2 a number >= 0 such a line also exceeds its
    tolerance, so it is one of the block's `flagged` lines (BlockDeviation: |deviation| above the
    tolerance; usually one or two of them), and only those are looked at; else every line is."""
    if not t2 >= 0.0:  # NaN (a non-finite output scale): the lines numpy's comparison gives
        return (origin + np.flatnonzero(~(np.abs(deviation) <= np.maximum(t2, tolerance)))).tolist()
    above = []
    for line in flagged.tolist():
        i = line - origin
        tol = float(tolerance[i])
        limit = tol if (tol != tol or tol > t2) else t2  # np.maximum(t2, tol)
        if not float(abs(deviation[i])) <= limit:  # (int64 -> float64 as numpy compares them)
            above.append(line)
    return above


class DualModular(PolicyBase):
    """`dmr`: every fold runs twice; outputs that differ are recomputed (both copies again)."""

    name = "dmr"
    contract = CheckContract(duplicate=True)

    def check_work(self, schedule: GemmSchedule, fold: Fold) -> CheckWork:
        return dmr_check_work(schedule, fold)

    def decide(self, check: TileCheck) -> Decision:
        return TILE if check.details.copies_differ else ACCEPT
