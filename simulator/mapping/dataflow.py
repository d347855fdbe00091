"""Dataflow geometry: one object per dataflow that answers every geometric question about its folds.

GEMM C[M,N] = A[M,K] @ B[K,N] on an array of R rows x C cols (PE(r, c), r down, c right).

| dataflow | array rows <- | array cols <- | temporal (T) | stationary in PE(r, c)        |
|----------|---------------|---------------|--------------|-------------------------------|
| OS       | M (i)         | N (j)         | K (k)        | C[i0+r, j0+c] (accumulator)   |
| WS       | K (k)         | N (j)         | M (i)        | B[k0+r, j0+c] (weight)        |
| IS       | K (k)         | M (i)         | N (j)        | A[i0+c, k0+r] (activation)    |

Timing inside one fold (fold-local cycle t, 0-based), with input skew as in SCALE-Sim:

* OS: A[i0+r, k] enters PE(r, 0) at cycle r + k and moves right one PE per cycle; B[k, j0+c]
  enters PE(0, c) at cycle c + k and moves down. PE(r, c) does the MAC of temporal index
  tau = k at t = r + c + tau and keeps the sum. Fold length R + C + T - 2 cycles.
* WS: weights are preloaded in R cycles (t = 0..R-1). The moving operand (A[i, k0+r] for
  tau = i) enters PE(r, 0) at cycle R + r + tau and moves right; partial sums move down, so
  PE(r, c) does the MAC of tau at t = R + r + c + tau and passes psum_r (the sum over the
  fold's first r+1 K-indices) to PE(r+1, c); the sum leaves PE(R_used-1, c) as the fold's
  partial output. Fold length 2R + C + T - 2 cycles.
* IS: the mirror of WS with A stationary: PE(r, c) holds A[i0+c, k0+r]; B[k0+r, j] (tau = j)
  enters PE(r, 0) at R + r + tau and moves right; psums move down; the output is C[i0+c, j].

Fold lengths use the full array size R, C even for a partly used edge fold, as SCALE-Sim
does (the skew of an array does not shrink because a fold is small).

Fold order (the loop nest of a GEMM's folds): OS walks row-blocks of M outer and col-blocks of N
inner (an A row-block is reused across N); WS walks col-blocks of N outer and K-blocks inner (a C
column-block accumulates over K); IS walks col-blocks of M outer and K-blocks inner.

Tensors on the fold grid (the blocks of a GEMM's folds, `fold_rows x fold_cols`; mapping.loop_order
walks it): a tensor's block changes along the grid axes whose GEMM dimension it holds. The one
holding both spatial dimensions is the stationary one (OS: C, WS: B, IS: A), each of its blocks
used by a single fold; each other tensor follows one grid axis alone (OS: A rows, B cols; WS: A
rows, C cols; IS: B rows, C cols). When K lies on the array rows (WS, IS) an output's sum is split
over the row-blocks, so partial sums pass between folds through SRAM C; in OS each sum stays in
its PE. The schedule's residency rule and per-fold traffic (mapping.schedule) ask these facts.

Every fact above is written once, in the `DataflowGeometry` of its dataflow; `geometry_of` maps
the configuration enum to it. Only the numba kernels and the emulator branch on the dataflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import ClassVar, TypeVar

import numpy as np

from simulator.config.enums import Dataflow
from simulator.kernels import codes

BlockIndex = TypeVar("BlockIndex", int, np.ndarray)  # one fold index, or an integer array of them

ROWS = "rows"  # the fold grid's axes: blocks along the array's rows / cols (mapping.loop_order)
COLS = "cols"
AXES = (ROWS, COLS)
TENSOR_DIMS = {"a": ("m", "k"), "b": ("k", "n"), "c": ("m", "n")}  # A[M,K] @ B[K,N] = C[M,N]


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True, slots=True)
class FoldShape:
    """How one GEMM's dimensions map onto the array for a dataflow."""

    spatial_rows: int  # GEMM extent mapped on array rows
    spatial_cols: int  # GEMM extent mapped on array cols
    temporal: int  # T, streamed in time


@dataclass(frozen=True, slots=True)
class Fold:
    """One fold: a rows_used x cols_used block of the spatial GEMM extents, streamed over T.

    `row0` / `col0` are offsets into the GEMM dimensions that the dataflow maps on the array's
    rows / cols (OS: M / N, WS: K / N, IS: K / M).
    """

    index: int
    row0: int
    col0: int
    rows_used: int
    cols_used: int
    temporal: int  # temporal steps this fold streams (a K chunk's extent when K is split)
    t0: int = 0  # first temporal index (OS: the chunk's k0; 0 when the fold streams all of T)

    @property
    def active_macs(self) -> int:
        return self.rows_used * self.cols_used * self.temporal


