"""ActionCounts: what the hardware did (MACs, adds, bytes moved, cycles), before it is priced."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from operator import add, attrgetter, mul


@dataclass(frozen=True, slots=True)
class ActionCounts:
    """Counted actions of a run or a layer (Accelergy's split: count here, price in energy.py)."""

    macs: int = 0  # every MAC the array performed, recomputations and in-array checksums included
    recomputed_macs: int = 0  # the part of `macs` spent on recomputation
    checksum_macs: int = 0  # checksum-encoding MACs outside the array (side unit, checksum PEs)
    checksum_adds: int = 0  # checksum additions (encode and verify)
    compares: int = 0  # checksum comparisons
    sram_a_read_bytes: int = 0
    sram_a_write_bytes: int = 0
    sram_b_read_bytes: int = 0
    sram_b_write_bytes: int = 0
    sram_c_read_bytes: int = 0
    sram_c_write_bytes: int = 0
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    cycles: int = 0  # wall-clock cycles (leakage is paid for all of them)

    def __add__(self, other: ActionCounts) -> ActionCounts:
        # the engine adds counts per recompute pass: one attrgetter per operand, no fields() walk
        return ActionCounts(*map(add, _VALUES(self), _VALUES(other)))

    def scaled(self, factor: int) -> ActionCounts:
        return ActionCounts(*(v * factor for v in _VALUES(self)))

    @staticmethod
    def weighted_sum(terms: Iterable[tuple[ActionCounts, int]]) -> ActionCounts:
        """The sum of `counts.scaled(n)` over the (counts, n) terms, count by count in one pass."""
        terms = list(terms)
        if not terms:
            return ActionCounts()
        weights = [n for _, n in terms]
        columns = zip(*(_VALUES(counts) for counts, _ in terms), strict=True)
        return ActionCounts(*(sum(map(mul, column, weights)) for column in columns))

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


_VALUES = attrgetter(*(f.name for f in fields(ActionCounts)))  # every count, in field order
