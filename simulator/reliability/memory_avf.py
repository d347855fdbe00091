"""Vulnerability of the memory and output-path sites (sram_a, sram_b, sram_c, drain) from single-fault injection.

A single fault is one bit of one live word at one cycle, drawn uniformly over the site's live bit-cycles of one
inference: the residency the run's samplers draw over and the FMEDA lines derate by (faults.sram_residency):
A / B copies (faults.sram_faults.sram_copies), C words (faults.output_faults.c_words), drain passes
(faults.output_faults.drain_geometry). SeedSequence([seed, 11]); per site, in MEMORY_SITES order, the same
number of faults each (stratified: every site's AVF gets its own interval): the selected GEMM weighted by
count x its live bit-cycles per instance, then per GEMM (ascending) for its faults the instance, the copy
(drain: the fold) weighted by its bit-cycles, the cycle in the copy's life (drain: the drain step), the
element, the bit of its data word. The check bits of a SEC-DED word are not drawn (a single flip of one is
corrected like a data bit's). Every upset flips one bit: multi-bit upsets (`mbu_fraction`) are priced by the
FMEDA lines' SEC-DED burst outcomes (reliability.sram), not drawn here.

The fault's effect is the run's: faults.explicit_sites.placed_upsets / faults.output_faults.DrainFlips rows
resolved by verify.sram_effects / verify.output_effects instance_rows, the code a random upset takes. Its fate
is the same under every policy, since no check sees these upsets (a corrupted A / B word feeds the checksums and
the data alike, and both DMR copies; C words and drains are past every check: verify.output_effects):

* corrected: SEC-DED (`memory.sram.<x>.ecc: secded`) corrected it (every single flip, with the (72, 64) code);
* refetched: SEC-DED detected it in A / B, the block is loaded again (recovered);
* due: SEC-DED detected it in C (no other copy);
* masked: the errors it leaves change no stored output (verify.writeback, judged as a faulty run judges);
* sdc: some stored output changes.

FIT of a site's fate = 10^9 h x rate per bit-hour x live bit-cycles per inference x P(fate) / cycles per
inference (the SRAM rate for A, B and C, the flip-flop rate for the drain registers; the residency's time base):
the derated FMEDA line times the measured AVF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Site
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.ecc import SecDed
from simulator.faults.explicit_sites import placed_upsets
from simulator.faults.output_faults import CWords, DrainFlips, DrainGeometry, c_words, drain_geometry
from simulator.faults.sram_faults import ECC_CORRECTED, ECC_DETECTED, SramCopies, fold_ranges, fold_times, sram_copies
from simulator.mapping.schedule import GemmSchedule
from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval, wilson_interval
from simulator.reliability.rates import fit_from_exposure
from simulator.verify import output_effects, sram_effects
from simulator.verify.operand_cache import OperandCache

STREAM_MEMORY_SINGLE = 11
MAX_MEMORY_INJECTIONS_PER_SITE = 10_000
MEMORY_SITES = (Site.SRAM_A, Site.SRAM_B, Site.SRAM_C, Site.DRAIN)
MEMORY_FATES = ("masked", "corrected", "refetched", "due", "sdc")
_CODE = {name: code for code, name in enumerate(MEMORY_FATES)}
_OPERAND = {Site.SRAM_A: "a", Site.SRAM_B: "b", Site.SRAM_C: "c"}
_Row = tuple[int, int, int, int, int, int, int]  # fate, instance, row, col, bit, fold, when


@dataclass(frozen=True)
class MemoryCampaign:
    """Per single fault: its site, coordinates (as an ExplicitFault gives them: GEMM index, instance, output or
    operand element row / col, bit; `fold` the draining fold and `when` the drain step for the drain, else -1
    and the instance cycle) and fate (MEMORY_FATES code); per site its live bit-cycles per inference, and the
    inference's cycles (faults.sram_residency's time base)."""

    sites: tuple[Site, ...]
    site: np.ndarray  # index into `sites` per fault
    gemm: np.ndarray
    instance: np.ndarray
    row: np.ndarray
    col: np.ndarray
    bit: np.ndarray
    fold: np.ndarray
    when: np.ndarray
    fate: np.ndarray  # int8
    bit_cycles: dict[Site, int]
    cycles: int

    def __len__(self) -> int:
        return int(self.site.shape[0])

    def counts(self, site: Site) -> dict[str, int]:
        codes = self.fate[self.site == self.sites.index(site)]
        tally = np.bincount(codes, minlength=len(MEMORY_FATES))
        return {name: int(tally[code]) for name, code in _CODE.items()}

    def avf(self, site: Site, fate: str, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        """P(fate | one upset in a live bit-cycle of the site), Wilson interval."""
        counts = self.counts(site)
        return wilson_interval(counts[fate], sum(counts.values()), confidence)

    def fit(self, site: Site, fate: str, fit_per_mbit: float, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
        """The site's FIT of a fate at a raw rate (module doc), interval mapped from the AVF's."""
        iv = self.avf(site, fate, confidence)

        def fit(p: float) -> float:
            return fit_from_exposure(fit_per_mbit, self.bit_cycles[site] * p, self.cycles)

        return Interval(fit(iv.estimate), fit(iv.lo), fit(iv.hi), iv.n)


@dataclass(frozen=True)
class _Gemm:
    """What drawing and resolving a site's upsets in one GEMM needs (the same for every instance)."""

    copies: SramCopies | None  # A / B / C
    words: CWords | None  # C
    drain: DrainGeometry | None
    weights: np.ndarray  # bit-cycles per copy (drain: per fold), one instance
    start: np.ndarray
    end: np.ndarray
    ranges: dict[str, tuple[np.ndarray, np.ndarray]]


