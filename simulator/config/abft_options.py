"""Validated ABFT options: ApproxABFT thresholds and check blocking per GEMM kind or name, recovery scope."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, StrictInt, model_validator

from simulator.workload.kinds import BUILTIN_KINDS

NonNegative = Annotated[float, Strict(), AllowInfNan(False), Field(ge=0)]
_FROZEN = ConfigDict(extra="forbid", frozen=True)


class Thresholds(BaseModel):
    """ApproxABFT thresholds of one GEMM kind or GEMM (Xue et al., arXiv 2302.10469).

    t1 bounds the tile's total deviation MSD = sum_i |RSD_i|: at or below it the tile is accepted;
    above it only rows / columns whose |RSD_i| / |CSD_j| exceed t2 are recomputed.
    """

    model_config = _FROZEN
    t1: NonNegative
    t2: NonNegative


class Blocking(BaseModel):
    """The check-block size of one GEMM kind or GEMM: `rows` x `cols` outputs (0: the fold's extent)."""

    model_config = _FROZEN
    rows: StrictInt = Field(0, ge=0)
    cols: StrictInt = Field(0, ge=0)


# Placeholders until `abftsim calibrate` derives them from accuracy: a tile whose total
# deviation stays below one typical output magnitude (relative mode) is accepted.
DEFAULT_THRESHOLDS = Thresholds(t1=1.0, t2=0.5)


class AbftConfig(BaseModel):
    """How ABFT checks and recovers (applies to every checking policy).

    `thresholds` are keyed by GEMM kind (checked here), `layer_thresholds` by GEMM name
    (`block3.fc2`), `blocking` by either; a GEMM takes its name's entry, else its kind's, else the
    default. Names are checked against a workload with `unknown_keys` (the options alone do not
    know the GEMMs).
    """

    model_config = _FROZEN

    # relative: thresholds are multiples of the clean output scale
    #   sqrt(K * mean(A^2) * mean(B^2)) (the RMS of C for independent operands), in
    #   accumulator units; absolute: thresholds are accumulator units.
    threshold_mode: Literal["relative", "absolute"] = "relative"
    thresholds: dict[str, Thresholds] = Field(default_factory=dict)
    layer_thresholds: dict[str, Thresholds] = Field(default_factory=dict)  # per GEMM name; overrides its kind
    block_rows: StrictInt = Field(0, ge=0)  # 0: one check block spans the fold's output rows
    block_cols: StrictInt = Field(0, ge=0)  # 0: ... and its output columns
    blocking: dict[str, Blocking] = Field(default_factory=dict)  # per name or kind; overrides block_rows/cols
    recompute_scope: Literal["tile", "gemm"] = "tile"  # classical `abft`: what a detection reruns
    fp_tolerance_factor: NonNegative = 2.0  # c in the round-off bound c * (K + n) * u * (|A||B| e)

    @model_validator(mode="after")
    def _known_kinds(self) -> AbftConfig:
        keys = BUILTIN_KINDS.threshold_keys
        unknown = sorted(set(self.thresholds) - set(keys))
        if unknown:
            raise ValueError(f"thresholds: unknown GEMM kind {unknown[0]!r} (known: {', '.join(keys)}; "
                             "per GEMM name: layer_thresholds)")  # fmt: skip
        return self

    def thresholds_for(self, kind: str, name: str = "") -> Thresholds:
        """The thresholds of GEMM `name` of kind `kind`: its name's entry, else the entry under its kind's
        threshold key, else the default."""
        th = self.layer_thresholds.get(name) if name else None
        return th or self.thresholds.get(_key(kind), DEFAULT_THRESHOLDS)

    def block_for(self, kind: str, name: str = "") -> tuple[int, int]:
        """(rows, cols) of a check block of GEMM `name` of kind `kind` (0: the fold's extent)."""
        b = (self.blocking.get(name) if name else None) or self.blocking.get(_key(kind))
        return (b.rows, b.cols) if b is not None else (self.block_rows, self.block_cols)

    def unknown_keys(self, names: Iterable[str]) -> list[str]:
        """Keys of `layer_thresholds` that are not one of `names`, and of `blocking` that are neither
        a kind's threshold key nor one of `names`."""
        wanted = set(names)
        unknown = set(self.layer_thresholds) - wanted
        unknown |= set(self.blocking) - wanted - set(BUILTIN_KINDS.threshold_keys)
        return sorted(unknown)


def _key(kind: str) -> str:
    """The key a kind's thresholds are given under (a registered kind's threshold key, else the kind)."""
    return BUILTIN_KINDS[kind].threshold_key if kind in BUILTIN_KINDS else kind
