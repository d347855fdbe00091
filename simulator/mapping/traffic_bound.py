"""A closed-form lower bound on the DRAM bytes of one GEMM for given scratchpad buffer sizes.

For an output-stationary array (the bundled edge and TPU-like designs), the bound covers every
loop nest the mapping step can express (mapping.loop_order, K split included) and any other
nest whose on-chip reuse comes from the same three sources; it is not a
bound over arbitrary schedules (see below). C[M,N] = A[M,K] @ B[K,N], operands `ob` bytes per
element, partial sums `ab`; A, B, C buffers of `a`, `b`, `c` bytes (one buffer each: the other
takes the prefetch). Every output is written once (M N ob). A and B are read at least once, and
then again for every reuse they miss:

* an operand that fits whole in its buffer is read once: with either one resident, A + B;
* a full-K slab of B (K x Nt, K Nt ob <= b) resident while A streams: A is read N / Nt times,
  B once (the mirror: an A slab Mt x K in its buffer, B read M / Mt times);
* an output tile Mt x Nt whose partial sums stay on chip (in SRAM C or in the array's PE
  accumulators: Mt Nt <= P = c / ab + rows x cols) while K is swept in chunks: A is read N / Nt
  times, B M / Mt times. On the hyperbola Mt Nt = P the sum K ob M N (1/Nt + 1/Mt) is least at
  Mt = Nt = sqrt(P) (the Hong-Kung square tile), clipped to the GEMM's extents.

Reuse factors are relaxed to real numbers (no ceilings, no block multiples), so the bound is at
most what any such nest moves. Every OS order of mapping.loop_order takes its reuse from one of
these sources (a resident super-block is a slab, a middle operand kept whole is a whole operand,
a K-split tile or a whole-K fold's accumulators is a psum tile); tests/test_traffic_bound.py
holds the mapping step's choice at or above the bound. It is not a bound over every schedule: a
unified on-chip memory of S elements allows, by Hong and Kung's argument, down to about
2 M N K / sqrt(S) operand reads, a much weaker limit that a buffer-per-operand accelerator
cannot reach. (WS and IS arrays also reuse the stationary tile held in the PEs, a fourth
source this bound leaves out, so it is defined for OS only.)
"""

from __future__ import annotations

import math

from simulator.config.schema import HwConfig
from simulator.mapping.dataflow import geometry_of
from simulator.workload.gemm import Gemm


def dram_bound_bytes(
    m: int,
    k: int,
    n: int,
    a_buffer_bytes: int,
    b_buffer_bytes: int,
    c_buffer_bytes: int,
    pe_accumulators: int,
    operand_bytes: int,
    acc_bytes: int,
) -> float:
    """Fewest DRAM bytes one instance can move (see the module docstring); >= the compulsory bytes."""
    ob = operand_bytes
    a, b, out = m * k * ob, k * n * ob, m * n * ob
    if a <= a_buffer_bytes or b <= b_buffer_bytes:
        return float(a + b + out)
    psums = c_buffer_bytes / acc_bytes + pe_accumulators
    tile_m = min(float(m), max(math.sqrt(psums), psums / n))  # the square tile, clipped to M x N
    tile_n = min(float(n), psums / tile_m)
    options = [a * max(1.0, n / tile_n) + b * max(1.0, m / tile_m)]
    b_slab_cols = b_buffer_bytes / (k * ob)  # columns of a full-K B slab that fit
    if b_slab_cols >= 1:
        options.append(a * max(1.0, n / b_slab_cols) + b)
    a_slab_rows = a_buffer_bytes / (k * ob)
    if a_slab_rows >= 1:
        options.append(a + b * max(1.0, m / a_slab_rows))
    return float(min(options) + out)


def gemm_dram_bound_bytes(gemm: Gemm, hw: HwConfig) -> float:
    """dram_bound_bytes of all instances of a GEMM on a hardware config's buffers and (OS) array."""
    sram, arr = hw.memory.sram, hw.array
    if not geometry_of(arr.dataflow).streams_k:
        raise ValueError(f"the DRAM traffic bound is derived for output-stationary arrays, not {arr.dataflow}")
    one = dram_bound_bytes(
        gemm.m,
        gemm.k,
        gemm.n,
        sram.a.buffer_bytes,
        sram.b.buffer_bytes,
        sram.c.buffer_bytes,
        arr.rows * arr.cols,
        arr.datatype.operand_bytes,
        arr.datatype.acc_bytes,
    )
    return one * gemm.count
