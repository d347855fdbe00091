"""Time every ABFT policy on ViT-B/16 at BER 1e-9 (issue 5's speed bar: under 10 s on 2 cores).

Usage: python benchmarks/bench_policies.py [--ber 1e-9] [--hw edge_32x32] [--workload vit_base_16]
Prints the wall time of one api.run with every policy (operands and fault draws shared), each
policy's own share, and as a same-run baseline the fault-free single-policy run.
"""

from __future__ import annotations

import argparse
import time

from simulator import api
from simulator.config.fault_spec import FaultSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ber", type=float, default=1e-9)
    parser.add_argument("--hw", default="edge_32x32")
    parser.add_argument("--workload", default="vit_base_16")
    args = parser.parse_args()
    api.run(args.hw, "vit_block_gemms", faults=FaultSpec(ber=1e-7))  # warm numba's cache and imports

    t0 = time.perf_counter()
    api.run(args.hw, args.workload, ["none"])
    baseline_s = time.perf_counter() - t0

    stamps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    report = api.run(args.hw, args.workload, faults=FaultSpec(ber=args.ber),
                     progress=lambda name: stamps.append((name, time.perf_counter())))  # fmt: skip
    total_s = time.perf_counter() - t0
    print(f"{args.workload} on {args.hw}, BER {args.ber:g}")
    print(f"fault-free `none` run (baseline): {baseline_s:.2f} s")
    print(f"every policy, one run:            {total_s:.2f} s  ({total_s / baseline_s:.1f}x the baseline)")
    print("  per policy (the first also pays the shared baseline run, operands and fault draws):")
    previous = t0
    for (name, stamp), pol in zip(stamps, report.policies, strict=True):
        print(f"  {name:<12} {stamp - previous:6.2f} s  faults {pol.outcomes['faults_injected']:>6}")
        previous = stamp


if __name__ == "__main__":
    main()
