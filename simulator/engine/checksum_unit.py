"""What a policy's checking work costs in time on each checksum-unit placement.

* `in_array`: the policy declares the array's extra work itself (checksum rows and columns as
  `extra_array_macs` / `extra_array_cycles`); its checksum adds and compares are counted for
  energy and taken to be hidden in the drain.
* `checksum_pe`: the extra PE row/column computes the checksums alongside the array; a checked
  pass costs `extra_cycles_per_fold` more array cycles (the drain-side adder), nothing else.
* `side_unit`: a separate unit of `adds_per_cycle` lanes processes checksum MACs, adds and
  compares of a pass after the pass drains, in pass order, concurrently with the array. Each
  array pass drains into one of the C SRAM's output buffers, which the side unit releases when
  it has checked it; with `buffers` output buffers a pass cannot drain before the side unit has
  finished the pass `buffers` places earlier (double buffering: the array runs ahead by one).

On every placement `extra_array_cycles` (e.g. DMR's duplicate pass) lengthen the pass on the array,
and each of `duplicate_passes` copies pays the pass's SRAM traffic between array and SRAM again.
"""

from __future__ import annotations

from simulator.abft.protocol import CheckWork
from simulator.config.enums import Placement
from simulator.config.schema import ChecksumUnitConfig
from simulator.mapping.dataflow import ceil_div
from simulator.metrics.actions import ActionCounts


def is_checked(work: CheckWork) -> bool:
    """Whether the pass runs any checksum work on the checksum hardware."""
    return bool(work.checksum_macs or work.checksum_adds or work.compares)


def array_check_cycles(unit: ChecksumUnitConfig, work: CheckWork) -> int:
    """Cycles a checked pass adds on the array itself (its issue window and its length)."""
    extra = work.extra_array_cycles
    if unit.placement is Placement.CHECKSUM_PE and is_checked(work):
        extra += unit.extra_cycles_per_fold
    return extra


def side_unit_cycles(unit: ChecksumUnitConfig, work: CheckWork) -> int:
    """Cycles the side unit is busy checking one pass (0 on the other placements)."""
    if unit.placement is not Placement.SIDE_UNIT:
        return 0
    return ceil_div(work.checksum_macs + work.checksum_adds + work.compares, unit.adds_per_cycle)


def check_counts(work: CheckWork) -> ActionCounts:
    """The actions checking one pass adds (array MACs included in `macs`)."""
    return ActionCounts(
        macs=work.extra_array_macs,
        checksum_macs=work.checksum_macs,
        checksum_adds=work.checksum_adds,
        compares=work.compares,
    )


def duplicate_counts(work: CheckWork, counts: ActionCounts) -> ActionCounts:
    """SRAM traffic of the `duplicate_passes` extra copies of a pass moving `counts` to / from the array.

    Each copy reads its operands and reads / writes its outputs in SRAM like the pass; its
    operands are still resident (the copies run back to back), so no DRAM or DMA fill traffic.
    """
    if not work.duplicate_passes:
        return ActionCounts()
    return ActionCounts(
        sram_a_read_bytes=counts.sram_a_read_bytes,
        sram_b_read_bytes=counts.sram_b_read_bytes,
        sram_c_read_bytes=counts.sram_c_read_bytes,
        sram_c_write_bytes=counts.sram_c_write_bytes,
    ).scaled(work.duplicate_passes)
