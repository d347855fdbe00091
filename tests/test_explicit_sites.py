"""Explicit faults of the checksum hardware and the A / B scratchpads (faults.explicit_sites): a false alarm with
its wasted recompute, an SRAM flip's exact output change, the random path's effect for the same coordinates,
errors naming the field, the fault log."""

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
from simulator.errors import ConfigError
from simulator.faults.operands import synthetic_operands
from simulator.faults.sram_faults import flip_bits
from simulator.mapping.schedule import schedule_gemm
from simulator.verify.verifier import make_verifier
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload
from tests.test_checksum_faults import one_checksum_fault

HW = ["array.rows=8", "array.cols=8"]
CHK_WL = Workload("tiny", (Gemm("fc1", "fc1", 16, 24, 16),))  # OS: 2 x 2 folds of 8 x 8 outputs over K = 24
# OS on 8 x 8: one fold row (M = 8), two fold columns (N = 16), K = 24. Folds issue every 24 cycles and take 38
# (8 + 8 + 24 - 2): fold 0 runs [0, 38), fold 1 [24, 62); both read the one A block A[0:8, 0:24], loaded once.
SRAM_GEMM = Gemm("fc1", "fc1", 8, 24, 16)
SRAM_WL = Workload("two", (SRAM_GEMM,))
SEED = 5


def hw(*extra: str):
    return api.resolve_hw("edge_32x32", [*HW, *extra])


def chk(site: str, **kw: Any) -> ExplicitFault:
    return ExplicitFault(gemm="fc1", fold=kw.pop("fold", 1), site=Site(site), **kw)


@pytest.mark.parametrize(
    "site, coords", [("chk_pred", dict(row=2, step=23, bit=20)), ("chk_sum", dict(col=5, step=7, bit=3)),
                     ("chk_cmp", dict(row=0, bit=0))],
)  # fmt: skip
def test_explicit_checksum_flip_on_a_clean_fold_is_one_false_alarm_and_one_wasted_recompute(site, coords) -> None:
    """No data error, one flipped checksum word: the check sees a deviation of 2^bit (or an inverted verdict), abft
    recomputes the whole 8 x 8 tile once (8 x 8 x 24 MACs, the cycles of a real error's recompute) for nothing;
    detect_only counts the false alarm and recomputes nothing; policies without checksums see no fault."""
    spec = FaultSpec(explicit=[chk(site, **coords)])
    policies = ["none", "detect_only", "abft"]
    report = api.run(hw(), CHK_WL, policies, spec, fault_log=True)
    clean = api.run(hw(), CHK_WL, policies, FaultSpec())
    abft, detect = report.policy("abft"), report.policy("detect_only")
    assert abft.outcomes["false_alarms"] == 1 and abft.outcomes["recomputations"] == 1
    assert abft.outcomes["faults_injected"] == 1 and abft.outcomes["escaped"] == 0 == abft.outcomes["corrupted_outputs"]
    assert abft.to_dict(report.baseline)["recomputed_macs"] == 8 * 8 * 24
    # the wasted pass costs what recomputing fold 1 for a real error costs: an acc flip at its PE (0, 0)'s last
    # MAC (cycle 23) makes abft recompute the same tile once; a fold pass takes at least its 38 cycles
    pe = ExplicitFault(gemm="fc1", fold=1, row=0, col=0, cycle=23, site=Site.ACC, bit=20)
    real = api.run(hw(), CHK_WL, ["abft"], FaultSpec(explicit=[pe])).policy("abft")
    wasted = sum(layer.recompute_cycles for layer in abft.layers)
    assert real.outcomes["recomputations"] == 1 and abft.cycles == real.cycles
    assert wasted == sum(layer.recompute_cycles for layer in real.layers) >= 8 + 8 + 24 - 2
    assert detect.outcomes["false_alarms"] == 1 and detect.outcomes["recomputations"] == 0
    assert detect.cycles == clean.policy("detect_only").cycles
    assert report.policy("none").outcomes["faults_injected"] == 0
    (record,) = abft.fault_log or ()
    line = coords.get("row", coords.get("col"))
    expect_row, expect_col = (line, -1) if "row" in coords else (-1, line)
    assert (record["site"], record["fold"], record["row"], record["col"], record["cycle"], record["bit"]) == (
        site, 1, expect_row, expect_col, coords.get("step", 0), coords["bit"])  # fmt: skip
    assert record["fate"] == "masked" and record["false_alarm"] and record["fault_id"] == "g0/i0/f1/a0/c0"


