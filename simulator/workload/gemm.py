"""The Gemm value type: one matrix multiply C[M,N] = A[M,K] @ B[K,N], run `count` times."""

from __future__ import annotations

from dataclasses import dataclass

GEMM_KINDS = ("patch_embed", "qkv", "qk", "av", "proj", "fc1", "fc2", "head", "other")


@dataclass(frozen=True, slots=True)
class Gemm:
    """One GEMM of a workload; A holds activations, B weights; `count` independent instances."""

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

    @property
    def macs(self) -> int:
        """Multiply-accumulates of all `count` instances."""
        return self.m * self.k * self.n * self.count

    @property
    def macs_per_instance(self) -> int:
        return self.m * self.k * self.n