@dataclass(frozen=True, slots=True)
class PassWork:
    """Geometry of one recompute pass over part of a fold's output block (priced by mapping.region)."""

    steps: int  # temporal steps streamed
    outputs: int  # output elements written
    macs: int
    a_read_words: int  # operand words read from SRAM A
    b_read_words: int
    c_read_outputs: int  # partial sums read back to accumulate into (0 when the sum stays in the PE)


class DataflowGeometry:
    """The geometric facts of one dataflow (see the module docstring); subclasses fill the table.

    `dims` names the GEMM dimension on (array rows, array cols, time); `outer_dim` is the
    spatial dimension whose blocks form the outer loop of the fold order.
    """

    kind: ClassVar[Dataflow]
    kernel_code: ClassVar[int]  # the integer the numba kernels branch on (kernels.codes)
    dims: ClassVar[tuple[str, str, str]]
    outer_dim: ClassVar[str]
    preload_rows: ClassVar[bool]  # a stationary operand is preloaded through the R rows first
    # The middle operand counts as whole-resident (its blocks joining one buffer) only when a later
    # super-block reads it again: OS, whose single super-block (the historical row-major order)
    # streams each A row-block through a buffer of its own. WS/IS keep it whole whenever it fits.
    whole_middle_needs_reuse: ClassVar[bool]

    # -- shape ---------------------------------------------------------------------------------
    def fold_shape(self, m: int, k: int, n: int) -> FoldShape:
        """The (rows, cols, temporal) GEMM extents (DESIGN.md section 3)."""
        extent = {"m": m, "k": k, "n": n}
        return FoldShape(*(extent[d] for d in self.dims))

    def fold_grid(self, m: int, k: int, n: int, rows: int, cols: int) -> tuple[int, int]:
        """Number of folds along the array's rows and cols."""
        shape = self.fold_shape(m, k, n)
        return ceil_div(shape.spatial_rows, rows), ceil_div(shape.spatial_cols, cols)

    # -- timing --------------------------------------------------------------------------------
    def fill_drain_cycles(self, rows: int, cols: int) -> int:
        """Cycles of one fold that are not streaming: weight preload (WS/IS), skew fill and drain."""
        return self._preload_cycles(rows) + rows + cols - 2

    def fold_cycles(self, rows: int, cols: int, temporal: int) -> int:
        """Latency of one fold: OS R + C + T - 2, WS and IS 2R + C + T - 2 (SCALE-Sim's count)."""
        return self.fill_drain_cycles(rows, cols) + temporal

    def issue_interval_cycles(self, rows: int, cols: int, temporal: int, fold_overlap: bool) -> int:
        """Cycles from the start of one fold to the start of the next one.

        Without overlap every fold pays its own fill and drain. With overlap the next fold's
        operands stream in right behind the current ones (OS: T cycles later); in WS/IS the next
        fold's weights preload through the R rows while the current fold streams, so the next
        fold can start max(T, R) cycles later.
        """
        if not fold_overlap:
            return self.fold_cycles(rows, cols, temporal)
        return max(temporal, self._preload_cycles(rows))

    def drain_cycles(self, rows: int) -> int:
        """Cycles each output word spends in the accumulator drain registers on its way to SRAM C, after the
        check: OS keeps C in the PEs and shifts each column's R accumulators out through its column's
        drain chain, R words over R cycles, every word held in the chain for those R cycles; WS / IS
        partial sums leave the last PE row as they complete (they already move down the array as the
        computation, site `acc`) and pass one edge output register (1 cycle)."""
        return rows if self.streams_k else 1

    def mac_cycle(self, rows: int, r: BlockIndex, c: BlockIndex, tau: BlockIndex) -> BlockIndex:
        """Fold-local cycle at which PE(r, c) performs the MAC of temporal index tau."""
        return self._preload_cycles(rows) + r + c + tau

    def mac_tau(self, rows: int, r: int, c: int, cycle: int) -> int:
        """Temporal index of the MAC PE(r, c) performs at a fold-local cycle (may be out of range)."""
        return cycle - self._preload_cycles(rows) - r - c

    def _preload_cycles(self, rows: int) -> int:
        return rows if self.preload_rows else 0

    # -- fold order ----------------------------------------------------------------------------
    def loop_nest(self, fold_rows: int, fold_cols: int) -> tuple[int, int]:
        """(outer blocks, inner blocks) of the fold order."""
        return (fold_rows, fold_cols) if self._outer_is_rows else (fold_cols, fold_rows)

    def fold_blocks(self, fold_rows: int, fold_cols: int, index: BlockIndex) -> tuple[BlockIndex, BlockIndex]:
        """(row-block, col-block) of fold `index` in execution order; `index` may be an int or an
        integer array."""
        _, inner = self.loop_nest(fold_rows, fold_cols)
        outer_block, inner_block = divmod(index, inner)
        return (outer_block, inner_block) if self._outer_is_rows else (inner_block, outer_block)

    def block_position(self, fold: Fold) -> tuple[int, int]:
        """(outer, inner) GEMM offsets of a fold in the loop nest: (0, x) is the first outer block."""
        return (fold.row0, fold.col0) if self._outer_is_rows else (fold.col0, fold.row0)

    def fold_at(self, m: int, k: int, n: int, rows: int, cols: int, index: int) -> Fold:
        """Fold `index` of a GEMM on the array, in execution order (fold_blocks)."""
        fr, fc = self.fold_grid(m, k, n, rows, cols)
        br, bc = self.fold_blocks(fr, fc, index)
        return self.fold_of_block(m, k, n, rows, cols, index, int(br), int(bc))

    def fold_of_block(
        self,
        m: int,
        k: int,
        n: int,
        rows: int,
        cols: int,
        index: int,
        br: int,
        bc: int,
        chunk: int = 0,
        chunks: int = 1,
    ) -> Fold:
        """The fold that executes `index`-th and covers grid block (`br`, `bc`) and K chunk `chunk`
        of `chunks` (temporal_chunk): any loop order's fold."""
        shape = self.fold_shape(m, k, n)
        row0, col0 = br * rows, bc * cols
        t0, steps = temporal_chunk(shape.temporal, chunks, chunk)
        return Fold(
            index=index,
            row0=row0,
            col0=col0,
            rows_used=min(rows, shape.spatial_rows - row0),
            cols_used=min(cols, shape.spatial_cols - col0),
            temporal=steps,
            t0=t0,
        )

    @property
    def _outer_is_rows(self) -> bool:
        return self.outer_dim == self.dims[0]

    @property
    def reused_operand(self) -> str:
        """The operand ("a" or "b") that every outer block streams again: the one without the
        outer dimension (OS: B, WS: A, IS: B), so the one worth keeping whole on chip."""
        return "a" if self.outer_dim not in ("m", "k") else "b"

    # -- tensors on the fold grid (what the schedule's residency and traffic rules ask) ----------
    def grid_dim(self, axis: str) -> str:
        """The GEMM dimension whose blocks the fold grid's `axis` (ROWS or COLS) walks."""
        return self.dims[AXES.index(axis)]

    def axes_of(self, tensor: str) -> tuple[str, ...]:
        """The grid axes along which `tensor`'s ("a", "b" or "c") block changes: those whose GEMM
        dimension it holds. Its block is read again for every block along the other axes."""
        return self._tensors()[0][tensor]

    def tensor_on_axis(self, axis: str) -> str:
        """The tensor that follows grid `axis` alone: what a super-block grouping that axis keeps
        (OS: A on rows, B on cols; WS/IS: the partial sums C on cols), or what the middle axis
        streams (WS: A on rows, IS: B on rows)."""
        return self._tensors()[1][axis]

    @property
    def stationary_tensor(self) -> str:
        """The tensor that stays in the PEs, each block used by one fold (OS: C, WS: B, IS: A)."""
        (tensor,) = (t for t, axes in self._tensors()[0].items() if axes == AXES)
        return tensor

    @classmethod
    @cache
    def _tensors(cls) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
        """(tensor -> its grid axes, grid axis -> the tensor on it alone), derived once from `dims`
        (the schedule asks them for every fold)."""
        axes = {t: tuple(axis for axis in AXES if cls.dims[AXES.index(axis)] in d) for t, d in TENSOR_DIMS.items()}
        alone = {axis: t for t, held in axes.items() for axis in held if held == (axis,)}
        return axes, alone

    @property
    def groupable_axes(self) -> tuple[str, ...]:
        """Grid axes a super-block may group: those that walk output blocks (OS: rows M or cols N;
        WS/IS: cols only, their rows walk K, the middle axis that sums into the group's outputs)."""
        return tuple(axis for axis in AXES if self.grid_dim(axis) != "k")

    @property
    def streams_k(self) -> bool:
        """Whether K is the temporal dimension (OS), so a fold's K range can be cut into chunks
        whose partial sums accumulate through SRAM C (mapping.loop_order, `mapping.k_chunk`)."""
        return self.dims[2] == "k"

    @property
    def reduction_axis(self) -> str | None:
        """The grid axis that splits each output's K sum over several folds (WS/IS: rows), whose
        partial sums then pass between folds through SRAM C; None when K is temporal (OS)."""
        return next((axis for axis in AXES if self.grid_dim(axis) == "k"), None)

    def temporal_extent(self, m: int, k: int, n: int) -> int:
        """T of every fold of the GEMM: the extent streamed in time (OS: K, WS: M, IS: N)."""
        return self.fold_shape(m, k, n).temporal

    def block_elements(self, fold: Fold) -> dict[str, int]:
        """Elements of the A block, the B block and the output block C one fold touches."""
        extent = dict(zip(self.dims, (fold.rows_used, fold.cols_used, fold.temporal), strict=True))
        return {t: extent[d0] * extent[d1] for t, (d0, d1) in TENSOR_DIMS.items()}

    # -- operand and output blocks ---------------------------------------------------------------
    def operand_blocks(self, fold: Fold, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The operand blocks one fold consumes (views into A[M,K] and B[K,N])."""
        cut = self._cuts(fold)
        return a[cut["m"], cut["k"]], b[cut["k"], cut["n"]]

    def output_block(self, fold: Fold, m: int, n: int) -> tuple[slice, slice]:
        """The slice of C[M,N] a fold writes (WS/IS folds write partial sums over their K range)."""
        cut = self._cuts(fold)
        return _bounded(cut["m"], m), _bounded(cut["n"], n)

    def output_block_shape(self, fold: Fold, m: int, n: int) -> tuple[int, int]:
        """(rows, cols) of the fold's output block, the index space of a recompute Region."""
        rows, cols = self.output_block(fold, m, n)
        return rows.stop - rows.start, cols.stop - cols.start

    def reduction_extent(self, fold: Fold) -> int:
        """How many K terms one output of the fold sums: all of T (OS) or the used PE rows."""
        return fold.temporal if self.dims[2] == "k" else fold.rows_used

    def block_extents(self, a_block: np.ndarray, b_block: np.ndarray) -> tuple[int, int, int]:
        """(rows_used, cols_used, T) of a fold from its operand blocks (the operand_blocks layout);
        ValueError when the blocks are not 2-D or do not fit together."""
        if a_block.ndim != 2 or b_block.ndim != 2:
            raise ValueError("operand blocks must be 2-D")
        (am, ak), (bk, bn) = a_block.shape, b_block.shape
        if ak != bk:
            raise ValueError(f"operand blocks {a_block.shape} and {b_block.shape} do not fit a {self.kind} fold")
        extent = {"m": am, "k": ak, "n": bn}
        ru, cu, temporal = (extent[d] for d in self.dims)
        return ru, cu, temporal

    def _cuts(self, fold: Fold) -> dict[str, slice]:
        """The slice of each GEMM dimension a fold covers (the temporal one: its chunk, all of T
        unless K is split)."""
        rows_dim, cols_dim, time_dim = self.dims
        return {
            rows_dim: slice(fold.row0, fold.row0 + fold.rows_used),
            cols_dim: slice(fold.col0, fold.col0 + fold.cols_used),
            time_dim: slice(fold.t0, fold.t0 + fold.temporal),
        }

    # -- recomputation -------------------------------------------------------------------------
    def recompute_work(self, fold: Fold, out_rows: int | None, out_cols: int | None, elements: int | None) -> PassWork:
        """One pass over `out_rows` x `out_cols` distinct output rows/cols of the fold's output block
        (None: all of them), or over `elements` distinct (row, col) pairs.

        A pass streams only the temporal steps it needs. When both output axes are spatial (OS)
        every output needs all T steps on its own PE; otherwise the output axis that is temporal
        sets the steps and the spatial one the active array columns, each summing over the used
        PE rows, with partial sums read back from SRAM C.
        """
        ru, cu, t = fold.rows_used, fold.cols_used, fold.temporal
        time_dim = self.dims[2]  # the output block's rows are M, its cols N
        if time_dim == "k":
            pr = ru if out_rows is None else out_rows
            pc = cu if out_cols is None else out_cols
            outputs = elements if elements is not None else pr * pc
            a_words, b_words = pr * t, t * pc
            return PassWork(t, outputs, outputs * t, a_words, b_words, 0)
        temporal_sel, spatial_sel = (out_rows, out_cols) if time_dim == "m" else (out_cols, out_rows)
        steps = t if temporal_sel is None else temporal_sel
        active = cu if spatial_sel is None else spatial_sel
        outputs = steps * active
        stationary, streamed = ru * active, ru * steps
        # the operand holding the temporal dimension streams; the other one is stationary
        a_words, b_words = (streamed, stationary) if time_dim == "m" else (stationary, streamed)
        return PassWork(steps, outputs, ru * active * steps, a_words, b_words, outputs)


def k_chunk_count(k: int, k_chunk: int | None) -> int:
    """Chunks a streamed K is cut into so that none is longer than `k_chunk` (None: one, all of K)."""
    return 1 if k_chunk is None or k_chunk >= k else ceil_div(k, k_chunk)


def temporal_chunk(temporal: int, chunks: int, chunk: BlockIndex) -> tuple[BlockIndex, BlockIndex]:
    """(first step, steps) of chunk `chunk` of `chunks` over a temporal extent: every chunk but the
    last streams ceil(T / chunks) steps, the last the rest (at most `chunks` - 1 fewer), so all
    chunks but one cost the same and none is longer than the configured bound."""
    size = ceil_div(temporal, chunks)
    t0 = chunk * size
    return t0, np.minimum(size, temporal - t0) if not isinstance(t0, int) else min(size, temporal - t0)


def _bounded(cut: slice, extent: int) -> slice:
    return slice(0, extent) if cut.start is None else cut


class OutputStationary(DataflowGeometry):
    """OS: C stays in the PEs; spatial M x N, temporal K."""

    kind = Dataflow.OS
    kernel_code = codes.OS
    dims = ("m", "n", "k")
    outer_dim = "m"
    preload_rows = False
    whole_middle_needs_reuse = True


class WeightStationary(DataflowGeometry):
    """WS: B is preloaded into the PEs; spatial K x N, temporal M."""

    kind = Dataflow.WS
    kernel_code = codes.WS
    dims = ("k", "n", "m")
    outer_dim = "n"
    preload_rows = True
    whole_middle_needs_reuse = False


class InputStationary(DataflowGeometry):
    """IS: A is preloaded into the PEs; spatial K x M, temporal N (the mirror of WS)."""

    kind = Dataflow.IS
    kernel_code = codes.IS
    dims = ("k", "m", "n")
    outer_dim = "m"
    preload_rows = True
    whole_middle_needs_reuse = False


GEOMETRIES: dict[Dataflow, DataflowGeometry] = {
    g.kind: g for g in (OutputStationary(), WeightStationary(), InputStationary())
}


def geometry_of(dataflow: Dataflow) -> DataflowGeometry:
    """The geometry object of a configured dataflow."""
    return GEOMETRIES[dataflow]


# The free functions below are the original entry points; each asks the geometry object.
def fold_shape(dataflow: Dataflow, m: int, k: int, n: int) -> FoldShape:
    return geometry_of(dataflow).fold_shape(m, k, n)


def fill_drain_cycles(dataflow: Dataflow, rows: int, cols: int) -> int:
    return geometry_of(dataflow).fill_drain_cycles(rows, cols)


def fold_cycles(dataflow: Dataflow, rows: int, cols: int, temporal: int) -> int:
    return geometry_of(dataflow).fold_cycles(rows, cols, temporal)


def issue_interval_cycles(dataflow: Dataflow, rows: int, cols: int, temporal: int, fold_overlap: bool) -> int:
    return geometry_of(dataflow).issue_interval_cycles(rows, cols, temporal, fold_overlap)


def mac_cycle(dataflow: Dataflow, rows: int, r: int, c: int, tau: int) -> int:
    return geometry_of(dataflow).mac_cycle(rows, r, c, tau)


def mac_tau(dataflow: Dataflow, rows: int, r: int, c: int, cycle: int) -> int:
    return geometry_of(dataflow).mac_tau(rows, r, c, cycle)