def _gemm(hw: HwConfig, s: GemmSchedule, operands: OperandCache, g: int, site: Site) -> _Gemm:
    datatype = hw.array.datatype
    folds = operands.folds(g)
    start, end = fold_times(s, folds)
    ranges = fold_ranges(s, folds)
    if site is Site.DRAIN:
        geom = drain_geometry(s, folds, datatype)
        return _Gemm(None, None, geom, geom.exposure.astype(np.int64), start, end, ranges)
    words = c_words(s, folds, hw.dram_bytes_per_cycle) if site is Site.SRAM_C else None
    copies = words.copies if words is not None else sram_copies(s, folds, _OPERAND[site])
    bits = datatype.acc_bits if site is Site.SRAM_C else datatype.operand_bits
    return _Gemm(copies, words, None, copies.elements * bits * (copies.end - copies.start), start, end, ranges)


def run_memory_campaign(
    hw: HwConfig,
    schedules: Sequence[GemmSchedule],
    spec: FaultSpec,
    injections: int,
    seed: int,
    operands: OperandCache,
) -> MemoryCampaign | None:
    """min(injections, MAX_MEMORY_INJECTIONS_PER_SITE) single upsets per site (each site's AVF gets the count a
    margin asks for: Leveugle's, as `abftsim reliability` passes it) and their fates (None when the spec selects
    no GEMM)."""
    chosen = [g for g, s in enumerate(schedules) if spec.selects(s.gemm)]
    if not chosen:
        return None
    per_site = max(1, min(injections, MAX_MEMORY_INJECTIONS_PER_SITE))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAM_MEMORY_SINGLE])))
    counts = np.array([schedules[g].gemm.count for g in chosen], np.int64)
    spans = [int(fold_times(schedules[g], operands.folds(g))[1].max()) for g in chosen]
    cycles = int(np.dot(counts, spans))
    site_col: list[int] = []
    gemm_col: list[int] = []
    rows: list[_Row] = []
    bit_cycles: dict[Site, int] = {}
    for sp, site in enumerate(MEMORY_SITES):
        per_gemm = {g: _gemm(hw, schedules[g], operands, g, site) for g in chosen}
        totals = np.array([int(per_gemm[g].weights.sum()) for g in chosen], np.int64) * counts
        bit_cycles[site] = int(totals.sum())
        if bit_cycles[site] == 0:
            continue
        pick = np.sort(rng.choice(len(chosen), size=per_site, p=totals / totals.sum()))
        for gp in np.unique(pick).tolist():
            g, n = chosen[gp], int(np.count_nonzero(pick == gp))
            rows += _resolve(hw, schedules[g], operands, g, site, per_gemm[g], rng, int(counts[gp]), n)
            site_col += [sp] * n
            gemm_col += [g] * n
    fate, instance, row, col, bit, fold, when = np.array(rows, np.int64).reshape(-1, 7).T
    site_of, gemm = np.array(site_col, np.int64), np.array(gemm_col, np.int64)
    return MemoryCampaign(MEMORY_SITES, site_of, gemm, instance, row, col, bit, fold, when, fate.astype(np.int8),
                          bit_cycles, cycles)  # fmt: skip


