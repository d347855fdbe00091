"""Soft errors in the A and B scratchpads while an operand block is resident (sites sram_a, sram_b).

Residency (from the schedule, mapping.schedule.fold_transfers): the folds of a GEMM instance run in fold-table
order, fold j from cycle s_j (the sum of the earlier folds' issue intervals) to e_j = s_j + its latency. A fold
whose A (B) transfer loads bytes from DRAM brings a fresh copy of its A (B) block into SRAM; a fold that loads
nothing reads the copy of the same block loaded last. A copy lives from the start of its loading fold to the
end of the last fold that reads it: a fresh load of the block ends it (a later upset hits the new copy).

Rate convention: a stored bit flips with probability `ber` per cycle of residency (the PE registers' `ber` is
per bit per MAC; the array does one MAC per PE per cycle, so the two are the same per-bit-per-cycle rate). A
copy's upsets are Poisson(stored bits x life cycles x ber); stored bits are the block's operand bits, or with
`ecc: secded` its ECC words' stored bits (faults.ecc: data + check + parity, 72 per 64 data bits).

Reads: a fold is taken to read a word of its block at the end of its run (fold-granular time): an upset at
cycle t reaches every reader fold of its copy with e_j > t (an upset during a fold counts for that fold, the
pessimistic choice); the DMA's prefetch window before the loading fold starts is not counted.

Placement: without ECC an upset hits a uniform element of the copy's block and a uniform bit of that element;
with SEC-DED a uniform codeword position of a uniform ECC word (words pack the block's elements row-major,
ecc_data_bits / operand bits per word). With probability `mbu_fraction` an upset is widened (faults.mbu) to
2..mbu_max_bits adjacent bits of the element (no ECC) or of the codeword (SEC-DED). The ECC decoder's verdict
on the whole pattern is faults.ecc.SecDed.classify: corrected, detected (A / B are refetched from DRAM: the
error never reaches a fold; the refetch is not priced), miscorrected or undetected (the data bits left wrong,
the decoder's own extra flip included, corrupt their elements).

Keying: SeedSequence([seed, 8, gemm_index, instance]), one Generator per GEMM instance, in this order per
operand (a, then b, each only when its site is selected): the Poisson counts per copy, the cycle, the
element / word, the bit / position, then (mbu_fraction > 0) the widths. Other streams are untouched, so a
run without the SRAM sites draws exactly what it drew before they existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype, Site
from simulator.faults.ecc import CORRECTED, DETECTED, SecDed
from simulator.faults.mbu import widen
from simulator.mapping.fold_table import FoldTable
from simulator.mapping.schedule import GemmSchedule, fold_transfers

STREAM_SRAM = 8
OPERANDS = ("a", "b")
# per operand: the GEMM dimensions of its (rows, cols)
OPERAND_DIMS = {"a": ("m", "k"), "b": ("k", "n")}
# the fate of an upset's bits as the ECC decoder leaves them (no ECC: always WRONG)
WRONG, ECC_CORRECTED, ECC_DETECTED = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SramCopies:
    """The resident copies of one operand of a GEMM instance: per copy its block (rows r0..r1, cols c0..c1 of
    the operand matrix), its life [start, end) in instance cycles, and its reader folds (CSR: readers of copy
    c are reader_fold[reader_ptr[c]:reader_ptr[c+1]], each with its end cycle reader_end)."""

    r0: np.ndarray
    r1: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    start: np.ndarray
    end: np.ndarray
    reader_ptr: np.ndarray
    reader_fold: np.ndarray
    reader_end: np.ndarray

    @property
    def elements(self) -> np.ndarray:
        return (self.r1 - self.r0) * (self.c1 - self.c0)

    def readers(self, copy: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = int(self.reader_ptr[copy]), int(self.reader_ptr[copy + 1])
        return self.reader_fold[lo:hi], self.reader_end[lo:hi]


def fold_ranges(schedule: GemmSchedule, folds: FoldTable) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per GEMM dimension m / k / n, each fold's [lo, hi) range (geometry.dims: array rows, cols, time)."""
    t = folds.table
    spans = ((t[:, 0], t[:, 0] + t[:, 2]), (t[:, 1], t[:, 1] + t[:, 3]), (t[:, 4], t[:, 4] + t[:, 5]))
    return dict(zip(schedule.geometry.dims, spans, strict=True))


