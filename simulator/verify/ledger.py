"""The fault ledger: every fault of a run and what is left of its error, as parallel arrays.

Struct of arrays, not one object per fault. A `FoldErrors` holds the faults that struck one fold
(every attempt, both DMR copies' first) and the output elements they corrupted:

* per fault (length F): `attempt`, `ordinal`, PE `row` / `col`, fold-local `cycle` (-1 for a
  stuck-at), `site` / `bit` / `mode` codes (kernels.codes), `detected`, `corrected`;
* per corrupted element (length E): `owner` (the fault's index in the fold), fold-block `rows` /
  `cols`, GEMM `grows` / `gcols`, `delta` (faulty - clean accumulator, int64 for int8, float64
  otherwise) and `alive` (the error is still in the output: not rerun, not corrected).

`FaultLedger` maps (gemm, instance, fold) to its FoldErrors and flattens them all into one
`LedgerTable` for the end-of-run classification (verify.fates); faults come in only through
`FoldErrors.add` or `FaultLedger.add_runs` (a pass's parts at once: sampled or explicit faults
with their resolved effects).

Column store: a pass's faults arrive as one batch over many folds (a first pass of a GEMM instance,
a recomputation round), so the ledger keeps each batch once, as a `_Segment` whose per-fault and
per-element state (detected, corrected, alive) every fold's FoldErrors holds as views (numpy slices
share memory, and FoldErrors updates them in place). A part makes those views only when they are
first read: the check kernels read a round's folds straight from the segment (`segment_runs`,
`FoldErrors.element_span`), so most of a 1e-7 run's ~86,000 parts never make their ten views,
and a part that retires leaves a (home, source) record instead of a copy of itself (views keep
their whole buffers alive, and here memory first touched costs CPU time). `FaultLedger.table()`
then concatenates a few
hundred segments instead of one piece per fold pass (a 1e-7 run has ~90,000) and orders them with
one stable sort. A fold part that grows by concatenation (a partial rerun adds faults to a part
with faults) leaves its segment and is kept as a loose part. `table_by_parts` is the plain
per-part flattening, the reference the tests compare `table()` with.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from simulator.abft.protocol import Action, FoldVerification
from simulator.faults.effects import EffectBatch
from simulator.faults.sampling import FaultBatch
from simulator.kernels.codes import P_FOLD_COL, P_FOLD_ROW, P_GEMM_COL, P_GEMM_ROW
from simulator.kernels.error_map import live_error_map
from simulator.kernels.runs import copy_runs

FAULT_COLUMNS = ("attempt", "ordinal", "row", "col", "cycle", "site", "bit", "mode")
ELEMENT_COLUMNS = ("owner", "rows", "cols", "grows", "gcols", "delta", "alive")
_EMPTY = np.zeros(0, np.int64)
_NO_FLAGS = np.zeros(0, bool)
_NO_FAULTS: Mapping[str, np.ndarray] = types.MappingProxyType({c: _EMPTY for c in FAULT_COLUMNS})  # shared, read-only
_TABLE_COLUMNS = ("detected", "corrected", "owner", "grows", "gcols", "delta", "alive")  # FoldErrors -> LedgerTable
_COLUMNS = ("detected", "corrected", "owner", "rows", "cols", "grows", "gcols", "delta", "alive")  # FoldErrors'
_NO_DELTA = {True: np.zeros(0, np.int64), False: np.zeros(0, np.float64)}  # an empty part's delta, by `integer`
_EMPTY_COLUMNS: Mapping[bool, Mapping[str, np.ndarray]] = types.MappingProxyType({  # an empty part's columns
    integer: types.MappingProxyType({**dict.fromkeys(_COLUMNS, _EMPTY), "detected": _NO_FLAGS,
                                     "corrected": _NO_FLAGS, "alive": _NO_FLAGS, "delta": _NO_DELTA[integer]})
    for integer in (True, False)
})  # fmt: skip


class ElementSpan(NamedTuple):
    """A fold part's errors where they lie: elements lo..hi-1 of the columns, `owner` indexing
    `detected` (the per-fault flags a check marks in place)."""

    rows: np.ndarray
    cols: np.ndarray
    delta: np.ndarray
    alive: np.ndarray
    owner: np.ndarray
    lo: int
    hi: int
    detected: np.ndarray
    grows: np.ndarray
    gcols: np.ndarray


class _RetiredHome(NamedTuple):
    """A retired part that held segment rows (FoldErrors.erase): all a reader needs to make it again."""

    home: tuple[_Segment, int, int, int, int]
    source: tuple[FaultBatch, int, int] | None
    faults: Mapping[str, np.ndarray] | None


class _HomeColumn:
    """A FoldErrors column that a part holding a segment's rows reads as a view of the segment,
    made on first read (most parts are checked straight from their segment and never read them).
    A non-data descriptor: once made (or assigned), the view is a plain instance attribute."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, part: FoldErrors | None, owner: type | None = None) -> np.ndarray:
        if part is None:
            return self  # type: ignore[return-value]
        part._materialise()
        return part.__dict__[self.name]


