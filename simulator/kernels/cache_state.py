"""Whether the numba kernels still need compiling: their on-disk cache is missing or stale."""

from __future__ import annotations

from types import ModuleType

from numba.core.dispatcher import Dispatcher

from simulator.kernels import fault_effects, words

KERNEL_MODULES: tuple[ModuleType, ...] = (words, fault_effects)


def kernels_need_compiling() -> bool:
    """True when some kernel has no valid cached machine code (the first run compiles for ~15 s).

    Reads numba's cache index (a private but long-stable structure); when it cannot tell, says
    False, so a front end at worst omits its notice.
    """
    for module in KERNEL_MODULES:
        for obj in vars(module).values():
            cache = getattr(obj, "_cache", None) if isinstance(obj, Dispatcher) else None
            if cache is None:
                continue
            try:
                if not cache._cache_file._load_index():  # empty when absent or the source changed
                    return True
            except Exception:  # a numba internal changed: no notice rather than a crash
                continue
    return False
