"""Cost of `abftsim run --trace` (issue 11): ViT-B/16 on an 8x8 array, policy none, traced vs untraced.

Each case runs `abftsim run` in a fresh process (so imports and numba cache loads count, as for a
user) and reports wall seconds, the CPU seconds of that process, and the trace file's size.
Each tree's numba cache and bytecode go to a temporary folder of its own (warmed by one run first;
no tree is written). With --baseline TREE the same cases run from another checkout, whose trace
is written as plain .json when it predates gzip support (--baseline-ext json). Not a test: it
prints figures; on a shared machine compare CPU seconds measured in the same invocation.

Usage (from the repository root):
    python benchmarks/bench_trace.py [--baseline /work/main --baseline-ext json] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "--set", "array.rows=8", "--set", "array.cols=8", "--policy", "none", "--quiet"]
RUNNER = "import sys; sys.path.insert(0, sys.argv[1]); from simulator import cli; sys.exit(cli.main(sys.argv[2:]))"


def _run(tree: Path, extra: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one `abftsim run` from `tree` in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", RUNNER, str(tree), *ARGS, *extra], check=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, help="another checkout to measure the same way")
    ap.add_argument("--baseline-ext", default="json.gz", help="trace file extension for the baseline")
    ap.add_argument("--repeat", type=int, default=2, help="runs per case; the best is reported")
    args = ap.parse_args()
    trees = [(ROOT, "json.gz")] + ([(args.baseline, args.baseline_ext)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for i, (tree, ext) in enumerate(trees):  # each tree's numba cache and bytecode in its own folder
            env["NUMBA_CACHE_DIR"] = env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / f"cache-{i}")
            _run(tree, [], env)  # warm both caches (every kernel and module the runs use)
            trace = Path(tmp) / f"t.{ext}"
            for name, extra in (("untraced", []), ("traced", ["--trace", str(trace)])):
                wall, cpu = min(_run(tree, extra, env) for _ in range(args.repeat))
                size = f", {trace.stat().st_size / 1e6:.1f} MB" if extra else ""
                print(f"{tree} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU{size}")


if __name__ == "__main__":
    main()
