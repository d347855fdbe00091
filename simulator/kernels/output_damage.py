"""The damage a ledger's faults leave, per fault and per stored output (numba): the passes over
every corrupted element that the end-of-run fate classification (verify.fates) makes.

A BER 1e-6 run of ViT-B/16 leaves ~5.5 M corrupted elements. In numpy, each step of the
classification was a whole-array operation with its own temporaries (masks, gathers of the
faults' GEMM and instance to every element, `np.maximum.at`, `np.unique`), ~5 s in all; here each
is one pass:

* `fault_damage`: per fault whether any of its errors is nonzero (touched), whether a nonzero one
  is still live in the output (residual) and the largest |live error| (a NaN propagates, as
  `np.maximum.at` does); the live elements' positions and their output codes
  ((gemm * D0 + instance) * D1 + row) * D2 + col.
* `summed_outputs` (`sum_by_code`): the live errors summed per output code, codes ascending,
  each sum added in element order (the codes sorted stably: `np.argsort(kind="stable")` finds the
  runs a ledger's fold order leaves and costs a fraction of `np.unique`'s sort), and every live
  element's output index. Same values and order as `np.unique(code, return_inverse=True)` with
  `np.add.at`; also the residual errors of one GEMM instance (verify.verifier.residual_errors).
* `fault_outputs`: per fault how many of its live elements sit in a corrupted output and the
  worst relative error among those outputs.

verify.fates.classify_reference is the numpy twin the tests compare them with.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fault_damage(
    owner: np.ndarray, delta: np.ndarray, alive: np.ndarray, gemm: np.ndarray, instance: np.ndarray,
    grows: np.ndarray, gcols: np.ndarray, d0: int, d1: int, d2: int, n_faults: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(touched, residual, max_abs) per fault, and (live_at, code) per live element (alive and
    nonzero), in element order; `owner[e]` is element e's fault, `gemm` / `instance` are per
    fault, d0 / d1 / d2 bound the instances, rows and columns."""
    touched = np.zeros(n_faults, np.bool_)
    residual = np.zeros(n_faults, np.bool_)
    max_abs = np.zeros(n_faults, np.float64)
    n = owner.shape[0]
    live_at = np.empty(n, np.int64)
    code = np.empty(n, np.int64)
    count = 0
    for e in range(n):
        d = delta[e]
        if d == 0:  # a NaN is nonzero
            continue
        f = owner[e]
        touched[f] = True
        if not alive[e]:
            continue
        residual[f] = True
        v = abs(np.float64(d))
        m = max_abs[f]
        if m == m and not (v <= m):  # once NaN, stays NaN; a NaN v replaces any number
            max_abs[f] = v
        live_at[count] = e
        code[count] = ((gemm[f] * d0 + instance[f]) * d1 + grows[e]) * d2 + gcols[e]
        count += 1
    return touched, residual, max_abs, live_at[:count].copy(), code[:count].copy()


def sum_by_code(code: np.ndarray, values: np.ndarray, at: np.ndarray | None = None) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """`summed_outputs` of `code` sorted stably: (keys, sums, group) as np.unique(code,
    return_inverse=True) with np.add.at(sums, group, values[at]) give them (`at`: where each
    code's value sits in `values`, default in order)."""
    order = np.argsort(code, kind="stable")
    return summed_outputs(code, order, values, np.arange(code.shape[0]) if at is None else at)


@njit(cache=True)
def summed_outputs(
    code: np.ndarray, order: np.ndarray, values: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keys, sums, group): the distinct codes ascending, the values (values[at[i]] for code[i])
    summed per code in their order, and each code's key index; `order` sorts `code` stably."""
    n = code.shape[0]
    keys = np.empty(n, np.int64)
    sums = np.zeros(n, values.dtype)
    group = np.empty(n, np.int64)
    k = -1
    for i in range(n):
        j = order[i]
        c = code[j]
        if k < 0 or c != keys[k]:
            k += 1
            keys[k] = c
        sums[k] += values[at[j]]
        group[j] = k
    return keys[: k + 1].copy(), sums[: k + 1].copy(), group


@njit(cache=True)
def fault_outputs(
    owner: np.ndarray, live_at: np.ndarray, group: np.ndarray, corrupted: np.ndarray, rel: np.ndarray, n_faults: int
) -> tuple[np.ndarray, np.ndarray]:
    """(outputs, worst) per fault: its live elements whose output is corrupted, and the largest
    relative error of those outputs (0 if none)."""
    outputs = np.zeros(n_faults, np.int64)
    worst = np.zeros(n_faults, np.float64)
    for i in range(live_at.shape[0]):
        k = group[i]
        if corrupted[k]:
            f = owner[live_at[i]]
            outputs[f] += 1
            if rel[k] > worst[f]:
                worst[f] = rel[k]
    return outputs, worst
