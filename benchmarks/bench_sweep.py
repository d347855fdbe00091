"""Wall time of a 100-point fault-free design-space sweep of ViT-B/16 with 1 and 2 workers.

Usage: python benchmarks/bench_sweep.py [--workers 1 2] [--keep DIR]
The sweep: 5 array heights (16..128) x 5 widths (16..256) x 2 dataflows (os, is) x 2 checksum
placements (in_array, checksum_pe) on edge_32x32, policy abft, one trial per point (fault-free
points are exact). Each worker count runs `abftsim sweep` end to end (start-up, planning, the
store) into a fresh store; the stores must be identical. Prints wall times, the speed-up and
the load average (a busy machine explains a poor speed-up).
Target (issue 6): under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = """
name: bench_dse100
description: 100-point fault-free design space of ViT-B/16 (benchmarks/bench_sweep.py)
seed: 0
base:
  hw: edge_32x32
  workload: vit_base_16
  faults: {ber: 0.0}
  policies: [abft]
axes:
  hw.array.rows: [16, 32, 64, 96, 128]
  hw.array.cols: [16, 32, 64, 128, 256]
  hw.array.dataflow: [os, is]
  hw.checksum_unit.placement: [in_array, checksum_pe]
"""
POINTS = 100


def rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT * FROM trials ORDER BY point, trial").fetchall()
    finally:
        conn.close()


def timed_sweep(folder: Path, workers: int) -> tuple[float, Path]:
    db = folder / f"bench_w{workers}.db"
    db.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "simulator.cli", "sweep", str(folder / "bench.yaml"), "--db", str(db),
           "--workers", str(workers), "--quiet"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0, db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", metavar="DIR", help="keep the sweep file and stores in DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bench.yaml").write_text(SWEEP)
        # warm the numba cache and the file system with a one-point run
        warm = [sys.executable, "-m", "simulator.cli", "run", "--quiet", "--policy", "abft", "--ber", "0"]
        subprocess.run(warm, check=True, stdout=subprocess.DEVNULL)
        results: dict[int, float] = {}
        reference: list[tuple] | None = None
        for workers in args.workers:
            wall_s, db = timed_sweep(folder, workers)
            stored = rows(db)
            assert len(stored) == POINTS, f"expected {POINTS} stored trials, got {len(stored)}"
            if reference is None:
                reference = stored
            assert stored == reference, "stores differ between worker counts"
            results[workers] = wall_s
            print(f"workers {workers}: {wall_s:6.1f} s wall for {POINTS} points ({POINTS / wall_s:5.2f} points/s)")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"cores: {os.cpu_count()}, 1-minute load average at the end: {load:.2f}")
        if 1 in results and len(results) > 1:
            for workers, wall_s in results.items():
                if workers != 1:
                    speedup = results[1] / wall_s
                    print(
                        f"speed-up 1 -> {workers} workers: {speedup:.2f}x (parallel efficiency {speedup / workers:.0%})"
                    )
        print("stores identical across worker counts: yes")


if __name__ == "__main__":
    main()
