"""Plain-numpy twins of the fault-effect kernels (test oracles; slow, written from the PE view).

Instead of the kernels' rectangle-and-step shortcut, the twin re-runs the whole fold once clean
and once faulty, deciding for every (output element, chain step) whether the MAC on that step
sees the faulty register: a moving operand is corrupted when the faulty PE lies on its path
(upstream in its row for values moving right, in its column for values moving down) at the same
temporal index; a stationary operand when the PE matches and the temporal index is at or after
the upset; mult / acc when the PE and the temporal index match. Permanent faults drop the
temporal condition. The cycle -> temporal-index conversion is `_mac_tau` (mapping.dataflow.mac_tau over integer codes).
"""

from __future__ import annotations

import numpy as np

from simulator.kernels.codes import (
    A_REG,
    ACC,
    B_REG,
    BF16,
    F_BIT,
    F_COL,
    F_CYCLE,
    F_FOLD,
    F_MODE,
    F_ROW,
    F_SITE,
    FLIP,
    FP16,
    INT8,
    IS,
    MULT,
    OS,
    STUCK0,
    T_COL0,
    T_CU,
    T_ROW0,
    T_RU,
    T_T0,
    T_TT,
    WS,
)


def _mac_tau(dataflow: int, rows: int, r: int, c: int, cycle: int) -> int:
    """Temporal index of the MAC PE(r, c) performs at a fold-local cycle (the twin's own copy of
    mapping.dataflow.mac_tau, over integer codes: OS has no weight preload)."""
    return cycle - r - c if dataflow == OS else cycle - rows - r - c


def _change_bits(words: np.ndarray, bit: int, mode: int) -> np.ndarray:
    mask = words.dtype.type(1 << bit)
    if mode == FLIP:
        return words ^ mask
    if mode == STUCK0:
        return words & ~mask
    return words | mask


def _change(values: np.ndarray, word_dtype: str, bit: int, mode: int) -> np.ndarray:
    """Values re-read through a register of `word_dtype` with one bit changed."""
    stored = values.astype(word_dtype)
    unsigned = np.dtype(f"u{stored.dtype.itemsize}")
    return _change_bits(stored.view(unsigned), bit, mode).view(stored.dtype).astype(values.dtype)


def _fold_chains(
    dataflow: int, a: np.ndarray, b: np.ndarray, row0: int, col0: int, ru: int, cu: int, t0: int = 0, steps: int = -1
) -> tuple:
    """Per output element x chain step: operands, PE row / col and temporal index; block shape.

    OS chains run over the fold's K range t0 .. t0 + steps - 1 (steps < 0: all of K)."""
    if dataflow == OS:
        k = a.shape[1] - t0 if steps < 0 else steps
        r, c, s = np.meshgrid(np.arange(ru), np.arange(cu), np.arange(k), indexing="ij")
        av, bv = a[row0 + r, t0 + s], b[t0 + s, col0 + c]
        pe_r, pe_c, tau = r, c, s
        shape = (ru, cu)
    elif dataflow == WS:
        t = a.shape[0]
        i, c, s = np.meshgrid(np.arange(t), np.arange(cu), np.arange(ru), indexing="ij")
        av, bv = a[i, row0 + s], b[row0 + s, col0 + c]
        pe_r, pe_c, tau = s, c, i
        shape = (t, cu)
    else:
        t = b.shape[1]
        c, j, s = np.meshgrid(np.arange(cu), np.arange(t), np.arange(ru), indexing="ij")
        av, bv = a[col0 + c, row0 + s], b[row0 + s, j]
        pe_r, pe_c, tau = s, c, j
        shape = (cu, t)
    flat = (x.reshape(-1, x.shape[-1]) for x in (av, bv, pe_r, pe_c, tau))
    return (*flat, shape)


def _hit_mask(dataflow: int, site: int, fr: int, fc: int, ftau: int, permanent: bool, pe_r, pe_c, tau) -> np.ndarray:
    """Which (element, step) MACs see the faulty register (none for a transient at a MAC-less slot)."""
    if not permanent and not np.any((pe_r == fr) & (pe_c == fc) & (tau == ftau)):
        return np.zeros_like(tau, bool)  # transients strike only PEs doing a MAC at that cycle
    same_time = np.ones_like(tau, bool) if permanent else tau == ftau
    moving_a = dataflow in (OS, WS)  # IS keeps A stationary
    moving_b = dataflow in (OS, IS)  # OS moves B down, IS moves B right, WS keeps B stationary
    if site in (ACC, MULT):
        return (pe_r == fr) & (pe_c == fc) & same_time
    moving = moving_a if site == A_REG else moving_b
    if not moving:
        later = np.ones_like(tau, bool) if permanent else tau >= ftau
        return (pe_r == fr) & (pe_c == fc) & later
    if site == B_REG and dataflow == OS:  # moves down the column
        return (pe_c == fc) & (pe_r >= fr) & same_time
    return (pe_r == fr) & (pe_c >= fc) & same_time  # moves right along the row


