"""scripts/regenerate_readme.py: every README region has a step and every region step a region, and
splicing replaces exactly the region's body."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("regenerate_readme", ROOT / "scripts" / "regenerate_readme.py")
assert _spec is not None and _spec.loader is not None
regen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = regen  # dataclasses look their module up
_spec.loader.exec_module(regen)


def test_regions_and_steps_match():
    text = (ROOT / "README.md").read_text()
    # markers are whole lines (regenerate_readme.region_pattern); prose may quote one in backticks
    opened = re.findall(r"^<!-- generated: (\S+) -->$", text, re.M)
    closed = re.findall(r"^<!-- end generated: (\S+) -->$", text, re.M)
    assert opened == closed, "every region is closed, in order"
    assert len(set(opened)) == len(opened), "a region appears once"
    assert set(opened) == {s.name for s in regen.STEPS if s.region}


def test_splice_replaces_only_the_body():
    text = "a\n<!-- generated: x -->\nold\nlines\n<!-- end generated: x -->\nb\n"
    assert regen.splice(text, "x", "new\n\n") == "a\n<!-- generated: x -->\nnew\n<!-- end generated: x -->\nb\n"
    with pytest.raises(SystemExit, match="found 0"):
        regen.splice(text, "y", "z")


def test_console_region_is_what_the_readme_test_reads():
    step = next(s for s in regen.STEPS if s.name == "worked_example")
    assert step.wrap_console == regen.WORKED_EXAMPLE
    assert f"$ abftsim {regen.WORKED_EXAMPLE}\n" in (ROOT / "README.md").read_text()
