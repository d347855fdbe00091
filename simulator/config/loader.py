"""The only YAML reader: files and names -> validated config objects, with one-line errors."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.config.workload_schema import WorkloadFile
from simulator.config.yaml_reader import YamlInputError, parse_yaml
from simulator.errors import ConfigError
from simulator.workload.onnx_import import load_onnx_workload
from simulator.workload.workload import Workload

PACKAGE_DIR = Path(__file__).resolve().parent.parent
HW_DIR_NAME = "hw_configs"
WORKLOAD_DIR_NAME = "workloads"
SWEEP_DIR_NAME = "sweeps"
DEFAULT_HW = "edge_32x32"
DEFAULT_WORKLOAD = "vit_base_16"
ONNX_SUFFIX = ".onnx"

Model = TypeVar("Model", bound=BaseModel)
MAX_REPORTED_ERRORS = 5  # invalid values reported in one message (missing keys are all reported)
MAX_BASE_DEPTH = 8  # `base:` chain length of a hardware file


def bundled_dir(kind: str) -> Path:
    """The folder of bundled `hw_configs` or `workloads`, installed or in a source checkout."""
    for candidate in (PACKAGE_DIR / kind, PACKAGE_DIR.parent / kind):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"bundled folder {kind!r} not found next to {PACKAGE_DIR}")


def bundled_names(kind: str) -> list[str]:
    return sorted(p.stem for p in bundled_dir(kind).glob("*.yaml"))


def resolve(name_or_path: str | Path, kind: str) -> Path:
    """A YAML path from a path or from the name of a bundled file (`edge_32x32`)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ONNX_SUFFIX) or path.exists():
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
        return path
    bundled = bundled_dir(kind) / f"{name_or_path}.yaml"
    if bundled.is_file():
        return bundled
    known = ", ".join(bundled_names(kind))
    raise ConfigError(f"{name_or_path}: not a file and not a bundled {kind} name (known: {known})")


def display_name(path: Path) -> str:
    """How errors name a file: `hw_configs/edge_32x32.yaml` for bundled ones, else as given."""
    parent = path.resolve().parent
    for kind in (HW_DIR_NAME, WORKLOAD_DIR_NAME):
        try:
            if parent == bundled_dir(kind).resolve():
                return f"{kind}/{path.name}"
        except ConfigError:
            continue
    return str(path)


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML mapping by the config rules (config.yaml_reader)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{display_name(path)}: cannot read: {exc}") from None
    try:
        data = parse_yaml(text)
    except YamlInputError as exc:
        raise ConfigError(f"{display_name(path)}: {exc}") from None
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. a timestamp like 2026-13-01
        raise ConfigError(f"{display_name(path)}: invalid YAML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"{display_name(path)}: invalid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{display_name(path)}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def describe_error(error: Mapping[str, Any]) -> str:
    """'key.path: message' for one pydantic error, in the project's wording."""
    loc = key_path(error.get("loc", ())) or "(top level)"
    kind, ctx, value = error.get("type", ""), error.get("ctx") or {}, error.get("input")
    got = f", got {value!r}"
    messages = {
        "greater_than": lambda: f"must be > {_num(ctx.get('gt'))}{got}",
        "greater_than_equal": lambda: f"must be >= {_num(ctx.get('ge'))}{got}",
        "less_than": lambda: f"must be < {_num(ctx.get('lt'))}{got}",
        "less_than_equal": lambda: f"must be <= {_num(ctx.get('le'))}{got}",
        "extra_forbidden": lambda: "unknown key",
        "missing": lambda: "required key is missing",
        "enum": lambda: f"must be one of {ctx.get('expected')}{got}",
        "literal_error": lambda: f"must be {ctx.get('expected')}{got}",
        "int_type": lambda: f"must be an integer{got}",
        "int_from_float": lambda: f"must be an integer{got}",
        "float_type": lambda: f"must be a number{got}",
        "finite_number": lambda: f"must be a finite number{got}",
        "bool_type": lambda: f"must be true or false{got}",
        "string_type": lambda: f"must be a string{got}",
        "string_too_short": lambda: "must not be empty",
        "too_short": lambda: f"must have at least {ctx.get('min_length')} item(s)",
        "model_type": lambda: f"must be a mapping{got}",
        "model_attributes_type": lambda: f"must be a mapping{got}",
        "dict_type": lambda: f"must be a mapping{got}",
        "tuple_type": lambda: f"must be a list{got}",
        "list_type": lambda: f"must be a list{got}",
        "value_error": lambda: str(ctx.get("error", error.get("msg", ""))),
    }
    text = messages.get(kind, lambda: str(error.get("msg", "invalid value")))()
    if kind == "value_error" and not error.get("loc"):
        return text  # a whole-model check names its own keys
    return f"{loc}: {text}"


def key_path(loc: Iterable[Any]) -> str:
    """A dotted key path that stays on one line: odd keys (empty, with newlines) are quoted."""
    return ".".join(p if isinstance(p, str) and p.isprintable() and p.strip() else repr(p) for p in map(_key, loc))


def _key(part: Any) -> Any:
    return part if isinstance(part, str) else str(part)


def _num(value: Any) -> str:
    """A bound as written in YAML: 0.0 -> 0, 2.5 -> 2.5."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def validate(model: type[Model], data: dict[str, Any], source: str, prefix: tuple[str, ...] = ()) -> Model:
    """Validate a raw mapping; the first problem becomes a ConfigError naming `source` and the
    key path (behind `prefix` when the mapping is a section, e.g. ("faults",))."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": (*prefix, *e.get("loc", ()))} for e in exc.errors(include_url=False)]
        missing = [key_path((*prefix, *e.get("loc", ()))) for e in exc.errors() if e.get("type") == "missing"]
        others = [describe_error(e) for e in errors if e.get("type") != "missing"]
        parts = others[:MAX_REPORTED_ERRORS]
        if len(missing) == 1:
            parts.append(f"{missing[0]}: required key is missing")
        elif missing:  # every missing key at once: a new file is fixed in one round
            parts.append(f"required keys missing: {', '.join(missing)}")
        more = f" (+{len(others) - MAX_REPORTED_ERRORS} more)" if len(others) > MAX_REPORTED_ERRORS else ""
        raise ConfigError(f"{source}: {'; '.join(parts)}{more}") from None


