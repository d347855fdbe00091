"""Explicit faults on the output path (config.fault_spec.ExplicitFault, sites sram_c and drain).

Coordinates as a user reads them: the GEMM, its instance, the output element (row, col) of C (M x N), the bit of
its accumulator word, and the time: for sram_c the cycle of the strike (from the instance start, its folds back to
back as faults.sram_faults.fold_times places them, or from fold F's start with fold=F), for drain the fold that
drains the element (needed only when several K chunks / K folds drain it) and the drain cycle `step` (0 ..
DataflowGeometry.drain_cycles - 1; it only dates the ledger row: the flipped word is the one the fold drains).

Checked against the schedule (`check_explicit_output`: a ValueError naming the field that cannot be: the C word
is not resident at that cycle, no fold or several drain that element, ...), then turned into rows of the batches
the random draws produce (faults.output_faults: SramFaults over CWords' copies, DrainFlips) and appended after
them (`with_explicit_c`, `with_explicit_drain`), so verify.output_effects resolves an explicit fault with the very
code that resolves a random one at the same coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np

from simulator.config.enums import Datatype, Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.faults.ecc import SecDed
from simulator.faults.explicit_sites import concat_sram, explicit_sram_faults, placed_in_schedule, resident_copy
from simulator.faults.output_faults import CWords, DrainFlips, DrainGeometry, c_words, drain_geometry
from simulator.faults.sram_faults import SramFaults, fold_times
from simulator.mapping.fold_table import FoldTable
from simulator.mapping.schedule import GemmSchedule

OUTPUT_SITES = (Site.SRAM_C, Site.DRAIN)


def given_output(spec: FaultSpec, site: Site, gemm_name: str, instance: int) -> list[ExplicitFault]:
    """The spec's explicit faults of one output-path site in one GEMM instance, in spec order."""
    return [f for f in spec.explicit if f.site is site and f.gemm == gemm_name and f.instance == instance]


def places_output(spec: FaultSpec) -> tuple[bool, bool]:
    """Whether some explicit fault places (sram_c, drain)."""
    sites = {f.site for f in spec.explicit}
    return Site.SRAM_C in sites, Site.DRAIN in sites


def with_explicit_c(
    drawn: SramFaults | None, given: Sequence[ExplicitFault], words: CWords, fold_start: np.ndarray,
    datatype: Datatype, ecc: SecDed | None,
) -> SramFaults | None:  # fmt: skip
    """The drawn C upsets of one instance (None: none) plus the given ones (checked), numbered after them."""
    if not given:
        return drawn
    extra = explicit_sram_faults(given, "c", words.copies, fold_start, datatype, ecc, datatype.acc_bits)
    return concat_sram(drawn, extra) if drawn is not None and len(drawn) else extra


def draining_folds(geometry: DrainGeometry, row: int, col: int) -> np.ndarray:
    """The folds whose drain carries output element (row, col) (one per K chunk / K fold of its block)."""
    g = geometry
    return np.flatnonzero((g.m_lo <= row) & (row < g.m_hi) & (g.n_lo <= col) & (col < g.n_hi))


def with_explicit_drain(
    drawn: DrainFlips | None, given: Sequence[ExplicitFault], geometry: DrainGeometry
) -> DrainFlips | None:
    """The drawn drain flips of one instance (None: none) plus the given ones (checked), strikes numbered after
    the drawn ones; cycle = the fold's latency + the drain step, as the sampler dates a flip."""
    if not given:
        return drawn
    folds = []
    for f in given:
        assert f.row is not None and f.col is not None
        folds.append(f.fold if f.fold is not None else int(draining_folds(geometry, f.row, f.col)[0]))
    fold = np.array(folds, np.int64)
    strikes = int(drawn.upset.max()) + 1 if drawn is not None and len(drawn) else 0
    extra = DrainFlips(
        np.arange(len(given), dtype=np.int64) + strikes, fold,
        np.array([f.row for f in given], np.int64), np.array([f.col for f in given], np.int64),
        np.array([f.bit for f in given], np.int64), geometry.latency[fold] + np.array([f.step or 0 for f in given]),
    )  # fmt: skip
    if drawn is None or not len(drawn):
        return extra
    return DrainFlips(*(np.concatenate([getattr(drawn, k.name), getattr(extra, k.name)]) for k in fields(DrainFlips)))


