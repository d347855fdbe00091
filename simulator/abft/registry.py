"""Registry of ABFT policy plug-ins: name -> factory. Adding a policy is one class and one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.abft.protocol import Policy, Unprotected

POLICIES: dict[str, Callable[..., Policy]] = {
    "none": Unprotected,
}


def policy_names() -> list[str]:
    return list(POLICIES)


def make_policy(name: str, **options: Any) -> Policy:
    """Instantiate a registered policy; unknown names raise ValueError listing the known ones."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r} (known: {', '.join(POLICIES)})") from None
    return factory(**options)
