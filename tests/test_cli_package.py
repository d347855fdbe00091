"""The CLI package: subcommands found by module, library errors free of flag spellings."""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import cli
from simulator.cli.common import error_line
from simulator.errors import ConfigError

SIMULATOR = Path(cli.__file__).resolve().parent.parent


def test_every_subcommand_module_registers_its_commands():
    names = [m.__name__.rsplit(".", 1)[1] for m in cli.command_modules()]
    assert names == ["run", "workload", "campaign", "model", "reliability"]  # ORDER 10, 15, 20, 30, 40
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == ["run", "list", "workload", "sweep", "export", "plot", "accuracy", "calibrate",
                                 "import-model", "reliability"]  # fmt: skip
    assert all(_handled(p) for p in sub.choices.values())


def _handled(parser: argparse.ArgumentParser) -> bool:
    """A parser has a handler, or each of its own subcommands has one (`abftsim workload import`)."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if nested:
        return all(_handled(p) for p in nested[0].choices.values())
    return parser.get_default("handler") is not None


def test_library_messages_name_arguments_not_flags():
    """No string in simulator/ outside the CLI starts with a flag spelling such as "--set" (a line style "--" is fine)."""
    offenders = []
    for path in SIMULATOR.rglob("*.py"):
        if "cli" in path.relative_to(SIMULATOR).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value[:3].lstrip("-").isalpha()
                and node.value.startswith("--")
            ):
                offenders.append(f"{path.relative_to(SIMULATOR)}:{node.lineno}: {node.value[:40]!r}")
    assert offenders == []


def test_cli_spells_arguments_as_flags():
    exc = ConfigError("must be >= 1, got 0", argument="workers")
    assert str(exc) == "workers: must be >= 1, got 0"  # the library's wording
    assert error_line(exc) == "--workers: must be >= 1, got 0"  # the CLI's
    assert error_line(ConfigError("x.yaml: array.rows: must be > 0")) == "x.yaml: array.rows: must be > 0"


def test_python_dash_m_runs_the_cli():
    for module in ("simulator", "simulator.cli"):
        out = subprocess.run([sys.executable, "-m", module, "list"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("hardware:"), out.stderr


def test_an_empty_kernel_cache_is_detected(tmp_path):
    probe = "from simulator.kernels.cache_state import kernels_need_compiling as k; print(k())"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty")}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.strip() == "True", out.stderr


@pytest.mark.parametrize("needed", [True, False])
def test_first_compile_is_announced_on_stderr(capsys, monkeypatch, needed):
    from simulator.kernels import cache_state

    monkeypatch.setattr(cache_state, "kernels_need_compiling", lambda: needed)
    tiny = str(Path(__file__).resolve().parent / "data" / "tiny_gemms.yaml")
    assert cli.main(["run", "--workload", tiny, "--policy", "none", "--ber", "1e-6"]) == 0
    captured = capsys.readouterr()
    notice = "abftsim: compiling kernels, first run only (about 15 s)\n"
    assert captured.err == (notice if needed else "") and "compiling" not in captured.out


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "abftsim: interrupted\n"),
        (cli.Terminated(15), 143, "abftsim: stopped by signal SIGTERM\n"),
        (MemoryError(), 2, "abftsim: error: out of memory; reduce the workload, the BER or the trial count\n"),
    ],
)
def test_interrupts_are_one_line_on_every_command(capsys, monkeypatch, raised, code, line):
    from simulator import api

    def stop(*args, **kwargs):
        raise raised

    monkeypatch.setattr(api, "run", stop)
    monkeypatch.setattr(api, "resolve_hw", stop)  # accuracy and calibrate start here
    for argv in (["run", "--quiet"], ["accuracy", "--quiet"], ["calibrate", "--out", "x.yaml", "--quiet"]):
        assert cli.main(argv) == code
        assert capsys.readouterr().err == line


def test_sigterm_during_a_command_is_terminated(capsys, monkeypatch):
    """The handler main() installs turns SIGTERM into cli.Terminated and restores the old one after."""
    import signal

    from simulator import api

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(api, "run", lambda *a, **k: signal.raise_signal(signal.SIGTERM))
    assert cli.main(["run", "--quiet"]) == 143
    assert capsys.readouterr().err == "abftsim: stopped by signal SIGTERM\n"
    assert signal.getsignal(signal.SIGTERM) is before


def test_numba_array_math_loads_without_the_blas_probe_and_scipy_stays_importable() -> None:
    """cli.load_numba_array_math_without_blas_probe: numba records no BLAS (scipy.linalg was hidden
    for that import only), a kernel still runs, scipy.linalg imports afterwards when scipy is there,
    and a second call is a no-op."""
    code = """
import importlib.util, sys
import numpy as np
from simulator.cli import load_numba_array_math_without_blas_probe as load
load()
import numba.np.arraymath as am
assert not am._HAVE_BLAS and "scipy.linalg" not in sys.modules, sys.modules.get("scipy.linalg")
from simulator.kernels.square_sum import int8_square_sum
assert int8_square_sum(np.full((3, 4), -3, np.int8)) == 108
if importlib.util.find_spec("scipy") is not None:
    import scipy.linalg
    assert scipy.linalg.cython_blas is not None
load()
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
