"""The package type-checks: mypy on simulator/ with the [tool.mypy] settings of pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # ~10 s of CPU on a cold cache, ~1 s warm
def test_mypy_is_clean() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_has_its_type_marker() -> None:
    # PEP 561: py.typed beside simulator/__init__.py (tests/test_packaging.py finds it in the wheel)
    assert (REPO / "simulator" / "py.typed").is_file()
