"""Cycle-level, register-level reference emulator of one fold on a small systolic array (test oracle).

This is the slow, literal model that the fast fault-effect mapping is tested against. It steps the
array one clock cycle at a time; every PE has an A-operand register (`a_reg`), a B-operand register
(`b_reg`), a multiplier output register (`mult`) and an accumulator / outgoing partial-sum register
(`acc`), each held as a rows x cols numpy array (one entry per PE) of the register's word type.

Per cycle, in this order: moving operands shift one PE (right for A in OS/WS and B in IS, down for B
in OS) and the array edge latches the skewed inputs; in WS/IS the stationary operand is preloaded
through a separate weight-shift chain during cycles 0..rows-1 and latched into the stationary
register at the end of cycle rows-1 (the shift chain itself is not a fault site, so a stuck bit in a
stationary register corrupts only that PE's own operand); transient operand upsets; the MAC of every
PE whose operands carry a valid temporal index (product, product upset, accumulate / psum
hand-over, acc upset); in WS/IS the psum written by PE(ru-1, c) is taken as the fold output.

Each moving value travels with a tag (its temporal index tau, -1 for a bubble), so a PE performs a
MAC exactly when its latched operands are valid; unused PEs (ru <= r or cu <= c) compute on
zero-padded operands as SCALE-Sim's schedule does, so the fold lasts dataflow.fold_cycles cycles.

Fault semantics are those of simulator.faults.model.PeFault: a transient inverts bit `bit` of the
register word after the write of its cycle (operands after latching, before this PE's MAC uses
them), and must hit an active MAC slot. A permanent fault forces the bit to `stuck_value` after every
write to the register (every latch of a moving operand, the stationary preload latch, every MAC's
product and acc/psum write; the accumulator's reset to 0 is not a write). When a transient and a
stuck bit meet in one register, the stuck bit wins. Words: int8 / fp16 / fp32 operands are their own
bits; a bf16 operand word is the top 16 bits of its fp32 pattern; int8 products are int16, all other
products and every accumulator are 32-bit (int32 wraps mod 2^32, fp32 rounds to nearest even).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.faults.model import PeFault
from simulator.mapping.tiling import block_extents

_OPERAND_DTYPE: dict[Datatype, np.dtype] = {
    Datatype.INT8: np.dtype(np.int8),
    Datatype.FP16: np.dtype(np.float16),
    Datatype.BF16: np.dtype(np.float32),
    Datatype.FP32: np.dtype(np.float32),
}


@dataclass(frozen=True)
class EmulatedFold:
    """What one emulated fold produced."""

    out: np.ndarray  # the fold's output block, accumulator dtype
    cycles: int  # cycles until the last MAC finished


class _Register:
    """One register of every PE (a rows x cols array of words) with its fault hooks."""

    def __init__(
        self, site: Site, dtype: np.dtype, shape: tuple[int, int], bit_offset: int, faults: Sequence[PeFault]
    ) -> None:
        self.site = site
        self.values = np.zeros(shape, dtype)
        self._word = np.dtype(f"u{dtype.itemsize}")
        self._keep = np.full(shape, np.iinfo(self._word).max, self._word)  # AND mask (stuck-at-0)
        self._force = np.zeros(shape, self._word)  # OR mask (stuck-at-1)
        self._stuck = False
        self._flips: dict[int, list[tuple[PeFault, np.unsignedinteger]]] = {}
        for fault in faults:
            if fault.site is not site:
                continue
            mask = self._word.type(1 << (fault.bit + bit_offset))
            if fault.kind is FaultKind.PERMANENT:
                self._stuck = True
                if fault.stuck_value:
                    self._force[fault.row, fault.col] |= mask
                else:
                    self._keep[fault.row, fault.col] &= ~mask
            else:
                self._flips.setdefault(fault.cycle, []).append((fault, mask))

    @property
    def pending(self) -> list[PeFault]:
        """Transient faults not yet applied (their cycle never came)."""
        return [fault for flips in self._flips.values() for fault, _ in flips]

    def write(self, new: np.ndarray, written: np.ndarray | None = None) -> None:
        """Write `new` into the PEs flagged in `written` (all if None); stuck bits then read stuck."""
        if written is None:
            self.values = np.array(new, dtype=self.values.dtype)
        else:
            self.values = np.where(written, new, self.values).astype(self.values.dtype, copy=False)
        if self._stuck:
            words = self.values.view(self._word)
            forced = (words & self._keep) | self._force
            if written is None:
                words[...] = forced
            else:
                words[written] = forced[written]

    def upset(self, cycle: int, active: np.ndarray) -> None:
        """Invert the bits of this cycle's transient faults; each must hit a PE doing a MAC now."""
        for fault, mask in self._flips.pop(cycle, ()):
            r, c = fault.row, fault.col
            if not active[r, c]:
                raise ValueError(f"transient fault at an inactive slot (PE does no MAC then): {fault}")
            words = self.values.view(self._word)
            words[r, c] = ((words[r, c] ^ mask) & self._keep[r, c]) | self._force[r, c]


