"""Huang-Abraham checksums: predicted and actual row/column sums, deviations RSD/CSD/MSD, tolerance.

For a fold's output block C = A_blk @ B_blk (OS: full sums; WS/IS: partial sums over the
fold's K range), the checksum hardware predicts the row sums A (B e) and the column sums
(e^T A) B and compares them with the actual C e and e^T C. With errors E added to C, the
deviations are RSD = C' e - A (B e) = E e and CSD = e^T E: they follow from the clean checksums
plus the fault deltas alone, so a trial never needs the GEMM (DESIGN.md section 4).
Integer accumulation is exact, so the tolerance is 0; floating point gets a round-off bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simulator.config.enums import Datatype
from simulator.kernels.square_sum import int8_square_sum

# unit round-off of the accumulator: fp32 for every floating-point datatype here
FP32_UNIT_ROUNDOFF = 2.0**-24


def predicted_checksums(a_block: np.ndarray, b_block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A (B e), (e^T A) B) of one fold in exact arithmetic (int64 for ints, float64 otherwise).

    The blocks are as tiling.fold_operands returns them; for every dataflow the fold's output
    block is a_block @ b_block.
    """
    dtype = np.int64 if np.issubdtype(a_block.dtype, np.integer) else np.float64
    a, b = a_block.astype(dtype), b_block.astype(dtype)
    return a @ b.sum(axis=1), a.sum(axis=0) @ b