class FoldErrors:
    """The faults of one fold and their errors in its output block (see module docstring)."""

    detected = _HomeColumn()
    corrected = _HomeColumn()
    owner = _HomeColumn()
    rows = _HomeColumn()
    cols = _HomeColumn()
    grows = _HomeColumn()
    gcols = _HomeColumn()
    delta = _HomeColumn()
    alive = _HomeColumn()

    def __init__(
        self,
        kind: str,
        scale: float,
        shape: tuple[int, int],
        integer: bool,
        store: _Store | None = None,
        fold_id: int = -1,
    ) -> None:
        self.kind, self.scale, self.shape = kind, scale, shape
        self._integer = integer
        self._store, self._fold_id = store, fold_id  # the ledger's column store (None: a standalone fold)
        # this part's faults lo..hi-1 and elements e_lo..e_hi-1 of a segment (None: it holds its own arrays)
        self._home: tuple[_Segment, int, int, int, int] | None = None
        self._loose: int = -1  # its slot in the store's loose parts (a part that left its segment)
        self._part: int = -1  # its part number in the store (orders a fold's parts)
        self._faults: Mapping[str, np.ndarray] | None = _NO_FAULTS
        self._source: tuple[FaultBatch, int, int] | None = None  # where `faults` comes from until read
        self.final: Action | None = None
        self.gave_up = False
        # earlier passes' faults, every error rewritten: parts, or where they lie in a segment
        self.retired: list[FoldErrors | _RetiredHome] = []
        # the columns (_COLUMNS) are made on first read: empty, or views of the home segment

    def _materialise(self) -> None:
        """Set every column not set yet: views of the home segment's rows, or empty arrays."""
        d = self.__dict__
        home = self._home
        if home is None:
            made = _EMPTY_COLUMNS[self._integer]
        else:
            seg, lo, hi, e_lo, e_hi = home
            made = {"detected": seg.detected[lo:hi], "corrected": seg.corrected[lo:hi],
                    "owner": seg.owner[e_lo:e_hi] - lo, "rows": seg.rows[e_lo:e_hi], "cols": seg.cols[e_lo:e_hi],
                    "grows": seg.grows[e_lo:e_hi], "gcols": seg.gcols[e_lo:e_hi],
                    "delta": seg.effects.delta[e_lo:e_hi], "alive": seg.alive[e_lo:e_hi]}  # fmt: skip
        if d.keys().isdisjoint(_COLUMNS):  # the usual case: none set yet
            d.update(made)
        else:  # (a caller set some columns of a fresh part: tests do)
            for c, column in made.items():
                d.setdefault(c, column)

    def _forget_columns(self) -> None:
        """Drop the columns (they are made again, from the current home, on the next read)."""
        d = self.__dict__
        if "detected" in d:
            for c in _COLUMNS:
                d.pop(c, None)

    @property
    def faults(self) -> Mapping[str, np.ndarray]:
        """FAULT_COLUMNS of the faults (sliced from the pass's batch when first read: the checks
        never read them)."""
        if self._faults is None:
            assert self._source is not None
            batch, lo, hi = self._source
            self._faults = {c: getattr(batch, c)[lo:hi] for c in FAULT_COLUMNS}
        return self._faults

    @property
    def final_flags(self) -> tuple[bool, bool]:
        """(the final verdict was ACCEPT, the retries ran out): what a fold's faults inherit."""
        return self.final is Action.ACCEPT, self.gave_up

    def parts(self) -> list[FoldErrors]:
        """Every fault of the fold: the retired passes', then the current ones."""
        return [self._revived(r) if isinstance(r, _RetiredHome) else r for r in self.retired] + [self]

    def _revived(self, retired: _RetiredHome) -> FoldErrors:
        """A retired part that held segment rows, as a FoldErrors (read only: columns made on read)."""
        part = object.__new__(FoldErrors)
        part.__dict__.update(kind=self.kind, scale=self.scale, shape=self.shape, _integer=self._integer,
                             _store=self._store, _fold_id=self._fold_id, _home=retired.home, _loose=-1,
                             _part=-1, _faults=retired.faults, _source=retired.source, final=None, gave_up=False,
                             retired=[])  # fmt: skip
        return part

    @property
    def fault_count(self) -> int:
        home = self._home
        if home is not None:
            return home[2] - home[1]
        detected = self.__dict__.get("detected")  # (not made yet: an empty part)
        return 0 if detected is None else int(detected.shape[0])

    def add(self, batch: FaultBatch, lo: int, hi: int, effects: EffectBatch, alive: np.ndarray | None = None) -> None:
        """Faults lo..hi-1 of `batch` (all in this fold) with their effects (rows of `effects` for
        the same faults); `alive`: which of their elements the pass wrote back (default all)."""
        if hi <= lo:
            return
        base = self.fault_count
        if base == 0:  # the common case: the first pass's faults, as views of the shared draw
            self._first(batch, lo, hi, effects, alive)
            return
        if self._store is not None:
            self._store.detach(self)  # the arrays below are this part's own from now on
        mine = self.faults
        self._faults = {c: np.concatenate([mine[c], getattr(batch, c)[lo:hi]]) for c in FAULT_COLUMNS}
        self.detected = np.concatenate([self.detected, np.zeros(hi - lo, bool)])
        self.corrected = np.concatenate([self.corrected, np.zeros(hi - lo, bool)])
        e_lo, e_hi = int(effects.offsets[lo]), int(effects.offsets[hi])
        pos = effects.positions[e_lo:e_hi]
        offsets = effects.offsets
        owner = base + np.repeat(np.arange(hi - lo), offsets[lo + 1 : hi + 1] - offsets[lo:hi])
        keep = np.ones(e_hi - e_lo, bool) if alive is None else alive
        self.owner = np.concatenate([self.owner, owner])
        self.rows = np.concatenate([self.rows, pos[:, P_FOLD_ROW]])
        self.cols = np.concatenate([self.cols, pos[:, P_FOLD_COL]])
        self.grows = np.concatenate([self.grows, pos[:, P_GEMM_ROW]])
        self.gcols = np.concatenate([self.gcols, pos[:, P_GEMM_COL]])
        self.delta = np.concatenate([self.delta, effects.delta[e_lo:e_hi]])
        self.alive = np.concatenate([self.alive, keep])

    def _first(self, batch: FaultBatch, lo: int, hi: int, effects: EffectBatch, alive: np.ndarray | None) -> None:
        self._faults, self._source = None, (batch, lo, hi)
        e_lo, e_hi = int(effects.offsets[lo]), int(effects.offsets[hi])
        if self._store is None:
            pos = effects.positions[e_lo:e_hi]
            offsets = effects.offsets
            self.delta = effects.delta[e_lo:e_hi]
            self.owner = np.repeat(np.arange(hi - lo), offsets[lo + 1 : hi + 1] - offsets[lo:hi])
            self.rows, self.cols = pos[:, P_FOLD_ROW], pos[:, P_FOLD_COL]
            self.grows, self.gcols = pos[:, P_GEMM_ROW], pos[:, P_GEMM_COL]
            self.detected, self.corrected = np.zeros(hi - lo, bool), np.zeros(hi - lo, bool)
            self.alive = np.ones(e_hi - e_lo, bool) if alive is None else alive.copy()
            return
        seg = self._store.segment(batch, effects)  # the batch's shared columns and state
        self._take_home(seg, lo, hi, e_lo, e_hi, self._store.next_part())
        seg.fold[lo:hi], seg.part[lo:hi] = self._fold_id, self._part
        if alive is not None:
            seg.alive[e_lo:e_hi] = alive

    def _take_home(self, seg: _Segment, lo: int, hi: int, e_lo: int, e_hi: int, part: int) -> None:
        """Hold faults lo..hi-1 and elements e_lo..e_hi-1 of `seg` as part number `part` (the
        columns become views of them when first read; the segment's fold / part columns are the
        caller's to set)."""
        self._forget_columns()
        self._home, self._part = (seg, lo, hi, e_lo, e_hi), part

    def element_span(self) -> ElementSpan:
        """Where this part's errors lie, for a kernel to check them without making its columns:
        the home segment's columns and the part's rows of them, or its own columns whole."""
        home = self._home
        if home is None:
            return ElementSpan(self.rows, self.cols, self.delta, self.alive, self.owner, 0, int(self.delta.shape[0]),
                               self.detected, self.grows, self.gcols)  # fmt: skip
        seg, _, _, e_lo, e_hi = home
        return ElementSpan(seg.rows, seg.cols, seg.effects.delta, seg.alive, seg.owner, e_lo, e_hi, seg.detected,
                           seg.grows, seg.gcols)  # fmt: skip

    def erase(self, written: np.ndarray | None) -> None:
        """A recompute pass rewrote the elements in `written` (a mask over the elements; None: all
        of them). When it rewrote them all, the current faults retire: they can no longer change
        (no live error to detect or correct), so later passes start on empty arrays instead of
        growing these."""
        if written is None or written.all():
            home = self._home
            if home is not None:  # in place: the segment holds them (and the part's views, if made, see it)
                home[0].alive[home[3] : home[4]] = False
                self.retired.append(_RetiredHome(home, self._source, self._faults))  # (the segment keeps the rest)
                self._home = None
            elif self.fault_count:
                self.alive.fill(False)
                old = object.__new__(FoldErrors)  # the current arrays, now frozen (a retired part is only read)
                old.__dict__ = {**self.__dict__, "retired": []}
                if self._store is not None and self._loose >= 0:
                    self._store.loose[self._loose] = old
                self._loose = -1
                self.retired.append(old)
            else:
                return  # no fault: nothing to retire
            self._faults, self._source = _NO_FAULTS, None
            self._forget_columns()  # (read again: empty; size 0, so in-place updates change nothing)
            return
        self.alive &= ~written

    def live(self) -> np.ndarray:
        """Mask of the elements whose error is still in the output and not zero."""
        return self.alive & (self.delta != 0)

    def touched_faults(self) -> np.ndarray:
        """Per fault: it changed some accumulator (not masked inside the array)."""
        return np.bincount(self.owner[self.delta != 0], minlength=self.fault_count) > 0

    def mark_detected(self, check: FoldVerification) -> None:
        """Faults with an error still in the output, at a flagged row or column of a detecting
        block (or every such fault when the DMR copies differ), count as detected."""
        detecting = [b for b in check.blocks if b.detected]
        if not (detecting or check.copies_differ):
            return
        live = self.live()
        if check.copies_differ:
            self.detected |= np.bincount(self.owner[live], minlength=self.fault_count) > 0
            return
        row_flag, col_flag = np.zeros(self.shape[0], bool), np.zeros(self.shape[1], bool)
        for b in detecting:
            row_flag[b.flagged_rows] = True
            col_flag[b.flagged_cols] = True
        hit = row_flag[self.rows] | col_flag[self.cols]
        self.detected |= np.bincount(self.owner[live & hit], minlength=self.fault_count) > 0

    def correct(self, check: FoldVerification) -> None:
        """C[i,j] -= RSD_i for each block with one flagged row i and one flagged column j; the
        element's errors are gone exactly when they were the block's only ones in row i."""
        for b in check.blocks:
            if not b.detected:
                continue
            (i,), (j,) = b.flagged_rows.tolist(), b.flagged_cols.tolist()
            at_ij = (self.rows == i) & (self.cols == j) & self.alive
            if self.delta[at_ij].sum() != b.rsd[i - b.row0]:
                continue  # other errors in row i: the correction does not restore the element
            self.alive &= ~at_ij
            self.corrected[self.owner[at_ij]] = True

    def error_map(self, transient_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(element codes row * cols + col, summed error) of the live errors, sorted, zero sums
        dropped; `transient_only` leaves out stuck-at faults (they hit both DMR copies alike).
        One kernels.error_map call."""
        if self._faults is None and self._source is not None:  # the mode column alone, not all of them
            batch, lo, hi = self._source
            mode = batch.mode[lo:hi]
        else:
            mode = self.faults["mode"]
        return live_error_map(self.rows, self.cols, self.delta, self.alive, self.owner, mode, self.shape[1],
                              transient_only)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SegmentRun:
    """Parts of a check round that hold rows of one segment, checkable where they lie: the
    segment's element columns (`owner` indexes its per-fault `detected` flags, which a check
    updates in place, and `mode`) and each member part's elements element_lo[i]..element_hi[i]-1."""

    rows: np.ndarray
    cols: np.ndarray
    delta: np.ndarray
    alive: np.ndarray
    owner: np.ndarray
    detected: np.ndarray
    mode: np.ndarray  # per fault of the segment: FLIP, STUCK0, STUCK1
    members: list[int]  # indices into the parts grouped (segment_runs)
    element_lo: np.ndarray
    element_hi: np.ndarray