def _shift_right(x: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Every PE latches its left neighbour's value; column 0 latches the edge input."""
    out = np.empty_like(x)
    out[:, 0] = edge
    out[:, 1:] = x[:, :-1]
    return out


def _shift_down(x: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Every PE latches its upper neighbour's value; row 0 latches the edge input."""
    out = np.empty_like(x)
    out[0, :] = edge
    out[1:, :] = x[:-1, :]
    return out


class _SkewedFeed:
    """The skew buffer at one array edge: lane l presents stream[l, tau] at cycle offset + l + tau."""

    def __init__(self, stream: np.ndarray, offset: int) -> None:
        lanes, temporal = stream.shape
        self.last_cycle = offset + lanes - 1 + temporal - 1
        self._values = np.zeros((self.last_cycle + 1, lanes), stream.dtype)
        self._tags = np.full((self.last_cycle + 1, lanes), -1)
        for lane in range(lanes):
            cycles = slice(offset + lane, offset + lane + temporal)
            self._values[cycles, lane] = stream[lane]
            self._tags[cycles, lane] = np.arange(temporal)
        self._bubble = (np.zeros(lanes, stream.dtype), np.full(lanes, -1))

    def at(self, cycle: int) -> tuple[np.ndarray, np.ndarray]:
        """(values, temporal-index tags) entering the edge PEs at a cycle; tag -1 marks a bubble."""
        if cycle > self.last_cycle:
            return self._bubble
        return self._values[cycle], self._tags[cycle]


def _pad(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad a 2-D block at its high ends to `shape` (idle lanes / PEs get zero operands)."""
    out = np.zeros(shape, x.dtype)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def _multiply(datatype: Datatype, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Multiplier: int8 -> exact int16, fp16 -> exact fp32, bf16 / fp32 -> fp32 (rounded)."""
    if datatype is Datatype.INT8:
        return a.astype(np.int16) * b.astype(np.int16)
    return a.astype(np.float32) * b.astype(np.float32)


def _fold_extents(
    dataflow: Dataflow, rows: int, cols: int, a_block: np.ndarray, b_block: np.ndarray
) -> tuple[int, int, int]:
    """(ru, cu, T) of a fold from its operand blocks, checking that the blocks fit the array."""
    ru, cu, temporal = block_extents(dataflow, a_block, b_block)
    if not (1 <= ru <= rows and 1 <= cu <= cols and temporal >= 1):
        raise ValueError(f"fold of {ru} x {cu} PEs over {temporal} steps does not fit a {rows} x {cols} array")
    return ru, cu, temporal


def _check_operand(datatype: Datatype, name: str, x: np.ndarray) -> None:
    expected = _OPERAND_DTYPE[datatype]
    if x.dtype != expected:
        raise ValueError(f"{name} must be {expected} for {datatype}, got {x.dtype}")
    if datatype is Datatype.BF16 and np.any(np.ascontiguousarray(x).view(np.uint32) & np.uint32(0xFFFF)):
        raise ValueError(f"{name} holds values that are not bf16-representable")


def _check_faults(faults: Sequence[PeFault], datatype: Datatype, rows: int, cols: int, ru: int, cu: int) -> None:
    """Static checks; whether a transient's cycle is an active MAC slot is checked while emulating."""
    for fault in faults:
        fault.check(rows, cols, datatype)
        if fault.kind is FaultKind.TRANSIENT and not (fault.row < ru and fault.col < cu):
            raise ValueError(f"transient fault on a PE the fold does not use: {fault}")


def emulate_fold(
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    a_block: np.ndarray,
    b_block: np.ndarray,
    faults: Sequence[PeFault] = (),
) -> EmulatedFold:
    """Run one fold cycle by cycle on a rows x cols array, with the given PE faults.

    Operand blocks are those of simulator.mapping.tiling.fold_operands (OS: A ru x T, B T x cu;
    WS: A T x ru, B ru x cu; IS: A cu x ru, B ru x T). The output is OS ru x cu, WS T x cu,
    IS cu x T, in the accumulator dtype. Raises ValueError for malformed blocks or faults.
    """
    ru, cu, temporal = _fold_extents(dataflow, rows, cols, a_block, b_block)
    _check_operand(datatype, "a_block", a_block)
    _check_operand(datatype, "b_block", b_block)
    _check_faults(faults, datatype, rows, cols, ru, cu)
    shape = (rows, cols)
    operand_dtype = _OPERAND_DTYPE[datatype]
    offset_bits = 16 if datatype is Datatype.BF16 else 0
    a_reg = _Register(Site.A_REG, operand_dtype, shape, offset_bits, faults)
    b_reg = _Register(Site.B_REG, operand_dtype, shape, offset_bits, faults)
    product_dtype = np.dtype(np.int16) if datatype.is_integer else np.dtype(np.float32)
    mult = _Register(Site.MULT, product_dtype, shape, 0, faults)
    acc_dtype = datatype.acc_numpy_dtype
    acc = _Register(Site.ACC, acc_dtype, shape, 0, faults)
    with np.errstate(all="ignore"):
        if dataflow is Dataflow.OS:
            out, last_mac = _run_output_stationary(datatype, a_reg, b_reg, mult, acc, a_block, b_block)
            out = out[:ru, :cu].copy()
        else:
            moving, stationary = (a_reg, b_reg) if dataflow is Dataflow.WS else (b_reg, a_reg)
            stream = a_block.T if dataflow is Dataflow.WS else b_block
            resident = b_block if dataflow is Dataflow.WS else a_block.T
            out, last_mac = _run_stationary_operand(
                datatype, moving, stationary, mult, acc, _pad(stream, (rows, temporal)), _pad(resident, shape), ru, cu
            )
            if dataflow is Dataflow.WS:
                out = out.T.copy()
    pending = [f for reg in (a_reg, b_reg, mult, acc) for f in reg.pending]
    if pending:
        raise ValueError(f"transient fault at a cycle where its PE does no MAC: {pending[0]}")
    return EmulatedFold(out=out, cycles=last_mac + 1)


def _run_output_stationary(
    datatype: Datatype,
    a_reg: _Register,
    b_reg: _Register,
    mult: _Register,
    acc: _Register,
    a_block: np.ndarray,
    b_block: np.ndarray,
) -> tuple[np.ndarray, int]:
    """OS: A moves right, B moves down, each PE keeps its sum. Returns (all PEs' acc, last MAC cycle)."""
    rows, cols = acc.values.shape
    temporal = a_block.shape[1]
    a_stream = _pad(a_block, (rows, temporal))  # lane r = array row r
    b_stream = _pad(b_block.T, (cols, temporal))  # lane c = array column c
    a_tag = np.full((rows, cols), -1)
    b_tag = np.full((rows, cols), -1)
    a_feed = _SkewedFeed(a_stream, 0)
    b_feed = _SkewedFeed(b_stream, 0)
    last_mac = -1
    cycle = 0
    while True:
        a_edge, a_edge_tag = a_feed.at(cycle)
        b_edge, b_edge_tag = b_feed.at(cycle)
        a_reg.write(_shift_right(a_reg.values, a_edge))
        a_tag = _shift_right(a_tag, a_edge_tag)
        b_reg.write(_shift_down(b_reg.values, b_edge))
        b_tag = _shift_down(b_tag, b_edge_tag)
        active = (a_tag >= 0) & (b_tag >= 0)
        if not active.any() and cycle > max(a_feed.last_cycle, b_feed.last_cycle):
            return acc.values, last_mac
        a_reg.upset(cycle, active)
        b_reg.upset(cycle, active)
        mult.write(_multiply(datatype, a_reg.values, b_reg.values), active)
        mult.upset(cycle, active)
        acc.write(acc.values + mult.values.astype(acc.values.dtype), active)
        acc.upset(cycle, active)
        if active.any():
            last_mac = cycle
        cycle += 1


def _run_stationary_operand(
    datatype: Datatype,
    moving: _Register,
    stationary: _Register,
    mult: _Register,
    psum: _Register,
    stream: np.ndarray,
    resident: np.ndarray,
    ru: int,
    cu: int,
) -> tuple[np.ndarray, int]:
    """WS / IS: preload, then stream one operand right while psums move down.

    `stream` is rows x T (lane r enters array row r), `resident` is rows x cols (the operand PE(r, c)
    keeps). Returns (the psums leaving PE(ru-1, c) as a cu x T block, last MAC cycle).
    """
    rows, cols = resident.shape
    temporal = stream.shape[1]
    a_is_moving = moving.site is Site.A_REG
    out = np.zeros((cu, temporal), psum.values.dtype)
    chain = np.zeros_like(resident)  # weight-shift chain used for the preload (not a fault site)
    tag = np.full((rows, cols), -1)
    zeros = np.zeros(cols, psum.values.dtype)
    feed = _SkewedFeed(stream, rows)
    last_mac = -1
    cycle = 0
    while True:
        if cycle < rows:
            chain = _shift_down(chain, resident[rows - 1 - cycle])
            if cycle == rows - 1:
                stationary.write(chain)
        edge, edge_tag = feed.at(cycle)
        moving.write(_shift_right(moving.values, edge))
        tag = _shift_right(tag, edge_tag)
        active = tag >= 0
        if not active.any() and cycle > feed.last_cycle:
            return out, last_mac
        moving.upset(cycle, active)
        stationary.upset(cycle, active)
        a, b = (moving.values, stationary.values) if a_is_moving else (stationary.values, moving.values)
        mult.write(_multiply(datatype, a, b), active)
        mult.upset(cycle, active)
        incoming = _shift_down(psum.values, zeros)  # PE(r, c) receives PE(r-1, c)'s psum of last cycle
        psum.write(incoming + mult.values.astype(psum.values.dtype), active)
        psum.upset(cycle, active)
        leaving = np.flatnonzero(active[ru - 1, :cu])
        out[leaving, tag[ru - 1, leaving]] = psum.values[ru - 1, leaving]
        if active.any():
            last_mac = cycle
        cycle += 1
