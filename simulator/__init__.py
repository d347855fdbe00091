"""abftsim: a cycle-approximate simulator of systolic-array accelerators protected by ABFT.

`simulator.run(hw, workload, policies, faults, seed)` is the Python entry point (simulator.api).
"""

from __future__ import annotations

from typing import Any

__all__ = ["run"]


def __getattr__(name: str) -> Any:
    if name == "run":  # imported on first use: `import simulator` stays cheap
        from simulator.api import run

        return run
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
