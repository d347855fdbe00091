"""Numba kernels: PE fault -> corrupted output elements and their exact error, per dataflow.

Every output element is a chain of L multiply-accumulate steps, acc = 0; acc += a_s * b_s for
s = 0..L-1, with a_s = A[ai, k0 + s], b_s = B[k0 + s, bj]:

* OS: element (r, c) of the fold block is the accumulator of PE(r, c); steps are k over the
  fold's K range (L = its steps, all of K unless K is split into chunks, mapping.loop_order);
  ai = row0 + r, k0 = the fold's t0, bj = col0 + c. A chunk's accumulator starts at 0 (its
  partial sum is added into SRAM C), so its error is that of the chunk's partial sum.
* WS: element (i, c) is the psum leaving column c for streamed row i; step s is done by PE(s, c)
  (L = ru); ai = i, k0 = row0, bj = col0 + c.
* IS: element (c, j) is the psum leaving column c for streamed column j; step s is done by PE(s, c);
  ai = col0 + c, k0 = row0, bj = j.

A fault changes the steps s_lo..s_hi of every chain in a rectangle of the fold block (fault_rect),
so a fault costs O(affected elements x L) at most, and much less for int8, where errors are linear
(mult / operand faults: sum of product differences over the changed steps; acc: the chain only up
to s_hi). Floating-point chains are re-run in the exact order (clean and faulty side by side, all
chains of the rectangle in lock-step so that the loads of B rows are contiguous), so
the result is exact, not linearised. The plain-numpy twins are in fault_effects_reference.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.codes import (
    A_REG,
    ACC,
    B_REG,
    F_BIT,
    F_COL,
    F_CYCLE,
    F_FOLD,
    F_MODE,
    F_ROW,
    F_SITE,
    FLIP,
    INT8,
    MULT,
    OS,
    P_FOLD_COL,
    P_FOLD_ROW,
    P_GEMM_COL,
    P_GEMM_ROW,
    T_COL0,
    T_CU,
    T_ROW0,
    T_RU,
    T_T0,
    T_TT,
    WS,
)
from simulator.kernels.words import Word, modify_f32, modify_int, modify_operand_float, wrap_bits

_EMPTY = (0, 0, 0, 0, 0, -1)


@njit(cache=True)
def fault_rect(
    dataflow: int, rows: int, temporal: int, ru: int, cu: int, r: int, c: int, cycle: int, site: int, mode: int
) -> tuple[int, int, int, int, int, int]:
    """(row0, nrows, col0, ncols, s_lo, s_hi): fold-block rectangle and chain steps a fault changes.

    nrows == 0 means the fault cannot reach the fold's output (PE unused, or no MAC at `cycle`).
    """
    if r < 0 or c < 0 or r >= ru or c >= cu:
        return _EMPTY
    permanent = mode != FLIP
    if dataflow == OS:
        if permanent:
            s_lo, s_hi = 0, temporal - 1
        else:
            s_lo = cycle - r - c
            s_hi = s_lo
            if s_lo < 0 or s_lo >= temporal:
                return _EMPTY
        if site == A_REG:  # moves right: row segment
            return r, 1, c, cu - c, s_lo, s_hi
        if site == B_REG:  # moves down: column segment
            return r, ru - r, c, 1, s_lo, s_hi
        return r, 1, c, 1, s_lo, s_hi
    # WS / IS: the chain step is the PE row; the fault picks PE columns and temporal indices.
    moving = A_REG if dataflow == WS else B_REG
    stationary = B_REG if dataflow == WS else A_REG
    if permanent:
        t_lo, t_hi = 0, temporal - 1
    else:
        t_lo = cycle - rows - r - c
        if t_lo < 0 or t_lo >= temporal:
            return _EMPTY
        t_hi = temporal - 1 if site == stationary else t_lo  # a stationary upset stays to the end
    c_lo, c_n = (c, cu - c) if site == moving else (c, 1)
    if dataflow == WS:  # fold block is T x cu
        return t_lo, t_hi - t_lo + 1, c_lo, c_n, r, r
    return c_lo, c_n, t_lo, t_hi - t_lo + 1, r, r  # IS: fold block is cu x T


@njit(cache=True)
def _rect_origin(dataflow: int, row0: int, col0: int, ru: int, t0: int, steps: int, orow: int, ocol: int) -> tuple:
    """(ai0, bj0, k0, L): chains of fold-block element (orow + i, ocol + j) use A row ai0 + i, B col bj0 + j."""
    if dataflow == OS:
        return row0 + orow, col0 + ocol, t0, steps
    if dataflow == WS:
        return orow, col0 + ocol, row0, ru
    return col0 + orow, ocol, row0, ru


@njit(cache=True)
def _gemm_position(dataflow: int, row0: int, col0: int, orow: int, ocol: int) -> tuple[int, int]:
    if dataflow == OS:
        return row0 + orow, col0 + ocol
    if dataflow == WS:
        return orow, col0 + ocol
    return col0 + orow, ocol


@njit(cache=True)
def chain_delta_int(
    a: np.ndarray, bt: np.ndarray, ai: int, k0: int, bj: int, s_lo: int, s_hi: int, site: int, bit: int, mode: int
) -> Word:
    """int32-wrapped (faulty - clean) of one int8 chain whose steps s_lo..s_hi are changed.

    `bt` is B transposed (N x K), so the chain reads two contiguous rows.
    """
    if site == ACC:
        total = np.int64(0)
        for s in range(s_lo):  # exact in int64; wrapping once equals wrapping after every add
            total += np.int64(a[ai, k0 + s]) * np.int64(bt[bj, k0 + s])
        acc = wrap_bits(total, 32)
        faulty = acc
        for s in range(s_lo, s_hi + 1):
            p = np.int64(a[ai, k0 + s]) * np.int64(bt[bj, k0 + s])
            acc = wrap_bits(acc + p, 32)
            faulty = modify_int(wrap_bits(faulty + p, 32), 32, bit, mode)
        return wrap_bits(faulty - acc, 32)  # later additions are common to both: the gap stays
    delta = np.int64(0)
    for s in range(s_lo, s_hi + 1):
        x = np.int64(a[ai, k0 + s])
        y = np.int64(bt[bj, k0 + s])
        if site == A_REG:
            delta += (modify_int(x, 8, bit, mode) - x) * y
        elif site == B_REG:
            delta += x * (modify_int(y, 8, bit, mode) - y)
        else:
            delta += modify_int(x * y, 16, bit, mode) - x * y
    return wrap_bits(delta, 32)


@njit(cache=True)
def _advance_float(
    a: np.ndarray,
    b: np.ndarray,
    at: np.ndarray,
    bt: np.ndarray,
    ai0: int,
    nr: int,
    bj0: int,
    nc: int,
    k0: int,
    s_from: int,
    s_to: int,
    clean: np.ndarray,
    faulty: np.ndarray,
    both: bool,
) -> None:
    """Unchanged steps s_from..s_to-1 of the nr x nc chains (faulty too when `both`).

    Memory order decides the loop order: one chain walks two contiguous rows (A row, B^T row);
    a column of chains advances in lock-step along A^T rows, any wider block along B rows.
    """
    if nr == 1 and nc == 1:
        c, f = clean[0], faulty[0]
        arow = a[ai0, k0 + s_from : k0 + s_to]
        brow = bt[bj0, k0 + s_from : k0 + s_to]
        for s in range(s_to - s_from):
            p = np.float32(arow[s] * brow[s])
            c = np.float32(c + p)
            f = np.float32(f + p)
        clean[0] = c
        if both:
            faulty[0] = f
        return
    for s in range(s_from, s_to):
        if nc == 1:
            y = b[k0 + s, bj0]
            acol = at[k0 + s, ai0 : ai0 + nr]
            for i in range(nr):
                p = np.float32(acol[i] * y)
                clean[i] = np.float32(clean[i] + p)
                if both:
                    faulty[i] = np.float32(faulty[i] + p)
            continue
        brow = b[k0 + s, bj0 : bj0 + nc]
        for i in range(nr):
            x = a[ai0 + i, k0 + s]
            c = clean[i * nc : (i + 1) * nc]
            if both:
                f = faulty[i * nc : (i + 1) * nc]
                for j in range(nc):
                    p = np.float32(x * brow[j])
                    c[j] = np.float32(c[j] + p)
                    f[j] = np.float32(f[j] + p)
            else:
                for j in range(nc):
                    c[j] = np.float32(c[j] + np.float32(x * brow[j]))


@njit(cache=True)
def rect_pair_float(
    a: np.ndarray,
    b: np.ndarray,
    at: np.ndarray,
    bt: np.ndarray,
    ai0: int,
    nr: int,
    bj0: int,
    nc: int,
    k0: int,
    length: int,
    s_lo: int,
    s_hi: int,
    site: int,
    bit: int,
    mode: int,
    datatype: int,
    clean: np.ndarray,
    faulty: np.ndarray,
) -> None:
    """Clean and faulty fp32 results of the nr x nc chains (A rows ai0.., B cols bj0..), row-major
    into clean[:nr*nc] / faulty[:nr*nc]; steps s_lo..s_hi changed; every chain in its exact order."""
    n = nr * nc
    clean[:n] = 0.0
    _advance_float(a, b, at, bt, ai0, nr, bj0, nc, k0, 0, s_lo, clean, faulty, False)
    faulty[:n] = clean[:n]
    for s in range(s_lo, s_hi + 1):
        for i in range(nr):
            x = a[ai0 + i, k0 + s]
            xf = modify_operand_float(x, datatype, bit, mode) if site == A_REG else x
            for j in range(nc):
                e = i * nc + j
                y = b[k0 + s, bj0 + j]
                p = np.float32(x * y)
                clean[e] = np.float32(clean[e] + p)
                if site == B_REG:
                    q = np.float32(xf * modify_operand_float(y, datatype, bit, mode))
                elif site == MULT:
                    q = modify_f32(p, bit, mode)
                else:
                    q = np.float32(xf * y)
                faulty[e] = np.float32(faulty[e] + q)
                if site == ACC:
                    faulty[e] = modify_f32(faulty[e], bit, mode)
    _advance_float(a, b, at, bt, ai0, nr, bj0, nc, k0, s_hi + 1, length, clean, faulty, True)


@njit(cache=True)
def effect_sizes(dataflow: int, rows: int, folds: np.ndarray, faults: np.ndarray) -> np.ndarray:
    """Number of fold-block elements each fault (a row of the fault table) can corrupt."""
    sizes = np.zeros(faults.shape[0], np.int64)
    for f in range(faults.shape[0]):
        fold = faults[f, F_FOLD]
        rect = fault_rect(
            dataflow,
            rows,
            folds[fold, T_TT],
            folds[fold, T_RU],
            folds[fold, T_CU],
            faults[f, F_ROW],
            faults[f, F_COL],
            faults[f, F_CYCLE],
            faults[f, F_SITE],
            faults[f, F_MODE],
        )
        sizes[f] = rect[1] * rect[3]
    return sizes


@njit(cache=True)
def resolve_faults(
    a: np.ndarray,
    b: np.ndarray,
    at: np.ndarray,
    bt: np.ndarray,
    datatype: int,
    dataflow: int,
    rows: int,
    folds: np.ndarray,
    faults: np.ndarray,
    offsets: np.ndarray,
    positions: np.ndarray,
    delta_int: np.ndarray,
    delta_float: np.ndarray,
) -> None:
    """Fill positions / deltas of every fault (rows offsets[f]..offsets[f+1]-1), each on its own.

    `a` (M x K) and `b` (K x N) are the GEMM's operands and `at`, `bt` their transposes, all
    C-contiguous. Floating-point datatypes pass float32 (fp16 and bf16 values widen exactly). int8
    passes either float32 copies or faults.effects' lean operands: `a` and `bt` as int8 and
    placeholders for `b` and `at`, which the integer chains never read (a second compiled signature,
    identical results).
    int8 deltas go to `delta_int` (int32-wrapped), fp deltas to `delta_float`
    (float64(faulty) - float64(clean)); the other array may have length 0.
    """
    widest = 0
    for f in range(offsets.shape[0] - 1):
        widest = max(widest, offsets[f + 1] - offsets[f])
    clean = np.empty(widest, np.float32)
    faulty = np.empty(widest, np.float32)
    for f in range(faults.shape[0]):
        fold = faults[f, F_FOLD]
        row0, col0, ru = folds[fold, T_ROW0], folds[fold, T_COL0], folds[fold, T_RU]
        t0, steps = folds[fold, T_T0], folds[fold, T_TT]
        site, bit, mode = faults[f, F_SITE], faults[f, F_BIT], faults[f, F_MODE]
        r0, nr, c0, nc, s_lo, s_hi = fault_rect(
            dataflow,
            rows,
            steps,
            ru,
            folds[fold, T_CU],
            faults[f, F_ROW],
            faults[f, F_COL],
            faults[f, F_CYCLE],
            site,
            mode,
        )
        if nr * nc == 0:
            continue
        ai0, bj0, k0, length = _rect_origin(dataflow, row0, col0, ru, t0, steps, r0, c0)
        out = offsets[f]
        if datatype != INT8:
            rect_pair_float(
                a, b, at, bt, ai0, nr, bj0, nc, k0, length, s_lo, s_hi, site, bit, mode, datatype, clean, faulty
            )
        for i in range(nr):
            for j in range(nc):
                if datatype == INT8:
                    delta_int[out] = chain_delta_int(a, bt, ai0 + i, k0, bj0 + j, s_lo, s_hi, site, bit, mode)
                else:
                    delta_float[out] = np.float64(faulty[i * nc + j]) - np.float64(clean[i * nc + j])
                grow, gcol = _gemm_position(dataflow, row0, col0, r0 + i, c0 + j)
                positions[out, P_FOLD_ROW] = r0 + i
                positions[out, P_FOLD_COL] = c0 + j
                positions[out, P_GEMM_ROW] = grow
                positions[out, P_GEMM_COL] = gcol
                out += 1
