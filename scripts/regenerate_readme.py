"""Regenerate the README's result tables and figures from the code as it stands.

Usage: python scripts/regenerate_readme.py [--only NAME ...] [--jobs N] [--list] [--keep DIR]

Every generated table in README.md sits between two marker lines,

    <!-- generated: NAME -->
    ...
    <!-- end generated: NAME -->

and NAME is one of the steps below: the step's commands run in a scratch folder (the repository's
plots/ is where figures go) and the stdout of its last command replaces what is between the
markers. Steps without a README region only write figures into plots/. Steps run in parallel
(`--jobs`, default 2); each step's stdout and stderr are kept in the scratch folder (`--keep`
keeps it, and the log paths are printed). The README is rewritten once, after every selected step
has succeeded: a failing step leaves it untouched and the script exits non-zero.

Prose numbers around the tables (which a sentence quotes from a table) are not rewritten: after a
regeneration, `git diff README.md` shows what moved, and the sentences that quote it must be read.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PLOTS = ROOT / "plots"
PY = shlex.quote(sys.executable)
ABFTSIM = f"{PY} -m simulator.cli"

# The configuration of the README's 1e-8 per-kind breakdown: paper_ber's base, one BER, its trials.
BREAKDOWN_SWEEP = """\
name: paper_ber_1e-8
description: ViT-B/16 on edge_32x32, every policy, BER 1e-8 (the README's per-kind breakdown)
seed: 2023
trials: 10
base:
  hw: edge_32x32
  workload: vit_base_16
  faults:
    sites: [acc, mult, a_reg, b_reg]
    kind: transient
  policies: [none, detect_only, abft, abft_correct, approx_abft, dmr]
axes:
  faults.ber: [1.0e-8]
"""

WORKED_EXAMPLE = "run --workload vit_block_gemms --ber 1e-8 --seed 1 --policy approx_abft --policy abft --policy none"
# The memory-fault examples of the README's "Faults" section: (region name, abftsim arguments)
_BLOCK_1E9 = (
    "run --workload vit_block_gemms --ber 1e-9 --seed 1 --policy abft --policy none --sites acc,mult,a_reg,b_reg"
)
_SECDED = "--set memory.sram.a.ecc=secded --set memory.sram.b.ecc=secded"
CONSOLE_EXAMPLES = (
    ("sram_example", f"{_BLOCK_1E9},sram_a,sram_b"),
    ("sram_secded_example", f"{_BLOCK_1E9},sram_a,sram_b {_SECDED}"),
    ("output_path_example", f"{_BLOCK_1E9},sram_a,sram_b,sram_c,drain"),
    (
        "output_path_secded_mbu_example",
        f"{_BLOCK_1E9},sram_a,sram_b,sram_c,drain {_SECDED} --set memory.sram.c.ecc=secded --mbu-fraction 0.1",
    ),
)


@dataclass(frozen=True)
class Step:
    """Shell commands run in a scratch folder; the last one's stdout fills the README region `name`."""

    name: str
    commands: tuple[str, ...]
    region: bool  # the README has a region of this name
    wrap_console: str = ""  # wrap the output in a ```console block headed by `$ abftsim <this>`
    files: tuple[tuple[str, str], ...] = ()  # (file name, text) written into the scratch folder first


STEPS = (
    Step("worked_example", (f"{ABFTSIM} {WORKED_EXAMPLE}",), True, wrap_console=WORKED_EXAMPLE),
    *(Step(name, (f"{ABFTSIM} {args}",), True, wrap_console=args) for name, args in CONSOLE_EXAMPLES),
    Step("ber_vit_b16", (f"{PY} {ROOT}/scripts/ber_table.py",), True),
    Step(
        "ber_resnet50",
        (
            f"{PY} {ROOT}/scripts/onnx_model.py resnet50 -o resnet50.onnx",
            f"{PY} {ROOT}/scripts/ber_table.py --workload resnet50.onnx",
        ),
        True,
    ),
    Step("mapping", (f"{PY} {ROOT}/scripts/mapping_table.py",), True),
    Step("k_chunk", (f"{PY} {ROOT}/scripts/k_chunk_table.py",), True),
    Step("fit", (f"{PY} {ROOT}/scripts/fit_table.py --figure {PLOTS}/reliability_fit_vs_overhead.png",), True),
    Step("checksum_sram_fit", (f"{PY} {ROOT}/scripts/checksum_sram_fit_table.py",), True),
    Step(
        "paper_ber_figure",
        (
            f"{ABFTSIM} sweep paper_ber --db paper_ber.db --workers 2 --quiet",
            f"{ABFTSIM} plot paper_ber.db --kind overhead_vs_ber --out {PLOTS} --quiet",
        ),
        False,
    ),
    Step(
        "breakdown_figure",
        (
            f"{ABFTSIM} sweep paper_ber_1e-8.yaml --db breakdown.db --workers 2 --quiet",
            f"{ABFTSIM} plot breakdown.db --kind layer_breakdown --name paper_ber_layer_breakdown_1e-8 "
            f"--out {PLOTS} --quiet",
        ),
        False,
        files=(("paper_ber_1e-8.yaml", BREAKDOWN_SWEEP),),
    ),
    Step(
        "dse_figure",
        (
            f"{ABFTSIM} sweep dse_array --db dse_array.db --workers 2 --quiet",
            f"{ABFTSIM} plot dse_array.db --kind pareto --out {PLOTS} --quiet",
        ),
        False,
    ),
    Step(
        "timeline_figure",
        (
            f"{ABFTSIM} run --quiet --policy abft --ber 1e-8 --set checksum_unit.placement=side_unit --trace t.json",
            f"{ABFTSIM} plot t.json --kind timeline --cycles 0:150000 --name vit_base_16_abft_side_unit_timeline "
            f"--out {PLOTS} --quiet",
        ),
        False,
    ),
    Step("paper_vs_model", (f"{PY} {ROOT}/scripts/paper_vs_model.py --out pvm",), True),
    Step(
        "accuracy_figures",
        (
            f"{ABFTSIM} accuracy --json accuracy.json --set array.rows=8 --set array.cols=8 --abft "
            f"{ROOT}/simulator/functional/data/digits_vit_thresholds_8x8.yaml --ber 1e-7 --ber 5e-7 --ber 1e-6 "
            f"--ber 2e-6 --ber 3e-6 --trials 3 --plot {PLOTS}",
        ),
        False,
    ),
)
STEP_NAMES = tuple(step.name for step in STEPS)


def region_pattern(name: str) -> re.Pattern[str]:
    tag = re.escape(name)
    return re.compile(rf"(<!-- generated: {tag} -->\n)(.*?)(<!-- end generated: {tag} -->)", re.S)


def splice(text: str, name: str, body: str) -> str:
    """`text` with the region `name` holding `body` (one trailing newline); the region must exist once."""
    pattern = region_pattern(name)
    found = pattern.findall(text)
    if len(found) != 1:
        raise SystemExit(f"README.md: expected one region '{name}', found {len(found)}")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(3), text)


