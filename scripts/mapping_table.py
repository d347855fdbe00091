"""Markdown tables of the README's mapping section: DRAM bytes per GEMM kind and energy shares.

Usage: python scripts/mapping_table.py [--hw edge_32x32] [--workload vit_base_16]
For `mapping.policy` fixed and min_dram: per GEMM kind the chosen loop order, DRAM bytes over
compulsory bytes (A and B read once, C written once), then the whole workload's DRAM bytes and
the fault-free energy shares per component under policy none.
"""

from __future__ import annotations

import argparse

from simulator import api
from simulator.config.loader import load_hw, load_workload
from simulator.mapping.schedule import schedule_gemm

POLICIES = ("fixed", "min_dram")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="edge_32x32")
    parser.add_argument("--workload", default="vit_base_16")
    args = parser.parse_args()
    gemms = load_workload(args.workload).gemms
    schedules = {p: [schedule_gemm(g, load_hw(args.hw, [f"mapping.policy={p}"])) for g in gemms] for p in POLICIES}
    print("| GEMM kind | M | K | N | fixed: DRAM / compulsory | min_dram: loop order | min_dram: DRAM / compulsory |")
    print("|---|---:|---:|---:|---:|---|---:|")
    seen = set()
    for fixed, best in zip(schedules["fixed"], schedules["min_dram"], strict=True):
        g = best.gemm
        if g.kind in seen:
            continue
        seen.add(g.kind)
        order = f"{best.order.group_axis} x {best.order.group_blocks}"
        print(
            f"| {g.kind} | {g.m} | {g.k} | {g.n} | {fixed.dram_bytes / fixed.compulsory_dram_bytes:.2f} | {order} "
            f"| {best.dram_bytes / best.compulsory_dram_bytes:.2f} |"
        )
    print()
    print("| mapping | DRAM MB | compulsory MB | ratio | cycles | energy uJ | " + " | ".join(_COMPONENTS) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(_COMPONENTS))
    for p in POLICIES:
        total = sum(s.dram_bytes for s in schedules[p])
        compulsory = sum(s.compulsory_dram_bytes for s in schedules[p])
        report = api.run(args.hw, args.workload, ["none"], overrides=[f"mapping.policy={p}"])
        pol = report.policies[0]
        energy = sum(pol.energy_breakdown_pj.values())
        parts = pol.energy_breakdown_pj
        shares = [100 * sum(parts.get(k, 0.0) for k in keys) / energy for keys in _COMPONENTS.values()]
        print(
            f"| {p} | {total / 1e6:.1f} | {compulsory / 1e6:.1f} | {total / compulsory:.2f} | {pol.cycles:,} "
            f"| {energy / 1e6:.1f} | " + " | ".join(f"{s:.1f} %" for s in shares) + " |"
        )


_COMPONENTS = {
    "MAC": ("mac",),
    "checksum": ("checksum", "compare"),
    "SRAM": ("sram_a", "sram_b", "sram_c"),
    "DRAM": ("dram",),
    "leakage": ("leakage",),
}

if __name__ == "__main__":
    main()
