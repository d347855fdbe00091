"""Sweep files: the validated model of a sweep YAML (base, axes or explicit points, trials, seed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from simulator.config.loader import DEFAULT_HW, DEFAULT_WORKLOAD, SWEEP_DIR_NAME, bundled_dir, read_yaml, validate
from simulator.errors import ConfigError

_FROZEN = ConfigDict(extra="forbid", frozen=True)
AXIS_PREFIXES = ("hw.", "faults.", "abft.")
AXIS_NAMES = ("hw", "workload", "policy", "policies")
# YAML 1.1 (PyYAML) reads `1e-9` as a string: only `1.0e-9` is a float. Axis values and base
# fault / ABFT values that look like a number in exponent notation are read as numbers.
_EXP_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def as_number(value: Any) -> Any:
    """'1e-9' -> 1e-09; anything else unchanged (recursively through lists and mappings)."""
    if isinstance(value, str) and _EXP_NUMBER.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [as_number(v) for v in value]
    if isinstance(value, dict):
        return {k: as_number(v) for k, v in value.items()}
    return value


def check_axis_key(key: str) -> str:
    """An axis key is hw, workload, policy, policies or a dotted hw.* / faults.* / abft.* key."""
    if key in AXIS_NAMES:
        return key
    if key.startswith(AXIS_PREFIXES) and all(part for part in key.split(".")):
        if key in ("faults.seed",):
            raise ValueError("faults.seed cannot be swept: trial seeds derive from the sweep's seed")
        return key
    raise ValueError("unknown axis (expected hw, workload, policy, policies, hw.KEY, faults.KEY or abft.KEY)")


class BaseConfig(BaseModel):
    """What every point starts from; axes and points override parts of it."""

    model_config = _FROZEN

    hw: Annotated[str, Field(min_length=1)] = DEFAULT_HW
    workload: Annotated[str, Field(min_length=1)] = DEFAULT_WORKLOAD
    faults: dict[str, Any] = Field(default_factory=dict)
    abft: dict[str, Any] = Field(default_factory=dict)
    policies: Annotated[tuple[str, ...], Field(min_length=1)] | None = None  # None: every policy

    @field_validator("faults", "abft", mode="after")
    @classmethod
    def _numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        return as_number(value)

    @field_validator("faults", mode="after")
    @classmethod
    def _no_seed(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "seed" in value:
            raise ValueError("seed: set the sweep's top-level `seed`; trial seeds derive from it")
        return value


class SweepSpec(BaseModel):
    """A sweep: `points` (explicit list of key -> value) crossed with the grid of `axes`.

    Each resulting point runs `trials` Monte-Carlo trials (one when it injects no faults).
    """

    model_config = _FROZEN

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str = ""
    seed: StrictInt = Field(0, ge=0)
    trials: StrictInt = Field(1, ge=1)
    base: BaseConfig = Field(default_factory=BaseConfig)
    axes: dict[str, Annotated[list[Any], Field(min_length=1)]] = Field(default_factory=dict)
    points: Annotated[list[dict[str, Any]], Field(min_length=1)] | None = None

    @field_validator("axes", mode="after")
    @classmethod
    def _axes_ok(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in value.items():
            try:
                check_axis_key(key)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
            if len({_freeze(v) for v in values}) != len(values):
                raise ValueError(f"{key}: lists a value twice")
        return {k: as_number(v) for k, v in value.items()}

    @field_validator("points", mode="after")
    @classmethod
    def _points_ok(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        for i, point in enumerate(value):
            for key in point:
                try:
                    check_axis_key(key)
                except ValueError as exc:
                    raise ValueError(f"[{i}].{key}: {exc}") from None
        return [as_number(p) for p in value]

    @model_validator(mode="after")
    def _no_overlap(self) -> SweepSpec:
        for i, point in enumerate(self.points or ()):
            both = sorted(set(point) & set(self.axes))
            if both:
                raise ValueError(f"points[{i}].{both[0]}: also an axis; give it in one place")
        return self


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def resolve_sweep_path(name_or_path: str | Path, search_dir: Path | None = None) -> Path:
    """A sweep file by path, or by the name of a bundled sweep (`paper_ber`) in `sweeps/`."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        return path
    folder = search_dir or bundled_dir(SWEEP_DIR_NAME)
    bundled = folder / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
    raise ConfigError(f"{name_or_path}: not a file and not a bundled sweep (known: {known})")


def load_sweep(name_or_path: str | Path) -> tuple[SweepSpec, Path]:
    """Read and validate a sweep file; the name defaults to the file's stem."""
    path = resolve_sweep_path(name_or_path)
    data = read_yaml(path)
    data.setdefault("name", path.stem)
    return validate(SweepSpec, data, str(path)), path
