"""README FIT table and figure: ViT-B/16 on edge_32x32 at sea level and in low Earth orbit.

Usage: python scripts/fit_table.py [--hw edge_32x32] [--workload vit_base_16] [--injections 1000000] [--seed 0]
           [--figure plots/reliability_fit_vs_overhead.png]
Runs `abftsim reliability` once per environment (the same single-fault campaign: same seed), prints a
Markdown table and writes the figure (PNG) with simulator.viz.reliability.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from simulator.cli import main as abftsim
from simulator.viz.figures import render
from simulator.viz.reliability import fit_vs_overhead

ENVIRONMENTS = ("sea_level", "leo")


def _iv(iv: dict) -> str:
    if iv["estimate"] == 0:
        return f"0 (< {iv['hi']:.3g})"
    return f"{iv['estimate']:.3g} [{iv['lo']:.3g}, {iv['hi']:.3g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="edge_32x32")
    parser.add_argument("--workload", default="vit_base_16")
    parser.add_argument("--injections", default="1000000", help="enough to bound LEO's SDC FIT below 10")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--figure", default="plots/reliability_fit_vs_overhead.png")
    args = parser.parse_args()
    studies = []
    with tempfile.TemporaryDirectory() as tmp:
        for env in ENVIRONMENTS:
            out = Path(tmp) / f"{env}.json"
            argv = ["reliability", "--hw", args.hw, "--workload", args.workload, "--environment", env,
                    "--injections", args.injections, "--seed", args.seed, "--json", str(out), "--quiet"]  # fmt: skip
            if abftsim(argv) != 0:
                sys.exit(f"abftsim {' '.join(argv)} failed")
            studies.append(json.loads(out.read_text()))
    print("| environment | policy | latency ovh % | energy ovh % | P(SDC \\| upset) | SDC FIT [95 %] | DUE FIT"
          " | tolerated FIT | ASIL D (< 10) | ASIL B (< 100) |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    for s in studies:
        for p in s["policies"]:
            print(
                f"| {s['environment']['name']} | {p['policy']} | {p['latency_overhead_pct']:.3f} "
                f"| {p['energy_overhead_pct']:.3f} | {_iv(p['avf']['sdc'])} | {_iv(p['fit']['sdc'])} "
                f"| {p['fit']['due']['estimate']:.3g} | {p['fit']['tolerated']['estimate']:.3g} "
                f"| {'meets' if p['meets']['ASIL D'] else 'fails'} | {'meets' if p['meets']['ASIL B'] else 'fails'} |"
            )
    figure = Path(args.figure)
    figure.parent.mkdir(parents=True, exist_ok=True)
    figure.write_bytes(render(fit_vs_overhead(studies), "png"))
    print(f"wrote {figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
