"""Sweep plan: a SweepSpec expanded into resolved, hashed points and seeded (point, trial) tasks."""

from __future__ import annotations

import hashlib
import importlib.metadata
import itertools
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from simulator.abft.registry import check_policy_names, policy_names
from simulator.campaign.spec import SweepSpec
from simulator.config.abft_options import DEFAULT_THRESHOLDS, AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import HW_DIR_NAME, load_workload, read_hw_yaml, resolve, validate
from simulator.config.schema import HwConfig
from simulator.errors import ConfigError
from simulator.faults.sampling import check_faults_fit
from simulator.metrics.stats import check_trials

# Bump when the seed derivation or the resolved config layout changes: stores made by another
# scheme are then refused instead of being silently mixed.
PLAN_SCHEME = "abftsim.sweep-plan/1: seed = SeedSequence([sweep seed, seed index, trial]) uint64 >> 1"
_NOT_SEEDED = ("policy", "policies")


def simulator_version() -> str:
    """The installed abftsim version (part of a sweep's identity: bump it when results change)."""
    try:
        return importlib.metadata.version("abftsim")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"  # policy axes share fault draws (common random numbers)


def canonical_json(data: Any) -> str:
    """Deterministic JSON text: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)


def digest(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()


def trial_seed(sweep_seed: int, seed_index: int, trial: int) -> int:
    """The fault seed of one trial: a 63-bit int from SeedSequence([sweep seed, seed index, trial])."""
    state = np.random.SeedSequence([sweep_seed, seed_index, trial]).generate_state(1, dtype=np.uint64)
    return int(state[0]) >> 1


@dataclass(frozen=True, slots=True)
class TrialTask:
    """One deterministic run: a point's resolved config under one trial's seed (plain values only)."""

    point: int
    trial: int
    seed: int
    config_hash: str
    config: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PlannedPoint:
    """One point of the sweep: its axis values, resolved config and trial count."""

    index: int
    params: dict[str, Any]
    config: dict[str, Any]  # {hw, workload, faults (no seed), abft, policies}
    config_hash: str
    seed_index: int  # points differing only in policy share it, hence their fault draws
    trials: int

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.params.items()) or "base"


@dataclass(frozen=True, slots=True)
class SweepPlan:
    """Every point of a sweep and the identity hash that a result store is bound to."""

    name: str
    seed: int
    spec: dict[str, Any]
    points: tuple[PlannedPoint, ...]
    sweep_hash: str

    @property
    def total_trials(self) -> int:
        return sum(p.trials for p in self.points)

    def tasks(self, done: Collection[tuple[int, int]] = ()) -> list[TrialTask]:
        """The (point, trial) runs not in `done`, point-major."""
        return [
            TrialTask(p.index, t, trial_seed(self.seed, p.seed_index, t), p.config_hash, p.config)
            for p in self.points
            for t in range(p.trials)
            if (p.index, t) not in done
        ]


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_params(spec: SweepSpec) -> list[dict[str, Any]]:
    """Explicit points (or one empty point) crossed with the grid of the axes, in file order."""
    keys = list(spec.axes)
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(spec.axes[k] for k in keys))]
    return [{**explicit, **combo} for explicit in (spec.points or [{}]) for combo in grid]


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set data[a][b][c] = value for key 'a.b.c', creating mappings on the way."""
    node = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ValueError(f"{'.'.join(parts[: i + 1])} is not a mapping")
        node = child
    node[parts[-1]] = value


def _copy(data: Any) -> Any:
    return json.loads(json.dumps(data))


