"""Single-fault AVF campaign speed on ViT-B/16 (edge_32x32, every policy): injections classified per second.

Measured: (1) set-up, once per campaign: seeded synthetic operands of every GEMM instance and the numba
kernels (compile cached after the first run); (2) the campaign itself with operands cached: sampling, exact
effects in one kernel call per hit GEMM instance, every policy's fate vectorised (reliability.fast_fates);
(3) the baseline measured in the same run: the same faults settled one at a time through every policy's
decide() (reliability.single_fault, the reference path), on fewer faults. For scale, bench_fault_effects.py
measures a per-fault GEMM recompute (a tensor-level injector's step) at ~10^4 times the kernels' cost.

Usage (from the repo root):
    python benchmarks/bench_avf.py [--injections 100000] [--reference 5000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from simulator import api
from simulator.abft.policies import PolicyContext
from simulator.abft.registry import make_policy, policy_names
from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.mapping.schedule import schedule_gemm
from simulator.reliability.avf import run_avf_campaign
from simulator.verify.operand_cache import OperandCache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--injections", type=int, default=100_000)
    parser.add_argument("--reference", type=int, default=5_000, help="faults for the one-at-a-time baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workload", default="vit_base_16")
    args = parser.parse_args()
    hw = api.resolve_hw("edge_32x32")
    wl = api.resolve_workload(args.workload)
    schedules = [schedule_gemm(g, hw) for g in wl.gemms]
    abft = AbftConfig()
    policies = [make_policy(n, PolicyContext(hw.checksum_unit.placement, abft)) for n in policy_names()]
    spec = FaultSpec()
    ops = OperandCache(hw, schedules, 0)
    start = time.perf_counter()
    run_avf_campaign(hw, schedules, spec, abft, policies, 20_000, 0, ops)  # touches (nearly) every instance
    setup_s = time.perf_counter() - start
    fast = []
    for r in range(args.repeats):
        start = time.perf_counter()
        c = run_avf_campaign(hw, schedules, spec, abft, policies, args.injections, 1 + r, ops)
        fast.append(time.perf_counter() - start)
    ref = []
    for r in range(args.repeats):
        start = time.perf_counter()
        run_avf_campaign(hw, schedules, spec, abft, policies, args.reference, 1 + r, ops, vectorised=False)
        ref.append(time.perf_counter() - start)
    fast_rate = args.injections / statistics.median(fast)
    ref_rate = args.reference / statistics.median(ref)
    print(f"{wl.name} on {hw.name}, {len(policies)} policies")
    print(f"set-up (operands of every GEMM instance + a 20k warm-up campaign): {setup_s:.1f} s")
    print(f"vectorised: {args.injections:,} injections in {statistics.median(fast):.3f} s median "
          f"= {fast_rate:,.0f} injections/s ({c.generic} pairs settled one at a time)")  # fmt: skip
    print(f"reference (one at a time): {ref_rate:,.0f} injections/s; vectorised / reference = "
          f"{fast_rate / ref_rate:.1f}x")  # fmt: skip


if __name__ == "__main__":
    main()
