"""Registry of ABFT policy plug-ins: name -> class. Adding a policy is one class and one line."""

from __future__ import annotations

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

POLICIES: dict[str, type[PolicyBase]] = {
    cls.name: cls for cls in (PolicyBase, DetectOnly, ClassicalAbft, CorrectingAbft, ApproxAbft, DualModular)
}


def policy_names() -> list[str]:
    return list(POLICIES)


def make_policy(name: str, context: PolicyContext | None = None) -> Policy:
    """Instantiate a registered policy; unknown names raise ValueError listing the known ones."""
    try:
        cls = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None
    return cls(context)
