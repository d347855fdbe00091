"""Wall time of `abftsim run` on ViT-B/16 (default hardware), start-up included.

Usage: python benchmarks/bench_run.py [--repeat N] [-- extra abftsim run args]
Prints the median and min over N runs of the console command, and, as a same-run baseline,
the wall time of `python -c pass` (interpreter start-up), so the ratio is machine-independent.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_seconds(cmd: list[str], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("extra", nargs="*", help="extra arguments for abftsim run")
    args = parser.parse_args()
    beside = Path(sys.executable).with_name("abftsim")
    exe = str(beside) if beside.exists() else shutil.which("abftsim")
    cmd = [exe] if exe else [sys.executable, "-m", "simulator.cli"]
    cmd += ["run", "--quiet", *args.extra]
    wall_seconds(cmd, 1)  # warm the numba cache and the file system
    run = wall_seconds(cmd, args.repeat)
    python = wall_seconds([sys.executable, "-c", "pass"], args.repeat)
    print(f"command: {' '.join(cmd)}")
    print(f"abftsim run   median {statistics.median(run):.3f} s  min {min(run):.3f} s  (n={args.repeat})")
    print(f"python -c pass median {statistics.median(python):.3f} s")
    print(f"ratio run / bare interpreter start-up: {statistics.median(run) / statistics.median(python):.1f}")


if __name__ == "__main__":
    main()