def fold_times(schedule: GemmSchedule, folds: FoldTable) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) cycle of every fold of one instance, folds issued back to back in table order."""
    cyc = [schedule.cycles_of(folds.fold(j)) for j in range(len(folds))]
    latency = np.array([c[0] for c in cyc], np.int64)
    interval = np.array([c[1] for c in cyc], np.int64)
    start = np.cumsum(interval) - interval
    return start, start + latency


def sram_copies(schedule: GemmSchedule, folds: FoldTable, operand: str) -> SramCopies:
    """The resident copies of operand `operand` ('a' or 'b') of one instance (see the module doc)."""
    ranges = fold_ranges(schedule, folds)
    (rlo, rhi), (clo, chi) = (ranges[d] for d in OPERAND_DIMS[operand])
    start, end = fold_times(schedule, folds)
    current: dict[tuple[int, int, int, int], int] = {}
    blocks: list[tuple[int, int, int, int]] = []
    readers: list[list[int]] = []
    for j in range(len(folds)):
        t = fold_transfers(schedule, folds.fold(j))
        loads = (t.a_dram_load_bytes if operand == "a" else t.b_dram_load_bytes) > 0
        key = (int(rlo[j]), int(rhi[j]), int(clo[j]), int(chi[j]))
        if loads or key not in current:
            current[key] = len(blocks)
            blocks.append(key)
            readers.append([])
        readers[current[key]].append(j)
    arr = np.array(blocks, np.int64).reshape(-1, 4)
    ptr = np.r_[0, np.cumsum([len(r) for r in readers])].astype(np.int64)
    flat = np.array([j for r in readers for j in r], np.int64)
    first, last = flat[ptr[:-1]], flat[ptr[1:] - 1]
    return SramCopies(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], start[first], end[last], ptr, flat, end[flat])


def stored_bits(copies: SramCopies, datatype: Datatype, ecc: SecDed | None, word_bits: int | None = None) -> np.ndarray:
    """Stored bits of each copy: its elements' bits (`word_bits` each, default the operand's), or its ECC words'."""
    data = copies.elements * (word_bits or datatype.operand_bits)
    if ecc is None:
        return data
    return -(-data // ecc.data_bits) * ecc.word_bits


@dataclass(frozen=True, slots=True)
class SramFaults:
    """The SRAM upsets of one operand of a GEMM instance, one row per flipped bit (as faults.mbu counts them):
    `upset` (index of its strike), `copy`, `cycle`, `row` / `col` (the operand element whose stored bit flipped;
    -1 for an ECC check bit), `bit` (bit of that element, or the codeword position under ECC), `data_bit` (the
    element's bit, -1 for a check bit), `verdict`
    (WRONG / ECC_CORRECTED / ECC_DETECTED for the strike's whole pattern), and the data change as read:
    `err_row`, `err_col`, `err_bit`, `err_owner` (the flipped-bit row it is charged to) per operand bit left
    wrong (the decoder's miscorrection flip is charged to the strike's first row)."""

    operand: str
    upset: np.ndarray
    copy: np.ndarray
    cycle: np.ndarray
    row: np.ndarray
    col: np.ndarray
    bit: np.ndarray
    data_bit: np.ndarray
    verdict: np.ndarray
    err_row: np.ndarray
    err_col: np.ndarray
    err_bit: np.ndarray
    err_owner: np.ndarray

    def __len__(self) -> int:
        return int(self.upset.shape[0])


def _empty(operand: str) -> SramFaults:
    z = np.zeros(0, np.int64)
    return SramFaults(operand, z, z, z, z, z, z, z, z, z, z, z, z)


def sample_operand(
    rng: np.random.Generator,
    copies: SramCopies,
    operand: str,
    datatype: Datatype,
    ber: float,
    ecc: SecDed | None,
    mbu_fraction: float,
    mbu_max_bits: int,
    word_bits: int | None = None,
) -> SramFaults:
    """One operand's upsets over its copies (draw order: module doc); `word_bits`: bits per stored element
    (default the datatype's operand bits; the C scratchpad stores accumulator words, faults.output_faults)."""
    ob = word_bits or datatype.operand_bits
    if ecc is not None and ecc.data_bits % ob:
        what = f"{datatype} operands" if word_bits is None else f"{ob}-bit words"
        raise ValueError(f"SRAM ECC words of {ecc.data_bits} data bits do not hold whole {what}")
    bits = stored_bits(copies, datatype, ecc, ob)
    counts = rng.poisson(bits.astype(np.float64) * (copies.end - copies.start) * ber).astype(np.int64)
    n = int(counts.sum())
    if n == 0:
        return _empty(operand)
    copy = np.repeat(np.arange(counts.shape[0], dtype=np.int64), counts)
    cycle = copies.start[copy] + rng.integers(0, copies.end[copy] - copies.start[copy])
    width = copies.c1[copy] - copies.c0[copy]
    if ecc is None:
        element = rng.integers(0, copies.elements[copy])
        bit = rng.integers(0, ob, size=n)
        upset, bits_hit = widen(rng, mbu_fraction, mbu_max_bits, bit, np.zeros(n, np.int64), np.full(n, ob))
        el = element[upset]
        row, col = copies.r0[copy][upset] + el // width[upset], copies.c0[copy][upset] + el % width[upset]
        rows = (upset, copy[upset], cycle[upset], row, col, bits_hit, bits_hit, np.full(upset.shape, WRONG, np.int64))
        return SramFaults(operand, *rows, row, col, bits_hit, np.arange(upset.shape[0], dtype=np.int64))
    words = -(-copies.elements[copy] * ob // ecc.data_bits)
    word = rng.integers(0, words)
    pos = rng.integers(0, ecc.word_bits, size=n)
    upset, pos_hit = widen(rng, mbu_fraction, mbu_max_bits, pos, np.zeros(n, np.int64), np.full(n, ecc.word_bits))
    data_pos = ecc._data_positions()
    index_of = np.full(ecc.word_bits, -1, np.int64)
    index_of[data_pos] = np.arange(data_pos.shape[0])
    per_word = ecc.data_bits // ob
    verdict = np.zeros(upset.shape[0], np.int64)
    errs: list[tuple[int, int, int, int]] = []
    bounds = np.r_[0, np.cumsum(np.bincount(upset, minlength=n))]
    for u in range(n):
        lo, hi = int(bounds[u]), int(bounds[u + 1])
        flipped = {int(p) for p in pos_hit[lo:hi]}
        outcome = ecc.classify(np.array(sorted(flipped), np.int64))
        if outcome == CORRECTED:
            verdict[lo:hi] = ECC_CORRECTED
            continue
        if outcome == DETECTED:
            verdict[lo:hi] = ECC_DETECTED
            continue
        wrong = set(flipped)
        if len(flipped) % 2:  # miscorrected: the decoder flipped position s as well
            s = 0
            for p in flipped:
                s ^= p if p else 0
            wrong ^= {s}
        c = int(copy[u])
        for p in sorted(wrong):
            d = int(index_of[p])
            if d < 0:
                continue
            element = int(word[u]) * per_word + d // ob
            if element >= int(copies.elements[c]):
                continue  # padding of the block's last word
            owner = lo + int(np.argmin(np.abs(pos_hit[lo:hi] - p)))
            w = int(width[u])
            errs.append((int(copies.r0[c]) + element // w, int(copies.c0[c]) + element % w, d % ob, owner))
    d_at = index_of[pos_hit]
    element = word[upset] * per_word + np.maximum(d_at, 0) // ob
    valid = (d_at >= 0) & (element < copies.elements[copy][upset])
    row = np.where(valid, copies.r0[copy][upset] + element // width[upset], -1)
    col = np.where(valid, copies.c0[copy][upset] + element % width[upset], -1)
    e = np.array(errs, np.int64).reshape(-1, 4)
    data_bit = np.where(valid, d_at % ob, -1)
    return SramFaults(operand, upset, copy[upset], cycle[upset], row, col, pos_hit, data_bit, verdict,
                      e[:, 0], e[:, 1], e[:, 2], e[:, 3])  # fmt: skip


def flip_bits(values: np.ndarray, bits: np.ndarray, datatype: Datatype) -> np.ndarray:
    """Operand values with bit `bits` of their stored word flipped (float64 result; int8 two's complement,
    fp16 / fp32 IEEE words, bf16 the top half of an fp32 word)."""
    bits = np.asarray(bits, np.int64)
    if datatype is Datatype.INT8:
        word = np.asarray(values).astype(np.int64) & 0xFF
        flipped = word ^ (np.int64(1) << bits)
        return np.where(flipped >= 128, flipped - 256, flipped).astype(np.float64)
    if datatype is Datatype.FP16:
        w16 = np.asarray(values, np.float64).astype(np.float16).view(np.uint16)
        return (w16 ^ (np.uint16(1) << bits.astype(np.uint16))).view(np.float16).astype(np.float64)
    shift = bits + (16 if datatype is Datatype.BF16 else 0)
    w32 = np.asarray(values, np.float64).astype(np.float32).view(np.uint32)
    with np.errstate(invalid="ignore", over="ignore"):
        return (w32 ^ (np.uint32(1) << shift.astype(np.uint32))).view(np.float32).astype(np.float64)


def check_ecc_words(spec_sites: tuple, ecc_data_bits: dict[str, int | None], datatype: Datatype) -> None:
    """ValueError unless each selected scratchpad site's SEC-DED words (`ecc_data_bits[op]`, None: no ECC) hold
    whole stored words: operands for A / B, accumulator words for C (sram_c)."""
    for op, site in (("a", Site.SRAM_A), ("b", Site.SRAM_B), ("c", Site.SRAM_C)):
        bits = ecc_data_bits.get(op)
        word = datatype.acc_bits if op == "c" else datatype.operand_bits
        what = f"{word}-bit accumulator words" if op == "c" else f"{datatype} operands"
        if site in spec_sites and bits is not None and bits % word:
            raise ValueError(
                f"memory.sram.{op}.ecc_data_bits: {bits} data bits do not hold whole {what} (site {site}); "
                f"use a multiple of {word}"
            )


def sram_sites(spec_sites: tuple) -> list[str]:
    """The operands ('a', 'b') whose SRAM site a spec's sites select, canonical order."""
    return [op for op, site in (("a", Site.SRAM_A), ("b", Site.SRAM_B)) if site in spec_sites]


def sample_sram_faults(
    spec_seed: int,
    ber: float,
    operands: list[str],
    copies: dict[str, SramCopies],
    datatype: Datatype,
    ecc: dict[str, SecDed | None],
    mbu_fraction: float,
    mbu_max_bits: int,
    gemm_index: int,
    instance: int,
) -> dict[str, SramFaults]:
    """The SRAM upsets of one GEMM instance per selected operand (keying: module doc)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec_seed, STREAM_SRAM, gemm_index, instance])))
    return {
        op: sample_operand(rng, copies[op], op, datatype, ber, ecc[op], mbu_fraction, mbu_max_bits) for op in operands
    }
