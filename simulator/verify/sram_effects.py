"""What the A / B scratchpad upsets (faults.sram_faults) do to a run's outputs, as fault-ledger rows.

Exact effect: a flip of a stored bit of A[i, k] at cycle t changes the value every later reader fold of its
copy reads to a' (faults.sram_faults: the reader folds with end > t); each such fold adds (a' - a) B[k, n] to
its output C[i, n] for every n of its N range (a B[k, n] flip: A[m, k] (b' - b) to C[m, n] over its M range;
WS / IS folds' partial sums add up in C); a fold that reads a changed A[i, k] and a changed B[k, n] adds the
product of the two changes too (charged to the A upset), and a bit flipped again in the same copy flips back
(every second flip of it in time carries the opposite change). For int8 that is the exact integer change of
the int32 accumulator (a test recomputes every fold from the words it read); for floating point the
first-order change (the fp32 accumulation's rounding is not re-run). The usual write-back judgement
(verify.fates) then decides escaped or masked-at-output.

Checks: ABFT encodes its checksums from the operands as read from SRAM, so the corrupted operand feeds the
data and the checksums alike and the check passes: silent (an input checksum over the DRAM copy would catch it;
not modelled). DMR's two copies read the same SRAM word, so they agree too. Hence an SRAM upset never flags a
fold, and a recomputation (for another fault) reads the same corrupted word: its error stays.

ECC (memory.sram.<a|b>.ecc: secded): a pattern the decoder corrects leaves no error (fate `corrected`); a
detected one makes the block be refetched from DRAM (counted `detected`, fate `recomputed`; each detected
strike refetches its copy's whole block: `SramRows.refetch_blocks`, priced by metrics.ecc_refetch); both
keep the error the flip would have made as a dead element (so the fate
says what ECC removed; a flip of a check bit alone changes nothing and is `masked`). Miscorrected and
undetected patterns corrupt as above. Each upset is judged alone: two upsets of one ECC word at different
times within a copy's life (a double error for the decoder, without scrubbing) are not combined; at any
realistic rate that pair is vanishingly rare.

Ledger rows: site sram_a / sram_b, attempt 0, the fold = the first reader it reaches, row / col = the operand
element (-1 for an ECC check bit), cycle = the strike's cycle relative to that fold's start (negative: before
it started), bit = the element's bit (the codeword position under ECC), mode FLIP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Datatype, FaultKind
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.ecc import SecDed
from simulator.faults.explicit_sites import explicit_sram_operands, with_explicit_sram
from simulator.faults.sram_faults import (
    ECC_CORRECTED,
    ECC_DETECTED,
    SramCopies,
    SramFaults,
    flip_bits,
    fold_ranges,
    fold_times,
    sample_sram_faults,
    sram_copies,
    sram_sites,
)
from simulator.kernels.codes import FLIP, SRAM_A, SRAM_B
from simulator.mapping.schedule import GemmSchedule
from simulator.verify.ledger import FAULT_COLUMNS, LedgerTable, NewElements, with_added_faults
from simulator.verify.operand_cache import OperandCache

_SITE = {"a": SRAM_A, "b": SRAM_B}
Chunk = tuple[int, np.ndarray, np.ndarray, np.ndarray, bool]  # owner, output rows, output cols, deltas, alive
Read = tuple[int, int, int, float, np.ndarray]  # owner, operand row, col, value change, folds that read it


@dataclass(frozen=True, slots=True)
class SramRows:
    """One GEMM instance's SRAM faults as ledger rows: per fault (FAULT_COLUMNS, fold, detected, corrected) and
    per corrupted output element (owner: index among these rows, grows, gcols, delta, alive)."""

    gemm: int
    instance: int
    fold: np.ndarray
    faults: dict[str, np.ndarray]
    detected: np.ndarray
    corrected: np.ndarray
    owner: np.ndarray
    grows: np.ndarray
    gcols: np.ndarray
    delta: np.ndarray
    alive: np.ndarray
    refetch_blocks: tuple[tuple[str, int], ...] = ()  # per ECC-detected strike: (operand, bytes of its block)

    def __len__(self) -> int:
        return int(self.fold.shape[0])


def detected_refetches(faults: SramFaults, copies: SramCopies, operand_bytes: int) -> list[tuple[str, int]]:
    """(operand, block bytes) per strike the ECC decoder detected: its copy's block is refetched from DRAM."""
    _, first = np.unique(faults.upset, return_index=True)
    hit = faults.verdict[first] == ECC_DETECTED
    return [(faults.operand, int(copies.elements[int(faults.copy[i])]) * operand_bytes) for i in first[hit].tolist()]


