"""Explicit faults on the output path (faults.explicit_output: sites sram_c and drain): exact output changes by hand
against plain int32 words, a partial-sum flip carried through the later K chunks, the random path's effect for
the same coordinates, errors naming the field, the fault log from the CLI and a fault-spec YAML."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest

from simulator import api
from simulator.abft.policies import PolicyContext
from simulator.abft.registry import make_policy
from simulator.cli import main
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Datatype, Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.config.loader import load_fault_spec
from simulator.errors import ConfigError
from simulator.faults.operands import synthetic_operands
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.verifier import make_verifier
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload

# OS on 8 x 8 with K = 24 in 3 chunks of 8 (tests/test_output_faults.py works its residency by hand): fold j =
# (K chunk j // 2, N block j % 2), folds start 0, 8, ..., 40 and end 22, 30, ..., 62 (latency 22). C[:, 0:8]'s
# partial sums live [22, 38) (chunk 0, read by fold 2 at its end) and [38, 54) (chunk 1); its outputs [54, 57)
# (the write-back of 64 int32 words at 25.6 bytes per cycle). A drain takes 8 cycles (a column of 8 accumulators).
CHUNKED = ["array.rows=8", "array.cols=8", "mapping.k_chunk=8"]
GEMM = Gemm("fc1", "fc1", 8, 24, 16)
WL = Workload("tiny", (GEMM,))
SEED = 5
# WRITE_BACK: an int8 run stores requantised outputs; an accumulator error that leaves the stored code unchanged is
# masked (the ledger's at-output test), one that changes it escaped: fate_at_write_back works it out by hand


def hw(*extra: str):
    return api.resolve_hw("edge_32x32", [*CHUNKED, *extra])


def c_fault(**kw: Any) -> ExplicitFault:
    return ExplicitFault(gemm="fc1", site=Site.SRAM_C, **kw)


def drain_fault(**kw: Any) -> ExplicitFault:
    return ExplicitFault(gemm="fc1", site=Site.DRAIN, **kw)


def residual(spec: FaultSpec, *extra: str) -> np.ndarray:
    """The error the run leaves in C (8 x 16, accumulator units), from the verifier (policy none)."""
    h = hw(*extra)
    schedules = [schedule_gemm(GEMM, h)]
    policy = make_policy("none", PolicyContext(h.checksum_unit.placement, AbftConfig()))
    instances, rows, cols, delta = make_verifier(policy, h, schedules, spec).residual_errors(0)
    assert not instances.any()  # (one instance)
    out = np.zeros((8, 16), np.int64)
    out[rows, cols] = delta
    return out


def int32_xor(value: int, bit: int) -> int:
    """Plain numpy: the int32 word `value` with bit `bit` inverted."""
    return int((np.array([value], np.int32).view(np.uint32) ^ np.uint32(1 << bit)).view(np.int32)[0])


def products(i: int, j: int, lo: int, hi: int) -> int:
    ops = synthetic_operands(GEMM, Datatype.INT8, SEED, 0, 0)
    return int(ops.a[i, lo:hi].astype(np.int64) @ ops.b[lo:hi, j].astype(np.int64))


def fate_at_write_back(i: int, j: int, delta: int) -> str:
    """The fate "escaped" if C[i, j] + delta stores another int8 code than C[i, j], else "masked": code = clip(rint(acc / step),
    -127, 127) with step = 6 RMS / 127 accumulator units, RMS = sqrt(K mean(A^2) mean(B^2)) (the clean output's)."""
    ops = synthetic_operands(GEMM, Datatype.INT8, SEED, 0, 0)
    a, b = ops.a.astype(np.int64), ops.b.astype(np.int64)
    step = 6 * np.sqrt(GEMM.k * np.mean(a * a) * np.mean(b * b)) / 127
    clean = int(np.int32(products(i, j, 0, GEMM.k)))
    faulty = int(np.array([clean + delta], np.int64).astype(np.int32)[0])  # the int32 accumulator wraps
    code = [np.clip(np.rint(acc / step), -127, 127) for acc in (clean, faulty)]
    return "escaped" if code[0] != code[1] else "masked"


def only(entry: tuple[int, int], value: int) -> np.ndarray:
    out = np.zeros((8, 16), np.int64)
    out[entry] = value
    return out


@pytest.mark.parametrize("bit", [0, 9, 30, 31])
@pytest.mark.parametrize("when", [dict(cycle=55), dict(fold=4, cycle=23)])
def test_flip_of_a_stored_output_word_changes_exactly_that_output_by_two_to_the_bit(bit: int, when) -> None:
    """C[2, 3]'s output word (written by fold 4 at 54) at cycle 55 (or 23 after fold 4 starts at 32): the output
    becomes its int32 word with bit b inverted, +2^b if the bit was 0, -2^b if 1 (bit 31 weighs -2^31); nothing
    else changes. Silent to ABFT (bits that survive the write-back): escaped, one output corrupted; the fault-log row is fold 4, cycle 23."""
    spec = FaultSpec(seed=SEED, explicit=[c_fault(row=2, col=3, bit=bit, **when)])
    clean = int(np.int32(products(2, 3, 0, 24)))
    weight = -(2**bit) if bit == 31 else 2**bit
    set_before = (np.array([clean], np.int32).view(np.uint32)[0] >> bit) & 1
    assert int32_xor(clean, bit) - clean == (-weight if set_before else weight)
    assert np.array_equal(residual(spec), only((2, 3), int32_xor(clean, bit) - clean))
    if bit == 0:
        return  # WRITE_BACK
    report = api.run(hw(), WL, ["none", "abft"], spec, fault_log=True)
    for p in report.policies:
        (r,) = p.fault_log or ()
        assert (r["site"], r["fold"], r["row"], r["col"], r["cycle"], r["bit"]) == ("sram_c", 4, 2, 3, 23, bit)
        assert r["fate"] == "escaped" and r["outputs_corrupted"] == 1 and r["max_abs_error"] == abs(weight)
        assert p.outcomes["recomputations"] == 0 and p.outcomes["unrecoverable"] == 0


@pytest.mark.parametrize("bit", [4, 12, 31])
def test_partial_sum_flip_is_carried_through_the_later_chunks(bit: int) -> None:
    """C[2, 3] holds p = sum over k < 8 from 22 until fold 2 reads it at 38; a flip at cycle 30 makes it p XOR 2^b,
    the chunks over k in [8, 24) add their products r to it: the output is wrap32((p XOR 2^b) + r)."""
    spec = FaultSpec(seed=SEED, explicit=[c_fault(row=2, col=3, cycle=30, bit=bit)])
    p, rest = products(2, 3, 0, 8), products(2, 3, 8, 24)
    faulty = int(np.array([int32_xor(p, bit) + rest], np.int64).astype(np.int32)[0])
    clean = int(np.int32(p + rest))
    got = residual(spec)
    assert np.count_nonzero(got) == 1 and (clean + int(got[2, 3]) - faulty) % 2**32 == 0
    (r,) = api.run(hw(), WL, ["abft"], spec, fault_log=True).policy("abft").fault_log or ()
    assert (r["fold"], r["cycle"]) == (0, 30) and r["fate"] == fate_at_write_back(2, 3, faulty - clean)


@pytest.mark.parametrize("bit", [0, 5, 13, 31])
def test_drain_flip_changes_one_output_by_two_to_the_bit_of_the_fold_product(bit: int) -> None:
    """Fold 3 (K chunk 1 of N block 1) drains C[1, 13]'s product v = sum over k in [8, 16): bit b of v flips, the
    output changes by +2^b if that bit of v was 0, else -2^b. Dated at drain cycle 5: fold-local 22 + 5."""
    spec = FaultSpec(seed=SEED, explicit=[drain_fault(row=1, col=13, fold=3, step=5, bit=bit)])
    v = products(1, 13, 8, 16)
    assert np.array_equal(residual(spec), only((1, 13), int32_xor(v, bit) - v))
    (r,) = api.run(hw(), WL, ["abft"], spec, fault_log=True).policy("abft").fault_log or ()
    assert (r["site"], r["fold"], r["row"], r["col"], r["cycle"], r["bit"]) == ("drain", 3, 1, 13, 27, bit)
    assert r["fate"] == fate_at_write_back(1, 13, int32_xor(v, bit) - v)


def test_drain_fold_is_optional_when_one_fold_drains_the_element() -> None:
    """Without a K split each output block has one fold: fold=F may be left out (fold 1, latency 8 + 8 + 24 - 2 = 38, drains C[0, 9])."""
    spec = FaultSpec(seed=SEED, explicit=[drain_fault(row=0, col=9, bit=3)])
    whole_k = api.resolve_hw("edge_32x32", ["array.rows=8", "array.cols=8", "mapping.k_split=false"])
    (r,) = api.run(whole_k, WL, ["none"], spec, fault_log=True).policy("none").fault_log or ()
    assert (r["fold"], r["cycle"], r["bit"]) == (1, 38, 3)


def test_explicit_c_flip_under_secded_is_corrected() -> None:
    """SEC-DED on C corrects a single flip: no error left, fate corrected."""
    spec = FaultSpec(seed=SEED, explicit=[c_fault(row=2, col=3, cycle=55, bit=9)])
    assert not residual(spec, "memory.sram.c.ecc=secded").any()
    (r,) = api.run(hw("memory.sram.c.ecc=secded"), WL, ["abft"], spec, fault_log=True).policy("abft").fault_log or ()
    assert r["fate"] == "corrected" and r["max_abs_error"] == 0


def one_upset(site: Site) -> tuple[FaultSpec, dict]:
    """A seed whose random draw of `site` alone holds exactly one upset, and its fault-log row."""
    for seed in range(300):
        spec = FaultSpec(ber=2e-6, seed=seed, sites=(site,))
        log = api.run(hw(), WL, ["none"], spec, fault_log=True).policy("none").fault_log or ()
        if len(log) == 1:
            return spec, log[0]
    raise AssertionError("no seed with exactly one upset")


@pytest.mark.parametrize("site", [Site.SRAM_C, Site.DRAIN])
def test_explicit_output_fault_equals_the_random_one_at_its_coordinates(site: Site) -> None:
    """The coordinates of a seed's single random upset given explicitly (no random faults): the same outcomes,
    cycles and fault-log row under every policy (the drain step is the row's cycle minus the fold latency 22)."""
    random_spec, r = one_upset(site)
    where = dict(cycle=r["cycle"]) if site is Site.SRAM_C else dict(step=r["cycle"] - 22)
    given = ExplicitFault(gemm="fc1", site=site, row=r["row"], col=r["col"], fold=r["fold"], bit=r["bit"], **where)
    policies = ["none", "abft", "dmr"]
    drawn = api.run(hw(), WL, policies, random_spec, fault_log=True)
    explicit = api.run(hw(), WL, policies, FaultSpec(seed=random_spec.seed, explicit=[given]), fault_log=True)
    for name in policies:
        a, b = drawn.policy(name), explicit.policy(name)
        assert (a.cycles, a.energy_pj, a.outcomes, a.fault_log) == (b.cycles, b.energy_pj, b.outcomes, b.fault_log)


def test_explicit_fault_is_appended_to_the_random_draw() -> None:
    """On top of random C upsets the explicit one is one more row: the random rows are unchanged."""
    random_spec = FaultSpec(ber=2e-5, seed=SEED, sites=(Site.SRAM_C, Site.DRAIN))
    given = c_fault(row=7, col=15, cycle=63, bit=2)
    drawn = api.run(hw(), WL, ["none"], random_spec, fault_log=True).policy("none").fault_log or ()
    both = api.run(hw(), WL, ["none"], random_spec.model_copy(update={"explicit": (given,)}), fault_log=True)
    log = both.policy("none").fault_log or ()
    assert len(drawn) > 1 and len(log) == len(drawn) + 1
    rest = [x for x in log if (x["site"], x["row"], x["col"], x["bit"], x["fold"]) != ("sram_c", 7, 15, 2, 5)]
    key = ("site", "fold", "row", "col", "cycle", "bit")
    assert sorted(tuple(x[k] for k in key) for x in rest) == sorted(tuple(x[k] for k in key) for x in drawn)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(site="sram_c", gemm="fc1", row=1, col=1, bit=0), "needs cycle"),
        (dict(site="sram_c", gemm="fc1", row=1, col=1, cycle=3, step=1, bit=0), "has no step"),
        (dict(site="drain", gemm="fc1", col=1, bit=0), "needs row"),
        (dict(site="drain", gemm="fc1", row=1, col=1, cycle=3, bit=0), "has no cycle"),
        (dict(site="drain", gemm="fc1", row=1, col=1, bit=0, kind="stuck1"), "kind: a drain fault is transient"),
    ],
)
def test_malformed_output_faults_name_the_field(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        ExplicitFault(**fields)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(site="sram_c", gemm="fc9", row=0, col=0, cycle=30), "gemm: no GEMM named 'fc9'"),
        (dict(site="sram_c", gemm="fc1", instance=1, row=0, col=0, cycle=30), "instance: 1 of a GEMM run 1"),
        (dict(site="sram_c", gemm="fc1", row=8, col=0, cycle=30), r"row: 8 outside C \(8 x 16\)"),
        (dict(site="drain", gemm="fc1", row=0, col=16, fold=0), r"col: 16 outside C \(8 x 16\)"),
        (dict(site="sram_c", gemm="fc1", row=2, col=3, cycle=10),
         r"cycle: C\[2, 3\] is not resident at cycle 10 .*live \[22, 38\), \[38, 54\), \[54, 57\)"),
        (dict(site="sram_c", gemm="fc1", row=2, col=3, fold=5, cycle=20), "cycle: C.2, 3. is not resident at cycle 60"),
        (dict(site="drain", gemm="fc1", row=1, col=13), "fold: C.1, 13. is drained by folds 1, 3, 5 .*give fold=F"),
        (dict(site="drain", gemm="fc1", row=1, col=13, fold=2), "fold: fold 2 does not drain C.1, 13. .folds 1, 3, 5"),
        (dict(site="drain", gemm="fc1", row=1, col=13, fold=7), "fold: 7 of 6 folds"),
        (dict(site="drain", gemm="fc1", row=1, col=13, fold=3, step=8), "step: 8 of 8 drain cycle"),
    ],
)  # fmt: skip
def test_output_faults_are_checked_against_the_schedule(fields, message) -> None:
    fields.setdefault("bit", 0)
    with pytest.raises(ConfigError, match=f"explicit fault 1 .*{message}"):
        api.run(hw(), WL, ["none"], FaultSpec(explicit=[ExplicitFault(**fields)]))


