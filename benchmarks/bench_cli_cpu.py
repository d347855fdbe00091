"""Any abftsim command against a baseline tree in the same session: median CPU and wall seconds.

Usage: python benchmarks/bench_cli_cpu.py --baseline /path/to/other/checkout [--repeat N] -- ARGS...
e.g. `-- accuracy --set array.rows=8 --set array.cols=8 --ber 1e-6 --trials 2` (the default) or
`-- run --quiet` (the default `abftsim run`). Both trees run with this interpreter through
PYTHONPATH, their numba caches and compiled bytecode (PYTHONPYCACHEPREFIX) in a temporary directory
per tree (neither tree is written, and a PYTHONDONTWRITEBYTECODE=1 in the environment cannot make
one tree compile its modules on every run and not the other); one warm-up run per tree fills both
caches, so the figures are warm; then the runs alternate between the trees. CPU = user + system seconds of the
child process, the steadier figure on a shared machine; the speed-up is the ratio of CPU medians.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent.parent
DEFAULT = ["accuracy", "--set", "array.rows=8", "--set", "array.cols=8", "--ber", "1e-6", "--trials", "2"]


def run_child(tree: Path, args: list[str], cache_dir: str) -> tuple[float, float, str]:
    """(cpu seconds, wall seconds, stdout) of one `abftsim ARGS` in `tree` (also bench_faulty_run's)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "NUMBA_CACHE_DIR": cache_dir, "PYTHONPYCACHEPREFIX": cache_dir}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "simulator.cli", *args], env=env, cwd=tempfile.gettempdir(),
                          check=True, capture_output=True, text=True)  # fmt: skip
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall, done.stdout


def run_once(tree: Path, args: list[str], cache_dir: str) -> tuple[float, float]:
    """(cpu seconds, wall seconds) of one `abftsim ARGS` in `tree`."""
    cpu, wall, _ = run_child(tree, args, cache_dir)
    return cpu, wall


R = TypeVar("R")


def alternating_runs(trees: dict[str, Path], repeat: int, once: Callable[[Path, str], R]) -> dict[str, list[R]]:
    """`once(tree, cache_dir)` per tree: one warm-up run (it compiles and caches the numba kernels and the
    bytecode in the tree's own temporary folder), then `repeat` runs alternating between the trees, so
    that a change of load hits both alike (also bench_faulty_run's)."""
    runs: dict[str, list[R]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as tmp:
        caches = {name: str(Path(tmp) / str(i)) for i, name in enumerate(trees)}
        for name, tree in trees.items():
            once(tree, caches[name])
        for _ in range(repeat):
            for name, tree in trees.items():
                runs[name].append(once(tree, caches[name]))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout (e.g. main)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("args", nargs="*", help="abftsim arguments (after --)")
    ns = parser.parse_args()
    args = ns.args or DEFAULT
    trees = {"baseline": ns.baseline.resolve(), "this tree": HERE}
    runs = alternating_runs(trees, ns.repeat, lambda tree, cache: run_once(tree, args, cache))
    cpu = {}
    for name, tree in trees.items():
        cpu[name] = statistics.median(r[0] for r in runs[name])
        wall = statistics.median(r[1] for r in runs[name])
        print(f"{name:>10}: {tree}  cpu {cpu[name]:.2f} s  wall {wall:.2f} s")
    print(f"speed-up (cpu): {cpu['baseline'] / cpu['this tree']:.2f}x  args: {' '.join(args)}")


if __name__ == "__main__":
    main()
