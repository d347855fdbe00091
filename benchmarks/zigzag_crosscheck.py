"""Cross-check abftsim's min-DRAM mapping (DRAM bytes, energy) against ZigZag on ViT-B/16 GEMMs.

ZigZag (KU Leuven, `pip install zigzag-dse`; facts read from zigzag-dse 3.9.1: api.py
get_hardware_performance_zigzag, parser/workload_validator.py, inputs/hardware/*.yaml) searches
the temporal loop order and the memory level of every loop for a layer on a memory hierarchy and
reports per-operand access counts and energies. It is run in a subprocess with its own python
(``--zigzag-python`` or $ZIGZAG_PYTHON, a throwaway venv); it is never imported here and is not
a dependency of abftsim.

The matching configuration is edge_32x32 (fault-free, policy none):
* a 32x32 array with M and N unrolled spatially and K temporal (output stationary), one int32
  accumulator register per PE;
* three SRAMs holding A (I), B (W) and C (O) with the capacity abftsim's mapping may use for
  resident data: one buffer of each double-buffered scratchpad (edge_32x32: 160, 32, 64 KiB);
* a DRAM holding everything, 64 bits per access;
* every energy from edge_32x32.yaml: MAC 0.3 pJ, SRAM pJ/byte x 8 per 64-bit word, DRAM
  13 pJ/bit x 64, reads and writes priced equally (so DRAM bytes = DRAM energy / pJ per byte).
ZigZag minimises energy (opt="energy") with its LOMA search (lpf_limit 6).

Usage (from the repo root):
    python3 -m venv /tmp/zz && /tmp/zz/bin/pip install zigzag-dse six  # 3.9.1 imports six undeclared
    .venv/bin/python benchmarks/zigzag_crosscheck.py --zigzag-python /tmp/zz/bin/python \
        --csv benchmarks/data/zigzag_vit_b16_edge.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from simulator.api import run
from simulator.config.loader import load_hw
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload

LAYERS = {"qkv": (197, 768, 2304), "fc2": (197, 3072, 768), "qk": (197, 64, 197)}  # (M, K, N), one instance

DRIVER = r"""
import json, sys, logging
logging.disable(logging.CRITICAL)
from zigzag.api import get_hardware_performance_zigzag
spec = json.loads(sys.argv[1])
m, k, n = spec["mkn"]
workload = [{
    "id": 0, "name": "gemm", "operator_type": "Gemm",
    "equation": "O[m][n]+=I[m][k]*W[k][n]",
    "loop_dims": ["M", "K", "N"], "loop_sizes": [m, k, n],
    "operand_precision": {"I": 8, "W": 8, "O": 32, "O_final": 8},
    "operand_source": {"I": 0, "W": 0},
}]
_, _, cmes = get_hardware_performance_zigzag(
    workload, spec["accelerator"], spec["mapping"], opt="energy", dump_folder=spec["dump"],
    lpf_limit=6, loma_show_progress_bar=False,
)
cme = cmes[0][1][0][0]
breakdown = {str(op): [float(e) for e in levels] for op, levels in cme.mem_energy_breakdown.items()}
print(json.dumps({"energy_pj": float(cme.energy_total), "mac_pj": float(cme.mac_energy),
                  "mem_breakdown_pj": breakdown, "latency_cycles": float(cme.latency_total2)}))
"""


def _port(name: str, kind: str, bits: int, allocation: list[str]) -> str:
    alloc = "".join(f"\n          - {a}" for a in allocation)
    return (
        f"\n      - name: {name}\n        type: {kind}\n        bandwidth_min: {bits}\n"
        f"        bandwidth_max: {bits}\n        allocation:{alloc}"
    )


def accelerator_yaml(hw) -> str:
    """The ZigZag description of `hw` (an OS int8 array), energies from its YAML."""
    sram, dram = hw.memory.sram, hw.memory.dram
    rows, cols = hw.array.rows, hw.array.cols
    mems = []

    def memory(name, size_bits, r_cost, w_cost, operands, ports, served):
        mems.append(
            f"  {name}:\n    size: {size_bits}\n    r_cost: {r_cost}\n    w_cost: {w_cost}\n    area: 0\n"
            f"    latency: 1\n    operands: [{', '.join(operands)}]\n    ports:{''.join(ports)}\n"
            f"    served_dimensions: [{', '.join(served)}]\n"
        )

    memory(
        "acc_reg",
        32,
        0,
        0,
        ["O"],
        [
            _port("r_port_1", "read", 32, ["O, tl"]),
            _port("r_port_2", "read", 32, ["O, th"]),
            _port("w_port_1", "write", 32, ["O, fh"]),
            _port("w_port_2", "write", 32, ["O, fl"]),
        ],
        [],
    )
    for name, op, cfg in (("sram_a", "I1", sram.a), ("sram_b", "I2", sram.b)):
        memory(
            name,
            cfg.buffer_bytes * 8,
            cfg.read_energy_pj_per_byte * 8,
            cfg.write_energy_pj_per_byte * 8,
            [op],
            [_port("r_port_1", "read", 64, [f"{op}, tl"]), _port("w_port_1", "write", 64, [f"{op}, fh"])],
            ["D1", "D2"],
        )
    memory(
        "sram_c",
        sram.c.buffer_bytes * 8,
        sram.c.read_energy_pj_per_byte * 8,
        sram.c.write_energy_pj_per_byte * 8,
        ["O"],
        [
            _port("r_port_1", "read", 64, ["O, tl", "O, th"]),
            _port("w_port_1", "write", 64, ["O, fh", "O, fl"]),
        ],
        ["D1", "D2"],
    )
    dram_word_pj = dram.energy_pj_per_byte * 8
    memory(
        "dram",
        10_000_000_000,
        dram_word_pj,
        dram_word_pj,
        ["I1", "I2", "O"],
        [
            _port(
                "rw_port_1",
                "read_write",
                64,
                ["I1, fh", "I1, tl", "I2, fh", "I2, tl", "O, fh", "O, tl", "O, fl", "O, th"],
            )
        ],
        ["D1", "D2"],
    )
    return (
        f"name: {hw.name}_zigzag\n\nmemories:\n"
        + "\n".join(mems)
        + f"\noperational_array:\n  input_precision: [8, 8]\n  unit_energy: {hw.energy.mac_pj}\n"
        f"  unit_area: 1\n  dimensions: [D1, D2]\n  sizes: [{rows}, {cols}]\n"
    )


MAPPING = """- name: default
  spatial_mapping:
    D1:
      - M, {rows}
    D2:
      - N, {cols}
  memory_operand_links:
    O: O
    W: I2
    I: I1
