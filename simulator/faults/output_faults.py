"""Soft errors on the output path: the C scratchpad's words while resident (site sram_c) and the accumulator
drain registers (site drain). Both are opt-in sites; verify.output_effects resolves what they do.

C residency (times as in faults.sram_faults.fold_times: the folds of an instance back to back in fold-table
order, fold j from s_j to e_j). The folds that write one output block (the same M and N ranges) form a chain
in K order: OS K chunks (`mapping.k_chunk` / `k_split`), WS / IS K blocks (K on the array rows). A fold's
result is written into C at e_j, after its check (the check compares the fold's own product with checksums
of its own A / B blocks, mapping.region; the partial sum it accumulates onto is added at the drain). A word
written by a fold that is not its chain's last is a partial sum, read-modify-written by the chain's next fold
at that fold's drain (e_next): it lives [e_j, e_next). When the fold spills its partial sums to DRAM
(`fold_transfers(...).psum_dram_store_bytes` > 0) the word lives in C only [e_j, e_j + ceil(spill bytes / DRAM
bytes per cycle)) while the spill streams out and again [max(s_next, that end), e_next) after the reload, both
cut at e_next (fold-granular times do not stretch the next fold for the reload; the reload's prefetch window
before s_next is not counted, as for A / B). The chain's last fold writes the output: it lives
[e_j, e_j + ceil(out_dram_store_bytes / DRAM bytes per cycle)), the cycles the write-back DMA takes to stream
the block out at the channel's bandwidth (queueing behind other transfers is not counted: optimistic).
Each live interval is a copy (faults.sram_faults.SramCopies over the output block, its reader the writing
fold): elements x accumulator bits (32) stored, or its SEC-DED words' bits (`memory.sram.c.ecc: secded`, 64
data bits = two accumulator words per ECC word). Upsets: Poisson(stored bits x life x ber), uniform over the
life, elements and bits / codeword positions, widened by `mbu_fraction`: faults.sram_faults.sample_operand
with accumulator-width words.

Drain: each output of a fold leaves the array for SRAM C through accumulator-width drain registers, after the
check taps it. Drain latency per output word from the geometry (mapping.dataflow.DataflowGeometry.drain_cycles:
OS R cycles, a column of R accumulators shifting out; WS / IS 1 cycle, the edge output register). Exposed
bit-cycles per fold: outputs x accumulator bits x drain cycles; flips Poisson(that x ber), uniform over the
fold's outputs, bits and its drain window (fold-local cycles latency .. latency + drain - 1: the drain overlaps
the next fold, as SCALE-Sim's fold count does). Drawn once per fold for the drain whose result C keeps (policy-
independent; the drains of passes a recomputation replaces are not drawn: their flips would be overwritten).

Keying: sram_c from SeedSequence([seed, 9, gemm_index, instance]) (draw order: sram_faults.sample_operand);
drain from SeedSequence([seed, 10, gemm_index, instance]): the Poisson counts per fold, then per flip the
output element, the bit, the cycle offset, then (mbu_fraction > 0) the widths. Every other stream is
untouched, so a run without these sites draws exactly what it drew before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype, Site
from simulator.faults.ecc import SecDed
from simulator.faults.mbu import widen
from simulator.faults.sram_faults import SramCopies, SramFaults, fold_ranges, fold_times, sample_operand
from simulator.mapping.fold_table import FoldTable
from simulator.mapping.schedule import GemmSchedule, fold_transfers

STREAM_SRAM_C = 9
STREAM_DRAIN = 10


@dataclass(frozen=True, slots=True)
class CWords:
    """The resident copies of the C words of one GEMM instance: `copies` (rows = M, cols = N of the output
    block; readers: the one fold that wrote the word), per copy `k_hi` (the word holds sum over k < k_hi of
    A[i, k] B[k, j]) and `final` (the output, else a partial sum)."""

    copies: SramCopies
    k_hi: np.ndarray
    final: np.ndarray

    @property
    def writer(self) -> np.ndarray:
        return self.copies.reader_fold


def c_words(schedule: GemmSchedule, folds: FoldTable, dram_bytes_per_cycle: float) -> CWords:
    """The C copies of one instance (module doc), ordered by writing fold, then start."""
    ranges = fold_ranges(schedule, folds)
    (m_lo, m_hi), (n_lo, n_hi), (k_lo, k_hi) = ranges["m"], ranges["n"], ranges["k"]
    start, end = fold_times(schedule, folds)
    chains: dict[tuple[int, int, int, int], list[int]] = {}
    for j in range(len(folds)):
        chains.setdefault((int(m_lo[j]), int(m_hi[j]), int(n_lo[j]), int(n_hi[j])), []).append(j)
    rows: list[tuple[int, int, int, int, int, int, int, int, bool]] = []  # writer, start, end, block, k_hi, final
    for key, js in chains.items():
        js.sort(key=lambda j: (int(k_lo[j]), j))
        for pos, j in enumerate(js):
            t = fold_transfers(schedule, folds.fold(j))
            last = pos == len(js) - 1
            if last:
                lives = [(int(end[j]), int(end[j]) + _stream_cycles(t.out_dram_store_bytes, dram_bytes_per_cycle))]
            elif t.psum_dram_store_bytes:
                nxt = js[pos + 1]
                spill = _stream_cycles(t.psum_dram_store_bytes, dram_bytes_per_cycle)
                # the reload follows the spill (overlapped folds start before it); the next fold reads it at its end
                back, read = int(end[j]) + spill, int(end[nxt])
                lives = [(int(end[j]), min(back, read)), (max(int(start[nxt]), back), read)]
            else:
                lives = [(int(end[j]), int(end[js[pos + 1]]))]
            rows += [(j, a, b, *key, int(k_hi[j]), last) for a, b in lives if b > a]
    rows.sort(key=lambda r: (r[0], r[1]))
    arr = np.array([r[:8] for r in rows], np.int64).reshape(-1, 8)
    writer = arr[:, 0]
    copies = SramCopies(arr[:, 3], arr[:, 4], arr[:, 5], arr[:, 6], arr[:, 1], arr[:, 2],
                        np.arange(writer.shape[0] + 1, dtype=np.int64), writer, end[writer])  # fmt: skip
    return CWords(copies, arr[:, 7], np.array([r[8] for r in rows], bool))


def _stream_cycles(size_bytes: int, bytes_per_cycle: float) -> int:
    """Cycles a DMA takes to stream `size_bytes` at the DRAM channel's bandwidth."""
    return int(np.ceil(size_bytes / bytes_per_cycle)) if size_bytes else 0


