"""Operands, fold tables, output scales and clean accumulators of a run, computed once and shared by its policies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from simulator.abft.checksum import output_scale
from simulator.config.enums import Datatype
from simulator.config.schema import HwConfig
from simulator.faults.draw_cache import ValueTokens
from simulator.faults.effects import KernelOperands, int8_kernel_operands, kernel_operands
from simulator.faults.operands import (
    GemmOperands,
    Int8TransposedOperands,
    synthetic_int8_transposed,
    synthetic_operands,
)
from simulator.kernels.element_dots import element_dots, element_dots_exact, element_dots_int8
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold, fold_operands
from simulator.verify.writeback import WriteBack

_MISSING = object()  # `memo`'s marker of a key not computed yet (None is a result like any other)


class OperandCache:
    """Everything a run derives from the operands, once per (GEMM, instance); `memo` keeps
    policy-independent results (attempt-0 fault draws and effects) for every policy of the run.

    Footprint: synthetic int8 operands are generated as A and B^T (what the fault kernels read);
    B itself (operands()) is copied from B^T only for the instances a path asks it of (SRAM and
    output-path faults), and kept from then on; fold_blocks() (checksum words) reads B^T's view."""

    def __init__(
        self,
        hw: HwConfig,
        schedules: Sequence[GemmSchedule],
        seed: int,
        supplied: Mapping[tuple[int, int], GemmOperands] | None = None,
    ) -> None:
        """`supplied` maps (gemm_index, instance) to real operands (e.g. captured from a model; read
        only for the instances asked for, so a mapping may make them on demand); every other GEMM
        instance gets seeded synthetic operands."""
        self.hw, self.schedules, self.seed = hw, schedules, seed
        self._supplied: Mapping[tuple[int, int], GemmOperands] = supplied if supplied is not None else {}
        self._operands: dict[tuple[int, int], GemmOperands] = {}  # those asked for (supplied or synthetic)
        self._kernel: dict[tuple[int, int], KernelOperands] = {}
        self._int8: dict[tuple[int, int], Int8TransposedOperands] = {}
        self._folds: dict[int, FoldTable] = {}
        self._scale: dict[tuple[int, int], float] = {}
        self._fro: dict[int, float] = {}
        self._memo: dict[tuple, Any] = {}
        self._tokens = ValueTokens()  # memo key parts (fault specs)

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key for the whole run."""
        found = self._memo.get(key, _MISSING)
        if found is _MISSING:
            found = self._memo[key] = compute()
        return found

    def token(self, part: object) -> int:
        """A small int naming `part`'s value in `memo` keys (faults.draw_cache.ValueTokens): a frozen
        pydantic spec would hash every field on every lookup (a run asks ~10^5 times). Equal values get
        equal tokens (the policies of a run build equal specs of their own, e.g. DMR's second copy,
        and share their draws)."""
        return self._tokens.of(part)

    def operands(self, gemm_index: int, instance: int) -> GemmOperands:
        key = (gemm_index, instance)
        if key not in self._operands:
            if key in self._supplied:
                self._operands[key] = self._supplied[key]
            elif self._synthetic_int8(key):
                self._operands[key] = self._transposed(key).gemm_operands()
            else:
                gemm = self.schedules[gemm_index].gemm
                self._operands[key] = synthetic_operands(gemm, self.hw.array.datatype, self.seed, gemm_index, instance)
        return self._operands[key]

    def kernel(self, gemm_index: int, instance: int) -> KernelOperands:
        """The copies the fault kernels read (int8: only A and B transposed)."""
        key = (gemm_index, instance)
        if key not in self._kernel:
            if self._synthetic_int8(key):
                t = self._transposed(key)
                self._kernel[key] = int8_kernel_operands(t.a, t.b_t)
            else:
                ops = self.operands(gemm_index, instance)
                self._kernel[key] = kernel_operands(ops.datatype, ops.a, ops.b, lean=True)
        return self._kernel[key]

    def _synthetic_int8(self, key: tuple[int, int]) -> bool:
        """Whether the instance's operands are synthetic int8 (generated as A and B^T)."""
        return self.hw.array.datatype is Datatype.INT8 and key not in self._operands and key not in self._supplied

    def _transposed(self, key: tuple[int, int]) -> Int8TransposedOperands:
        """The synthetic int8 A and B^T of an instance (faults.operands.synthetic_int8_transposed)."""
        if key not in self._int8:
            gemm = self.schedules[key[0]].gemm
            self._int8[key] = synthetic_int8_transposed(gemm, self.seed, *key)
        return self._int8[key]

    def folds(self, gemm_index: int) -> FoldTable:
        if gemm_index not in self._folds:
            s, arr = self.schedules[gemm_index], self.hw.array
            g = s.gemm
            self._folds[gemm_index] = fold_table(arr.dataflow, g.m, g.k, g.n, arr.rows, arr.cols, s.order)
        return self._folds[gemm_index]

    def scale(self, gemm_index: int, instance: int) -> float:
        """checksum.output_scale of the instance's operands (the RMS of its clean output)."""
        key = (gemm_index, instance)
        if key not in self._scale:
            ops = self._transposed(key) if self._synthetic_int8(key) else self.operands(gemm_index, instance)
            self._scale[key] = output_scale(ops.a, ops.b)
        return self._scale[key]

    def writeback(self, gemm_index: int, instance: int) -> WriteBack:
        return WriteBack(self.hw.array.datatype, self.scale(gemm_index, instance))

    def clean_accumulators(self, gemm_index: int, instance: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Fault-free accumulator values at GEMM outputs (rows[e], cols[e]) (kernels.element_dots;
        float32-rounded for fp datatypes)."""
        ops = self.kernel(gemm_index, instance)
        rows, cols = np.ascontiguousarray(rows, np.int64), np.ascontiguousarray(cols, np.int64)
        if ops.a.dtype == np.int8 and ops.b_t.dtype == np.int8:  # synthetic int8: integer arithmetic
            return element_dots_int8(ops.a, ops.b_t, rows, cols)
        if ops.datatype.is_integer:  # integer sums: exact in any order
            return element_dots_exact(ops.a, ops.b_t, rows, cols)
        return element_dots(ops.a, ops.b_t, rows, cols).astype(np.float32).astype(np.float64)

    def fold_blocks(self, gemm_index: int, instance: int, fold: Fold) -> tuple[np.ndarray, np.ndarray]:
        """The fold's operand blocks (mapping.tiling.fold_operands): views, of B^T transposed for
        synthetic int8 operands (the same values; B itself is never built for them here)."""
        key = (gemm_index, instance)
        ops = self._transposed(key) if self._synthetic_int8(key) else self.operands(gemm_index, instance)
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
