"""The Gemm value type: one matrix multiply C[M,N] = A[M,K] @ B[K,N], run `count` times."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.workload.kinds import BUILTIN_KINDS, GEMM_KINDS

__all__ = ["GEMM_KINDS", "Gemm"]


@dataclass(frozen=True, slots=True)
class Gemm:
    """One GEMM of a workload: A holds activations, B weights or activations as its kind says
    (simulator/workload/kinds.py); `count` independent instances."""

    name: str
    kind: str
    m: int
    k: int
    n: int
    count: int = 1

    def __post_init__(self) -> None:
        for label, value in (("M", self.m), ("K", self.k), ("N", self.n), ("count", self.count)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"gemm {self.name!r}: {label} must be a positive integer, got {value!r}")
        if self.kind not in BUILTIN_KINDS:
            raise ValueError(f"gemm {self.name!r}: unknown kind {self.kind!r} (known: {', '.join(GEMM_KINDS)})")

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all `count` instances."""
        return self.m * self.k * self.n * self.count

    @property
    def macs_per_instance(self) -> int:
        return self.m * self.k * self.n
