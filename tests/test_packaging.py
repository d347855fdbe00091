"""A non-editable install finds its bundled hardware configs and workloads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_install_finds_bundled_configs(tmp_path):
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(REPO)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("abftsim-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=tmp_path)
    assert (site / "simulator" / "py.typed").is_file()  # PEP 561: users' type checkers read our annotations
    probe = (
        "import simulator, pathlib, simulator.cli; "
        "from simulator.config.loader import load_hw, load_workload, bundled_names; "
        "assert 'site' in pathlib.Path(simulator.__file__).parts, simulator.__file__; "
        "from simulator.functional.bundle import load_bundle; "
        "print(bundled_names('hw_configs'), bundled_names('workloads'), bundled_names('sweeps'), "
        "load_hw('edge_32x32').name, load_workload('vit_base_16').macs, load_bundle() is not None)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert "edge_32x32" in out.stdout and "17563828224" in out.stdout and "vit_huge_14" in out.stdout
    assert "paper_ber" in out.stdout and out.stdout.strip().endswith("True")
