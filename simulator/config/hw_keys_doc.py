"""The hardware-key reference (docs/hw_config_keys.md), generated from the HwConfig schema so it cannot drift."""

from __future__ import annotations

from typing import Any

from simulator.config.schema import HwConfig

# unit of a key by its name's ending (project rule: units in every number's name); first match wins
UNIT_SUFFIXES = (
    ("_bytes_per_cycle", "bytes/cycle"),
    ("_gb_per_s", "GB/s (10^9 bytes/s)"),
    ("_pj_per_byte", "pJ/byte"),
    ("_per_cycle", "per cycle"),
    ("_cycles_per_fold", "cycles per fold"),
    ("_cycles", "cycles"),
    ("_kib", "KiB"),
    ("_ghz", "GHz"),
    ("_pj", "pJ"),
    ("_mw", "mW"),
)

DESCRIPTIONS = {
    "schema_version": "hardware YAML schema version",
    "name": "the design's name in reports (default with `base:`: the file's stem)",
    "base": "a bundled hardware name or a YAML path (relative to this file) supplying every key not set here",
    "clock_ghz": "array clock",
    "array.rows": "PE rows",
    "array.cols": "PE columns",
    "array.dataflow": "which operand stays in the PEs: output-, weight- or input-stationary",
    "array.datatype": "operand datatype; the accumulator follows (int8 -> int32)",
    "array.fold_overlap": "pipeline consecutive folds (fill of the next under the drain of the last)",
    "memory.ideal": "no memory stall at all",
    "memory.dram.bandwidth_bytes_per_cycle": "DRAM channel bandwidth (give this or bandwidth_gb_per_s)",
    "memory.dram.bandwidth_gb_per_s": "DRAM channel bandwidth (give this or bandwidth_bytes_per_cycle)",
    "memory.dram.latency_cycles": "latency of a DRAM transfer before its first byte",
    "memory.dram.energy_pj_per_byte": "DRAM access energy",
    "checksum_unit.placement": "where the ABFT checksum hardware sits",
    "checksum_unit.adds_per_cycle": "side unit lanes: checksum additions per cycle",
    "checksum_unit.extra_cycles_per_fold": "checksum-PE drain adder latency added to every fold",
    "mapping.policy": "fold order: the one moving the fewest DRAM bytes per GEMM, or the dataflow's fixed order",
    "mapping.k_chunk": "longest K range an output-stationary fold streams (none: all of K); each chunk is "
    "checked on its own, partial sums accumulate in SRAM C",
    "mapping.k_split": "min_dram may split K into chunks on its own where that moves fewer DRAM bytes",
    "recompute.max_retries": "recomputations of a faulty tile before it is given up (escaped)",
    "energy.mac_pj": "one multiply-accumulate",
    "energy.checksum_add_pj": "one checksum addition",
    "energy.compare_pj": "one checksum comparison",
    "energy.leakage_mw": "static power of the accelerator",
}
_SRAM = {
    "size_kib": "capacity (all buffers together)",
    "port_bytes_per_cycle": "port width",
    "buffers": "1 (single) or 2 (double buffered: refill under compute)",
    "read_energy_pj_per_byte": "read energy",
    "write_energy_pj_per_byte": "write energy",
    "ecc": "per-word SEC-DED ECC (corrects 1 flipped bit, detects 2; `abftsim reliability`'s SRAM FIT, "
    "and runs with the sram_a / sram_b / sram_c fault sites: A / B refetch a detected error, C's is a DUE)",
    "ecc_data_bits": "data bits per ECC word (64: the (72, 64) code)",
}
for _sram, _what in (("a", "activations (A)"), ("b", "weights (B)"), ("c", "outputs and partial sums (C)")):
    for _key, _text in _SRAM.items():
        DESCRIPTIONS[f"memory.sram.{_sram}.{_key}"] = f"{_what} scratchpad: {_text}"


def hw_keys_markdown() -> str:
    """The whole reference page as Markdown."""
    schema = HwConfig.model_json_schema()
    rows = [("base", "string", "none (optional)", "", "", DESCRIPTIONS["base"])]
    rows += list(_walk(schema, schema, ""))
    lines = [
        "# Hardware configuration keys",
        "",
        "Generated from `simulator/config/schema.py` by `python scripts/hw_config_keys.py`; a test checks",
        "that this file equals the generated one. A hardware file may start with `base: edge_32x32` (or any",
        "bundled name or path) and set only the keys that differ; mappings merge key by key.",
        "",
        "| key | type | default | unit | allowed | meaning |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| `{key}` | {kind} | {default} | {unit} | {allowed} | {text} |" for key, kind, default, unit, allowed,
              text in rows]  # fmt: skip
    return "\n".join(lines) + "\n"


def unit_of(key: str) -> str:
    leaf = key.rsplit(".", 1)[-1]
    return next((unit for suffix, unit in UNIT_SUFFIXES if leaf.endswith(suffix)), "")


def _walk(root: dict[str, Any], node: dict[str, Any], prefix: str):
    required = set(node.get("required", ()))
    for name, prop in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        target = _resolve(root, prop)
        if target.get("type") == "object" and "properties" in target:
            yield from _walk(root, target, f"{key}.")
            continue
        default = "**required**" if name in required else _show(prop.get("default"))
        yield key, _type(root, prop), default, unit_of(key), _allowed(root, prop), DESCRIPTIONS.get(key, "")


def _resolve(root: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    return root["$defs"][ref.rsplit("/", 1)[-1]] if ref else prop


def _variants(root: dict[str, Any], prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [_resolve(root, v) for v in prop.get("anyOf", [prop]) if v.get("type") != "null"]


_TYPE_NAMES = {"integer": "integer", "number": "number", "boolean": "true/false"}


def _type(root: dict[str, Any], prop: dict[str, Any]) -> str:
    kinds = []
    for v in _variants(root, prop):
        if "enum" in v or "const" in v:
            kinds.append("choice")
        else:
            kinds.append(_TYPE_NAMES.get(str(v.get("type")), "string"))
    return " or ".join(dict.fromkeys(kinds))


def _allowed(root: dict[str, Any], prop: dict[str, Any]) -> str:
    parts = []
    for v in _variants(root, prop):
        if "enum" in v:
            parts.append(", ".join(f"`{e}`" for e in v["enum"]))
        if "const" in v:
            parts.append(f"`{v['const']}`")
        for key, sign in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"), ("maximum", "<=")):
            if key in v:
                parts.append(f"{sign} {v[key]}")
    return ", ".join(parts)


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"
