"""What upsets on the output path (faults.output_faults: C scratchpad words, drain registers) do to a run's
outputs, as fault-ledger rows.

Exact effect: an upset flips bit b of an accumulator word w (int32 two's complement, or an fp32 word) and
changes it by (w XOR 2^b) - w. A drain word holds the fold's own product of its output (the sum over the
fold's K range) plus earlier drain flips of the same word; a C word written by fold j holds the clean partial
sum over k < (fold j's K end) plus every error already in that element's C word: drain flips of the folds that
drained into it and earlier C flips (processed in time order per element, a drain at its fold's end before a C
upset of the same cycle). Errors of PE faults in the same word are not included in w (an upset of a word a PE
fault already corrupted is vanishingly rare at realistic rates). The change then rides along: later K chunks
add their products to the corrupted partial sum (integer addition commutes with the error, exact modulo 2^32 as
the write-back's int32 wrap); floating point is first-order (later rounding is not re-run).

Checks: both happen after the fold's check, which compares the fold's own product (drained) with checksums of
its own A / B blocks (mapping.region: a later K chunk accumulates into C after its own check). A C upset of a
stored output or a drain flip is past every check; a C upset of a partial sum is read by the next K chunk, but
that chunk's check covers only its own product, not the partial sum it adds to, so it is silent as well.
Silent to ABFT and to DMR (its copies are compared where the check taps them, before the drain, and only the
kept copy is drained and stored): only a checksum over the stored output block (an output checksum kept in C
and re-verified at write-back) would see them; not modelled.

ECC (memory.sram.c.ecc: secded): a pattern the decoder corrects leaves no error (fate `corrected`); a detected
one is a DUE: C has no other copy of an output or a partial sum, so the error is signalled but cannot be
repaired (counted `detected`, fate `unrecoverable`, its error kept as a dead element so that it is not counted
as a silently corrupted output); miscorrected and undetected patterns corrupt as above.

Ledger rows: site sram_c / drain, attempt 0, the fold that wrote the word (C) or drained it, row / col = the
GEMM output element (-1 for an ECC check bit), cycle relative to that fold's start, bit = the word's bit (the
codeword position under ECC), mode FLIP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from simulator.config.enums import Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.ecc import SecDed
from simulator.faults.explicit_output import given_output, places_output, with_explicit_c, with_explicit_drain
from simulator.faults.output_faults import (
    CWords,
    DrainFlips,
    c_words,
    drain_geometry,
    output_sites,
    sample_c_words,
    sample_drain,
)
from simulator.faults.sram_faults import ECC_CORRECTED, ECC_DETECTED, WRONG, SramFaults, fold_ranges, fold_times
from simulator.kernels.codes import DRAIN, FLIP, SRAM_C
from simulator.mapping.schedule import GemmSchedule
from simulator.verify.fates import UNRECOVERABLE, Fates
from simulator.verify.ledger import FAULT_COLUMNS, LedgerTable
from simulator.verify.operand_cache import OperandCache
from simulator.verify.sram_effects import SramRows, UpsetRows

Event = tuple[int, int, int, int, int, int, bool]  # time, kind (0 drain, 1 C), row index, i, j, bit, applied


def flip_word(value: float, bit: int, integer: bool) -> float:
    """An accumulator word with bit `bit` flipped: int32 two's complement, or an fp32 word."""
    if integer:
        u = (int(value) & 0xFFFFFFFF) ^ (1 << bit)
        return float(u - (1 << 32) if u >= 1 << 31 else u)
    w = np.array([value], np.float32).view(np.uint32) ^ np.uint32(1 << bit)
    return float(w.view(np.float32)[0])


def _wrap32(x: float) -> float:
    return float(((int(x) + 2**31) % 2**32) - 2**31)