def segment_runs(parts: list[FoldErrors]) -> tuple[list[SegmentRun], list[int]]:
    """`parts` grouped by the segment holding them (a round's folds mostly sit in the pass's one
    segment), and the indices of the parts with faults of their own arrays (loose or standalone);
    parts without a fault are in neither."""
    grouped: dict[int, tuple[_Segment, list[int], list[int], list[int]]] = {}
    own: list[int] = []
    for i, part in enumerate(parts):
        home = part._home
        if home is None:
            if part.fault_count:
                own.append(i)
            continue
        seg, _, _, e_lo, e_hi = home
        group = grouped.get(id(seg))
        if group is None:
            group = grouped[id(seg)] = (seg, [], [], [])
        group[1].append(i)
        group[2].append(e_lo)
        group[3].append(e_hi)
    runs = [
        SegmentRun(seg.rows, seg.cols, seg.effects.delta, seg.alive, seg.owner, seg.detected, seg.batch.mode,
                   members, np.array(lo, np.int64), np.array(hi, np.int64))
        for seg, members, lo, hi in grouped.values()
    ]  # fmt: skip
    return runs, own


@dataclass(frozen=True, slots=True)
class LedgerTable:
    """Every fault of a ledger and every element it corrupted, flattened (fault f owns the
    elements with `owner == f`). Fold-level facts are broadcast to the faults."""

    gemm: np.ndarray
    instance: np.ndarray
    fold: np.ndarray
    faults: dict[str, np.ndarray]  # FAULT_COLUMNS
    detected: np.ndarray
    corrected: np.ndarray
    accepted: np.ndarray  # the fold's final verdict was ACCEPT
    gave_up: np.ndarray  # the fold's retries ran out
    owner: np.ndarray
    grows: np.ndarray
    gcols: np.ndarray
    delta: np.ndarray
    alive: np.ndarray
    false_alarm: np.ndarray  # checksum-hardware faults (verify.checksum_checks): flagged a clean row / column
    hidden: np.ndarray  # ... or cleared a flag the data errors raised (False for every PE fault)

    def __len__(self) -> int:
        return int(self.gemm.shape[0])


