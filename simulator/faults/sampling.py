"""Fault sampling: where and when PE soft errors strike, reproducibly, independent of the policy.

Keying (every Generator is PCG64 seeded by a SeedSequence whose entropy is a list of ints):

* attempt 0 of every fold of one GEMM instance: SeedSequence([seed, 1, gemm_index, instance]).
  One Generator draws, in this order: the Poisson counts of all folds as one (folds x sites) array
  (fold-major, PE sites in canonical order acc, mult, a_reg, b_reg restricted to spec.sites), then for
  all faults at once (ordered fold, site, draw) the PE row, PE column, temporal index and bit, then
  (only when spec.mbu_fraction > 0) the multi-bit upsets' widths (faults.mbu). The checksum
  hardware's sites are drawn by faults.checksum_faults on streams of their own.
* attempt a >= 1 (recomputation passes) of a GEMM instance: SeedSequence([seed, 2, gemm_index,
  instance, a]), the same draws as attempt 0 over every fold of the instance, drawn once per
  (instance, attempt) whichever folds retry (one batch for all of them; the policy never changes
  the draw). A pass over fold f keeps the faults of fold f in the (PE, cycle) slots the pass uses
  (verify.verifier: all of them for a tile, only the recomputed rows' / columns' slots for a
  partial pass): thinning a Poisson process by slot keeps it Poisson, so a pass's count is
  Poisson(its active MACs x exposed bits x ber).
* permanent faults of the run: SeedSequence([seed, 3]); they apply to every fold of every selected GEMM.

So the faults of (gemm, instance, fold, attempt) are a function of those keys, the spec, the GEMM
shape and the array only: never of the policy, of the order of calls or of the number of workers.
Expected count per fold and site: rows_used x cols_used x T x exposed bits x ber. A fault is placed
uniformly over the fold's active (PE, cycle) slots (r < ru, c < cu, tau < T, cycle from mac_cycle)
and uniformly over the site's exposed bits.

Where every mean is below 10 and upsets are single-bit, kernels.transient_draws makes these draws in
one numba call from the same stream, value for value (the Generator itself, `_numpy_draws`, stays
for the rest and is the oracle of tests/test_transient_draws.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec, exposed_bits
from simulator.faults.codes import PE_SITES, SITE_CODE, SITE_OF_CODE
from simulator.faults.mbu import widen
from simulator.faults.model import PeFault
from simulator.kernels.codes import FAULT_COLUMNS, FLIP, STUCK0, STUCK1, T_CU, T_RU, T_TT
from simulator.kernels.poisson_screen import entropy_words, exp_neg
from simulator.kernels.transient_draws import kernel_draws, transient_draws
from simulator.mapping.dataflow import geometry_of
from simulator.mapping.fold_table import FoldTable, fold_table
from simulator.workload.gemm import Gemm

STREAM_GEMM, STREAM_RETRY, _STREAM_PERMANENT = 1, 2, 3  # the keys' second word (module doc)
_COLUMNS = ("fold_index", "attempt", "ordinal", "row", "col", "cycle", "site", "bit", "mode")


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One sampled fault with its stable id (permanent faults have no gemm / fold / attempt)."""

    fault_id: str
    fault: PeFault
    gemm_index: int | None = None
    instance: int | None = None
    fold_index: int | None = None
    attempt: int | None = None


def transient_id(gemm_index: int, instance: int, fold_index: int, attempt: int, ordinal: int) -> str:
    """Stable id of the `ordinal`-th fault drawn for (gemm, instance, fold, attempt)."""
    return f"g{gemm_index}/i{instance}/f{fold_index}/a{attempt}/{ordinal}"


def permanent_id(ordinal: int) -> str:
    return f"p{ordinal}"