def operand_rows(
    faults: SramFaults,
    copies: SramCopies,
    a: np.ndarray,
    b: np.ndarray,
    fold_start: np.ndarray,
    out_ranges: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    datatype: Datatype,
) -> tuple[np.ndarray, dict[str, np.ndarray], list[Chunk], list[Read]]:
    """(fold of each fault row, its FAULT_COLUMNS, its elements as (owner, grows, gcols, delta, alive) chunks,
    the live operand errors as (owner, row, col, value change, reader folds that read it)).
    `out_ranges`: each fold's ([m_lo, m_hi), [n_lo, n_hi)) ranges."""
    (m_lo, m_hi), (n_lo, n_hi) = out_ranges
    integer = datatype.is_integer
    mat = a if faults.operand == "a" else b
    n = len(faults)
    fold = np.zeros(n, np.int64)
    for i in range(n):
        readers, ends = copies.readers(int(faults.copy[i]))
        fold[i] = readers[int(np.argmax(ends > faults.cycle[i]))]
    chunks: list[Chunk] = []
    read: list[Read] = []

    def spread(owner: int, r: int, c: int, bit: int, alive: bool, sign: float = 1.0) -> None:
        old = float(mat[r, c])
        d = sign * (float(flip_bits(np.array([mat[r, c]]), np.array([bit]), datatype)[0]) - old)
        if d == 0:
            return
        readers, ends = copies.readers(int(faults.copy[owner]))
        hit = readers[ends > faults.cycle[owner]]
        if alive:
            read.append((owner, r, c, d, hit))
        for j in hit:
            if faults.operand == "a":  # A[r=i, c=k]: outputs C[i, n] of fold j
                cols = np.arange(n_lo[j], n_hi[j])
                rows = np.full(cols.shape, r)
                other = b[c, n_lo[j] : n_hi[j]]
            else:  # B[r=k, c=n]: outputs C[m, n] of fold j
                rows = np.arange(m_lo[j], m_hi[j])
                cols = np.full(rows.shape, c)
                other = a[m_lo[j] : m_hi[j], r]
            delta = int(d) * other.astype(np.int64) if integer else d * other.astype(np.float64)
            chunks.append((owner, rows.astype(np.int64), cols.astype(np.int64), delta, alive))

    wrong = faults.verdict == 0
    for idx in np.flatnonzero(~wrong & (faults.data_bit >= 0)).tolist():  # what ECC removed
        spread(idx, int(faults.row[idx]), int(faults.col[idx]), int(faults.data_bit[idx]), False)
    # a bit flipped again in the same copy flips back: every second flip of it (in time) undoes the first
    order = np.argsort(faults.cycle[faults.err_owner], kind="stable").tolist()
    flips: dict[tuple[int, int, int, int], int] = {}
    for e in order:
        r, c, bit, owner = (int(x[e]) for x in (faults.err_row, faults.err_col, faults.err_bit, faults.err_owner))
        key = (int(faults.copy[owner]), r, c, bit)
        flips[key] = flips.get(key, 0) + 1
        spread(owner, r, c, bit, True, -1.0 if flips[key] % 2 == 0 else 1.0)
    cycle = faults.cycle - fold_start[fold]
    columns = {
        "attempt": np.zeros(n, np.int64), "ordinal": np.arange(n, dtype=np.int64), "row": faults.row,
        "col": faults.col, "cycle": cycle, "site": np.full(n, _SITE[faults.operand], np.int64), "bit": faults.bit,
        "mode": np.full(n, FLIP, np.int64),
    }  # fmt: skip
    return fold, columns, chunks, read


