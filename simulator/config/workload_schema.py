"""Validated models of a workload file: a ViT or Swin preset from hyper-parameters, or a GEMM list."""

from __future__ import annotations

from typing import Annotated

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, StrictInt, model_validator

from simulator.workload.gemm import Gemm
from simulator.workload.kinds import GEMM_KINDS
from simulator.workload.swin import swin_gemms
from simulator.workload.vit import vit_gemms
from simulator.workload.workload import Workload

_FROZEN = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
Count = Annotated[StrictInt, Field(gt=0)]
Ratio = Annotated[float, Strict(), AllowInfNan(False), Field(gt=0)]


class VitSection(BaseModel):
    model_config = _FROZEN

    image_size: Count
    patch_size: Count
    channels: Count = 3
    hidden: Count
    depth: Count
    heads: Count
    mlp_ratio: Ratio = 4.0
    classes: Count = 1000
    batch: Count = 1
    distillation_token: bool = False  # DeiT's second token and classifier

    @model_validator(mode="after")
    def _consistent(self) -> VitSection:
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden {self.hidden} is not a multiple of heads {self.heads}")
        if self.hidden * self.mlp_ratio != round(self.hidden * self.mlp_ratio):
            raise ValueError(f"hidden * mlp_ratio = {self.hidden * self.mlp_ratio} is not an integer")
        return self


class SwinSection(BaseModel):
    """Swin Transformer hyper-parameters (Liu et al., ICCV 2021): one depth and head count per stage."""

    model_config = _FROZEN

    image_size: Count
    patch_size: Count = 4
    channels: Count = 3
    embed_dim: Count
    depths: Annotated[tuple[Count, ...], Field(min_length=1)]
    heads: Annotated[tuple[Count, ...], Field(min_length=1)]
    window_size: Count = 7
    mlp_ratio: Ratio = 4.0
    classes: Count = 1000
    batch: Count = 1

    @model_validator(mode="after")
    def _consistent(self) -> SwinSection:
        swin_gemms(**self.model_dump())  # its ValueError names the inconsistency
        return self


class GemmEntry(BaseModel):
    model_config = _FROZEN

    name: Annotated[str, Field(min_length=1)]
    M: Count
    K: Count
    N: Count
    count: Count = 1
    kind: str | None = None

    @model_validator(mode="after")
    def _known_kind(self) -> GemmEntry:
        if self.kind is not None and self.kind not in GEMM_KINDS:
            raise ValueError(f"kind must be one of {', '.join(GEMM_KINDS)}, got {self.kind!r}")
        return self

    def to_gemm(self) -> Gemm:
        kind = self.kind or infer_kind(self.name)
        return Gemm(self.name, kind, self.M, self.K, self.N, self.count)


def infer_kind(name: str) -> str:
    """A GEMM's kind from its name's last dotted part (`block3.fc1` -> `fc1`), else `other`."""
    suffix = name.rsplit(".", 1)[-1]
    return suffix if suffix in GEMM_KINDS else "other"


class WorkloadFile(BaseModel):
    """A workload document: `name` plus exactly one of `vit`, `swin` and `gemms`."""

    model_config = _FROZEN

    name: Annotated[str, Field(min_length=1)]
    vit: VitSection | None = None
    swin: SwinSection | None = None
    gemms: Annotated[tuple[GemmEntry, ...], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> WorkloadFile:
        if sum(x is not None for x in (self.vit, self.swin, self.gemms)) != 1:
            raise ValueError("give exactly one of `vit`, `swin` (hyper-parameters) and `gemms` (a list)")
        if self.gemms is not None:
            names = [g.name for g in self.gemms]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"duplicate GEMM names: {', '.join(dup)}")
        return self

    @property
    def preset(self) -> VitSection | SwinSection | None:
        """The hyper-parameters this workload is generated from, if it is a preset."""
        return self.vit if self.vit is not None else self.swin

    def to_workload(self) -> Workload:
        if self.vit is not None:
            return Workload(self.name, vit_gemms(**self.vit.model_dump()))
        if self.swin is not None:
            return Workload(self.name, swin_gemms(**self.swin.model_dump()))
        assert self.gemms is not None
        return Workload(self.name, tuple(g.to_gemm() for g in self.gemms))
