"""Hardware and workload YAML: valid files load, every kind of bad input gets one clean line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import cli
from simulator.config.enums import Dataflow
from simulator.config.loader import apply_overrides, bundled_names, load_hw, load_workload, read_yaml
from simulator.config.schema import HwConfig
from simulator.errors import ConfigError

EDGE = Path(__file__).resolve().parent.parent / "hw_configs" / "edge_32x32.yaml"


def test_bundled_configs_load():
    assert {"edge_32x32", "tpu_like_128x128", "scalesim_compat"} <= set(bundled_names("hw_configs"))
    for name in bundled_names("hw_configs"):
        hw = load_hw(name)
        assert hw.name == name
    compat = load_hw("scalesim_compat")
    assert compat.memory.ideal and not compat.array.fold_overlap
    tpu = load_hw("tpu_like_128x128")
    assert (tpu.array.rows, tpu.array.dataflow) == (128, Dataflow.WS)
    # GB/s converted at the clock: 460 GB/s at 0.94 GHz
    assert tpu.dram_bytes_per_cycle == pytest.approx(460 / 0.94)


def test_every_energy_number_cites_a_source():
    for path in (EDGE.parent).glob("*.yaml"):
        for line in path.read_text().splitlines():
            if any(key in line for key in ("_pj", "leakage_mw")) and ":" in line and "{" not in line:
                assert "#" in line, f"{path.name}: uncited energy value: {line.strip()}"


def test_set_overrides_by_dotted_path():
    hw = load_hw("edge_32x32", ["array.rows=64", "array.dataflow=ws", "memory.ideal=true"])
    assert (hw.array.rows, hw.array.dataflow, hw.memory.ideal) == (64, Dataflow.WS, True)
    data = {"a": {"b": 1}}
    assert apply_overrides(data, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}
    assert data == {"a": {"b": 1}}  # the input is not modified


def write(tmp_path: Path, text: str, name: str = "hw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edge_with(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(EDGE.read_text())
    edit(data)
    return write(tmp_path, yaml.safe_dump(data))


def _del(path: str):
    def edit(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        del d[last]

    return edit


def _set(path: str, value):
    def edit(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value

    return edit


BAD_HW = [
    (_set("array.rows", -4), "array.rows: must be > 0, got -4"),
    (_set("array.cols", 0), "array.cols: must be > 0, got 0"),
    (_set("array.rows", "32"), "array.rows: must be an integer, got '32'"),
    (_set("array.rows", 3.5), "array.rows: must be an integer, got 3.5"),
    (_set("array.fold_overlap", "yes"), "array.fold_overlap: must be true or false, got 'yes'"),
    (_set("array.dataflow", "xs"), "array.dataflow: must be one of 'os', 'ws' or 'is', got 'xs'"),
    (_set("array.datatype", "int4"), "array.datatype: must be one of 'int8', 'fp16', 'bf16' or 'fp32', got 'int4'"),
    (_set("array.colour", "red"), "array.colour: unknown key"),
    (_set("turbo", True), "turbo: unknown key"),
    (_del("array.rows"), "array.rows: required key is missing"),
    (_set("memory.sram.a.size_kib", 0), "memory.sram.a.size_kib: must be > 0, got 0"),
    (_set("memory.sram.b.size_kib", -1.5), "memory.sram.b.size_kib: must be > 0, got -1.5"),
    (_set("memory.sram.c.buffers", 3), "memory.sram.c.buffers: must be <= 2, got 3"),
    (_set("memory.dram.latency_cycles", -1), "memory.dram.latency_cycles: must be >= 0, got -1"),
    (_set("memory.dram.bandwidth_bytes_per_cycle", 8), "memory.dram: give exactly one of"),
    (_set("clock_ghz", True), "clock_ghz: must be a number, got True"),
    (_set("clock_ghz", float("inf")), "clock_ghz: must be a finite number, got inf"),
    (_set("checksum_unit.placement", "outside"), "checksum_unit.placement: must be one of"),
    (_set("checksum_unit.adds_per_cycle", 0), "checksum_unit.adds_per_cycle: must be > 0, got 0"),
    (_set("recompute.max_retries", -1), "recompute.max_retries: must be >= 0, got -1"),
    (_set("energy.mac_pj", -0.3), "energy.mac_pj: must be >= 0, got -0.3"),
    (_set("schema_version", 2), "schema_version: must be 1, got 2"),
    (_set("array", [1, 2]), "array: must be a mapping, got [1, 2]"),
]


@pytest.mark.parametrize("edit,message", BAD_HW)
def test_bad_hardware_rejected_with_file_and_key(tmp_path, capsys, edit, message):
    path = edge_with(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        load_hw(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    # the CLI: one line on stderr, exit 2, no traceback
    assert cli.main(["run", "--hw", str(path), "--quiet"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and message in stderr and "Traceback" not in stderr


@pytest.mark.parametrize(
    "text,message",
    [
        ("array: [1, 2\n", "invalid YAML at line"),
        ("- 1\n- 2\n", "expected a mapping at the top level, got list"),
        ("", "expected a mapping at the top level, got NoneType"),
        ("when: 2026-13-01\n", "invalid YAML"),
        ("a: !!python/object/apply:os.system ['echo hi']\n", "invalid YAML"),  # safe loader only
    ],
)
def test_unreadable_yaml_rejected(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        read_yaml(path)


def test_bad_set_overrides(capsys):
    assert cli.main(["run", "--set", "array.rows=-4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "hw_configs/edge_32x32.yaml (with array.rows=-4): array.rows: must be > 0, got -4" in err
    assert cli.main(["run", "--set", "norows", "--quiet"]) == 2
    assert "expected KEY.PATH=VALUE" in capsys.readouterr().err
    assert cli.main(["run", "--set", "array.rows.x=1", "--quiet"]) == 2
    assert "array.rows is not a mapping" in capsys.readouterr().err


def test_unknown_names_and_missing_files(capsys, tmp_path):
    assert cli.main(["run", "--hw", "nope", "--quiet"]) == 2
    assert "not a file and not a bundled hw_configs name" in capsys.readouterr().err
    assert cli.main(["run", "--workload", str(tmp_path / "missing.yaml"), "--quiet"]) == 2
    assert "missing.yaml: no such file" in capsys.readouterr().err
    assert cli.main(["run", "--policy", "magic", "--quiet"]) == 2
    assert "unknown policy 'magic'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text,message",
    [
        ("name: w\ngemms:\n  - {name: a, M: 0, K: 1, N: 1}\n", "gemms.0.M: must be > 0, got 0"),
        ("name: w\ngemms:\n  - {name: a, M: 1, K: 1}\n", "gemms.0.N: required key is missing"),
        ("name: w\ngemms:\n  - {name: a, M: 1, K: 1, N: 2, colour: 1}\n", "gemms.0.colour: unknown key"),
        (
            "name: w\ngemms:\n  - {name: a, M: 1, K: 1, N: 2}\n  - {name: a, M: 1, K: 1, N: 2}\n",
            "duplicate GEMM names: a",
        ),
        ("name: w\ngemms: []\n", "gemms: must have at least 1 item"),
        ("name: w\n", "give exactly one of `vit`"),
        (
            "name: w\nvit: {image_size: 224, patch_size: 15, hidden: 768, depth: 1, heads: 12}\n",
            "not a multiple of patch_size",
        ),
        (
            "name: w\nvit: {image_size: 224, patch_size: 16, hidden: 768, depth: 1, heads: 7}\n",
            "not a multiple of heads",
        ),
        ("name: w\ngemms:\n  - {name: a, M: 1, K: 1, N: 2, kind: convolution}\n", "kind must be one of"),
    ],
)
def test_bad_workloads(tmp_path, text, message):
    path = write(tmp_path, text, "w.yaml")
    with pytest.raises(ConfigError) as err:
        load_workload(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_workload_gemm_list_exact_shape(tmp_path):
    path = write(
        tmp_path,
        "name: my_gemms\ngemms:\n  - {name: qkv, M: 197, K: 768, N: 2304}\n"
        "  - {name: qk, M: 197, K: 64, N: 197, count: 12}\n",
        "w.yaml",
    )
    wl = load_workload(path)
    assert wl.name == "my_gemms"
    assert [(g.name, g.kind, g.m, g.k, g.n, g.count) for g in wl.gemms] == [
        ("qkv", "qkv", 197, 768, 2304, 1),
        ("qk", "qk", 197, 64, 197, 12),
    ]


# -- random documents: the loader either returns a valid config or raises ConfigError --------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.sampled_from(["os", "ws", "is", "int8", "fp16", "side_unit", "in_array"]),
)  # fmt: skip
keys = st.sampled_from(
    ["schema_version", "name", "clock_ghz", "array", "memory", "sram", "a", "b", "c", "dram", "rows", "cols",
     "dataflow", "datatype", "fold_overlap", "ideal", "size_kib", "buffers", "latency_cycles", "energy",
     "mac_pj", "checksum_unit", "placement", "bogus"]
) | st.text(max_size=6)  # fmt: skip
documents = st.recursive(
    scalars, lambda inner: st.dictionaries(keys, inner, max_size=6) | st.lists(inner, max_size=3), max_leaves=30
)


def _mutations():
    base = yaml.safe_load(EDGE.read_text())
    paths = []

    def walk(node, prefix):
        for key, value in node.items():
            paths.append((*prefix, key))
            if isinstance(value, dict):
                walk(value, (*prefix, key))

    walk(base, ())
    return base, paths


BASE_DOC, BASE_PATHS = _mutations()


def assert_config_or_clean_error(path: Path, text: str) -> None:
    """Loading `text` gives a valid HwConfig or one ConfigError line naming the file."""
    path.write_text(text, encoding="utf-8")
    try:
        hw = load_hw(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
    else:
        assert isinstance(hw, HwConfig)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents)
def test_random_documents_give_config_or_clean_error(tmp_path, doc):
    assert_config_or_clean_error(tmp_path / "random.yaml", yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(BASE_PATHS), value=documents)
def test_random_mutations_of_a_valid_file(tmp_path, where, value):
    import copy

    doc = copy.deepcopy(BASE_DOC)
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    assert_config_or_clean_error(tmp_path / "mutated.yaml", yaml.safe_dump(doc))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_random_text_gives_config_or_clean_error(tmp_path, text):
    assert_config_or_clean_error(tmp_path / "text.yaml", text)


def test_bundled_designs_size_their_checksum_hardware_for_their_array():
    """Detection alone must not dominate a bundled design: detect_only at BER 0 costs < 2 % latency
    on a ViT block (tpu_like_128x128 with 128 side-unit lanes cost +349 %)."""
    from simulator import api

    for name in bundled_names("hw_configs"):
        report = api.run(name, "vit_block_gemms", ["detect_only"])
        overhead_pct = report.policies[0].to_dict(report.baseline)["latency_overhead_pct"]
        assert 0 <= overhead_pct < 2.0, (name, overhead_pct)