def run_step(step: Step, scratch: Path) -> tuple[str, float]:
    """(stdout of the last command, seconds); raises CalledProcessError on a failing command."""
    folder = scratch / step.name
    folder.mkdir(parents=True, exist_ok=True)
    for file_name, text in step.files:
        (folder / file_name).write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    out = ""
    for index, command in enumerate(step.commands):
        with open(folder / f"{index}.stderr", "w") as err:
            done = subprocess.run(command, shell=True, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=err,
                                  text=True, check=True)  # fmt: skip
        out = done.stdout
        (folder / f"{index}.stdout").write_text(out)
    if step.wrap_console:
        out = f"```console\n$ abftsim {step.wrap_console}\n{out}```\n"
    return out, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=STEP_NAMES, help="run only these steps")
    parser.add_argument("--jobs", type=int, default=2, help="steps run at once (default 2)")
    parser.add_argument("--keep", type=Path, help="scratch folder to keep (default: a temporary one)")
    parser.add_argument("--list", action="store_true", help="list the steps and their commands")
    args = parser.parse_args()
    steps = [s for s in STEPS if args.only is None or s.name in args.only]
    if args.list:
        for step in steps:
            print(f"{step.name}{' (README region)' if step.region else ''}:")
            for command in step.commands:
                print(f"    {command}")
        return 0
    for step in steps:  # fail before hours of work if a region is missing
        if step.region:
            splice(README.read_text(), step.name, "")
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="abftsim-regen-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"scratch folder {scratch}", file=sys.stderr)
    failed = False
    bodies: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {step.name: pool.submit(run_step, step, scratch) for step in steps}
        for step in steps:
            try:
                out, seconds = futures[step.name].result()
            except subprocess.CalledProcessError as error:
                failed = True
                print(f"{step.name}: FAILED ({error.cmd}); logs in {scratch / step.name}", file=sys.stderr)
                continue
            print(f"{step.name}: done in {seconds:.0f} s", file=sys.stderr)
            if step.region:
                bodies[step.name] = out
    if failed:
        print("README.md left unchanged", file=sys.stderr)
        return 1
    if bodies:  # read now, not at the start: edits made to the README meanwhile are kept
        text = README.read_text()
        for name, body in bodies.items():
            text = splice(text, name, body)
        README.write_text(text)
        print("README.md rewritten; read `git diff README.md` and the prose that quotes the tables", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