@dataclass(frozen=True, slots=True)
class FaultBatch:
    """Faults of one GEMM instance as parallel int64 arrays (the flat record the kernels read).

    Columns: fold_index, attempt, ordinal (index among the faults drawn for its fold and attempt,
    or the permanent fault's index), PE row / col, fold-local cycle (-1 for permanent), site code
    (kernels.codes), bit, mode (FLIP for transients, STUCK0 / STUCK1 for permanent faults).
    """

    gemm_index: int
    instance: int
    fold_index: np.ndarray
    attempt: np.ndarray
    ordinal: np.ndarray
    row: np.ndarray
    col: np.ndarray
    cycle: np.ndarray
    site: np.ndarray
    bit: np.ndarray
    mode: np.ndarray

    def __len__(self) -> int:
        return int(self.fold_index.shape[0])

    @classmethod
    def empty(cls, gemm_index: int, instance: int) -> FaultBatch:
        return cls(gemm_index, instance, *(np.zeros(0, np.int64) for _ in _COLUMNS))

    @classmethod
    def from_faults(
        cls, faults: Sequence[PeFault], fold_index: int, gemm_index: int = 0, instance: int = 0, attempt: int = 0
    ) -> FaultBatch:
        """A batch of given faults, all in one fold (ordinals 0..n-1 in the given order)."""
        n = len(faults)
        modes = [FLIP if f.kind is FaultKind.TRANSIENT else (STUCK1 if f.stuck_value else STUCK0) for f in faults]
        columns = (
            [fold_index] * n,
            [attempt] * n,
            range(n),
            [f.row for f in faults],
            [f.col for f in faults],
            [f.cycle for f in faults],
            [SITE_CODE[f.site] for f in faults],
            [f.bit for f in faults],
            modes,
        )
        return cls(gemm_index, instance, *(np.asarray(list(c), np.int64).reshape(n) for c in columns))

    def select(self, mask: np.ndarray) -> FaultBatch:
        return FaultBatch(self.gemm_index, self.instance, *(getattr(self, c)[mask] for c in _COLUMNS))

    def concat(self, other: FaultBatch) -> FaultBatch:
        if (other.gemm_index, other.instance) != (self.gemm_index, self.instance):
            raise ValueError("can only join batches of the same GEMM instance")
        return FaultBatch(
            self.gemm_index, self.instance, *(np.concatenate([getattr(self, c), getattr(other, c)]) for c in _COLUMNS)
        )

    def kernel_table(self) -> np.ndarray:
        """(n, 7) int64 table in kernels.codes column order (fold, row, col, cycle, site, bit, mode)."""
        table = np.empty((len(self), FAULT_COLUMNS), np.int64)
        for j, name in enumerate(("fold_index", "row", "col", "cycle", "site", "bit", "mode")):
            table[:, j] = getattr(self, name)
        return table

    def fault_ids(self) -> list[str]:
        ids = []
        for fold, attempt, ordinal, mode in zip(
            self.fold_index.tolist(), self.attempt.tolist(), self.ordinal.tolist(), self.mode.tolist(), strict=True
        ):
            transient = mode == FLIP
            ids.append(
                transient_id(self.gemm_index, self.instance, fold, attempt, ordinal)
                if transient
                else permanent_id(ordinal)
            )
        return ids

    def fault(self, i: int) -> PeFault:
        mode = int(self.mode[i])
        return PeFault(
            row=int(self.row[i]),
            col=int(self.col[i]),
            cycle=int(self.cycle[i]),
            site=SITE_OF_CODE[int(self.site[i])],
            bit=int(self.bit[i]),
            kind=FaultKind.TRANSIENT if mode == FLIP else FaultKind.PERMANENT,
            stuck_value=None if mode == FLIP else int(mode == STUCK1),
        )

    def events(self) -> list[FaultEvent]:
        return [
            FaultEvent(
                fid, self.fault(i), self.gemm_index, self.instance, int(self.fold_index[i]), int(self.attempt[i])
            )
            for i, fid in enumerate(self.fault_ids())
        ]


