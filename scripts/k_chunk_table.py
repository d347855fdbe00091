"""README table: `abft` and `approx_abft` at BER 1e-8 on ViT-B/16 / edge_32x32 for k_chunk in {K, 1024, 256}.

Usage: python scripts/k_chunk_table.py [--hw edge_32x32] [--workload vit_base_16] [--ber 1e-8] [--trials 4]
Per K chunking (whole K: `mapping.k_split=false` and no k_chunk; then `mapping.k_chunk` 1024 and
256) and policy: escapes per inference (mean over `trials` seeds with a 95 % Student-t interval
over the per-trial counts), latency and energy overhead against the same hardware's fault-free
unprotected run (the run's own baseline, chunked the same way) and against the whole-K one (what
chunking costs on top). The same seeds are used for every row.
"""

from __future__ import annotations

import argparse

from simulator import api
from simulator.config.fault_spec import FaultSpec
from simulator.metrics.stats import t_interval

ROWS = {  # label -> hardware overrides
    "K (whole)": ("mapping.k_split=false",),
    "1024": ("mapping.k_split=false", "mapping.k_chunk=1024"),
    "256": ("mapping.k_split=false", "mapping.k_chunk=256"),
}
POLICIES = ("abft", "approx_abft")


def _iv(values: list[float], digits: int = 0) -> str:
    iv = t_interval(values, support_min=0.0)
    return f"{iv.estimate:.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", default="edge_32x32")
    parser.add_argument("--workload", default="vit_base_16")
    parser.add_argument("--ber", type=float, default=1e-8)
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    whole = None
    print(
        "| k_chunk | policy | folds | escaped per inference | latency ovh % | energy ovh % "
        "| latency ovh % vs whole-K none | energy ovh % vs whole-K none |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for label, overrides in ROWS.items():
        per: dict[str, dict[str, list[float]]] = {p: {} for p in POLICIES}
        folds = 0
        for seed in range(args.trials):
            report = api.run(
                args.hw, args.workload, list(POLICIES), FaultSpec(ber=args.ber), seed, overrides=list(overrides)
            )
            base = report.baseline
            if whole is None:
                whole = base
            folds = sum(layer.folds for layer in report.policies[0].layers)
            for pol in report.policies:
                d = per[pol.policy]
                for key, value in (
                    ("escaped", pol.outcomes.get("escaped", 0)),
                    ("lat", 100 * (pol.cycles / base.cycles - 1)),
                    ("en", 100 * (pol.energy_pj / base.energy_pj - 1)),
                    ("lat_whole", 100 * (pol.cycles / whole.cycles - 1)),
                    ("en_whole", 100 * (pol.energy_pj / whole.energy_pj - 1)),
                ):
                    d.setdefault(key, []).append(float(value))
        for policy in POLICIES:
            d = per[policy]
            print(
                f"| {label} | {policy} | {folds:,} | {_iv(d['escaped'])} | {_iv(d['lat'], 1)} | {_iv(d['en'], 1)} "
                f"| {_iv(d['lat_whole'], 1)} | {_iv(d['en_whole'], 1)} |"
            )


if __name__ == "__main__":
    main()