class _Resolver:
    """Resolves points against one sweep file; caches the hardware and workload files it reads."""

    def __init__(self, spec: SweepSpec, source: Path) -> None:
        self.spec, self.source = spec, source
        self.hw_files: dict[str, dict[str, Any]] = {}
        self.workloads: dict[str, dict[str, Any]] = {}

    def _locate(self, value: str) -> str:
        """A relative path that is not found from the working directory is looked up beside the sweep."""
        candidate = self.source.parent / value
        if (
            not Path(value).exists()
            and ("/" in value or value.endswith((".yaml", ".yml", ".onnx")))
            and candidate.exists()
        ):
            return str(candidate)
        return value

    def _fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {where}: {message}")

    def _validate(self, model: type[BaseModel], data: dict[str, Any], prefix: str, where: str) -> Any:
        return validate(model, data, f"{self.source}: {where}", prefix=(prefix,))

    def resolve(self, index: int, params: Mapping[str, Any]) -> dict[str, Any]:
        base = self.spec.base
        where = f"point {index} ({', '.join(f'{k}={_show(v)}' for k, v in params.items()) or 'base'})"
        hw_name = self._locate(str(params.get("hw", base.hw)))
        wl_name = self._locate(str(params.get("workload", base.workload)))
        if hw_name not in self.hw_files:
            self.hw_files[hw_name] = read_hw_yaml(resolve(hw_name, HW_DIR_NAME))
        if wl_name not in self.workloads:
            self.workloads[wl_name] = load_workload(wl_name).to_dict()
        hw_raw = _copy(self.hw_files[hw_name])
        faults_raw, abft_raw = _copy(base.faults), _copy(base.abft)
        for key, value in params.items():
            namespace, _, rest = key.partition(".")
            target = {"hw": hw_raw, "faults": faults_raw, "abft": abft_raw}.get(namespace)
            if target is None or not rest:
                continue
            if namespace == "abft" and rest.startswith("thresholds.") and rest.count(".") == 2:
                kind = rest.split(".")[1]
                abft_raw.setdefault("thresholds", {}).setdefault(kind, DEFAULT_THRESHOLDS.model_dump())
            try:
                set_dotted(target, rest, value)
            except ValueError as exc:
                raise self._fail(where, f"{namespace}.{exc}") from None
        hw = self._validate(HwConfig, hw_raw, "hw", where)
        faults = self._validate(FaultSpec, faults_raw, "faults", where)
        abft = self._validate(AbftConfig, abft_raw, "abft", where)
        try:
            check_faults_fit(faults, hw.array.datatype, hw.array.rows, hw.array.cols)
        except ValueError as exc:
            raise self._fail(where, f"faults: {exc}") from None
        policies = self._policies(params, where)
        workload = self.workloads[wl_name]
        return {
            "hw": hw.model_dump(mode="json"),
            "workload": {"name": workload["name"], "gemms": workload["gemms"]},
            "faults": faults.model_dump(mode="json", exclude={"seed"}),
            "abft": abft.model_dump(mode="json"),
            "policies": policies,
        }

    def _policies(self, params: Mapping[str, Any], where: str) -> list[str]:
        if "policy" in params:
            chosen = [params["policy"]]
        elif "policies" in params:
            value = params["policies"]
            chosen = list(value) if isinstance(value, list) else [value]
        else:
            chosen = list(self.spec.base.policies or policy_names())
        try:
            check_policy_names(chosen)
        except ValueError as exc:
            raise self._fail(where, f"policy: {exc}") from None
        if len(set(chosen)) != len(chosen):
            raise self._fail(where, "policies: lists a policy twice")
        return chosen


def injects_faults(faults: Mapping[str, Any]) -> bool:
    """Whether a resolved fault spec injects anything (else one trial is exact)."""
    return FaultSpec.model_validate(faults).injects


def plan_sweep(spec: SweepSpec, source: str | Path, trials: int | None = None) -> SweepPlan:
    """Resolve every point of `spec` (read from `source`); `trials` overrides the file's count."""
    if trials is not None:
        spec = spec.model_copy(update={"trials": check_trials(trials)})
    resolver = _Resolver(spec, Path(source))
    seed_indices: dict[str, int] = {}
    points = []
    for index, params in enumerate(expand_params(spec)):
        config = resolver.resolve(index, params)
        seeded = canonical_json({k: v for k, v in params.items() if k not in _NOT_SEEDED})
        seed_index = seed_indices.setdefault(seeded, len(seed_indices))
        n = spec.trials if injects_faults(config["faults"]) else 1
        points.append(PlannedPoint(index, dict(params), config, digest(config), seed_index, n))
    spec_data = spec.model_dump(mode="json")
    # The trial count is not part of the identity: a trial's seed does not depend on it, so a
    # store can be resumed with more (or fewer) trials and keeps every trial it holds.
    identity = {
        "scheme": PLAN_SCHEME,
        "simulator": simulator_version(),  # results of another simulator version are not mixed in
        "spec": {k: v for k, v in spec_data.items() if k not in ("description", "trials")},
        "points": [[p.config_hash, p.seed_index] for p in points],
    }
    return SweepPlan(spec.name, spec.seed, spec_data, tuple(points), digest(identity))
