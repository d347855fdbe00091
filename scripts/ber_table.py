"""Markdown table of latency/energy overhead per policy across BERs (the README's worked example).

Usage: python scripts/ber_table.py [--hw edge_32x32] [--workload vit_base_16] [--ber 1e-11 ...] [--seed 0]
Recovery-overhead reduction of approx_abft against abft = 1 - recomputed MACs(approx) /
recomputed MACs(abft), at each BER.
"""

from __future__ import annotations

import argparse
import sys
import time

from simulator import api
from simulator.config.fault_spec import FaultSpec

BERS = (1e-11, 1e-10, 1e-9, 1e-8, 1e-7)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="edge_32x32")
    parser.add_argument("--workload", default="vit_base_16")
    parser.add_argument("--ber", type=float, nargs="*", default=list(BERS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        "| BER | policy | latency ovh % | energy ovh % | recomputed MACs | faults | detected | corrected"
        " | recomputed | tolerated | masked | escaped | bad outputs |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    reductions = []
    for ber in args.ber:
        t0 = time.perf_counter()
        report = api.run(args.hw, args.workload, faults=FaultSpec(ber=ber, seed=args.seed))
        data = report.to_dict()
        by = {p["policy"]: p for p in data["policies"]}
        for p in data["policies"]:
            print(
                f"| {ber:g} | {p['policy']} | {p['latency_overhead_pct']:.3f} | {p['energy_overhead_pct']:.3f} "
                f"| {p['recomputed_macs']:,} | {p['faults_injected']:,} | {p['detected']:,} | {p['corrected']:,} "
                f"| {p['recomputed']:,} | {p['tolerated']:,} | {p['masked']:,} | {p['escaped']:,} "
                f"| {p.get('corrupted_outputs', 0):,} |"
            )
        abft, approx = by["abft"]["recomputed_macs"], by["approx_abft"]["recomputed_macs"]
        reductions.append((ber, abft, approx, 100 * (1 - approx / abft) if abft else 0.0))
        print(f"ber {ber:g}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print()
    print("| BER | abft recomputed MACs | approx_abft recomputed MACs | reduction % |")
    print("|---|---:|---:|---:|")
    for ber, abft, approx, red in reductions:
        print(f"| {ber:g} | {abft:,} | {approx:,} | {red:.1f} |")


if __name__ == "__main__":
    main()