class AddedFaults(NamedTuple):
    """Faults of another family as ledger rows without corrupted elements (checksum words:
    verify.checksum_checks.ChecksumLog.rows): (gemm, instance, fold) of each, its FAULT_COLUMNS,
    its detected / corrected / false_alarm / hidden flags; each goes after its fold's ledger faults."""

    keys: tuple[np.ndarray, np.ndarray, np.ndarray]
    faults: dict[str, np.ndarray]
    flags: dict[str, np.ndarray]


@dataclass(frozen=True)
class NewElements:
    """Elements corrupted by faults added with `with_added_faults`: `owner` indexes the added faults."""

    owner: np.ndarray
    grows: np.ndarray
    gcols: np.ndarray
    delta: np.ndarray
    alive: np.ndarray


def with_added_faults(
    table: LedgerTable,
    keys: tuple[np.ndarray, np.ndarray, np.ndarray],
    faults: dict[str, np.ndarray],
    flags: dict[str, np.ndarray],
    final_of: dict[tuple[int, int, int], tuple[bool, bool]],
    elements: NewElements | None = None,
) -> LedgerTable:
    """`table` (in (gemm, instance, fold) order, as FaultLedger.table makes it) with n more faults
    (another fault family: checksum words, SRAM words), in (gemm, instance, fold) order with each
    fold's ledger faults first.

    `keys`: (gemm, instance, fold) of each added fault; `faults`: its FAULT_COLUMNS; `flags`: its
    detected / corrected / false_alarm / hidden (each length n); `final_of[(g, i, f)]`: (accepted,
    gave up) of a fold the verifier checked (others: accepted, not given up); `elements`: what the
    added faults corrupted, or None."""
    gemm, instance, fold = keys
    n, m = len(gemm), len(table)
    finals = [final_of.get(k, (True, False)) for k in zip(gemm.tolist(), instance.tolist(), fold.tolist(), strict=True)]
    # a merge, not a sort of m + n rows: the added faults in key order (stable), each placed after
    # the table's rows of its fold and before the next fold's (the table is in key order already)
    new_order = np.lexsort((fold, instance, gemm))
    n_instances = 1 + max(int(table.instance.max(initial=0)), int(instance.max(initial=0)))
    n_folds = 1 + max(int(table.fold.max(initial=0)), int(fold.max(initial=0)))

    def code(g: np.ndarray, i: np.ndarray, f: np.ndarray) -> np.ndarray:  # (gemm, instance, fold) as one int
        return (g.astype(np.int64) * n_instances + i) * n_folds + f

    old_codes = code(table.gemm, table.instance, table.fold)
    if not np.all(old_codes[1:] >= old_codes[:-1]):
        raise ValueError("the ledger table is not in (gemm, instance, fold) order")
    at = np.searchsorted(old_codes, code(gemm, instance, fold)[new_order], side="right")
    del old_codes
    new_position = np.empty(n, np.int64)
    new_position[new_order] = at + np.arange(n)
    old_position = np.arange(m) + np.cumsum(np.bincount(at, minlength=m + 1))[:m]

    def cat(old: np.ndarray, new: np.ndarray) -> np.ndarray:
        out = np.empty(m + n, old.dtype)
        out[old_position] = old
        out[new_position] = new
        return out

    def grown(old: np.ndarray, name: str) -> np.ndarray:
        return old if elements is None else np.concatenate([old, getattr(elements, name).astype(old.dtype, copy=False)])

    owner = old_position[table.owner]
    if elements is not None:
        owner = np.r_[owner, new_position[elements.owner]]
    return LedgerTable(
        gemm=cat(table.gemm, gemm), instance=cat(table.instance, instance), fold=cat(table.fold, fold),
        faults={c: cat(table.faults[c], faults[c]) for c in FAULT_COLUMNS},
        detected=cat(table.detected, flags["detected"]), corrected=cat(table.corrected, flags["corrected"]),
        accepted=cat(table.accepted, np.array([a for a, _ in finals], bool)),
        gave_up=cat(table.gave_up, np.array([g for _, g in finals], bool)),
        owner=owner, grows=grown(table.grows, "grows"), gcols=grown(table.gcols, "gcols"),
        delta=grown(table.delta, "delta"), alive=grown(table.alive, "alive"),
        false_alarm=cat(table.false_alarm, flags["false_alarm"]), hidden=cat(table.hidden, flags["hidden"]),
    )  # fmt: skip


