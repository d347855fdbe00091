"""Fault effects resolved per second on ViT-B/16 GEMM shapes, against a naive per-fault GEMM recompute.

Fast path: simulator.faults.effects.resolve_gemm_faults on a batch of sampled transient faults
(sites acc / mult / a_reg / b_reg mixed in proportion to their word bits, uniform over the GEMM's
active PE slots), one kernel call per GEMM, numba compile time excluded (warm-up first).
Baseline, measured in the same run: for each of a handful of faults, recompute the whole faulty
GEMM as a float64 BLAS matmul (exact for int8) and diff it against the clean output. Both run on
one core (BLAS threads default to 1 via $ABFTSIM_BENCH_BLAS_THREADS, read before numpy loads).

Usage (from the repo root):
    /work/venv/bin/python benchmarks/bench_fault_effects.py [--faults 100000] [--datatypes int8 fp16]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

_THREADS = os.environ.get("ABFTSIM_BENCH_BLAS_THREADS", "1")
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = _THREADS

import numpy as np  # noqa: E402  (after the thread settings)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from simulator.config.enums import Dataflow, Datatype, Site  # noqa: E402
from simulator.config.fault_spec import FaultSpec  # noqa: E402
from simulator.faults.codes import SITE_CODE  # noqa: E402
from simulator.faults.effects import kernel_operands, resolve_gemm_faults  # noqa: E402
from simulator.faults.operands import synthetic_operands  # noqa: E402
from simulator.faults.sampling import sample_gemm_faults  # noqa: E402
from simulator.mapping.fold_table import fold_table  # noqa: E402
from simulator.workload.gemm import Gemm  # noqa: E402

VIT_B16 = [
    Gemm("qkv", "qkv", 197, 768, 2304),
    Gemm("fc1", "fc1", 197, 768, 3072),
    Gemm("fc2", "fc2", 197, 3072, 768),
    Gemm("qk", "qk", 197, 64, 197),
]
ROWS = COLS = 32


def sample(gemm: Gemm, dataflow: Dataflow, datatype: Datatype, n_faults: int, seed: int):
    bits = sum(s.word_bits(datatype) for s in Site)
    spec = FaultSpec(ber=n_faults / (gemm.macs_per_instance * bits), seed=seed)
    return sample_gemm_faults(spec, gemm, 0, 0, dataflow, datatype, ROWS, COLS)


def fast_rate(gemm: Gemm, dataflow: Dataflow, datatype: Datatype, n_faults: int, repeats: int) -> dict[str, float]:
    """Faults per second of resolve_gemm_faults, overall and per site."""
    ops = synthetic_operands(gemm, datatype, seed=1, gemm_index=0, instance=0)
    kops = kernel_operands(datatype, ops.a, ops.b)
    folds = fold_table(dataflow, gemm.m, gemm.k, gemm.n, ROWS, COLS)
    batch = sample(gemm, dataflow, datatype, n_faults, seed=2)
    resolve_gemm_faults(dataflow, ROWS, COLS, kops, batch.select(np.arange(len(batch)) < 100), folds)  # warm-up
    rates = {}
    groups = [("mix", np.ones(len(batch), bool))] + [(str(s), batch.site == SITE_CODE[s]) for s in Site]
    for label, mask in groups:
        part = batch.select(mask)
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            resolve_gemm_faults(dataflow, ROWS, COLS, kops, part, folds)
            best = min(best, time.perf_counter() - start)
        rates[label] = len(part) / best
    rates["faults"] = len(batch)
    return rates


def naive_rate(gemm: Gemm, datatype: Datatype, repeats: int) -> float:
    """Faults per second when every fault costs a float64 BLAS recompute of the whole GEMM."""
    ops = synthetic_operands(gemm, datatype, seed=1, gemm_index=0, instance=0)
    a, b = ops.a.astype(np.float64), ops.b.astype(np.float64)
    clean = a @ b
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(repeats):
        faulty_a = a.copy()
        i, k = rng.integers(gemm.m), rng.integers(gemm.k)
        faulty_a[i, k] += 1.0  # an operand upset, injected at the operand level
        diff = faulty_a @ b - clean
        np.nonzero(diff)
    return repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faults", type=int, default=100_000, help="faults per GEMM (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions, best kept (default 3)")
    parser.add_argument("--naive-repeats", type=int, default=5, help="faults for the naive baseline (default 5)")
    parser.add_argument("--datatypes", nargs="+", default=["int8", "fp16"], choices=[d.value for d in Datatype])
    parser.add_argument("--dataflows", nargs="+", default=["os", "ws"], choices=[d.value for d in Dataflow])
    args = parser.parse_args()
    header = (
        f"{'gemm':5} {'M x K x N':>16} {'flow':4} {'type':5} {'faults':>7} {'mix/s':>10} "
        f"{'acc/s':>10} {'mult/s':>10} {'a_reg/s':>10} {'b_reg/s':>10} {'naive/s':>8} {'ratio':>8}"
    )
    print(f"array {ROWS} x {COLS}; rates are fault effects resolved per second; BLAS threads {_THREADS}")
    print(header)
    totals = []
    for datatype in map(Datatype, args.datatypes):
        for gemm in VIT_B16:
            naive = naive_rate(gemm, datatype, args.naive_repeats)
            for dataflow in map(Dataflow, args.dataflows):
                r = fast_rate(gemm, dataflow, datatype, args.faults, args.repeats)
                totals.append((r["mix"], naive))
                print(
                    f"{gemm.name:5} {f'{gemm.m}x{gemm.k}x{gemm.n}':>16} {dataflow.value:4} {datatype.value:5} "
                    f"{int(r['faults']):7d} {r['mix']:10.3g} {r['acc']:10.3g} {r['mult']:10.3g} "
                    f"{r['a_reg']:10.3g} {r['b_reg']:10.3g} {naive:8.3g} {r['mix'] / naive:8.3g}",
                    flush=True,
                )
    fast = np.array([t[0] for t in totals])
    slow = np.array([t[1] for t in totals])
    print(
        f"geometric mean: fast {np.exp(np.log(fast).mean()):.3g}/s, naive {np.exp(np.log(slow).mean()):.3g}/s, "
        f"ratio {np.exp(np.log(fast / slow).mean()):.3g}"
    )


if __name__ == "__main__":
    main()
