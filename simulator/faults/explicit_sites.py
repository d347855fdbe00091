"""Explicit faults of the checksum hardware and of the A / B scratchpads (config.fault_spec.ExplicitFault).

Checked against the schedule (`check_explicit_sites`: a ValueError naming the field that cannot be), then turned
into one row each of the batches the random draws produce and appended to them (`with_explicit_checksum`:
faults.checksum_faults.ChecksumFaults; `with_explicit_sram`: faults.sram_faults.SramFaults), so an explicit
fault's effect is computed by the very code a random fault's is. Their ordinals come after the random ones of
their fold (checksum words) or of their instance and operand (SRAM upsets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from simulator.config.enums import Datatype, Site
from simulator.config.fault_spec import EXPLICIT_CHECKSUM_SITES, ExplicitFault, FaultSpec
from simulator.faults.checksum_faults import COL_WORD, ROW_WORD, CheckGeometry, ChecksumFaults, check_geometry
from simulator.faults.codes import SITE_CODE
from simulator.faults.ecc import CORRECTED, DETECTED, SecDed
from simulator.faults.sampling import ordinals_after
from simulator.faults.sram_faults import (
    ECC_CORRECTED,
    ECC_DETECTED,
    OPERAND_DIMS,
    WRONG,
    SramCopies,
    SramFaults,
    fold_times,
    sram_copies,
)
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.mapping.schedule import GemmSchedule

SRAM_OPERAND = {Site.SRAM_A: "a", Site.SRAM_B: "b"}  # the scratchpad sites an explicit fault can place


def _given(spec: FaultSpec, sites: Sequence[Site], gemm_name: str, instance: int) -> list[ExplicitFault]:
    return [f for f in spec.explicit if f.site in sites and f.gemm == gemm_name and f.instance == instance]


def has_explicit_checksum(spec: FaultSpec) -> bool:
    return any(f.site in EXPLICIT_CHECKSUM_SITES for f in spec.explicit)


def explicit_sram_operands(spec: FaultSpec) -> list[str]:
    """The operands ('a', 'b') some explicit fault places, canonical order."""
    placed = {SRAM_OPERAND[f.site] for f in spec.explicit if f.site in SRAM_OPERAND}
    return [op for op in ("a", "b") if op in placed]


def with_explicit_checksum(
    drawn: ChecksumFaults, spec: FaultSpec, gemm_name: str, attempt: int, geom: CheckGeometry | None = None
) -> ChecksumFaults:
    """`drawn` (one attempt of one GEMM instance) plus the spec's explicit checksum faults of that instance
    (first check only: attempt 0), fold order, each after the random faults of its fold. `geom` (the GEMM's
    check geometry) places a chk_enc fault's block: its row's (column's) check block."""
    given = _given(spec, EXPLICIT_CHECKSUM_SITES, gemm_name, drawn.instance) if attempt == 0 else []
    if not given:
        return drawn
    ordinals = ordinals_after(drawn.fold_index, [f.fold for f in given])
    extra = {
        "fold_index": [f.fold for f in given], "attempt": [0] * len(given), "ordinal": ordinals,
        "site": [SITE_CODE[f.site] for f in given],
        "axis": [ROW_WORD if f.row is not None else COL_WORD for f in given],
        "line": [f.row if f.row is not None else f.col for f in given],
        "block": [_block_of(f, geom) for f in given], "step": [f.step or 0 for f in given],
        "bit": [f.bit for f in given],
    }  # fmt: skip
    columns = {k: np.concatenate([getattr(drawn, k), np.asarray(v, np.int64)]) for k, v in extra.items()}
    order = np.argsort(columns["fold_index"], kind="stable")
    return ChecksumFaults(drawn.gemm_index, drawn.instance, **{k: v[order] for k, v in columns.items()})


def _block_of(f: ExplicitFault, geom: CheckGeometry | None) -> int:
    """The check block of an explicit checksum fault: given (`block`, default 0), or a chk_enc fault's row's
    block row (column's block column)."""
    if f.site is not Site.CHK_ENC:
        return f.block or 0
    if geom is None:
        raise ValueError("an explicit chk_enc fault needs the check geometry to place its block")
    assert f.fold is not None
    line, size = (f.row, geom.block_rows[f.fold]) if f.row is not None else (f.col, geom.block_cols[f.fold])
    assert line is not None
    return int(line // size)


def explicit_sram_faults(
    given: Sequence[ExplicitFault],
    operand: str,
    copies: SramCopies,
    fold_start: np.ndarray,
    datatype: Datatype,
    ecc: SecDed | None,
    word_bits: int | None = None,
) -> SramFaults:
    """One row per given upset of one operand (checked: check_explicit_sites), as faults.sram_faults draws
    them: the copy resident at the strike's cycle, the element and its bit (placed_upsets). `word_bits`: bits
    per stored element (default the operand's; C words are accumulator-wide, faults.explicit_output)."""
    upsets = []
    for f in given:
        assert f.row is not None and f.col is not None and f.cycle is not None
        cycle = f.cycle + (int(fold_start[f.fold]) if f.fold is not None else 0)
        copy = resident_copy(copies, f.row, f.col, cycle)
        assert copy is not None
        upsets.append((copy, cycle, f.row, f.col, f.bit))
    return placed_upsets(operand, copies, upsets, word_bits or datatype.operand_bits, ecc)


def placed_upsets(
    operand: str,
    copies: SramCopies,
    upsets: Sequence[tuple[int, int, int, int, int]],
    word_bits: int,
    ecc: SecDed | None,
) -> SramFaults:
    """One row per single-bit upset (copy, cycle, row, col, bit of the element's `word_bits`-bit word), as
    faults.sram_faults draws them (under SEC-DED the codeword position of that data bit, and the decoder's
    verdict on the single flip)."""
    ob = word_bits
    cols: dict[str, list[int]] = {k: [] for k in ("copy", "cycle", "row", "col", "bit", "data_bit", "verdict")}
    errs: list[tuple[int, int, int, int]] = []
    for u, (copy, cycle, row, col, data_bit) in enumerate(upsets):
        bit, verdict = data_bit, WRONG
        if ecc is not None:
            width = int(copies.c1[copy] - copies.c0[copy])
            element = (row - int(copies.r0[copy])) * width + (col - int(copies.c0[copy]))
            per_word = ecc.data_bits // ob
            bit = int(ecc._data_positions()[(element % per_word) * ob + data_bit])
            outcome = ecc.classify(np.array([bit], np.int64))
            verdict = ECC_CORRECTED if outcome == CORRECTED else ECC_DETECTED if outcome == DETECTED else WRONG
        for key, value in zip(cols, (copy, cycle, row, col, bit, data_bit, verdict), strict=True):
            cols[key].append(value)
        if verdict == WRONG:
            errs.append((row, col, data_bit, u))
    n = len(upsets)
    e = np.array(errs, np.int64).reshape(-1, 4)
    c = {k: np.asarray(v, np.int64).reshape(n) for k, v in cols.items()}
    return SramFaults(operand, np.arange(n, dtype=np.int64), c["copy"], c["cycle"], c["row"], c["col"], c["bit"],
                      c["data_bit"], c["verdict"], e[:, 0], e[:, 1], e[:, 2], e[:, 3])  # fmt: skip


def concat_sram(first: SramFaults, second: SramFaults) -> SramFaults:
    """The rows of `first` then `second` (one operand): `second`'s strikes and flipped-bit rows renumbered after
    `first`'s."""
    strikes = int(first.upset.max()) + 1 if len(first) else 0
    parts = {}
    for field in dataclasses.fields(SramFaults):
        name = field.name
        if name == "operand":
            continue
        tail = getattr(second, name)
        tail = tail + strikes if name == "upset" else tail + len(first) if name == "err_owner" else tail
        parts[name] = np.concatenate([getattr(first, name), tail]).astype(np.int64)
    return SramFaults(first.operand, **parts)


def with_explicit_sram(
    drawn: Mapping[str, SramFaults],
    spec: FaultSpec,
    gemm_name: str,
    instance: int,
    copies: Mapping[str, SramCopies],
    fold_start: np.ndarray,
    datatype: Datatype,
    ecc: Mapping[str, SecDed | None],
) -> dict[str, SramFaults]:
    """The drawn upsets of one GEMM instance per operand plus the spec's explicit ones (operands a then b)."""
    out = dict(drawn)
    for op in ("a", "b"):
        given = [f for f in _given(spec, tuple(SRAM_OPERAND), gemm_name, instance) if SRAM_OPERAND[f.site] == op]
        if not given:
            continue
        extra = explicit_sram_faults(given, op, copies[op], fold_start, datatype, ecc[op])
        out[op] = concat_sram(out[op], extra) if op in out else extra
    return {op: out[op] for op in ("a", "b") if op in out}


def resident_copy(copies: SramCopies, row: int, col: int, cycle: int) -> int | None:
    """The copy that holds operand element (row, col) at `cycle` of the instance, if one does."""
    hit = np.flatnonzero((copies.r0 <= row) & (row < copies.r1) & (copies.c0 <= col) & (col < copies.c1)
                         & (copies.start <= cycle) & (cycle < copies.end))  # fmt: skip
    return int(hit[-1]) if hit.size else None  # a fresh load at the same cycle replaces the older copy


def check_explicit_sites(
    spec: FaultSpec,
    schedules: Sequence[GemmSchedule],
    datatype: Datatype,
    blocks: Mapping[str, tuple[int, int]],
) -> None:
    """ValueError naming the first explicit checksum or A / B SRAM fault that cannot happen and its field: an unknown or
    unselected GEMM, an instance or fold outside it, a checksum word, block or step outside the fold's check, an
    element outside the operand or not resident at that cycle, a bit outside the word. `blocks`: each GEMM's
    check block shape by name (AbftConfig.block_for)."""
    for where, f, s, folds in placed_in_schedule(spec, schedules, datatype, (*EXPLICIT_CHECKSUM_SITES, *SRAM_OPERAND)):
        if f.site in SRAM_OPERAND:
            _check_sram(where, f, s, folds)
        else:
            geom = check_geometry(s.dataflow, folds, blocks.get(s.gemm.name, (0, 0)))
            _check_checksum_word(where, f, geom)


def placed_in_schedule(
    spec: FaultSpec, schedules: Sequence[GemmSchedule], datatype: Datatype, sites: Sequence[Site]
) -> Iterator[tuple[str, ExplicitFault, GemmSchedule, FoldTable]]:
    """(where, fault, its GEMM's schedule, folds) of each explicit fault of `sites`, after the checks every site
    shares (ValueError naming the field): the GEMM exists and is selected, the instance and the fold exist, the
    bit lies in the site's word. `where` names the fault for the site's own checks."""
    by_name = {s.gemm.name: s for s in schedules}
    for n, f in enumerate(spec.explicit):
        if f.site not in sites:
            continue
        where = f"explicit fault {n + 1} ({f.site})"
        s = by_name.get(f.gemm or "")
        if s is None:
            raise ValueError(f"{where}: gemm: no GEMM named {f.gemm!r} in the workload")
        if not spec.selects(s.gemm):
            raise ValueError(f"{where}: gemm: {f.gemm!r} is not selected by faults.gemms / faults.kinds")
        if f.instance >= s.gemm.count:
            raise ValueError(f"{where}: instance: {f.instance} of a GEMM run {s.gemm.count} time(s)")
        g = s.gemm
        folds = fold_table(s.dataflow, g.m, g.k, g.n, s.rows, s.cols, s.order)
        if f.fold is not None and f.fold >= len(folds):
            raise ValueError(f"{where}: fold: {f.fold} of {len(folds)} folds")
        width = f.site.word_bits(datatype)
        if f.bit >= width:
            raise ValueError(f"{where}: bit: {f.bit} outside its {width}-bit {datatype} word")
        yield where, f, s, folds


def _check_checksum_word(where: str, f: ExplicitFault, geom: CheckGeometry) -> None:
    assert f.fold is not None
    j = f.fold
    r, c, k = int(geom.rows[j]), int(geom.cols[j]), int(geom.k[j])
    br, bc, nbr, nbc = (int(x[j]) for x in (geom.block_rows, geom.block_cols, geom.n_block_rows, geom.n_block_cols))
    is_row = f.row is not None
    axis, line, extent = ("row", f.row, r) if is_row else ("col", f.col, c)
    assert line is not None
    if line >= extent:
        raise ValueError(f"{where}: {axis}: {line} outside fold {j}'s {r} x {c} output block")
    if f.site is Site.CHK_ENC:
        _check_encoder_add(where, f, line, br if is_row else bc, k)
        return
    block, n_blocks = f.block or 0, (nbc if is_row else nbr)
    if block >= n_blocks:
        along = "columns" if is_row else "rows"
        raise ValueError(f"{where}: block: {block} of {n_blocks} check block(s) along the {along}")
    if f.site is Site.CHK_PRED:
        steps, what = k, "K steps"
    elif f.site is Site.CHK_SUM:
        size, length = (bc, c) if is_row else (br, r)
        steps, what = min(size, length - block * size), "outputs in its block " + ("row" if is_row else "column")
    else:
        steps, what = 1, "operation (a verdict latch is written once)"
    step = f.step or 0
    if step >= steps:
        raise ValueError(f"{where}: step: {step} of {steps} {what}")


def _check_encoder_add(where: str, f: ExplicitFault, line: int, size: int, k: int) -> None:
    """An encoder add exists: `line` is not the first of its check block's rows (columns), `block` (if given)
    is that block, `step` a K step of the fold."""
    axis, group = ("row", "block row") if f.row is not None else ("col", "block column")
    block = line // size
    if f.block is not None and f.block != block:
        raise ValueError(f"{where}: block: {f.block}, but {axis} {line} lies in {group} {block}")
    if line % size == 0:
        raise ValueError(f"{where}: {axis}: {line} is the first of its {group} (the encoder loads it: no add)")
    step = f.step or 0
    if step >= k:
        raise ValueError(f"{where}: step: {step} of {k} K steps")


def _check_sram(where: str, f: ExplicitFault, s: GemmSchedule, folds: FoldTable) -> None:
    assert f.row is not None and f.col is not None and f.cycle is not None
    operand = SRAM_OPERAND[f.site]
    shape = tuple(getattr(s.gemm, d) for d in OPERAND_DIMS[operand])
    for name, value, size in (("row", f.row, shape[0]), ("col", f.col, shape[1])):
        if value >= size:
            raise ValueError(f"{where}: {name}: {value} outside {operand.upper()} ({shape[0]} x {shape[1]})")
    start, end = fold_times(s, folds)
    cycle = f.cycle + (int(start[f.fold]) if f.fold is not None else 0)
    copies = sram_copies(s, folds, operand)
    if resident_copy(copies, f.row, f.col, cycle) is None:
        holds = (copies.r0 <= f.row) & (f.row < copies.r1) & (copies.c0 <= f.col) & (f.col < copies.c1)
        lives = ", ".join(f"[{a}, {b})" for a, b in zip(copies.start[holds], copies.end[holds], strict=True))
        name = f"{operand.upper()}[{f.row}, {f.col}]"
        raise ValueError(f"{where}: cycle: {name} is not resident at cycle {cycle} of the instance "
                         f"(its copies live {lives}; the instance runs [0, {int(end.max())}))")  # fmt: skip