"""


def run_zigzag(python: str, hw, mkn: tuple[int, int, int]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        acc, mapping = Path(tmp, "acc.yaml"), Path(tmp, "mapping.yaml")
        acc.write_text(accelerator_yaml(hw))
        mapping.write_text(MAPPING.format(rows=hw.array.rows, cols=hw.array.cols))
        spec = {"mkn": mkn, "accelerator": str(acc), "mapping": str(mapping), "dump": str(Path(tmp, "out"))}
        start = time.perf_counter()
        out = subprocess.run(
            [python, "-c", DRIVER, json.dumps(spec)], capture_output=True, text=True, check=True, cwd=tmp
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["wall_s"] = time.perf_counter() - start
        return result


def abftsim_layer(hw, name: str, mkn: tuple[int, int, int]) -> dict:
    m, k, n = mkn
    report = run(hw, Workload(name, (Gemm(name, name, m, k, n),)), ["none"])
    layer = report.policies[0].layers[0]
    b = layer.energy_breakdown_pj
    return {
        "dram_bytes": layer.dram_bytes,
        "compulsory_dram_bytes": layer.compulsory_dram_bytes,
        "energy_pj": layer.energy_pj - b.get("leakage", 0.0),  # ZigZag prices no leakage
        "dram_pj": b["dram"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zigzag-python", default=os.environ.get("ZIGZAG_PYTHON"))
    ap.add_argument("--hw", default="edge_32x32")
    ap.add_argument("--csv", type=Path, help="write the side-by-side figures here")
    args = ap.parse_args()
    if not args.zigzag_python:
        ap.error("give --zigzag-python (or $ZIGZAG_PYTHON): the python of a venv with zigzag-dse")
    hw = load_hw(args.hw)
    version = subprocess.run(
        [args.zigzag_python, "-c", "import importlib.metadata as m; print(m.version('zigzag-dse'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dram_pj_per_byte = hw.memory.dram.energy_pj_per_byte
    rows = []
    for name, mkn in LAYERS.items():
        ours = abftsim_layer(hw, name, mkn)
        zz = run_zigzag(args.zigzag_python, hw, mkn)
        zz_dram_pj = sum(levels[-1] for levels in zz["mem_breakdown_pj"].values())
        zz_dram_bytes = zz_dram_pj / dram_pj_per_byte
        rows.append(
            {
                "layer": name,
                "M": mkn[0],
                "K": mkn[1],
                "N": mkn[2],
                "compulsory_dram_bytes": ours["compulsory_dram_bytes"],
                "abftsim_dram_bytes": ours["dram_bytes"],
                "zigzag_dram_bytes": round(zz_dram_bytes),
                "dram_ratio_abftsim_over_zigzag": round(ours["dram_bytes"] / zz_dram_bytes, 4),
                "abftsim_energy_pj": round(ours["energy_pj"], 1),
                "zigzag_energy_pj": round(zz["energy_pj"], 1),
                "energy_ratio_abftsim_over_zigzag": round(ours["energy_pj"] / zz["energy_pj"], 4),
                "zigzag_wall_s": round(zz["wall_s"], 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    if args.csv:
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        with args.csv.open("w", newline="") as fh:
            fh.write(
                f"# zigzag-dse {version} (LOMA, opt=energy, lpf_limit 6) vs abftsim on {args.hw}, policy none,"
                f" fault-free; produced by benchmarks/zigzag_crosscheck.py\n"
            )
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