@pytest.mark.parametrize("site", ["chk_pred", "chk_sum", "chk_cmp"])
def test_explicit_checksum_fault_equals_the_random_one_at_its_coordinates(site: str) -> None:
    """A seed whose random draw holds exactly one checksum fault; the same coordinates given explicitly (no random
    faults) give the same report and the same fault-log row."""
    random_spec = one_checksum_fault(site)
    policies = ["detect_only", "abft", "abft_correct", "approx_abft"]
    drawn = api.run(hw(), CHK_WL, policies, random_spec, fault_log=True)
    (r,) = drawn.policy("abft").fault_log or ()
    where = dict(row=r["row"]) if r["row"] >= 0 else dict(col=r["col"])
    given = ExplicitFault(gemm="fc1", fold=r["fold"], site=Site(site), bit=r["bit"], step=r["cycle"], **where)
    explicit = api.run(hw(), CHK_WL, policies, FaultSpec(seed=random_spec.seed, explicit=[given]), fault_log=True)
    for name in policies:
        a, b = drawn.policy(name), explicit.policy(name)
        assert (a.cycles, a.energy_pj, a.outcomes) == (b.cycles, b.energy_pj, b.outcomes), name
        assert a.fault_log == b.fault_log, name


def sram_residual(spec: FaultSpec, *extra: str) -> np.ndarray:
    """The error the run leaves in C (8 x 16), from the verifier (policy none: nothing is checked)."""
    h = hw(*extra)
    schedules = [schedule_gemm(SRAM_GEMM, h)]
    policy = make_policy("none", PolicyContext(h.checksum_unit.placement, AbftConfig()))
    verifier = make_verifier(policy, h, schedules, spec)
    instances, rows, cols, delta = verifier.residual_errors(0)
    assert not instances.any()  # (one instance)
    out = np.zeros((8, 16), np.int64)
    out[rows, cols] = delta
    return out


@pytest.mark.parametrize("cycle, fold, readers", [(45, None, [1]), (21, 1, [1]), (10, None, [0, 1]), (0, 0, [0, 1])])
def test_explicit_sram_flip_changes_its_reader_folds_outputs_by_hand(cycle, fold, readers) -> None:
    """Bit 6 of A[3, 5] flips at instance cycle 45 (fold 0 ended at 38; fold 1, [24, 62), still reads it), or
    21 cycles after fold 1 starts (the same cycle): exactly C[3, 8:16] change, by (a' - a) B[5, n]; at cycle 10
    both folds read the flipped word: C[3, 0:16]."""
    spec = FaultSpec(seed=SEED, explicit=[ExplicitFault(gemm="fc1", row=3, col=5, cycle=cycle, fold=fold,
                                                        site=Site.SRAM_A, bit=6)])  # fmt: skip
    ops = synthetic_operands(SRAM_GEMM, Datatype.INT8, SEED, 0, 0)
    d = int(flip_bits(np.array([ops.a[3, 5]]), np.array([6]), Datatype.INT8)[0]) - int(ops.a[3, 5])
    assert abs(d) == 64
    expected = np.zeros((8, 16), np.int64)
    for j in readers:
        expected[3, 8 * j : 8 * j + 8] = d * ops.b[5, 8 * j : 8 * j + 8].astype(np.int64)
    assert np.array_equal(sram_residual(spec), expected)
    report = api.run(hw(), SRAM_WL, ["none", "abft"], spec, fault_log=True)
    for p in report.policies:  # silent to ABFT: the checksums are encoded from the same SRAM word
        (record,) = p.fault_log or ()
        assert (record["site"], record["row"], record["col"], record["bit"], record["fold"]) == (
            "sram_a", 3, 5, 6, readers[0])  # fmt: skip
        # (a stored output whose accumulator error rounds away at write-back is not counted corrupted)
        assert record["fate"] == "escaped" and 0 < record["outputs_corrupted"] <= np.count_nonzero(expected)
        assert record["max_abs_error"] == np.abs(expected).max() and p.outcomes["recomputations"] == 0