def test_c_ecc_words_must_hold_whole_accumulator_words() -> None:
    spec = FaultSpec(explicit=[c_fault(row=2, col=3, cycle=55, bit=0)])
    with pytest.raises(ConfigError, match="ecc_data_bits: 48 data bits do not hold whole 32-bit"):
        api.run(hw("memory.sram.c.ecc=secded", "memory.sram.c.ecc_data_bits=48"), WL, ["none"], spec)


def test_cli_and_yaml_place_output_faults(tmp_path) -> None:
    """`--fault ...,site=sram_c,...` / `site=drain` and `explicit:` in a fault-spec YAML: one fault-log row each."""
    out = tmp_path / "faults.csv"
    argv = ["run", "--workload", "vit_block_gemms", "--policy", "abft", "--quiet", "--fault-log", str(out),
            "--fault", "gemm=fc1,instance=0,row=3,col=5,cycle=840,site=sram_c,bit=20",
            "--fault", "gemm=fc2,row=2,col=7,fold=0,step=3,site=drain,bit=12"]  # fmt: skip
    assert main(argv) == 0
    rows = {r["site"]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert set(rows) == {"sram_c", "drain"}
    assert (rows["sram_c"]["row"], rows["sram_c"]["col"], rows["sram_c"]["bit"]) == ("3", "5", "20")
    assert (rows["drain"]["fold"], rows["drain"]["row"], rows["drain"]["bit"], rows["drain"]["fate"]) == (
        "0", "2", "12", "escaped")  # fmt: skip
    bad = [
        "run",
        "--workload",
        "vit_block_gemms",
        "--quiet",
        "--fault",
        "gemm=fc2,row=2,col=7,cycle=1,site=drain,bit=1",
    ]
    assert main(bad) == 2
    yaml_path = tmp_path / "faults.yaml"
    yaml_path.write_text("explicit:\n  - {gemm: fc1, row: 2, col: 3, cycle: 55, site: sram_c, bit: 9}\n")
    spec = load_fault_spec(yaml_path)
    assert spec.explicit == (c_fault(row=2, col=3, cycle=55, bit=9),)
    (r,) = api.run(hw(), WL, ["none"], spec, fault_log=True).policy("none").fault_log or ()
    assert (r["site"], r["fold"], r["cycle"]) == ("sram_c", 4, 23)
