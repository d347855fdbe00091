"""Area proxy of an accelerator in PE equivalents: the array plus its ABFT checksum hardware."""

from __future__ import annotations

from simulator.config.enums import Placement
from simulator.config.schema import HwConfig

# Assumption (no layout data in the model): one int32 adder of a checksum adder tree or side
# unit lane is a quarter of an int8 MAC PE (multiplier + int32 adder + operand/accumulator
# registers); a checksum PE is a full PE.
ADDER_PE_EQUIVALENTS = 0.25


def area_pe(hw: HwConfig) -> dict[str, float]:
    """{'array': PEs, 'checksum': checksum hardware, 'total': sum}, all in PE equivalents.

    in_array adds no hardware (the array computes its own checksums); checksum_pe adds a PE row
    and column plus a row and column adder at the drain (rows + cols adders); side_unit adds
    `adds_per_cycle` adder lanes.
    """
    rows, cols = hw.array.rows, hw.array.cols
    unit = hw.checksum_unit
    if unit.placement is Placement.CHECKSUM_PE:
        checksum = float(rows + cols + 1) + ADDER_PE_EQUIVALENTS * (rows + cols)
    elif unit.placement is Placement.SIDE_UNIT:
        checksum = ADDER_PE_EQUIVALENTS * unit.adds_per_cycle
    else:
        checksum = 0.0
    array = float(rows * cols)
    return {"array": array, "checksum": checksum, "total": array + checksum}