def test_explicit_sram_b_flip_and_secded() -> None:
    """B[10, 12] lives in fold 1's block only ([24, 62)): bit 0 at cycle 30 adds A[:, 10] (b' - b) to C[:, 12].
    With SEC-DED on B the single flip is corrected: no error, fate corrected."""
    spec = FaultSpec(seed=SEED, explicit=[ExplicitFault(gemm="fc1", row=10, col=12, cycle=30, site=Site.SRAM_B,
                                                        bit=0)])  # fmt: skip
    ops = synthetic_operands(SRAM_GEMM, Datatype.INT8, SEED, 0, 0)
    d = (int(ops.b[10, 12]) ^ 1) - int(ops.b[10, 12])
    expected = np.zeros((8, 16), np.int64)
    expected[:, 12] = ops.a[:, 10].astype(np.int64) * d
    assert np.array_equal(sram_residual(spec), expected)
    assert not sram_residual(spec, "memory.sram.b.ecc=secded").any()
    report = api.run(hw("memory.sram.b.ecc=secded"), SRAM_WL, ["abft"], spec, fault_log=True)
    (record,) = report.policy("abft").fault_log or ()
    assert record["fate"] == "corrected" and record["max_abs_error"] == 0


def test_explicit_sram_fault_equals_the_random_one_at_its_coordinates() -> None:
    """A seed whose random sram_a draw holds exactly one upset; the same element, bit and cycle given explicitly
    give the same outcomes and fault-log row."""
    for seed in range(300):
        random_spec = FaultSpec(ber=4e-6, seed=seed, sites=(Site.SRAM_A,))
        drawn = api.run(hw(), SRAM_WL, ["none", "abft"], random_spec, fault_log=True)
        if len(drawn.policy("none").fault_log or ()) == 1:
            break
    else:
        raise AssertionError("no seed with exactly one upset")
    (r,) = drawn.policy("none").fault_log or ()
    given = ExplicitFault(gemm="fc1", row=r["row"], col=r["col"], fold=r["fold"], cycle=r["cycle"],
                          site=Site.SRAM_A, bit=r["bit"])  # fmt: skip
    explicit = api.run(hw(), SRAM_WL, ["none", "abft"], FaultSpec(seed=seed, explicit=[given]), fault_log=True)
    for name in ("none", "abft"):
        a, b = drawn.policy(name), explicit.policy(name)
        assert (a.cycles, a.outcomes, a.fault_log) == (b.cycles, b.outcomes, b.fault_log)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(site="chk_sum", gemm="fc1", fold=0, row=1, col=1, bit=0), "row=R .* or col=C"),
        (dict(site="chk_sum", gemm="fc1", fold=0, row=1, cycle=3, bit=0), "has no cycle"),
        (dict(site="chk_pred", gemm="fc1", row=1, bit=0), "needs fold"),
        (dict(site="chk_cmp", gemm="fc1", fold=0, row=1, bit=0, kind="stuck1"), "kind: a chk_cmp fault is transient"),
        (dict(site="sram_a", gemm="fc1", row=1, col=1, bit=0), "needs cycle"),
        (dict(site="sram_b", gemm="fc1", row=1, col=1, cycle=0, bit=0, step=2), "has no step"),
        (dict(site="acc", gemm="fc1", fold=0, row=1, col=1, cycle=4, bit=0, block=1), "has no block"),
    ],
)
def test_malformed_explicit_faults_name_the_field(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        ExplicitFault(**fields)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(site="chk_sum", gemm="fc9", fold=0, row=0), "gemm: no GEMM named 'fc9'"),
        (dict(site="chk_sum", gemm="fc1", fold=4, row=0), "fold: 4 of 4 folds"),
        (dict(site="chk_sum", gemm="fc1", instance=1, fold=0, row=0), "instance: 1 of a GEMM run 1"),
        (dict(site="chk_sum", gemm="fc1", fold=0, row=8), "row: 8 outside fold 0's 8 x 8 output block"),
        (dict(site="chk_sum", gemm="fc1", fold=0, col=0, block=1), "block: 1 of 1 check block"),
        (dict(site="chk_pred", gemm="fc1", fold=0, row=0, step=24), "step: 24 of 24 K steps"),
        (dict(site="chk_sum", gemm="fc1", fold=0, row=0, step=8), "step: 8 of 8 outputs in its block row"),
        (dict(site="chk_cmp", gemm="fc1", fold=0, row=0, step=1), "step: 1 of 1 operation"),
        (dict(site="chk_cmp", gemm="fc1", fold=0, row=0, bit=1), "bit: 1 outside its 1-bit"),
        (dict(site="sram_a", gemm="fc1", row=16, col=0, cycle=0), "row: 16 outside A .16 x 24."),
        (dict(site="sram_b", gemm="fc1", row=0, col=16, cycle=0), "col: 16 outside B .24 x 16."),
        (dict(site="sram_a", gemm="fc1", row=0, col=0, cycle=0, bit=8), "bit: 8 outside its 8-bit int8 word"),
        (dict(site="sram_a", gemm="fc1", row=0, col=0, cycle=10_000), "cycle: A.0, 0. is not resident at cycle"),
        (dict(site="sram_a", gemm="fc1", row=0, col=0, fold=3, cycle=10_000), "cycle: A.0, 0. is not resident"),
    ],
)
def test_explicit_faults_are_checked_against_the_schedule(fields, message) -> None:
    fields.setdefault("bit", 0)
    with pytest.raises(ConfigError, match=f"explicit fault 1 .*{message}"):
        api.run(hw(), CHK_WL, ["abft"], FaultSpec(explicit=[ExplicitFault(**fields)]))


