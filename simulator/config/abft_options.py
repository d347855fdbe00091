"""Validated ABFT options: per-GEMM-kind ApproxABFT thresholds, check blocking, recovery scope."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, StrictInt, model_validator

from simulator.workload.kinds import BUILTIN_KINDS

NonNegative = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0)]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Thresholds(BaseModel):
    """ApproxABFT thresholds of one GEMM kind (Xue et al., arXiv 2302.10469).

    t1 bounds the tile's total deviation MSD = sum_i |RSD_i|: at or below it the tile is accepted;
    above it only rows / columns whose |RSD_i| / |CSD_j| exceed t2 are recomputed.
    """

    model_config = _FROZEN
    t1: NonNegative
    t2: NonNegative


# Placeholders until `abftsim calibrate` derives them from accuracy: a tile whose total
# deviation stays below one typical output magnitude (relative mode) is accepted.
DEFAULT_THRESHOLDS = Thresholds(t1=1.0, t2=0.5)


class AbftConfig(BaseModel):
    """How ABFT checks and recovers (applies to every checking policy)."""

    model_config = _FROZEN

    # relative: thresholds are multiples of the clean output scale
    #   sqrt(K * mean(A^2) * mean(B^2)) (the RMS of C for independent operands), in
    #   accumulator units; absolute: thresholds are accumulator units.
    threshold_mode: Literal["relative", "absolute"] = "relative"
    thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    block_rows: StrictInt = Field(0, ge=0)  # 0: one check block spans the fold's output rows
    block_cols: StrictInt = Field(0, ge=0)  # 0: ... and its output columns
    recompute_scope: Literal["tile", "gemm"] = "tile"  # classical `abft`: what a detection reruns
    fp_tolerance_factor: NonNegative = 2.0  # c in the round-off bound c * (K + n) * u * (|A||B| e)

    @model_validator(mode="after")
    def _known_kinds(self) -> AbftConfig:
        keys = BUILTIN_KINDS.threshold_keys
        unknown = sorted(set(self.thresholds) - set(keys))
        if unknown:
            raise ValueError(f"thresholds: unknown GEMM kind {unknown[0]!r} (known: {', '.join(keys)})")
        return self

    def thresholds_for(self, kind: str) -> Thresholds:
        """The thresholds of a GEMM kind, looked up under the kind's threshold key."""
        return self.thresholds.get(BUILTIN_KINDS[kind].threshold_key, DEFAULT_THRESHOLDS)