def instance_rows(
    gemm: int,
    instance: int,
    drawn: dict[str, tuple[SramFaults, SramCopies]],
    a: np.ndarray,
    b: np.ndarray,
    fold_start: np.ndarray,
    out_ranges: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    datatype: Datatype,
) -> SramRows:
    """All SRAM faults of one GEMM instance as ledger rows (operand a first, then b; ordinals continue)."""
    folds, cols, owners, grows, gcols, deltas, alives, det, cor = [], [], [], [], [], [], [], [], []
    base = 0
    dtype = np.int64 if datatype.is_integer else np.float64
    reads: dict[str, list[Read]] = {}
    refetch: list[tuple[str, int]] = []
    for op, (faults, copies) in drawn.items():
        refetch += detected_refetches(faults, copies, datatype.operand_bytes)
        fold, columns, chunks, read = operand_rows(faults, copies, a, b, fold_start, out_ranges, datatype)
        reads[op] = [(base + o, r, c, d, hit) for o, r, c, d, hit in read]
        columns["ordinal"] = columns["ordinal"] + base
        folds.append(fold)
        cols.append(columns)
        det.append(faults.verdict == ECC_DETECTED)
        cor.append(faults.verdict == ECC_CORRECTED)
        for owner, r, c, d, alive in chunks:
            owners.append(np.full(r.shape, base + owner, np.int64))
            grows.append(r)
            gcols.append(c)
            deltas.append(d.astype(dtype))
            alives.append(np.full(r.shape, alive, bool))
        base += len(faults)
    for owner, r, c, d, alive in cross_terms(reads.get("a", []), reads.get("b", []), datatype.is_integer):
        owners.append(np.full(r.shape, owner, np.int64))
        grows.append(r)
        gcols.append(c)
        deltas.append(d.astype(dtype))
        alives.append(np.full(r.shape, alive, bool))

    def cat(parts: list, dt: type) -> np.ndarray:
        return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)

    return SramRows(
        gemm, instance, cat(folds, np.int64), {c: cat([x[c] for x in cols], np.int64) for c in FAULT_COLUMNS},
        cat(det, bool), cat(cor, bool), cat(owners, np.int64), cat(grows, np.int64), cat(gcols, np.int64),
        cat(deltas, dtype), cat(alives, bool), tuple(refetch),
    )  # fmt: skip


def cross_terms(a_reads: list[Read], b_reads: list[Read], integer: bool) -> list[Chunk]:
    """A fold reading both a changed A[i, k] (by da) and a changed B[k, n] (by db) adds (a + da)(b + db) - a b
    to C[i, n]: the two first-order terms are the faults' own elements, the product da db is charged to the A
    fault (one element per fold reading both)."""
    out = []
    for oa, i, k, da, fa in a_reads:
        for _, k2, n, db, fb in b_reads:
            if k2 != k:
                continue
            both = np.intersect1d(fa, fb).shape[0]
            if both:
                d = np.full(both, int(da) * int(db) if integer else da * db)
                out.append((oa, np.full(both, i, np.int64), np.full(both, n, np.int64), d, True))
    return out


