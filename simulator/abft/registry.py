"""Registry of ABFT policy plug-ins: name -> class. Adding a policy is one class and one line."""

from __future__ import annotations

from collections.abc import Iterable

from simulator.abft.policies import (
    ApproxAbft,
    ClassicalAbft,
    CorrectingAbft,
    DetectOnly,
    DualModular,
    PolicyBase,
    PolicyContext,
)
from simulator.abft.protocol import Policy

# the policies that ship with abftsim (abft.policies), in registry order
BUNDLED_POLICIES: tuple[type[PolicyBase], ...] = (
    PolicyBase, DetectOnly, ClassicalAbft, CorrectingAbft, ApproxAbft, DualModular,
)  # fmt: skip
POLICIES: dict[str, type[PolicyBase]] = {cls.name: cls for cls in BUNDLED_POLICIES}


def policy_names() -> list[str]:
    return list(POLICIES)


def check_policy_names(names: Iterable[str]) -> list[str]:
    """The names, in order, when every one is registered; ValueError naming the first unknown one."""
    chosen = list(names)
    for name in chosen:
        if name not in POLICIES:
            raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})")
    return chosen


def make_policy(name: str, context: PolicyContext | None = None) -> Policy:
    """Instantiate a registered policy; unknown names raise ValueError listing the known ones."""
    (checked,) = check_policy_names([name])
    return POLICIES[checked](context)