def test_sram_copy_loaded_later_is_not_resident_before() -> None:
    """B[0, 8] sits in fold 1's B block, loaded for fold 1 ([24, 62)): at cycle 10 it is not in SRAM."""
    spec = FaultSpec(explicit=[ExplicitFault(gemm="fc1", row=0, col=8, cycle=10, site=Site.SRAM_B, bit=0)])
    with pytest.raises(ConfigError, match=r"B\[0, 8\] is not resident at cycle 10 .*live \[24, 62\)"):
        api.run(hw(), SRAM_WL, ["none"], spec)


def test_cli_explicit_checksum_and_sram_faults_in_the_fault_log(tmp_path) -> None:
    out = tmp_path / "faults.csv"
    argv = ["run", "--workload", "vit_block_gemms", "--policy", "abft", "--quiet", "--fault-log", str(out),
            "--fault", "gemm=fc2,instance=0,fold=12,row=3,block=0,step=7,site=chk_sum,bit=30",
            "--fault", "gemm=fc2,instance=0,row=2,col=5,cycle=100,site=sram_a,bit=6"]  # fmt: skip
    assert main(argv) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    by_site = {r["site"]: r for r in rows}
    assert len(rows) == 2 and set(by_site) == {"chk_sum", "sram_a"}
    c = by_site["chk_sum"]
    assert (c["fold"], c["row"], c["col"], c["cycle"], c["bit"], c["fate"], c["false_alarm"]) == (
        "12", "3", "-1", "7", "30", "masked", "True")  # fmt: skip
    s = by_site["sram_a"]
    assert (s["row"], s["col"], s["bit"], s["fate"]) == ("2", "5", "6", "escaped")
    bad = ["run", "--workload", "vit_block_gemms", "--quiet", "--fault", "gemm=fc2,fold=0,row=3,site=chk_sum,bit=40"]
    assert main(bad) == 2


def test_explicit_checksum_word_of_a_later_check_block() -> None:
    """Check blocks of 4 x 4 outputs: a fold's 8 x 8 block has 2 x 2 of them. The column word of output column 5
    in block row 1 (outputs 4..7 of that column) flips: one false alarm, one recompute; block 2 does not exist."""
    abft = AbftConfig(block_rows=4, block_cols=4)
    given = chk("chk_sum", col=5, block=1, step=3, bit=4)
    report = api.run(hw(), CHK_WL, ["abft"], FaultSpec(explicit=[given]), abft=abft, fault_log=True)
    o = report.policy("abft").outcomes
    assert o["false_alarms"] == 1 and o["recomputations"] == 1 and o["faults_injected"] == 1
    with pytest.raises(ConfigError, match="block: 2 of 2 check block"):
        api.run(hw(), CHK_WL, ["abft"], FaultSpec(explicit=[chk("chk_sum", col=5, block=2, bit=0)]), abft=abft)
    with pytest.raises(ConfigError, match="step: 4 of 4 outputs in its block column"):
        api.run(hw(), CHK_WL, ["abft"], FaultSpec(explicit=[chk("chk_sum", col=5, block=1, step=4, bit=0)]), abft=abft)
