"""Value types of the fault model: one PE upset and the output error it causes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype, FaultKind, Site


@dataclass(frozen=True, slots=True)
class PeFault:
    """A soft error in one register of one PE of the array.

    `row`, `col` address the physical PE; `cycle` is the fold-local cycle (0 = first cycle of
    the fold, in the timing convention of simulator/mapping/dataflow.py). For a transient
    fault, bit `bit` of the register word is inverted at the end of `cycle` (for `acc` and
    `mult` after the cycle's MAC wrote it; for `a_reg` / `b_reg` right after the value was
    latched, so the corrupted word is used by this PE's MAC in this cycle and is what moves on).
    For a permanent fault, `cycle` is ignored and bit `bit` reads as `stuck_value` whenever
    the register is written, in every fold.
    """

    row: int
    col: int
    cycle: int
    site: Site
    bit: int
    kind: FaultKind = FaultKind.TRANSIENT
    stuck_value: int | None = None

    def check(self, rows: int, cols: int, datatype: Datatype) -> None:
        """ValueError unless the PE lies in a rows x cols array, the bit in the site's word and a
        permanent fault has a stuck value of 0 or 1 (whether a transient's cycle is an active MAC
        slot depends on the fold and is checked by the caller)."""
        if not self.site.in_pe:
            raise ValueError(f"a PE fault needs a PE register (acc, mult, a_reg, b_reg), not {self.site}: {self}")
        if not (0 <= self.row < rows and 0 <= self.col < cols):
            raise ValueError(f"fault outside the {rows} x {cols} array: {self}")
        if not 0 <= self.bit < self.site.word_bits(datatype):
            raise ValueError(f"bit out of the {self.site} word of {datatype}: {self}")
        if self.kind is FaultKind.PERMANENT and self.stuck_value not in (0, 1):
            raise ValueError(f"permanent fault needs stuck_value 0 or 1: {self}")


@dataclass(frozen=True, slots=True)
class FaultEffect:
    """The error a fault leaves in one fold's output block.

    `out_rows`, `out_cols` index the fold's output block (not the whole GEMM); `delta` is
    faulty minus clean at those positions, in the accumulator's arithmetic (int64 holding the
    int32-wrapped difference for int8, float64 for floating point). A masked fault has no
    positions.
    """

    fault: PeFault
    out_rows: np.ndarray
    out_cols: np.ndarray
    delta: np.ndarray

    @property
    def masked(self) -> bool:
        return self.delta.size == 0 or not bool(np.any(self.delta != 0))
