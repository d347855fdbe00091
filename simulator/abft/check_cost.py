"""What checking one fold costs: checksum encode/verify work, or a duplicate pass (DMR)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.abft.protocol import CheckWork
from simulator.config.enums import Placement
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold

_AUGMENTED = ("m", "n")  # GEMM dimensions a checksum row / column extends: (M+1, K, N+1)


@dataclass(frozen=True, slots=True)
class CheckExtents:
    """A fold's output block (out_rows x out_cols) and the K-extent its sums run over."""

    out_rows: int
    out_cols: int
    k_inner: int


def check_extents(s: GemmSchedule, fold: Fold) -> CheckExtents:
    """OS: ru x cu outputs over all K; WS: M x cu partial sums over ru; IS: cu x N over ru."""
    out_rows, out_cols = s.geometry.output_block_shape(fold, s.gemm.m, s.gemm.n)
    return CheckExtents(out_rows, out_cols, s.geometry.reduction_extent(fold))


def pass_cycles(s: GemmSchedule) -> int:
    """Array cycles one more fold pass adds: the issue interval (= fold cycles without overlap)."""
    return s.issue_interval_cycles


def abft_check_work(s: GemmSchedule, fold: Fold, placement: Placement, block: tuple[int, int] = (0, 0)) -> CheckWork:
    """Huang-Abraham checking of one fold, in check blocks of `block` = (rows, cols) outputs (0: the
    fold's extent), i.e. nb_r x nb_c blocks over the fold's r x c outputs and its K-extent k.

    Encoding: e^T A per block row (r - nb_r) k adds and B e per block column k (c - nb_c) adds;
    prediction: (e^T A_i) B and A (B e_j) per block, nb_r k c + nb_c r k MACs; actual sums C e
    and e^T C per block, r (c - nb_c) + c (r - nb_r) adds; r nb_c + c nb_r compares (one per
    row and column of every block). One block (nb_r = nb_c = 1) is the classical fold check.
    `checksum_pe` / `side_unit` run all of it beside the array. `in_array` (software ABFT) makes
    the prediction extra operand rows/columns of the array, as for the GEMM (M+1, K, N+1): its
    MACs run on the array, and a fold whose block is full at the last block of an augmented
    spatial dimension needs one more pass for the checksum row/column (OS: M and N; WS: N, with
    the checksum row of A one more temporal step; IS: M, with B's checksum column one more step).
    Finer blocks add their checksum MACs but no further passes (the extra rows / columns of a
    blocked in_array check are priced as MACs only: a first-order model).
    """
    e = check_extents(s, fold)
    r, c, k = e.out_rows, e.out_cols, e.k_inner
    nb_r, nb_c = _blocks(r, block[0]), _blocks(c, block[1])
    encode_adds = (r - nb_r) * k + k * (c - nb_c)
    verify_adds = r * (c - nb_c) + c * (r - nb_r)
    predict_macs = nb_r * k * c + nb_c * r * k
    compares = r * nb_c + c * nb_r
    if placement is not Placement.IN_ARRAY:
        return CheckWork(checksum_macs=predict_macs, checksum_adds=encode_adds + verify_adds, compares=compares)
    # the checksums augment the output dimensions M and N by one; where they lie on the array
    # (OS: M on rows, N on cols; WS: N on cols; IS: M on cols) a full last block spills into one
    # more pass, and a temporal M (WS) or N (IS) takes one more streamed step
    rows_dim, cols_dim, time_dim = s.geometry.dims
    shape = s.geometry.fold_shape(s.gemm.m, s.gemm.k, s.gemm.n)
    extra_cycles = 0
    last_row_block = fold.row0 + fold.rows_used == shape.spatial_rows
    last_col_block = fold.col0 + fold.cols_used == shape.spatial_cols
    row_spill = last_row_block and fold.rows_used == s.rows and rows_dim in _AUGMENTED
    col_spill = last_col_block and fold.cols_used == s.cols and cols_dim in _AUGMENTED
    passes = int(row_spill) + int(col_spill) + int(row_spill and col_spill)
    extra_cycles += passes * pass_cycles(s)
    if time_dim in _AUGMENTED:
        extra_cycles += 1  # one more streamed row (WS) / column (IS) carries the checksum
    return CheckWork(
        checksum_adds=encode_adds + verify_adds,
        compares=compares,
        extra_array_macs=predict_macs + nb_r * nb_c * k,  # + each block's corner (e^T A_i)(B e_j)
        extra_array_cycles=extra_cycles,
    )


def _blocks(extent: int, block: int) -> int:
    """How many check blocks of size `block` (0: the whole extent) tile `extent` outputs."""
    return 1 if block <= 0 or block >= extent else -(-extent // block)


def dmr_check_work(s: GemmSchedule, fold: Fold) -> CheckWork:
    """Dual modular redundancy: the fold runs twice on the array and the outputs are compared.

    The second copy is a full pass: its MACs, its issue window, and (charged by the engine from
    `duplicate_passes`) its own SRAM reads of both operands and its own output traffic.
    """
    e = check_extents(s, fold)
    return CheckWork(
        compares=e.out_rows * e.out_cols,
        extra_array_macs=fold.active_macs,
        extra_array_cycles=pass_cycles(s),
        duplicate_passes=1,
    )