class _Segment:
    """One fault batch of a ledger (a pass over several folds) and the mutable state of its faults
    and elements, which the FoldErrors holding them see as views. `fold`: per fault the ledger's
    fold id that holds it; `part`: its part number (-1: in no fold, or its part left)."""

    __slots__ = ("alive", "batch", "cols", "corrected", "detected", "effects", "fold", "gcols", "grows", "owner",
                 "part", "rows")  # fmt: skip

    def __init__(self, batch: FaultBatch, effects: EffectBatch) -> None:
        n, n_elements = len(batch), int(effects.offsets[-1])
        self.batch, self.effects = batch, effects
        self.owner = np.repeat(np.arange(n), np.diff(effects.offsets))  # each element's fault in the batch
        pos = effects.positions  # column-major: each column a contiguous view (never written)
        self.rows, self.cols = _column(pos, P_FOLD_ROW), _column(pos, P_FOLD_COL)
        self.grows, self.gcols = _column(pos, P_GEMM_ROW), _column(pos, P_GEMM_COL)
        self.detected, self.corrected = np.zeros(n, bool), np.zeros(n, bool)
        self.alive = np.ones(n_elements, bool)
        self.fold, self.part = np.full(n, -1, np.int64), np.full(n, -1, np.int64)


def _column(positions: np.ndarray, j: int) -> np.ndarray:
    """Column j of an EffectBatch's positions, contiguous (a view of column-major positions; a
    copy of others, e.g. a test's hand-made batch)."""
    return np.ascontiguousarray(positions[:, j])