def check_explicit_output(
    spec: FaultSpec,
    schedules: Sequence[GemmSchedule],
    datatype: Datatype,
    dram_bytes_per_cycle: float,
    c_ecc_data_bits: int | None,
) -> None:
    """ValueError naming the first explicit sram_c / drain fault that cannot happen and its field (the checks
    every site shares: faults.explicit_sites.placed_in_schedule): an element outside C, a C word not resident at
    the strike's cycle, a fold that does not drain the element (or several that do and no fold given), a drain
    step past the drain, C's SEC-DED words not holding whole accumulator words. `c_ecc_data_bits`: data bits of
    C's SEC-DED words (None: no ECC)."""
    for where, f, s, folds in placed_in_schedule(spec, schedules, datatype, OUTPUT_SITES):
        assert f.row is not None and f.col is not None
        g = s.gemm
        for name, value, size in (("row", f.row, g.m), ("col", f.col, g.n)):
            if value >= size:
                raise ValueError(f"{where}: {name}: {value} outside C ({g.m} x {g.n})")
        if f.site is Site.SRAM_C:
            acc = datatype.acc_bits
            if c_ecc_data_bits is not None and c_ecc_data_bits % acc:
                raise ValueError(f"{where}: memory.sram.c.ecc_data_bits: {c_ecc_data_bits} data bits do not hold "
                                 f"whole {acc}-bit accumulator words")  # fmt: skip
            _check_c_word(where, f, s, folds, dram_bytes_per_cycle)
        else:
            _check_drain(where, f, drain_geometry(s, folds, datatype))


def _check_c_word(where: str, f: ExplicitFault, s: GemmSchedule, folds: FoldTable, dram_bytes_per_cycle: float) -> None:
    assert f.row is not None and f.col is not None and f.cycle is not None
    start, end = fold_times(s, folds)
    cycle = f.cycle + (int(start[f.fold]) if f.fold is not None else 0)
    copies = c_words(s, folds, dram_bytes_per_cycle).copies
    if resident_copy(copies, f.row, f.col, cycle) is None:
        holds = (copies.r0 <= f.row) & (f.row < copies.r1) & (copies.c0 <= f.col) & (f.col < copies.c1)
        lives = ", ".join(f"[{a}, {b})" for a, b in zip(copies.start[holds], copies.end[holds], strict=True))
        raise ValueError(f"{where}: cycle: C[{f.row}, {f.col}] is not resident at cycle {cycle} of the instance "
                         f"(its words live {lives}; the instance runs [0, {int(end.max())}))")  # fmt: skip


def _check_drain(where: str, f: ExplicitFault, geometry: DrainGeometry) -> None:
    assert f.row is not None and f.col is not None
    drains = draining_folds(geometry, f.row, f.col).tolist()
    if f.fold is None and len(drains) > 1:
        raise ValueError(f"{where}: fold: C[{f.row}, {f.col}] is drained by folds {', '.join(map(str, drains))} "
                         "(one per K chunk): give fold=F")  # fmt: skip
    if f.fold is not None and f.fold not in drains:
        raise ValueError(f"{where}: fold: fold {f.fold} does not drain C[{f.row}, {f.col}] "
                         f"(folds {', '.join(map(str, drains))} do)")  # fmt: skip
    step = f.step or 0
    if step >= geometry.drain_cycles:
        raise ValueError(f"{where}: step: {step} of {geometry.drain_cycles} drain cycle(s) per output")