def sample_c_words(
    spec_seed: int, ber: float, words: CWords, datatype: Datatype, ecc: SecDed | None,
    mbu_fraction: float, mbu_max_bits: int, gemm_index: int, instance: int,
) -> SramFaults:  # fmt: skip
    """The C scratchpad upsets of one GEMM instance (keying: module doc)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec_seed, STREAM_SRAM_C, gemm_index, instance])))
    return sample_operand(rng, words.copies, "c", datatype, ber, ecc, mbu_fraction, mbu_max_bits, datatype.acc_bits)


@dataclass(frozen=True, slots=True)
class DrainFlips:
    """The drain-register flips of one GEMM instance, one row per flipped bit: `upset` (index of its strike),
    `fold`, `row` / `col` (the GEMM output element), `bit` (of its accumulator word), `cycle` (fold-local)."""

    upset: np.ndarray
    fold: np.ndarray
    row: np.ndarray
    col: np.ndarray
    bit: np.ndarray
    cycle: np.ndarray

    def __len__(self) -> int:
        return int(self.upset.shape[0])


@dataclass(frozen=True, slots=True)
class DrainGeometry:
    """What the drain sampler needs of one GEMM's folds (the same for every instance): each fold's output ranges
    [m_lo, m_hi) x [n_lo, n_hi), its latency, the drain cycles per output and the exposed bit-cycles per fold."""

    m_lo: np.ndarray
    m_hi: np.ndarray
    n_lo: np.ndarray
    n_hi: np.ndarray
    latency: np.ndarray
    drain_cycles: int
    exposure: np.ndarray  # outputs x accumulator bits x drain cycles


def drain_geometry(schedule: GemmSchedule, folds: FoldTable, datatype: Datatype) -> DrainGeometry:
    """The drain geometry of one GEMM's folds (module doc; mapping.dataflow.DataflowGeometry.drain_cycles)."""
    ranges = fold_ranges(schedule, folds)
    (m_lo, m_hi), (n_lo, n_hi) = ranges["m"], ranges["n"]
    drain = schedule.geometry.drain_cycles(schedule.rows)
    latency = np.array([schedule.cycles_of(folds.fold(j))[0] for j in range(len(folds))], np.int64)
    exposure = (m_hi - m_lo) * (n_hi - n_lo) * datatype.acc_bits * drain
    return DrainGeometry(m_lo, m_hi, n_lo, n_hi, latency, drain, exposure)


def sample_drain(
    spec_seed: int, ber: float, geometry: DrainGeometry, acc_bits: int,
    mbu_fraction: float, mbu_max_bits: int, gemm_index: int, instance: int,
) -> DrainFlips:  # fmt: skip
    """The drain flips of one GEMM instance (placement and keying: module doc)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec_seed, STREAM_DRAIN, gemm_index, instance])))
    g = geometry
    counts = rng.poisson(g.exposure.astype(np.float64) * ber).astype(np.int64)
    n = int(counts.sum())
    fold = np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)
    width = (g.n_hi - g.n_lo)[fold]
    element = rng.integers(0, (g.m_hi - g.m_lo)[fold] * width) if n else np.zeros(0, np.int64)
    bit = rng.integers(0, acc_bits, size=n)
    offset = rng.integers(0, g.drain_cycles, size=n)
    upset, bits = widen(rng, mbu_fraction, mbu_max_bits, bit, np.zeros(n, np.int64), np.full(n, acc_bits))
    f = fold[upset]
    return DrainFlips(upset, f, g.m_lo[f] + element[upset] // width[upset], g.n_lo[f] + element[upset] % width[upset],
                      bits, g.latency[f] + offset[upset])  # fmt: skip


def output_sites(spec_sites: tuple) -> tuple[bool, bool]:
    """Whether a spec's sites select (sram_c, drain)."""
    return Site.SRAM_C in spec_sites, Site.DRAIN in spec_sites