def _no_checksum_flags(n: int) -> dict[str, np.ndarray]:
    """false_alarm / hidden of n PE faults (they are the checksum hardware's flags: False)."""
    return {"false_alarm": np.zeros(n, bool), "hidden": np.zeros(n, bool)}


class _RunSource(NamedTuple):
    """Faults of one segment or loose part for FaultLedger.table: their columns (FAULT_COLUMNS,
    detected, corrected, false_alarm, hidden, fold, part), the element columns that hold their elements, and per fault
    where its run of elements starts in them and how long it is."""

    faults: dict[str, np.ndarray]
    elements: dict[str, np.ndarray]
    starts: np.ndarray
    sizes: np.ndarray


class _Store:
    """A ledger's segments, its loose parts, and the part counter that orders a fold's parts."""

    def __init__(self) -> None:
        self.segments: list[_Segment] = []
        self.loose: list[FoldErrors] = []
        self.parts = 0

    def next_part(self) -> int:
        self.parts += 1
        return self.parts - 1

    def segment(self, batch: FaultBatch, effects: EffectBatch) -> _Segment:
        last = self.segments[-1] if self.segments else None
        if last is None or last.batch is not batch or last.effects is not effects:
            last = _Segment(batch, effects)
            self.segments.append(last)
        return last

    def detach(self, part: FoldErrors) -> None:
        """`part` is about to own its arrays: its segment rows stop counting, the part is loose."""
        if part._home is None:
            return
        part._materialise()  # its views of the segment, which the part concatenates onto
        seg, lo, hi, _, _ = part._home
        seg.part[lo:hi] = -1
        part._home, part._loose = None, len(self.loose)
        self.loose.append(part)