def parse_override(item: str) -> tuple[str, Any]:
    """'array.rows=64' -> ('array.rows', 64); the value is read as a YAML scalar."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{item!r}: expected KEY.PATH=VALUE", argument="overrides")
    try:
        value = parse_yaml(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, RecursionError):
        raise ConfigError(f"{item}: cannot read the value {raw!r}", argument="overrides") from None
    return key, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """A copy of `data` with each dotted KEY=VALUE set (missing mappings are created)."""
    result = _deep_copy(data)
    for item in overrides:
        key, value = parse_override(item)
        node = result
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parts[: i + 1])
                raise ConfigError(f"{item}: {where} is not a mapping", argument="overrides")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def load_hw(name_or_path: str | Path = DEFAULT_HW, overrides: Iterable[str] = ()) -> HwConfig:
    """Hardware config by bundled name or path, with optional dotted KEY=VALUE overrides."""
    path = resolve(name_or_path, HW_DIR_NAME)
    overrides = list(overrides)
    data = apply_overrides(read_hw_yaml(path), overrides)
    source = display_name(path) + (f" (with {' '.join(overrides)})" if overrides else "")
    return validate(HwConfig, data, source)


def read_hw_yaml(path: Path) -> dict[str, Any]:
    """A hardware file's mapping with its `base:` chain applied: `base: edge_32x32` (a bundled
    name, or a path relative to the file) supplies every key the file does not set; mappings
    merge key by key, other values are replaced. `name` defaults to the file's stem."""
    chain: list[Path] = []
    data = read_yaml(path)
    layers = [data]
    current = path
    while "base" in layers[-1]:
        base = layers[-1].pop("base")
        chain.append(current.resolve())
        if not isinstance(base, str) or not base:
            raise ConfigError(f"{display_name(current)}: base: must be a bundled hardware name or a YAML path")
        beside = current.parent / base
        current = resolve(beside if beside.suffix in (".yaml", ".yml") and beside.is_file() else base, HW_DIR_NAME)
        if current.resolve() in chain or len(chain) > MAX_BASE_DEPTH:
            raise ConfigError(f"{display_name(path)}: base: the chain of bases loops or exceeds {MAX_BASE_DEPTH}")
        layers.append(read_yaml(current))
    if len(layers) == 1:
        return data
    data.setdefault("name", path.stem)
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged = _merge(merged, layer)
    return merged


def _merge(below: dict[str, Any], above: dict[str, Any]) -> dict[str, Any]:
    out = dict(below)
    for key, value in above.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_workload(
    name_or_path: str | Path = DEFAULT_WORKLOAD, batch: int | None = None, dims: Mapping[str, int] | None = None
) -> Workload:
    """Workload by bundled name, YAML path or ONNX model path (`.onnx`, imported by shape inference).

    `batch` replaces a preset's batch or binds an ONNX model's symbolic batch dimension; `dims`
    binds an ONNX model's other symbolic input dimensions by name.
    """
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0):
        raise ConfigError(f"must be a positive integer, got {batch!r}", argument="batch")
    path = resolve(name_or_path, WORKLOAD_DIR_NAME)
    source = display_name(path)
    if path.suffix == ONNX_SUFFIX:
        try:
            return load_onnx_workload(path, batch=batch, dims=dims)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    if dims:
        raise ConfigError(f"{source}: dims: only an ONNX model has symbolic dimensions")
    data = read_yaml(path)
    if batch is not None:
        section = next((key for key in ("vit", "swin") if isinstance(data.get(key), dict)), None)
        if section is None:
            raise ConfigError(
                f"{source}: batch: applies to a `vit` or `swin` preset or an ONNX model, not to a GEMM list"
            )
        data = {**data, section: {**data[section], "batch": batch}}
        source += f" (with batch {batch})"
    spec = validate(WorkloadFile, data, source)
    try:
        return spec.to_workload()
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_fault_spec(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> FaultSpec:
    """A FaultSpec from an optional YAML file (a `faults:` mapping or a bare one) plus CLI values."""
    data: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        file = resolve(path, "faults")
        data = _section(read_yaml(file), "faults")
        source = display_name(file)
    data = {**data, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    return validate(FaultSpec, data, source, prefix=("faults",))


def load_abft(path: str | Path | None = None) -> AbftConfig:
    """ABFT options (thresholds per GEMM kind, blocking, recovery scope) from YAML, or defaults."""
    if path is None:
        return AbftConfig()
    file = resolve(path, "abft")
    return validate(AbftConfig, _section(read_yaml(file), "abft"), display_name(file))


def _section(document: dict[str, Any], key: str) -> dict[str, Any]:
    """A document's `key:` mapping when it is wrapped in one (`faults: {...}`), else the document."""
    inner = document.get(key)
    return inner if len(document) == 1 and isinstance(inner, dict) else document