def _run_chains(datatype: int, av, bv, hit, site: int, bit: int, mode: int) -> np.ndarray:
    """Final accumulator of every chain, with the fault applied at the `hit` steps."""
    integer = datatype == INT8
    av = av.astype(np.int32) if integer else av.astype(np.float32)
    bv = bv.astype(np.int32) if integer else bv.astype(np.float32)
    operand_word = {INT8: "i1", FP16: "f2"}.get(datatype, "f4")  # bf16 words live in an fp32 pattern
    operand_bit = bit + 16 if datatype == BF16 else bit
    acc = np.zeros(av.shape[0], np.int32 if integer else np.float32)
    with np.errstate(all="ignore"):
        for s in range(av.shape[1]):
            h = hit[:, s]
            x, y = av[:, s].copy(), bv[:, s].copy()
            if site == A_REG:
                x[h] = _change(x[h], operand_word, operand_bit, mode)
            if site == B_REG:
                y[h] = _change(y[h], operand_word, operand_bit, mode)
            p = x * y
            if site == MULT:
                p[h] = _change(p[h], "i2" if integer else "f4", bit, mode)
            acc = acc + p
            if site == ACC:
                acc[h] = _change(acc[h], "i4" if integer else "f4", bit, mode)
    return acc


def resolve_faults_reference(
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
    """Twin of fault_effects.resolve_faults (same signature and outputs), by full fold re-runs.

    The transposes `at`, `bt` only serve the kernel's memory order; the twin reads `a` and `b`.
    """
    for f in range(faults.shape[0]):
        fold = faults[f, F_FOLD]
        row0, col0, ru, cu, t0, steps = (int(folds[fold, x]) for x in (T_ROW0, T_COL0, T_RU, T_CU, T_T0, T_TT))
        fr, fc, site, bit, mode = (int(faults[f, x]) for x in (F_ROW, F_COL, F_SITE, F_BIT, F_MODE))
        ftau = _mac_tau(dataflow, rows, fr, fc, int(faults[f, F_CYCLE]))
        av, bv, pe_r, pe_c, tau, shape = _fold_chains(dataflow, a, b, row0, col0, ru, cu, t0, steps)
        hit = _hit_mask(dataflow, site, fr, fc, ftau, mode != FLIP, pe_r, pe_c, tau)
        clean = _run_chains(datatype, av, bv, np.zeros_like(hit), site, bit, mode)
        faulty = _run_chains(datatype, av, bv, hit, site, bit, mode)
        touched = np.flatnonzero(hit.any(axis=1))
        start, stop = int(offsets[f]), int(offsets[f + 1])
        if stop - start != touched.size:
            raise ValueError(f"fault {f}: twin finds {touched.size} corrupted elements, offsets say {stop - start}")
        orow, ocol = np.unravel_index(touched, shape)
        grow, gcol = _gemm_positions(dataflow, row0, col0, orow, ocol)
        positions[start:stop] = np.stack([orow, ocol, grow, gcol], axis=1)
        if datatype == INT8:
            delta_int[start:stop] = (faulty[touched] - clean[touched]).astype(np.int64)  # int32 wraps
        else:
            with np.errstate(all="ignore"):
                delta_float[start:stop] = faulty[touched].astype(np.float64) - clean[touched].astype(np.float64)


def _gemm_positions(dataflow: int, row0: int, col0: int, orow: np.ndarray, ocol: np.ndarray) -> tuple:
    if dataflow == OS:
        return row0 + orow, col0 + ocol
    if dataflow == WS:
        return orow, col0 + ocol
    return col0 + orow, ocol


def effect_sizes_reference(dataflow: int, rows: int, folds: np.ndarray, faults: np.ndarray) -> np.ndarray:
    """Twin of fault_effects.effect_sizes: count the elements whose chains the fault reaches."""
    sizes = np.zeros(faults.shape[0], np.int64)
    for f in range(faults.shape[0]):
        fold = faults[f, F_FOLD]
        ru, cu, temporal = int(folds[fold, T_RU]), int(folds[fold, T_CU]), int(folds[fold, T_TT])
        fr, fc, site, mode = (int(faults[f, x]) for x in (F_ROW, F_COL, F_SITE, F_MODE))
        ftau = _mac_tau(dataflow, rows, fr, fc, int(faults[f, F_CYCLE]))
        a_rows, k, n = _block_extents(dataflow, rows, ru, cu, temporal)
        a = np.zeros((a_rows, k), np.float32)
        b = np.zeros((k, n), np.float32)
        _, _, pe_r, pe_c, tau, _ = _fold_chains(dataflow, a, b, 0, 0, ru, cu)
        sizes[f] = int(_hit_mask(dataflow, site, fr, fc, ftau, mode != FLIP, pe_r, pe_c, tau).any(axis=1).sum())
    return sizes


def _block_extents(dataflow: int, rows: int, ru: int, cu: int, temporal: int) -> tuple[int, int, int]:
    """(M, K, N) of a one-fold GEMM with these extents (for building index grids)."""
    if dataflow == OS:
        return ru, temporal, cu
    if dataflow == WS:
        return temporal, ru, cu
    return cu, ru, temporal
