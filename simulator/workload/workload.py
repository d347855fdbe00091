"""The Workload value type: a named, ordered tuple of GEMMs."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.workload.gemm import Gemm


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    gemms: tuple[Gemm, ...]

    def __post_init__(self) -> None:
        if not self.gemms:
            raise ValueError(f"workload {self.name!r} has no GEMMs")
        names = [g.name for g in self.gemms]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"workload {self.name!r}: duplicate GEMM names {duplicated}")

    @property
    def macs(self) -> int:
        return sum(g.macs for g in self.gemms)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "macs": self.macs,
            "gemms": [
                {"name": g.name, "kind": g.kind, "M": g.m, "K": g.k, "N": g.n, "count": g.count} for g in self.gemms
            ],
        }