def merged(
    table: LedgerTable, parts: list[SramRows], final_of: dict[tuple[int, int, int], tuple[bool, bool]]
) -> LedgerTable:
    """The ledger table with the SRAM faults and their elements added, in (gemm, instance, fold) order with each
    fold's other faults first. `final_of[(g, i, f)]`: (accepted, gave up) of a fold the verifier checked."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return table
    n = sum(len(p) for p in parts)
    gemm = np.concatenate([np.full(len(p), p.gemm, np.int64) for p in parts])
    instance = np.concatenate([np.full(len(p), p.instance, np.int64) for p in parts])
    fold = np.concatenate([p.fold for p in parts])
    offsets = np.cumsum([0] + [len(p) for p in parts])
    elements = NewElements(
        owner=np.concatenate([p.owner + offsets[i] for i, p in enumerate(parts)]),
        grows=np.concatenate([p.grows for p in parts]), gcols=np.concatenate([p.gcols for p in parts]),
        delta=np.concatenate([p.delta for p in parts]), alive=np.concatenate([p.alive for p in parts]),
    )  # fmt: skip
    faults = {c: np.concatenate([p.faults[c] for p in parts]) for c in FAULT_COLUMNS}
    flags = {
        "detected": np.concatenate([p.detected for p in parts]),
        "corrected": np.concatenate([p.corrected for p in parts]),
        "false_alarm": np.zeros(n, bool), "hidden": np.zeros(n, bool),
    }  # fmt: skip
    return with_added_faults(table, (gemm, instance, fold), faults, flags, final_of, elements)


class UpsetRows:
    """Upsets that never flag a fold (SRAM words, the output path), drawn and resolved once per run and
    policy-independent, held as SramRows: what the verifier asks of them. A subclass says whether it has
    any (`__bool__`), names its memo entry (`memo_name`) and draws its rows (`_draw`)."""

    memo_name = ""
    operands: OperandCache
    spec: FaultSpec
    _rows: list[SramRows] | None

    def _draw(self) -> list[SramRows]:
        raise NotImplementedError

    def rows(self) -> list[SramRows]:
        if self._rows is None:
            self._rows = self.operands.memo((self.memo_name, self.spec), self._draw) if self else []
        return self._rows

    def live_errors(self, gemm_index: int, m: int, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(output codes (instance * m + row) * n + col, delta) of the errors these upsets leave in the
        outputs C[m,n] of a GEMM's instances (in `rows()` order)."""
        return [((r.instance * m + r.grows[r.alive]) * n + r.gcols[r.alive], r.delta[r.alive])
                for r in self.rows() if r.gemm == gemm_index]  # fmt: skip

    def merged(self, table: LedgerTable, final_of: dict[tuple[int, int, int], tuple[bool, bool]]) -> LedgerTable:
        """The ledger table with these upsets added (`final_of`: FaultLedger.finals())."""
        return merged(table, self.rows(), final_of) if self else table


class SramInjector(UpsetRows):
    """The A / B scratchpad upsets of a run (faults.sram_faults), drawn and resolved once, policy-independent
    (an SRAM upset never flags a fold: module doc). Empty unless the spec selects sram_a or sram_b."""

    memo_name = "sram_rows"

    def __init__(
        self, hw: HwConfig, schedules: Sequence[GemmSchedule], spec: FaultSpec, operands: OperandCache
    ) -> None:
        self.hw, self.schedules, self.spec, self.operands = hw, schedules, spec, operands
        self.sites = sram_sites(spec.sites) if spec.kind is FaultKind.TRANSIENT and spec.ber > 0 else []
        self.explicit = explicit_sram_operands(spec)  # operands that explicit faults place (faults.explicit_sites)
        self._rows: list[SramRows] | None = None

    def __bool__(self) -> bool:
        return bool(self.sites or self.explicit)

    def refetches(self, gemm_index: int) -> list[tuple[str, int]]:
        """(operand, block bytes) of every refetch a detected A / B error of one GEMM causes (instance order)."""
        return [blk for r in self.rows() if r.gemm == gemm_index for blk in r.refetch_blocks]

    def _draw(self) -> list[SramRows]:
        datatype = self.hw.array.datatype
        cfg = self.hw.memory.sram
        ecc = {op: SecDed.of_words(getattr(cfg, op).secded_data_bits) for op in ("a", "b")}
        out = []
        for g, s in enumerate(self.schedules):
            if not self.spec.selects(s.gemm):
                continue
            folds = self.operands.folds(g)
            placed: list[str] = [op for op in ("a", "b") if op in self.sites or op in self.explicit]
            copies = {op: sram_copies(s, folds, op) for op in placed}
            start, _ = fold_times(s, folds)
            ranges = fold_ranges(s, folds)
            for inst in range(s.gemm.count):
                drawn = sample_sram_faults(self.spec.seed, self.spec.ber, self.sites, copies, datatype, ecc,
                                           self.spec.mbu_fraction, self.spec.mbu_max_bits, g, inst)  # fmt: skip
                drawn = with_explicit_sram(drawn, self.spec, s.gemm.name, inst, copies, start, datatype, ecc)
                if not any(len(f) for f in drawn.values()):
                    continue
                ops = self.operands.operands(g, inst)
                pairs = {op: (drawn[op], copies[op]) for op in drawn}
                out.append(instance_rows(g, inst, pairs, ops.a, ops.b, start, (ranges["m"], ranges["n"]), datatype))
        return out
