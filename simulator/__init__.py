"""abftsim: a cycle-approximate simulator of systolic-array accelerators protected by ABFT.

Python entry points, imported on first use so that `import simulator` stays cheap:
`simulator.run(hw, workload, policies, faults, seed)` (simulator.api), `simulator.sweep`
(simulator.campaign.sweep), `simulator.accuracy` and `simulator.calibrate`
(simulator.functional.accuracy / .calibrate).
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> (module, attribute); this package sits above every layer, so it may import any
_ENTRY_POINTS = {
    "run": ("simulator.api", "run"),
    "sweep": ("simulator.campaign.sweep", "sweep"),
    "accuracy": ("simulator.functional.accuracy", "accuracy_study"),
    "calibrate": ("simulator.functional.calibrate", "calibrate_thresholds"),
}
__all__ = list(_ENTRY_POINTS)


def __getattr__(name: str) -> Any:
    if name in _ENTRY_POINTS:
        module, attribute = _ENTRY_POINTS[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'simulator' has no attribute {name!r}")
