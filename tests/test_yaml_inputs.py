"""Config YAML that must never blow up: aliases, nesting, duplicate keys, YAML 1.2 floats, `base:`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from simulator import cli
from simulator.config.loader import load_hw, read_yaml
from simulator.errors import ConfigError

EDGE = load_hw("edge_32x32")


def write(tmp_path: Path, text: str, name: str = "hw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_alias_bomb_is_refused_before_expansion(tmp_path):
    # "billion laughs": 9 levels of 9 aliases would expand to 9**9 = 387,420,489 strings
    lines = ['l0: &l0 "lol"'] + [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"hw.yaml: aliases \(\*l0\) are not allowed in configs.* at line 2"):
        load_hw(path)
    assert time.perf_counter() - start < 2.0


def test_recursive_alias_and_deep_nesting_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"aliases \(\*a\) are not allowed"):
        read_yaml(write(tmp_path, "a: &a [*a]\n"))
    with pytest.raises(ConfigError, match="nesting deeper than 64 levels"):
        read_yaml(write(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n"))


def test_duplicate_keys_name_the_key_and_both_lines(tmp_path):
    text = "array:\n  rows: 32\n  cols: 32\n  rows: 8\n"  # rows on lines 2 and 4
    with pytest.raises(ConfigError, match=r"hw.yaml: duplicate key 'rows' at lines 2 and 4$"):
        read_yaml(write(tmp_path, text))


def test_yaml_12_floats_in_files_and_overrides(tmp_path):
    # 2.56e1 GB/s = 25.6 GB/s, the bundled value: the same config as the bundled file
    path = write(tmp_path, "base: edge_32x32\nname: edge_32x32\nmemory: {dram: {bandwidth_gb_per_s: 2.56e1}}\n")
    assert load_hw(path) == EDGE
    assert load_hw("edge_32x32", ["memory.dram.bandwidth_gb_per_s=2.56e1"]) == EDGE
    assert load_hw("edge_32x32", ["energy.mac_pj=3e-1"]).energy.mac_pj == pytest.approx(0.3)
    assert read_yaml(write(tmp_path, 'a: 1e-3\nb: "1e-3"\nc: 7\n', "x.yaml")) == {"a": 0.001, "b": "1e-3", "c": 7}


def test_base_inheritance_takes_every_unset_key(tmp_path):
    path = write(tmp_path, "base: edge_32x32\narray: {rows: 16}\nmemory: {ideal: true}\n", "mine.yaml")
    hw = load_hw(path)
    assert hw.name == "mine"  # the file's stem unless it names itself
    assert (hw.array.rows, hw.array.cols, hw.memory.ideal) == (16, 32, True)
    assert hw.memory.sram == EDGE.memory.sram and hw.energy == EDGE.energy
    second = write(tmp_path, "base: mine.yaml\nname: second\narray: {cols: 8}\n", "second.yaml")  # beside the file
    assert (load_hw(second).array.rows, load_hw(second).array.cols) == (16, 8)


def test_base_loops_and_bad_bases_are_refused(tmp_path):
    write(tmp_path, "base: b.yaml\n", "a.yaml")
    write(tmp_path, "base: a.yaml\n", "b.yaml")
    with pytest.raises(ConfigError, match="base: the chain of bases loops"):
        load_hw(tmp_path / "a.yaml")
    with pytest.raises(ConfigError, match="no_such_hw: not a file and not a bundled hw_configs name"):
        load_hw(write(tmp_path, "base: no_such_hw\n"))


def test_every_missing_key_is_reported_at_once(tmp_path, capsys):
    path = write(tmp_path, "name: x\nclock_ghz: 1\narray: {rows: 8, cols: 8}\nmemory: {ideal: true}\n")
    assert cli.main(["run", "--hw", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "required keys missing: memory.sram, memory.dram, energy" in err