def _generator(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def pe_windows(spec: FaultSpec, datatype: Datatype) -> tuple[tuple[Site, ...], np.ndarray, np.ndarray]:
    """The PE sites a spec selects (canonical order), their (first bit, exposed bits) rows and site
    codes, as read-only arrays (memoised: the sampler asks once per GEMM instance and attempt)."""
    return _pe_windows(spec.sites, spec.bits, datatype)


@functools.lru_cache(maxsize=256)
def _pe_windows(
    selected: tuple[Site, ...], bits: tuple[int, int] | None, datatype: Datatype
) -> tuple[tuple[Site, ...], np.ndarray, np.ndarray]:
    sites = tuple(s for s in PE_SITES if s in selected)
    windows = np.array([exposed_bits(selected, bits, s, datatype) for s in sites], np.int64).reshape(len(sites), 2)
    codes = np.array([SITE_CODE[s] for s in sites], np.int64)
    windows.flags.writeable = codes.flags.writeable = False
    return sites, windows, codes


def transient_rates(spec: FaultSpec, datatype: Datatype, folds: FoldTable) -> np.ndarray:
    """The Poisson means (folds x PE sites) an instance's transient draw of every fold starts from,
    attempt 0 or a recomputation (what `_draw_transients` hands rng.poisson; faults.draw_cache
    screens the draws they leave empty)."""
    _, windows, _ = pe_windows(spec, datatype)
    t = folds.table
    return _rates(t[:, T_RU] * t[:, T_CU] * t[:, T_TT], windows, spec.ber)


def _rates(active_macs: np.ndarray, windows: np.ndarray, ber: float) -> np.ndarray:
    """Poisson mean per (fold, site): the fold's active MACs x the site's exposed bits x ber."""
    return active_macs.astype(np.float64)[:, None] * windows[None, :, 1] * ber


def _draw_transients(
    key: tuple[int, ...],
    spec: FaultSpec,
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    folds: FoldTable,
    fold_ids: np.ndarray,
    gemm_index: int,
    instance: int,
    attempt: int,
    means: tuple[np.ndarray, np.ndarray] | None = None,
) -> FaultBatch:
    """Poisson counts per (fold, site), then uniform slots and bits, for the folds `fold_ids` (PE sites
    only; a multi-bit upset adds rows for its further bits, faults.mbu), from `_generator(*key)`:
    in one kernels.transient_draws call (the same values from the same stream) unless a mean is
    >= 10 or upsets may be multi-bit, which take numpy's Generator (`_numpy_draws`). `means`: the
    Poisson means (C order) and exp(-mean) of each, if the caller has them (faults.draw_cache)."""
    sites, windows, codes = pe_windows(spec, datatype)  # windows: (first bit, exposed bits) per site
    if not sites:
        return FaultBatch.empty(gemm_index, instance)
    drawn = folds.table[fold_ids]  # one gather; the columns below are views of it
    ru, cu, steps = drawn[:, T_RU], drawn[:, T_CU], drawn[:, T_TT]
    rates = means[0] if means is not None else _rates(ru * cu * steps, windows, spec.ber).ravel()  # C order
    if not kernel_draws(spec.mbu_fraction, rates, ru, cu, steps):
        return _numpy_draws(key, spec, dataflow, rows, windows, codes, rates, ru, cu, steps, folds.temporal,
                            fold_ids, gemm_index, instance, attempt)  # fmt: skip
    fold_pos, site_pos, row, col, tau, offset = transient_draws(
        np.array(entropy_words(key), np.uint64), rates, means[1] if means is not None else exp_neg(rates), len(sites),
        ru, cu, steps, windows[:, 1],
    )  # fmt: skip
    if fold_pos.shape[0] == 0:
        return FaultBatch.empty(gemm_index, instance)
    bit = windows[site_pos, 0] + offset
    return _batch(dataflow, rows, codes, fold_ids, fold_pos, site_pos, row, col, tau, np.arange(bit.shape[0]), bit,
                  gemm_index, instance, attempt)  # fmt: skip


def _numpy_draws(
    key: tuple[int, ...],
    spec: FaultSpec,
    dataflow: Dataflow,
    rows: int,
    windows: np.ndarray,
    codes: np.ndarray,
    rates: np.ndarray,
    ru: np.ndarray,
    cu: np.ndarray,
    steps: np.ndarray,
    temporal: int,
    fold_ids: np.ndarray,
    gemm_index: int,
    instance: int,
    attempt: int,
) -> FaultBatch:
    """`_draw_transients` by numpy's Generator itself (any mean, multi-bit upsets; the kernel's oracle);
    `rates`: the Poisson means per (fold, site), C order."""
    rng = _generator(*key)
    per_slot = rng.poisson(rates).astype(np.int64).ravel()  # (drawn in C order whatever the shape)
    total = int(per_slot.sum())
    if total == 0:
        return FaultBatch.empty(gemm_index, instance)
    pos = np.repeat(np.arange(per_slot.size), per_slot)
    fold_pos, site_pos = pos // windows.shape[0], pos % windows.shape[0]
    row = rng.integers(0, ru[fold_pos])
    col = rng.integers(0, cu[fold_pos])
    # every fold streams all of T (the draw of unsplit orders), or K chunks: each fault's step in its own chunk
    tau = rng.integers(0, temporal, size=total) if np.all(steps == temporal) else rng.integers(0, steps[fold_pos])
    bit = windows[site_pos, 0] + rng.integers(0, windows[site_pos, 1])
    upset, bit = widen(rng, spec.mbu_fraction, spec.mbu_max_bits, bit, windows[site_pos, 0], windows[site_pos, 1])
    return _batch(dataflow, rows, codes, fold_ids, fold_pos, site_pos, row, col, tau, upset, bit, gemm_index,
                  instance, attempt)  # fmt: skip


def _batch(
    dataflow: Dataflow,
    rows: int,
    codes: np.ndarray,
    fold_ids: np.ndarray,
    fold_pos: np.ndarray,
    site_pos: np.ndarray,
    row: np.ndarray,
    col: np.ndarray,
    tau: np.ndarray,
    upset: np.ndarray,
    bit: np.ndarray,
    gemm_index: int,
    instance: int,
    attempt: int,
) -> FaultBatch:
    """The FaultBatch of drawn faults (`upset`: the fault each flipped bit belongs to; faults.mbu)."""
    fold_pos, site_pos, row, col, tau = (x[upset] for x in (fold_pos, site_pos, row, col, tau))
    total = int(upset.shape[0])
    per_fold = np.bincount(fold_pos, minlength=fold_ids.shape[0])
    first = np.cumsum(per_fold) - per_fold
    ordinal = np.arange(total) - first[fold_pos]
    cycle = geometry_of(dataflow).mac_cycle(rows, row, col, tau)
    site_codes = codes[site_pos]
    return FaultBatch(
        gemm_index,
        instance,
        fold_ids[fold_pos].astype(np.int64),
        np.full(total, attempt, np.int64),
        ordinal.astype(np.int64),
        row.astype(np.int64),
        col.astype(np.int64),
        cycle.astype(np.int64),
        site_codes,
        bit.astype(np.int64),
        np.full(total, FLIP, np.int64),
    )


def sample_gemm_faults(
    spec: FaultSpec,
    gemm: Gemm,
    gemm_index: int,
    instance: int,
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    folds: FoldTable | None = None,
    means: tuple[np.ndarray, np.ndarray] | None = None,
) -> FaultBatch:
    """Transient faults of attempt 0 of every fold of one GEMM instance (vectorised, fold order): the
    random ones, then the spec's explicit transients of this instance (ordinals after the random ones of
    their fold)."""
    if not spec.selects(gemm):
        return FaultBatch.empty(gemm_index, instance)
    batch = FaultBatch.empty(gemm_index, instance)
    if spec.kind is FaultKind.TRANSIENT and spec.ber > 0.0:
        folds = folds if folds is not None else fold_table(dataflow, gemm.m, gemm.k, gemm.n, rows, cols)
        key = (spec.seed, STREAM_GEMM, gemm_index, instance)
        fold_ids = np.arange(len(folds), dtype=np.int64)
        batch = _draw_transients(key, spec, dataflow, datatype, rows, folds, fold_ids, gemm_index, instance, 0, means)
    return _with_explicit(batch, spec, gemm.name, instance)


def ordinals_after(fold_index: np.ndarray, folds: Sequence[int | None]) -> list[int]:
    """Ordinals of explicit faults in folds `folds` (in the order given) that follow the drawn faults whose
    folds are `fold_index`: each after the random faults of its fold and the explicit ones before it."""
    used = dict(zip(*np.unique(fold_index, return_counts=True), strict=True))
    ordinals = []
    for f in folds:
        ordinals.append(int(used.get(f, 0)))
        used[f] = ordinals[-1] + 1
    return ordinals


def _with_explicit(batch: FaultBatch, spec: FaultSpec, gemm_name: str, instance: int) -> FaultBatch:
    """The batch plus the spec's explicit transients of this GEMM instance, in fold order."""
    given = [f for f in spec.explicit
             if f.site.in_pe and f.kind == "transient" and f.gemm == gemm_name and f.instance == instance]  # fmt: skip
    if not given:
        return batch
    ordinals = ordinals_after(batch.fold_index, [f.fold for f in given])
    extra = FaultBatch(
        batch.gemm_index, batch.instance,
        *(np.asarray(column, np.int64) for column in (
            [f.fold for f in given], [0] * len(given), ordinals, [f.row for f in given], [f.col for f in given],
            [f.cycle for f in given], [SITE_CODE[f.site] for f in given], [f.bit for f in given], [FLIP] * len(given),
        )),
    )  # fmt: skip
    merged = batch.concat(extra)
    return merged.select(np.argsort(merged.fold_index, kind="stable"))


def sample_fold_faults(
    spec: FaultSpec,
    gemm: Gemm,
    gemm_index: int,
    instance: int,
    fold_index: int,
    attempt: int,
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    folds: FoldTable | None = None,
) -> FaultBatch:
    """Transient faults of one pass (attempt) over one fold (`folds`: the GEMM's fold table, if
    the caller has it).

    Attempt 0 is the fold's slice of sample_gemm_faults, attempt >= 1 the fold's slice of
    sample_attempt_faults (one draw per (gemm, instance, attempt)); this call re-draws the whole
    GEMM instance, so an engine should call those once per instance instead.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt}")
    folds = folds if folds is not None else fold_table(dataflow, gemm.m, gemm.k, gemm.n, rows, cols)
    if not 0 <= fold_index < len(folds):
        raise ValueError(f"fold index {fold_index} out of range for {len(folds)} folds")
    if attempt == 0:
        whole = sample_gemm_faults(spec, gemm, gemm_index, instance, dataflow, datatype, rows, cols, folds)
        return whole.select(whole.fold_index == fold_index)
    whole = sample_attempt_faults(spec, gemm, gemm_index, instance, attempt, dataflow, datatype, rows, cols, folds)
    return whole.select(whole.fold_index == fold_index)


def sample_attempt_faults(
    spec: FaultSpec,
    gemm: Gemm,
    gemm_index: int,
    instance: int,
    attempt: int,
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    folds: FoldTable | None = None,
    means: tuple[np.ndarray, np.ndarray] | None = None,
) -> FaultBatch:
    """Transient faults of recomputation attempt `attempt` >= 1 over every fold of one GEMM
    instance (fold order); a pass keeps those of its fold and slots."""
    if attempt < 1:
        raise ValueError(f"a recomputation attempt is >= 1, got {attempt}")
    if spec.kind is not FaultKind.TRANSIENT or spec.ber == 0.0 or not spec.selects(gemm):
        return FaultBatch.empty(gemm_index, instance)
    folds = folds if folds is not None else fold_table(dataflow, gemm.m, gemm.k, gemm.n, rows, cols)
    key = (spec.seed, STREAM_RETRY, gemm_index, instance, attempt)
    fold_ids = np.arange(len(folds), dtype=np.int64)
    return _draw_transients(key, spec, dataflow, datatype, rows, folds, fold_ids, gemm_index, instance, attempt,
                            means)  # fmt: skip


def check_faults_fit(spec: FaultSpec, datatype: Datatype, rows: int, cols: int) -> None:
    """ValueError when a spec cannot apply to this array: a selected site with no exposed bit for
    the datatype, or more stuck-at bits than the array has (the sampler's own checks)."""
    for site in spec.sites:
        spec.site_bits(site, datatype)
    sample_permanent_faults(spec, datatype, rows, cols)


def sample_permanent_faults(spec: FaultSpec, datatype: Datatype, rows: int, cols: int) -> tuple[FaultEvent, ...]:
    """The run's stuck-at faults: distinct (PE, site, bit), uniform over PEs and exposed bits (kind
    permanent), then the spec's explicit stuck-at faults."""
    if spec.kind is not FaultKind.PERMANENT:
        return _explicit_stuck(spec, 0)
    sites = [s for s in PE_SITES if s in spec.sites]  # stuck-at bits of the checksum hardware: not modelled
    if not sites:
        return _explicit_stuck(spec, 0)
    windows = [spec.site_bits(s, datatype) for s in sites]
    bits_per_pe = sum(n for _, n in windows)
    if spec.permanent_count > rows * cols * bits_per_pe:
        exposed = rows * cols * bits_per_pe
        raise ValueError(f"permanent_count {spec.permanent_count} exceeds the {exposed} exposed PE bits")
    starts = np.cumsum([0] + [n for _, n in windows])
    rng = _generator(spec.seed, _STREAM_PERMANENT)
    chosen: dict[tuple[int, int, int], None] = {}
    while len(chosen) < spec.permanent_count:
        r, c, u = int(rng.integers(rows)), int(rng.integers(cols)), int(rng.integers(bits_per_pe))
        chosen.setdefault((r, c, u), None)
    events = []
    for ordinal, (r, c, u) in enumerate(chosen):
        s = int(np.searchsorted(starts, u, side="right")) - 1
        fault = PeFault(r, c, -1, sites[s], windows[s][0] + u - int(starts[s]), FaultKind.PERMANENT, spec.stuck_value)
        events.append(FaultEvent(permanent_id(ordinal), fault))
    return tuple(events) + _explicit_stuck(spec, len(events))


def _explicit_stuck(spec: FaultSpec, first_ordinal: int) -> tuple[FaultEvent, ...]:
    stuck = [f for f in spec.explicit if f.kind != "transient"]
    return tuple(
        FaultEvent(
            permanent_id(first_ordinal + j),
            PeFault(f.row or 0, f.col or 0, -1, f.site, f.bit, FaultKind.PERMANENT, int(f.kind == "stuck1")),
        )
        for j, f in enumerate(stuck)
    )


def permanent_batch(
    events: Sequence[FaultEvent], fold_ids: np.ndarray, gemm_index: int, instance: int, attempt: int = 0
) -> FaultBatch:
    """Every permanent fault in every listed fold (fold-major); callers check spec.selects(gemm)."""
    fold_ids = np.asarray(fold_ids, np.int64)
    per_fold = FaultBatch.from_faults([e.fault for e in events], 0, gemm_index, instance, attempt)
    n, k = len(per_fold), fold_ids.size
    tiled = {c: np.tile(getattr(per_fold, c), k) for c in _COLUMNS}
    tiled["fold_index"] = np.repeat(fold_ids, n)
    tiled["ordinal"] = np.tile(np.array([int(e.fault_id[1:]) for e in events], np.int64), k)
    return FaultBatch(gemm_index, instance, *(tiled[c] for c in _COLUMNS))
