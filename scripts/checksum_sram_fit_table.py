"""The README's FMEDA lines for the checksum hardware and the SRAMs: FIT per site, with and without SEC-DED.

Usage: python scripts/checksum_sram_fit_table.py [--injections N] [--mbu-fraction F]
Runs `abftsim reliability` (ViT-B/16 on edge_32x32, seed 0) at sea level and in low Earth orbit and prints
two Markdown tables: the checksum hardware's DUE FIT under detect_only and its false-alarm rate under abft
(recomputations per 10^9 h), and each SRAM's SDC / DUE / refetch FIT without ECC and with SEC-DED, undated
(AVF 1) and derated by the scratchpad's live fraction under the schedule (faults.sram_residency: the residency
the samplers draw over), side by side, and the accumulator drain registers' line (flip-flops, no ECC, AVF 1,
derated by the drain sampler's exposure: reliability.drain), then the single-fault AVF of the memory and
output-path sites (reliability.memory_avf: as many upsets per site, policy-independent) and their SDC FIT: the
derated line times the measured AVF.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from simulator.cli import main as cli
from simulator.reliability.rates import fit_from_exposure


def study(environment: str, injections: int, mbu: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        argv = ["reliability", "--environment", environment, "--injections", str(injections), "--quiet",
                "--json", str(out)]  # fmt: skip
        if mbu:
            spec = Path(tmp) / "faults.yaml"
            spec.write_text(f"mbu_fraction: {mbu}\n")
            argv += ["--faults", str(spec)]
        assert cli(argv) == 0
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--injections", type=int, default=20_000)
    parser.add_argument("--mbu-fraction", type=float, default=0.1, help="for the SRAM table's MBU rows")
    ns = parser.parse_args()
    studies = {env: study(env, ns.injections, 0.0) for env in ("sea_level", "leo")}
    print("| environment | site | bit-operations / inference | DUE FIT (detect_only) | false alarms FIT (abft) |")
    print("|---|---|---:|---:|---:|")
    for env, d in studies.items():
        chk = d["checksum_hardware"]
        cycles = {p["policy"]: p["cycles"] for p in d["policies"]}
        lam = d["environment"]["ff_fit_per_mbit"]
        alarms_all = 0.0
        for site, ops in chk["bit_ops_per_site"].items():
            due = chk["fit"]["detect_only"][site]["due"]["estimate"]
            # a false alarm under abft is recomputed: exposure x P(recomputed), in FIT units
            alarms = fit_from_exposure(lam, ops * d["by_site"]["abft"][site]["recomputed"]["estimate"], cycles["abft"])
            alarms_all += alarms
            print(f"| {env} | {site} | {ops:.3g} | {due:.3g} | {alarms:.3g} |")
        total_ops = sum(chk["bit_ops_per_site"].values())
        total_due = chk["fit"]["detect_only"]["all"]["due"]["estimate"]
        print(f"| {env} | all | {total_ops:.3g} | {total_due:.3g} | {alarms_all:.3g} |")
    print()
    f = f"{ns.mbu_fraction:g} MBU"
    print(
        "| environment | SRAM | raw FIT | live fraction | SDC FIT no ECC | SDC FIT no ECC, derated | SDC FIT SEC-DED "
        f"| DUE / refetch FIT SEC-DED | SDC FIT SEC-DED, {f} | SDC FIT SEC-DED, {f}, derated "
        f"| DUE / refetch FIT SEC-DED, {f} | DUE / refetch FIT SEC-DED, {f}, derated |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for env, d in studies.items():
        mbu = study(env, 100, ns.mbu_fraction)["sram"]
        for x, y in zip(d["sram"], mbu, strict=True):
            sec, ymb, ymd = x["fit_secded"], y["fit_secded"], y["fit_secded_derated"]
            print(
                f"| {env} | {x['sram']} | {x['raw_fit']:.4g} | {x['live_fraction']:.3f} | {x['fit_no_ecc']['sdc']:.4g} "
                f"| {x['fit_no_ecc_derated']['sdc']:.4g} | {sec['sdc']:.3g} | {max(sec['due'], sec['refetch']):.3g} "
                f"| {ymb['sdc']:.4g} | {ymd['sdc']:.4g} | {max(ymb['due'], ymb['refetch']):.4g} "
                f"| {max(ymd['due'], ymd['refetch']):.4g} |"
            )
        dr = d["drain"]  # flip-flops, no ECC: the ECC columns do not apply
        print(
            f"| {env} | drain registers ({dr['register_bits']:,} flip-flop bits, AVF 1) | {dr['raw_fit']:.4g} "
            f"| {dr['live_fraction']:.3f} | {dr['fit_sdc']:.4g} | {dr['fit_sdc_derated']:.4g} | - | - | - | - | - | - |"
        )
    print()
    print("| environment | site | upsets injected | P(masked) | P(SDC) [95 %] | SDC FIT no ECC, derated x AVF [95 %] |")
    print("|---|---|---:|---:|---:|---:|")
    for env, d in studies.items():
        for site, x in d["memory_avf"]["sites"].items():
            a, f = x["avf"], x["fit"]["sdc"]
            print(
                f"| {env} | {site} | {x['injections']:,} | {a['masked']['estimate']:.3f} | {_iv(a['sdc'], '.3f')} "
                f"| {_iv(f, '.4g')} |"
            )


def _iv(x: dict, spec: str) -> str:
    return f"{x['estimate']:{spec}} [{x['lo']:{spec}}, {x['hi']:{spec}}]"


if __name__ == "__main__":
    main()