def actual_checksums(c_block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(C e, e^T C), summed exactly (int64 for ints, float64 otherwise)."""
    dtype = np.int64 if np.issubdtype(c_block.dtype, np.integer) else np.float64
    c = c_block.astype(dtype)
    return c.sum(axis=1), c.sum(axis=0)


def fp_tolerances(a_block: np.ndarray, b_block: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Round-off bounds for the row and column checks of a floating-point fold.

    Each of C's entries, the predicted checksums and the actual sums is a float32 sum whose
    error is at most n u sum|terms| (Higham, Accuracy and Stability of Numerical Algorithms,
    2nd ed., eq. 3.5, first order). The row check of row i adds K products per entry and
    n_cols entries, so its deviation is below (K + n_cols) u (|A| (|B| e))_i, doubled for the
    predicted side: tolerance = factor * (K + n) * u * (|A| |B| e)_i, likewise for columns.
    """
    a = np.abs(a_block.astype(np.float64))
    b = np.abs(b_block.astype(np.float64))
    k, n_rows, n_cols = a.shape[1], a.shape[0], b.shape[1]
    rows = factor * (k + n_cols) * FP32_UNIT_ROUNDOFF * (a @ b.sum(axis=1))
    cols = factor * (k + n_rows) * FP32_UNIT_ROUNDOFF * (a.sum(axis=0) @ b)
    return rows, cols


@dataclass(frozen=True)
class BlockDeviation:
    """Deviations of one check block (rows row0.. and cols col0.. of a fold's output block).

    `flagged_rows` / `flagged_cols` / `detected` are computed once at construction (and again by
    `dataclasses.replace`): every check block a run makes is asked whether it detected (a fold's
    verdict and its ledger both ask). `with_flags` builds a block whose flags the caller has
    already found (kernels.fold_check).
    """

    row0: int
    col0: int
    rsd: np.ndarray  # per block row: actual - predicted row sum
    csd: np.ndarray  # per block column
    row_tolerance: np.ndarray  # per block row (zeros for integer accumulation)
    col_tolerance: np.ndarray
    # fold-block row / col indices whose |deviation| exceeds the tolerance (NaN/inf deviations count)
    flagged_rows: np.ndarray = field(init=False, repr=False, compare=False)
    flagged_cols: np.ndarray = field(init=False, repr=False, compare=False)
    detected: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._flag(
            self.row0 + np.flatnonzero(~(np.abs(self.rsd) <= self.row_tolerance)),
            self.col0 + np.flatnonzero(~(np.abs(self.csd) <= self.col_tolerance)),
        )

    @classmethod
    def with_flags(
        cls,
        row0: int,
        col0: int,
        rsd: np.ndarray,
        csd: np.ndarray,
        row_tolerance: np.ndarray,
        col_tolerance: np.ndarray,
        flagged_rows: np.ndarray,
        flagged_cols: np.ndarray,
    ) -> BlockDeviation:
        """A block whose flagged rows / cols (what its tolerances give) the caller already found."""
        block = object.__new__(cls)
        block.__dict__.update(row0=row0, col0=col0, rsd=rsd, csd=csd, row_tolerance=row_tolerance,
                              col_tolerance=col_tolerance, flagged_rows=flagged_rows, flagged_cols=flagged_cols,
                              detected=bool(flagged_rows.size or flagged_cols.size))  # fmt: skip
        return block

    def _flag(self, rows: np.ndarray, cols: np.ndarray) -> None:
        object.__setattr__(self, "flagged_rows", rows)
        object.__setattr__(self, "flagged_cols", cols)
        object.__setattr__(self, "detected", bool(rows.size or cols.size))

    @property
    def msd_signed(self) -> float:
        """Grand-sum deviation (equal to the sum of CSD)."""
        return float(self.rsd.sum())

    @property
    def msd_abs(self) -> float:
        """Sum of |RSD|: the total deviation ApproxABFT compares with T1."""
        return float(np.abs(self.rsd).sum())


def block_deviations(
    out_rows: np.ndarray,
    out_cols: np.ndarray,
    delta: np.ndarray,
    shape: tuple[int, int],
    block_shape: tuple[int, int] = (0, 0),
    tolerances: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[BlockDeviation]:
    """Deviations of every check block that holds an error, from sparse output errors.

    `out_rows`, `out_cols`, `delta` list errors in a fold output block of `shape`; blocks of
    `block_shape` (0 = the whole extent) tile it. Integer deltas are summed in int64, exactly.
    `tolerances` are per-row and per-column round-off bounds of the whole fold (None: exact).
    """
    n_rows, n_cols = shape
    br = block_shape[0] or n_rows
    bc = block_shape[1] or n_cols
    if delta.size == 0:
        return []
    exact = np.issubdtype(delta.dtype, np.integer)
    sum_dtype = np.int64 if exact else np.float64
    if br >= n_rows and bc >= n_cols:  # one block: bincount sums (exact for integers: |sum| < 2^53)
        rsd = np.bincount(out_rows, weights=delta, minlength=n_rows)
        csd = np.bincount(out_cols, weights=delta, minlength=n_cols)
        if exact:
            rsd, csd = _exact_sums(out_rows, delta, n_rows, rsd), _exact_sums(out_cols, delta, n_cols, csd)
        if tolerances is None:
            return [BlockDeviation(0, 0, rsd, csd, np.zeros(n_rows), np.zeros(n_cols))]
        return [BlockDeviation(0, 0, rsd, csd, tolerances[0][:n_rows], tolerances[1][:n_cols])]
    blocks: dict[tuple[int, int], list[int]] = {}
    for i, key in enumerate(zip((out_rows // br).tolist(), (out_cols // bc).tolist(), strict=True)):
        blocks.setdefault(key, []).append(i)
    result = []
    for (bi, bj), members in sorted(blocks.items()):
        row0, col0 = bi * br, bj * bc
        h, w = min(br, n_rows - row0), min(bc, n_cols - col0)
        idx = np.asarray(members)
        rsd = np.zeros(h, sum_dtype)
        csd = np.zeros(w, sum_dtype)
        np.add.at(rsd, out_rows[idx] - row0, delta[idx].astype(sum_dtype))
        np.add.at(csd, out_cols[idx] - col0, delta[idx].astype(sum_dtype))
        if tolerances is None:
            row_tol, col_tol = np.zeros(h), np.zeros(w)
        else:
            # a block's row check sums only the block's columns; the whole-row bound covers it
            row_tol, col_tol = tolerances[0][row0 : row0 + h], tolerances[1][col0 : col0 + w]
        result.append(BlockDeviation(row0, col0, rsd, csd, row_tol, col_tol))
    return result


def _exact_sums(index: np.ndarray, delta: np.ndarray, size: int, approx: np.ndarray) -> np.ndarray:
    """int64 sums of integer deltas per index: float64 sums are exact below 2^53 (int32 deltas,
    fewer than 2^21 terms), otherwise summed in int64."""
    if delta.size < 2**21:
        return approx.astype(np.int64)
    sums = np.zeros(size, np.int64)
    np.add.at(sums, index, delta)
    return sums


def output_scale(a: np.ndarray, b: np.ndarray) -> float:
    """The clean output scale sqrt(K * mean(A^2) * mean(B^2)), the RMS of C for independent
    operands, in accumulator units; what relative ApproxABFT thresholds multiply."""
    if a.dtype == np.int8 and b.dtype == np.int8:  # exact integer sums of squares, one rounding
        m, k = a.shape
        n = b.shape[1]
        sum_a, sum_b = int8_square_sum(a), int8_square_sum(b)
        return math.sqrt(sum_a * sum_b / (m * k * n)) if m * k * n else 0.0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return float(np.sqrt(a.shape[1] * np.mean(a64 * a64) * np.mean(b64 * b64)))


def tolerance_for(datatype: Datatype, a_block: np.ndarray, b_block: np.ndarray, factor: float):
    """Per-row/column tolerances of a fold: None (exact) for integers, the round-off bound else."""
    return None if datatype.is_integer else fp_tolerances(a_block, b_block, factor)
