"""Markdown tables of the README's mapping section: DRAM bytes per GEMM kind, the bound, energy shares.

Usage: python scripts/mapping_table.py [--hw edge_32x32] [--workload vit_base_16]
Per GEMM kind: DRAM bytes over compulsory bytes (A and B read once, C written once) with the
scratchpads edge_32x32 had before issue 10's re-size (A 64, B 256, C 64 KiB) for min_dram with
whole-K folds and with K-split orders, then on the bundled hardware the order min_dram picks, its
ratio and the traffic lower bound (mapping.traffic_bound). Then the whole workload per mapping:
DRAM bytes, the bound, and the fault-free cycles and energy shares per component under policy none.
"""

from __future__ import annotations

import argparse

from simulator import api
from simulator.config.loader import load_hw, load_workload
from simulator.mapping.loop_order import LoopOrder
from simulator.mapping.schedule import schedule_gemms
from simulator.mapping.traffic_bound import gemm_dram_bound_bytes

OLD_SIZES = tuple(  # the previous edge_32x32 scratchpads and their per-byte energies, as they were
    f"memory.sram.{buf}.{key}={value}"
    for buf, size, pj in (("a", 64, 3.75), ("b", 256, 6.25), ("c", 64, 3.75))
    for key, value in (("size_kib", size), ("read_energy_pj_per_byte", pj), ("write_energy_pj_per_byte", pj))
)
CONFIGS = {  # label -> overrides of the bundled hardware
    "old sizes, fixed": (*OLD_SIZES, "mapping.policy=fixed"),
    "old sizes, min_dram, whole K": (*OLD_SIZES, "mapping.k_split=false"),
    "old sizes, min_dram, K split": OLD_SIZES,
    "bundled, fixed": ("mapping.policy=fixed",),
    "bundled, min_dram, whole K": ("mapping.k_split=false",),
    "bundled, min_dram, K split": (),
}


def _order(order: LoopOrder) -> str:
    text = f"{order.group_axis} x {order.group_blocks}"
    if order.k_chunks > 1:
        text += f", K in {order.k_chunks} chunks, tile {order.middle_blocks}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="edge_32x32")
    parser.add_argument("--workload", default="vit_base_16")
    args = parser.parse_args()
    gemms = load_workload(args.workload).gemms
    hws = {label: load_hw(args.hw, list(extra)) for label, extra in CONFIGS.items()}
    schedules = {label: schedule_gemms(gemms, hw) for label, hw in hws.items()}
    best_hw = hws["bundled, min_dram, K split"]
    print(
        "| GEMM kind | M | K | N | old sizes: whole K | old sizes: K split | bundled: loop order "
        "| bundled: DRAM / compulsory | bundled: bound |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|")
    seen = set()
    for i, g in enumerate(gemms):
        if g.kind in seen:
            continue
        seen.add(g.kind)
        ratio = {label: s[i].dram_bytes / s[i].compulsory_dram_bytes for label, s in schedules.items()}
        best = schedules["bundled, min_dram, K split"][i]
        bound = gemm_dram_bound_bytes(g, best_hw) / best.compulsory_dram_bytes
        print(
            f"| {g.kind} | {g.m} | {g.k} | {g.n} | {ratio['old sizes, min_dram, whole K']:.2f} "
            f"| {ratio['old sizes, min_dram, K split']:.2f} | {_order(best.order)} "
            f"| {ratio['bundled, min_dram, K split']:.2f} | {bound:.2f} |"
        )
    print()
    print("| scratchpads, mapping | DRAM MB | ratio | bound | cycles | energy uJ | " + " | ".join(_COMPONENTS) + " |")
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(_COMPONENTS))
    for label, extra in CONFIGS.items():
        total = sum(s.dram_bytes for s in schedules[label])
        compulsory = sum(s.compulsory_dram_bytes for s in schedules[label])
        bound = sum(gemm_dram_bound_bytes(g, hws[label]) for g in gemms)
        report = api.run(args.hw, args.workload, ["none"], overrides=list(extra))
        pol = report.policies[0]
        energy = sum(pol.energy_breakdown_pj.values())
        parts = pol.energy_breakdown_pj
        shares = [100 * sum(parts.get(k, 0.0) for k in keys) / energy for keys in _COMPONENTS.values()]
        print(
            f"| {label} | {total / 1e6:.1f} | {total / compulsory:.2f} | {bound / compulsory:.2f} | {pol.cycles:,} "
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
