"""Cross-check abftsim's fold-cycle model against SCALE-Sim 3.0.0 compute cycles.

For GEMM C[M,N] = A[M,K] @ B[K,N] on an R x C array our model (fold_overlap: false) charges
fold_count * fold_cycles (simulator.mapping). SCALE-Sim is run in a subprocess with its own
python (``--scalesim-python`` or $SCALESIM_PYTHON, e.g. /work/scalesim_venv/bin/python); it is
never imported here and is not a dependency of abftsim.

How SCALE-Sim is driven (facts read from scalesim 3.0.0, scalesim/topology_utils.py,
single_layer_sim.py, simulator.py, memory/double_buffered_scratchpad_mem.py):
* GEMM topology rows are ``name, M, N, K,`` (``-i gemm``): SCALE-Sim's ifmap is M x K (our A),
  its filter is K x N (our B), its ofmap is M x N (our C).
* ``InterfaceBandwidth: CALC`` (estimate-bandwidth mode) with 64 MiB SRAMs: reads never stall.
* COMPUTE_REPORT.csv column "Total Cycles" (the 3rd; "Compute cycles" in SCALE-Sim's stdout)
  is the cycle index of the last serviced OFMAP demand row = demand rows - 1 + stall cycles;
  the demand matrices have exactly folds * fold_cycles rows, so with zero stalls
  SCALE-Sim "Total Cycles" = our cycles - 1.

Usage (from the repo root):
    /work/venv/bin/python benchmarks/scalesim_crosscheck.py \
        --scalesim-python /work/scalesim_venv/bin/python --arrays 32x32 --gemms vit
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from simulator.config.enums import Dataflow
from simulator.mapping.dataflow import fold_cycles, fold_shape
from simulator.mapping.tiling import fold_count

VIT_B16 = {  # (M, K, N) of one ViT-B/16 encoder block (batch 1, 197 tokens) plus stem and head
    "patch_embed": (196, 768, 768),
    "qkv": (197, 768, 2304),
    "qk": (197, 64, 197),
    "av": (197, 197, 64),
    "proj": (197, 768, 768),
    "fc1": (197, 768, 3072),
    "fc2": (197, 3072, 768),
    "head": (1, 768, 1000),
}
SMALL = {f"g{m}x{k}x{n}": (m, k, n) for m, k, n in [(5, 7, 3), (8, 8, 8), (33, 17, 65), (1, 1, 1), (64, 3, 9)]}
GEMM_SETS = {"vit": VIT_B16, "small": SMALL}
CSV_HEADER = ["M", "K", "N", "rows", "cols", "dataflow", "scalesim_total_cycles", "scalesim_wall_s"]

CONFIG = """[general]
run_name = xcheck
[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 65536
FilterSramSzkB: 65536
OfmapSramSzkB: 65536
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 512
WriteRequestBuffer: 512
[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2
[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40
[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""

# Runs in SCALE-Sim's interpreter. The API (not scale.py) so that no traces are written; the
# printed wall time covers run_scale() only (not interpreter start-up and imports).
CHILD = """import sys, time
from scalesim.scale_sim import scalesim
cfg, topo, layout, out = sys.argv[1:5]
sim = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo,
               layout=layout, input_type_gemm=True)
t0 = time.perf_counter()
sim.run_scale(top_path=out)
print("WALL_S", time.perf_counter() - t0)
"""


@dataclass(frozen=True)
class Case:
    name: str
    m: int
    k: int
    n: int
    rows: int
    cols: int
    dataflow: Dataflow


def our_cycles(case: Case) -> int:
    """abftsim's compute cycles without fold overlap: folds * fold_cycles."""
    temporal = fold_shape(case.dataflow, case.m, case.k, case.n).temporal
    folds = fold_count(case.dataflow, case.m, case.k, case.n, case.rows, case.cols)
    return folds * fold_cycles(case.dataflow, case.rows, case.cols, temporal)


def estimated_seconds(case: Case) -> float:
    """Rough SCALE-Sim run time: ~(55 + 0.7 (R + C)) us per demand row (2-core test machine)."""
    return our_cycles(case) * (55 + 0.7 * (case.rows + case.cols)) * 1e-6


def run_scalesim(python: str, case: Case, timeout: float) -> tuple[int, float]:
    """Run one GEMM in SCALE-Sim in a temp dir; return ("Total Cycles", wall seconds)."""
    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        d = Path(tmp)
        (d / "cfg.cfg").write_text(CONFIG.format(rows=case.rows, cols=case.cols, dataflow=case.dataflow.value))
        (d / "topo.csv").write_text(f"Layer, M, N, K,\n{case.name}, {case.m}, {case.n}, {case.k},\n")
        (d / "layout.csv").write_text("Layer,\n")  # header only: custom layouts are off
        args = [python, "-c", CHILD, "cfg.cfg", "topo.csv", "layout.csv", "out"]
        proc = subprocess.run(args, cwd=d, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"SCALE-Sim failed on {case}:\n{proc.stderr[-2000:]}")
        wall = float(proc.stdout.split("WALL_S")[-1])
        with open(d / "out" / "xcheck" / "COMPUTE_REPORT.csv") as f:
            report = [[c.strip() for c in row] for row in csv.reader(f)]
    row = dict(zip(report[0], report[1], strict=True))
    if int(row["Stall Cycles"]) != 0:
        raise RuntimeError(f"SCALE-Sim reported stalls for {case}: {row}")
    return int(row["Total Cycles"]), wall


def build_cases(arrays: list[str], dataflows: list[str], gemm_sets: list[str]) -> list[Case]:
    cases = []
    for array in arrays:
        rows, cols = (int(x) for x in array.lower().split("x"))
        for df in dataflows:
            for gemm_set in gemm_sets:
                for name, (m, k, n) in GEMM_SETS[gemm_set].items():
                    cases.append(Case(name, m, k, n, rows, cols, Dataflow(df)))
    return cases


def format_row(case: Case, ss: int | None, ours: int, wall: float | None) -> str:
    label = f"{case.name} {case.m}x{case.k}x{case.n} {case.rows}x{case.cols} {case.dataflow.value}"
    if ss is None:
        return f"{label:<40} {'skipped':>12} {ours:>12}"
    rel = (ss - ours) / ours
    return f"{label:<40} {ss:>12} {ours:>12} {ss - ours:>6} {rel:>+11.3e} {wall:>9.2f}"


def write_csv(path: str, results: list[tuple[Case, int, float]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_HEADER)
        for case, ss, wall in results:
            writer.writerow([case.m, case.k, case.n, case.rows, case.cols, case.dataflow.value, ss, f"{wall:.3f}"])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--scalesim-python",
        default=os.environ.get("SCALESIM_PYTHON"),
        help="python with scalesim 3.0.0 installed (default: $SCALESIM_PYTHON)",
    )
    p.add_argument("--arrays", default="8x8,16x16,32x32,16x32,128x128", help="comma-separated ROWSxCOLS list")
    p.add_argument("--dataflows", default="os,ws,is")
    p.add_argument("--gemms", default="vit,small", help="comma-separated: vit, small")
    p.add_argument(
        "--max-seconds", type=float, default=60.0, help="skip cases whose estimated SCALE-Sim time exceeds this"
    )
    p.add_argument("--timeout", type=float, default=900.0, help="per-case subprocess timeout")
    p.add_argument("--write-csv", metavar="PATH", help="write the reference CSV here")
    args = p.parse_args(argv)
    if not args.scalesim_python:
        p.error("give --scalesim-python or set SCALESIM_PYTHON")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cases = build_cases(args.arrays.split(","), args.dataflows.split(","), args.gemms.split(","))
    print(f"{'case (MxKxN array df)':<40} {'scalesim':>12} {'ours':>12} {'diff':>6} {'rel diff':>11} {'wall_s':>9}")
    results = []
    for case in cases:
        ours = our_cycles(case)
        if estimated_seconds(case) > args.max_seconds:
            print(format_row(case, None, ours, None), flush=True)
            continue
        ss, wall = run_scalesim(args.scalesim_python, case, args.timeout)
        results.append((case, ss, wall))
        print(format_row(case, ss, ours, wall), flush=True)
    diffs = sorted({ss - our_cycles(case) for case, ss, _ in results})
    print(f"\n{len(results)} cases run, {len(cases) - len(results)} skipped; scalesim - ours takes the values {diffs}")
    if args.write_csv:
        write_csv(args.write_csv, results)
        print(f"wrote {args.write_csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