def instance_rows(
    gemm: int, instance: int, c: tuple[SramFaults, CWords] | None, drain: DrainFlips | None,
    a: np.ndarray, b: np.ndarray, fold_k: tuple[np.ndarray, np.ndarray], fold_start: np.ndarray,
    fold_end: np.ndarray, datatype: Datatype,
) -> SramRows:  # fmt: skip
    """One GEMM instance's output-path upsets as ledger rows (C rows first, then drain rows; module doc).
    `fold_k`: each fold's [k_lo, k_hi); `fold_start` / `fold_end`: each fold's cycles (sram_faults.fold_times)."""
    integer = datatype.is_integer
    k_lo, k_hi = fold_k
    n_c = len(c[0]) if c is not None else 0
    n_d = len(drain) if drain is not None else 0
    events: list[Event] = []
    if c is not None:
        fc, words = c
        for idx in np.flatnonzero((fc.verdict != WRONG) & (fc.data_bit >= 0)).tolist():  # what ECC removed
            at = (int(fc.row[idx]), int(fc.col[idx]), int(fc.data_bit[idx]))
            events.append((int(fc.cycle[idx]), 1, idx, *at, False))
        for e in range(fc.err_row.shape[0]):
            owner = int(fc.err_owner[e])
            at = (int(fc.err_row[e]), int(fc.err_col[e]), int(fc.err_bit[e]))
            events.append((int(fc.cycle[owner]), 1, owner, *at, True))
    if drain is not None:
        for r in range(n_d):
            f = int(drain.fold[r])
            events.append((int(fold_end[f]), 0, n_c + r, int(drain.row[r]), int(drain.col[r]), int(drain.bit[r]), True))
    events.sort(key=lambda ev: ev[:3])
    c_err: dict[tuple[int, int], float] = {}
    d_err: dict[tuple[int, int, int], float] = {}
    owners, grows, gcols, deltas, alives = [], [], [], [], []
    for _, kind, row, i, j, bit, applied in events:
        if kind == 0:
            assert drain is not None
            f = int(drain.fold[row - n_c])
            lo, hi, key3 = int(k_lo[f]), int(k_hi[f]), (f, i, j)
            held = d_err.get(key3, 0.0)
        else:
            assert c is not None
            lo, hi = 0, int(c[1].k_hi[int(c[0].copy[row])])
            held = c_err.get((i, j), 0.0)
        clean = float(np.dot(a[i, lo:hi].astype(np.float64), b[lo:hi, j].astype(np.float64)))
        word = _wrap32(clean + held) if integer else float(np.float32(np.float32(clean) + held))
        with np.errstate(invalid="ignore", over="ignore"):
            delta = flip_word(word, bit, integer) - word
        if applied:
            if kind == 0:
                d_err[key3] = held + delta
            c_err[(i, j)] = c_err.get((i, j), 0.0) + delta
        if delta != 0:
            owners.append(row)
            grows.append(i)
            gcols.append(j)
            deltas.append(delta)
            alives.append(applied)
    n = n_c + n_d
    fold = np.zeros(n, np.int64)
    cols = {name: np.zeros(n, np.int64) for name in FAULT_COLUMNS}
    detected, corrected = np.zeros(n, bool), np.zeros(n, bool)
    if c is not None:
        fc, words = c
        fold[:n_c] = words.writer[fc.copy]
        cols["row"][:n_c], cols["col"][:n_c], cols["bit"][:n_c] = fc.row, fc.col, fc.bit
        cols["cycle"][:n_c] = fc.cycle - fold_start[fold[:n_c]]
        cols["site"][:n_c] = SRAM_C
        detected[:n_c], corrected[:n_c] = fc.verdict == ECC_DETECTED, fc.verdict == ECC_CORRECTED
    if drain is not None:
        fold[n_c:] = drain.fold
        cols["row"][n_c:], cols["col"][n_c:], cols["bit"][n_c:] = drain.row, drain.col, drain.bit
        cols["cycle"][n_c:] = drain.cycle
        cols["site"][n_c:] = DRAIN
    cols["ordinal"] = np.arange(n, dtype=np.int64)
    cols["mode"][:] = FLIP
    dtype = np.int64 if integer else np.float64
    return SramRows(gemm, instance, fold, cols, detected, corrected, np.array(owners, np.int64),
                    np.array(grows, np.int64), np.array(gcols, np.int64), np.array(deltas, np.float64).astype(dtype),
                    np.array(alives, bool))  # fmt: skip


class OutputPathInjector(UpsetRows):
    """The C scratchpad and drain-register upsets of a run, drawn and resolved once, policy-independent (they
    never flag a fold: module doc). Empty unless the spec selects sram_c or drain or an explicit fault places one
    (faults.explicit_output: appended to the draw)."""

    memo_name = "output_path_rows"

    def __init__(
        self, hw: HwConfig, schedules: Sequence[GemmSchedule], spec: FaultSpec, operands: OperandCache
    ) -> None:
        self.hw, self.schedules, self.spec, self.operands = hw, schedules, spec, operands
        on = spec.kind is FaultKind.TRANSIENT and spec.ber > 0
        self.random_c, self.random_drain = (on and s for s in output_sites(spec.sites))
        given_c, given_drain = places_output(spec)  # explicit faults (faults.explicit_output)
        self.sram_c, self.drain = self.random_c or given_c, self.random_drain or given_drain
        self._rows: list[SramRows] | None = None

    def __bool__(self) -> bool:
        return self.sram_c or self.drain

    def with_unrecoverable(self, table: LedgerTable, fates: Fates) -> Fates:
        """`fates` with every C upset the ECC decoder detected as `unrecoverable` (a DUE: module doc)."""
        due = (table.faults["site"] == SRAM_C) & table.detected
        if not due.any():
            return fates
        fate = fates.fate.copy()
        fate[due] = UNRECOVERABLE
        return replace(fates, fate=fate)

    def _draw(self) -> list[SramRows]:
        datatype = self.hw.array.datatype
        cfg = self.hw.memory.sram.c
        ecc = SecDed.of_words(cfg.secded_data_bits)
        spec = self.spec
        out = []
        for g, s in enumerate(self.schedules):
            if not spec.selects(s.gemm):
                continue
            folds = self.operands.folds(g)
            words = c_words(s, folds, self.hw.dram_bytes_per_cycle) if self.sram_c else None
            drains = drain_geometry(s, folds, datatype) if self.drain else None
            start, end = fold_times(s, folds)
            fold_k = fold_ranges(s, folds)["k"]
            for inst in range(s.gemm.count):
                c = None
                if words is not None:
                    fc = sample_c_words(spec.seed, spec.ber, words, datatype, ecc, spec.mbu_fraction,
                                        spec.mbu_max_bits, g, inst) if self.random_c else None  # fmt: skip
                    fc = with_explicit_c(fc, given_output(spec, Site.SRAM_C, s.gemm.name, inst), words, start,
                                         datatype, ecc)  # fmt: skip
                    c = (fc, words) if fc is not None and len(fc) else None
                d = None
                if drains is not None:
                    d = sample_drain(spec.seed, spec.ber, drains, datatype.acc_bits, spec.mbu_fraction,
                                     spec.mbu_max_bits, g, inst) if self.random_drain else None  # fmt: skip
                    d = with_explicit_drain(d, given_output(spec, Site.DRAIN, s.gemm.name, inst), drains)
                    d = d if d is not None and len(d) else None
                if c is None and d is None:
                    continue
                ops = self.operands.operands(g, inst)
                out.append(instance_rows(g, inst, c, d, ops.a, ops.b, fold_k, start, end, datatype))
        return out
