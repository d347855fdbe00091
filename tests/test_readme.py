"""The README's worked example is the real output of the command it shows, and its two set-up
commands are the ones .ci/run and users rely on."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from simulator import cli

README = Path(__file__).resolve().parent.parent / "README.md"


def _example_blocks() -> list[tuple[list[str], str]]:
    """(argv, expected stdout) of every ```console block starting with `$ abftsim run`."""
    blocks = re.findall(r"```console\n\$ abftsim (run[^\n]*)\n(.*?)```", README.read_text(), flags=re.S)
    return [(shlex.split(command), output) for command, output in blocks]


def test_readme_has_a_worked_example():
    assert _example_blocks(), "README.md lost its worked example"


def test_readme_example_output_is_current(capsys):
    for argv, expected in _example_blocks():
        assert cli.main(argv) == 0
        assert capsys.readouterr().out == expected, f"README example `abftsim {' '.join(argv)}` is stale"


def test_readme_setup_commands():
    text = README.read_text()
    assert "pip install -e . && abftsim run" in text
    test_command = 'pip install -e ".[test]" && python -m pytest -q'
    assert test_command in text
    assert test_command in (README.parent / ".ci" / "run").read_text()