def _resolve(
    hw: HwConfig, s: GemmSchedule, operands: OperandCache, g: int, site: Site, geo: _Gemm,
    rng: np.random.Generator, count: int, n: int,
) -> list[_Row]:  # fmt: skip
    """Draw `n` single upsets of a site in one GEMM (module doc): per upset its fate code and coordinates
    (instance, row, col, bit, fold, when: MemoryCampaign)."""
    datatype = hw.array.datatype
    instance = rng.integers(0, count, size=n)
    unit = rng.choice(geo.weights.size, size=n, p=geo.weights / geo.weights.sum())
    out: list[_Row] = []
    if site is Site.DRAIN:
        d = geo.drain
        assert d is not None
        width = (d.n_hi - d.n_lo)[unit]
        element = rng.integers(0, (d.m_hi - d.m_lo)[unit] * width)
        step = rng.integers(0, d.drain_cycles, size=n)
        bit = rng.integers(0, datatype.acc_bits, size=n)
        for t in range(n):
            f, inst = int(unit[t]), int(instance[t])
            row, col = int(d.m_lo[f] + element[t] // width[t]), int(d.n_lo[f] + element[t] % width[t])
            flip = DrainFlips(*(np.array([x], np.int64) for x in (0, f, row, col, int(bit[t]),
                                                                  int(d.latency[f] + step[t]))))  # fmt: skip
            ops = operands.operands(g, inst)
            rows = output_effects.instance_rows(g, inst, None, flip, ops.a, ops.b, geo.ranges["k"], geo.start,
                                                geo.end, datatype)  # fmt: skip
            out.append((_judged(operands, g, inst, s.gemm.n, rows), inst, row, col, int(bit[t]), f, int(step[t])))
        return out
    c = geo.copies
    assert c is not None
    cycle = c.start[unit] + rng.integers(0, c.end[unit] - c.start[unit])
    width = (c.c1 - c.c0)[unit]
    element = rng.integers(0, c.elements[unit])
    word_bits = datatype.acc_bits if site is Site.SRAM_C else datatype.operand_bits
    bit = rng.integers(0, word_bits, size=n)
    op = _OPERAND[site]
    cfg = getattr(hw.memory.sram, op)
    ecc = SecDed.of_words(cfg.secded_data_bits)
    for t in range(n):
        u, inst = int(unit[t]), int(instance[t])
        row, col = int(c.r0[u] + element[t] // width[t]), int(c.c0[u] + element[t] % width[t])
        faults = placed_upsets(op, c, [(u, int(cycle[t]), row, col, int(bit[t]))], word_bits, ecc)
        verdict = int(faults.verdict[0])
        where = (inst, row, col, int(bit[t]), -1, int(cycle[t]))
        if verdict == ECC_CORRECTED:
            out.append((_CODE["corrected"], *where))
            continue
        if verdict == ECC_DETECTED:
            out.append((_CODE["due" if site is Site.SRAM_C else "refetched"], *where))
            continue
        ops = operands.operands(g, inst)
        if site is Site.SRAM_C:
            assert geo.words is not None
            rows = output_effects.instance_rows(g, inst, (faults, geo.words), None, ops.a, ops.b, geo.ranges["k"],
                                                geo.start, geo.end, datatype)  # fmt: skip
        else:
            out_ranges = (geo.ranges["m"], geo.ranges["n"])
            rows = sram_effects.instance_rows(g, inst, {op: (faults, c)}, ops.a, ops.b, geo.start, out_ranges,
                                              datatype)  # fmt: skip
        out.append((_judged(operands, g, inst, s.gemm.n, rows), *where))
    return out


def _judged(operands: OperandCache, g: int, inst: int, n_cols: int, rows: sram_effects.SramRows) -> int:
    """sdc when the errors the upset leaves (summed per output) change some stored output, else masked."""
    alive = rows.alive
    if not alive.any():
        return _CODE["masked"]
    codes, inverse = np.unique(rows.grows[alive] * n_cols + rows.gcols[alive], return_inverse=True)
    delta = np.zeros(codes.shape, rows.delta.dtype)
    np.add.at(delta, inverse.reshape(-1), rows.delta[alive])
    hit = delta != 0
    if not hit.any():
        return _CODE["masked"]
    r, c = codes[hit] // n_cols, codes[hit] % n_cols
    clean = operands.clean_accumulators(g, inst, r, c)
    corrupted = operands.writeback(g, inst).judge(clean, delta[hit])[0]
    return _CODE["sdc" if corrupted.any() else "masked"]