class FaultLedger:
    """Every fold's FoldErrors of a run, by (gemm index, instance, fold index)."""

    def __init__(self, integer: bool) -> None:
        self.integer = integer
        self.folds: dict[tuple[int, int, int], FoldErrors] = {}
        self._store = _Store()

    def fold(self, key: tuple[int, int, int], kind: str, scale: float, shape: tuple[int, int]) -> FoldErrors:
        state = self.folds.get(key)
        if state is None:
            state = self.folds[key] = FoldErrors(kind, scale, shape, self.integer, self._store, len(self.folds))
        return state

    def add_runs(
        self, batch: FaultBatch, effects: EffectBatch, runs: list[tuple[FoldErrors, int, int, np.ndarray | None]]
    ) -> None:
        """`part.add(batch, lo, hi, effects, written)` for each (part, lo, hi, written) of one pass
        (runs in batch order, one per part): parts without faults that keep every element take
        their rows of the pass's segment together (the segment's fold / part columns set once)."""
        fresh: list[tuple[int, int, int, int]] = []  # (lo, hi, fold id, part number)
        seg: _Segment | None = None
        for part, lo, hi, written in runs:
            if hi <= lo:
                continue
            if written is not None or part.fault_count or part._store is not self._store:
                part.add(batch, lo, hi, effects, written)
                continue
            if seg is None:
                seg = self._store.segment(batch, effects)
            part._faults, part._source = None, (batch, lo, hi)
            number = self._store.next_part()
            part._take_home(seg, lo, hi, int(effects.offsets[lo]), int(effects.offsets[hi]), number)
            fresh.append((lo, hi, part._fold_id, number))
        if seg is None or not fresh:
            return
        lows, highs, fold_ids, numbers = (np.array(c, np.int64) for c in zip(*fresh, strict=True))
        counts = highs - lows
        rows = np.repeat(lows - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        seg.fold[rows], seg.part[rows] = np.repeat(fold_ids, counts), np.repeat(numbers, counts)

    @property
    def loose_parts(self) -> int:
        """How many fold parts left their segment (they grew by concatenation)."""
        return len(self._store.loose)

    def table(self, added: AddedFaults | None = None) -> LedgerTable:
        """Flatten the ledger in (gemm, instance, fold) order, each fold's parts in the order they
        began, each part's faults in their order (as `table_by_parts`), then the fold's `added`
        faults in their order (as with_added_faults would add them; their folds must be the
        ledger's): one stable sort of the faults by (fold, part); then each fault column is
        concatenated and reordered one at a time, and each element column is written once, every
        fault's run of elements moved from where its segment or loose part holds it straight to
        its place (kernels.runs.copy_runs)."""
        keys = np.array(list(self.folds), np.int64).reshape(-1, 3)  # fold id -> key (ids in insertion order)
        finals = np.array([s.final_flags for s in self.folds.values()], bool).reshape(-1, 2)
        rank = np.empty(len(keys), np.int64)
        rank[np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))] = np.arange(len(keys))
        sources = [*self._segment_sources(), *self._loose_sources()]
        if added is not None:
            sources.append(self._added_source(added))
        if not sources:
            return self._empty_table()
        fold = np.concatenate([src.faults["fold"] for src in sources])
        order = np.lexsort((np.concatenate([src.faults["part"] for src in sources]), rank[fold]))
        position = np.empty(order.shape[0], np.int64)
        position[order] = np.arange(order.shape[0])
        sizes = np.concatenate([src.sizes for src in sources])[order]  # elements per fault, table order
        ends = np.cumsum(sizes)
        dst_start = (ends - sizes)[position]  # per fault (sources' order), where its elements go
        n_elements = int(ends[-1]) if ends.size else 0
        elements: dict[str, np.ndarray] = {}
        for c, dtype in (("grows", np.int64), ("gcols", np.int64), ("alive", bool),
                         ("delta", np.int64 if self.integer else np.float64)):  # fmt: skip
            out = elements[c] = np.empty(n_elements, dtype)
            n0 = 0
            for src in sources:
                n = src.sizes.shape[0]
                copy_runs(src.elements[c], src.starts, src.sizes, dst_start[n0 : n0 + n], out)
                n0 += n

        def column(c: str) -> np.ndarray:  # one fault column in table order, each source's rows put in place
            pieces = [src.faults[c] for src in sources]  # (no concatenated copy to gather from: ~3x faster)
            out = np.empty(position.shape[0], np.result_type(*pieces))
            n0 = 0
            for piece in pieces:
                out[position[n0 : n0 + piece.shape[0]]] = piece
                n0 += piece.shape[0]
            return out

        fold = fold[order]
        n_faults = order.shape[0]
        return LedgerTable(
            gemm=keys[fold, 0], instance=keys[fold, 1], fold=keys[fold, 2],
            faults={c: column(c) for c in FAULT_COLUMNS}, detected=column("detected"),
            corrected=column("corrected"), accepted=finals[fold, 0], gave_up=finals[fold, 1],
            owner=np.repeat(np.arange(n_faults), sizes), grows=elements["grows"], gcols=elements["gcols"],
            delta=elements["delta"], alive=elements["alive"], false_alarm=column("false_alarm"),
            hidden=column("hidden"),
        )  # fmt: skip

    def _added_source(self, added: AddedFaults) -> _RunSource:
        """`added` as a source of the table: each fault in its fold, after every part (no elements)."""
        ids = {k: i for i, k in enumerate(self.folds)}
        gemm, instance, fold = added.keys
        n = gemm.shape[0]
        try:
            fold_ids = [ids[k] for k in zip(gemm.tolist(), instance.tolist(), fold.tolist(), strict=True)]
        except KeyError as exc:
            raise ValueError(f"an added fault's fold {exc.args[0]} is not in the ledger") from None
        pieces = {c: added.faults[c].astype(np.int64, copy=False) for c in FAULT_COLUMNS}
        pieces |= {c: added.flags[c].astype(bool, copy=False) for c in ("detected", "corrected", "false_alarm",
                                                                         "hidden")}  # fmt: skip
        pieces |= {"fold": np.array(fold_ids, np.int64), "part": np.full(n, np.iinfo(np.int64).max)}
        no_elements = {"grows": _EMPTY, "gcols": _EMPTY, "alive": _NO_FLAGS, "delta": _NO_DELTA[self.integer]}
        return _RunSource(pieces, no_elements, np.zeros(n, np.int64), np.zeros(n, np.int64))

    def _segment_sources(self) -> list[_RunSource]:
        """Each segment's faults still in a part (all of them, as views, in the common case) and
        where their elements lie in its columns."""
        sources = []
        for seg in self._store.segments:
            kept = seg.part >= 0
            mine = np.flatnonzero(kept)
            if mine.size == 0:
                continue
            faults: slice | np.ndarray = slice(None) if mine.size == kept.size else mine
            offsets = seg.effects.offsets
            pieces = {c: getattr(seg.batch, c)[faults] for c in FAULT_COLUMNS}
            pieces |= {"detected": seg.detected[faults], "corrected": seg.corrected[faults],
                       "fold": seg.fold[faults], "part": seg.part[faults]}  # fmt: skip
            pieces |= _no_checksum_flags(pieces["fold"].shape[0])
            columns = {"grows": seg.grows, "gcols": seg.gcols, "delta": seg.effects.delta, "alive": seg.alive}
            sources.append(_RunSource(pieces, columns, offsets[:-1][faults], np.diff(offsets)[faults]))
        return sources

    def _loose_sources(self) -> list[_RunSource]:
        """Each loose part's faults and elements (a fault's elements are contiguous: owners ascend)."""
        sources = []
        for part in self._store.loose:
            n = part.fault_count
            if n == 0:
                continue
            pieces = {c: part.faults[c] for c in FAULT_COLUMNS}
            pieces |= {"detected": part.detected, "corrected": part.corrected, "fold": np.full(n, part._fold_id),
                       "part": np.full(n, part._part)}  # fmt: skip
            pieces |= _no_checksum_flags(n)
            columns = {"grows": part.grows, "gcols": part.gcols, "delta": part.delta, "alive": part.alive}
            sizes = np.bincount(part.owner, minlength=n)
            sources.append(_RunSource(pieces, columns, np.cumsum(sizes) - sizes, sizes))
        return sources

    def _empty_table(self) -> LedgerTable:
        none = np.zeros(0, bool)
        return LedgerTable(
            gemm=_EMPTY, instance=_EMPTY, fold=_EMPTY, faults={c: _EMPTY for c in FAULT_COLUMNS}, detected=none,
            corrected=none, accepted=none, gave_up=none, owner=_EMPTY, grows=_EMPTY, gcols=_EMPTY,
            delta=np.zeros(0, np.int64 if self.integer else np.float64), alive=none, false_alarm=none, hidden=none,
        )  # fmt: skip

    def table_by_parts(self) -> LedgerTable:
        """`table()` the plain way, one piece per fold part (the reference the tests compare it with)."""
        fault_parts: dict[str, list[np.ndarray]] = {c: [] for c in FAULT_COLUMNS}
        columns: dict[str, list[np.ndarray]] = {c: [] for c in _TABLE_COLUMNS}
        keys, counts, sizes, finals = [], [], [], []
        for k in sorted(self.folds):
            fold = self.folds[k]  # fold-level facts live on the fold's current part
            for part in fold.parts():
                keys.append(k)
                counts.append(part.fault_count)
                sizes.append(part.owner.shape[0])
                finals.append(fold.final_flags)
                for c, pieces in fault_parts.items():
                    pieces.append(part.faults[c])
                for c, pieces in columns.items():
                    pieces.append(getattr(part, c))
        n_faults = np.array(counts, np.int64)
        base = np.repeat(np.cumsum(n_faults) - n_faults, np.array(sizes, np.int64))
        key_arr = np.array(keys, np.int64).reshape(-1, 3)
        fold_facts = np.array(finals, bool).reshape(-1, 2)
        empty = {"delta": np.zeros(0, np.int64 if self.integer else np.float64), "owner": _EMPTY,
                 "grows": _EMPTY, "gcols": _EMPTY}  # fmt: skip
        cat = {c: np.concatenate(p) if p else empty.get(c, np.zeros(0, bool)) for c, p in columns.items()}
        return LedgerTable(
            gemm=np.repeat(key_arr[:, 0], n_faults), instance=np.repeat(key_arr[:, 1], n_faults),
            fold=np.repeat(key_arr[:, 2], n_faults),
            faults={c: np.concatenate(p) if p else _EMPTY for c, p in fault_parts.items()},
            detected=cat["detected"], corrected=cat["corrected"], accepted=np.repeat(fold_facts[:, 0], n_faults),
            gave_up=np.repeat(fold_facts[:, 1], n_faults), owner=cat["owner"] + base, grows=cat["grows"],
            gcols=cat["gcols"], delta=cat["delta"], alive=cat["alive"],
            false_alarm=np.zeros(int(n_faults.sum()), bool), hidden=np.zeros(int(n_faults.sum()), bool),
        )  # fmt: skip

    def finals(self) -> dict[tuple[int, int, int], tuple[bool, bool]]:
        """(accepted, gave up) of every fold the verifier checked (FoldErrors.final_flags), by key."""
        return {k: s.final_flags for k, s in self.folds.items()}

    def given_up(self) -> int:
        return sum(s.gave_up for s in self.folds.values())
