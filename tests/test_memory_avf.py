"""Single-fault AVF of the memory and output-path sites (reliability.memory_avf): every fault's fate equals a whole
faulty run's with that fault given explicitly (under every policy: no check sees these upsets), the exposure is
the FMEDA's residency, SEC-DED corrects every single flip, faults land in proportion to live bit-cycles, and the
FIT is the derated FMEDA line times the AVF."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import api
from simulator.config.enums import Site
from simulator.config.fault_spec import ExplicitFault, FaultSpec
from simulator.faults.sram_residency import scratchpad_residency
from simulator.mapping.schedule import schedule_gemms
from simulator.reliability.drain import drain_fit
from simulator.reliability.environments import environment
from simulator.reliability.memory_avf import MEMORY_FATES, MEMORY_SITES, MemoryCampaign, run_memory_campaign
from simulator.reliability.sram import sram_fits
from simulator.verify.operand_cache import OperandCache
from simulator.workload.gemm import Gemm
from simulator.workload.workload import Workload
from tests.test_fault_sampling import P_MIN, chi_square_p

# OS on 8 x 8 with K split in chunks of 8 (partial sums in C) and two GEMMs of different sizes, one run twice
CHUNKED = ["array.rows=8", "array.cols=8", "mapping.k_chunk=8"]
WL = Workload("two", (Gemm("fc1", "fc1", 8, 24, 16), Gemm("fc2", "fc2", 16, 16, 8, count=2)))
RUN_FATE = {"escaped": "sdc", "masked": "masked", "corrected": "corrected", "unrecoverable": "due"}


def campaign(injections: int, *extra: str, seed: int = 3) -> tuple[MemoryCampaign, object]:
    hw = api.resolve_hw("edge_32x32", [*CHUNKED, *extra])
    schedules = schedule_gemms(WL.gemms, hw)
    return run_memory_campaign(hw, schedules, FaultSpec(), injections, seed, OperandCache(hw, schedules, seed)), hw


def given(c: MemoryCampaign, t: int) -> ExplicitFault:
    """Fault t of a campaign as an explicit fault."""
    site = c.sites[int(c.site[t])]
    where = dict(fold=int(c.fold[t]), step=int(c.when[t])) if site is Site.DRAIN else dict(cycle=int(c.when[t]))
    return ExplicitFault(gemm=WL.gemms[int(c.gemm[t])].name, instance=int(c.instance[t]), row=int(c.row[t]),
                         col=int(c.col[t]), bit=int(c.bit[t]), site=site, **where)  # fmt: skip


def test_each_fault_has_the_fate_a_faulty_run_gives_it_under_every_policy() -> None:
    """The reference: api.run with the fault given explicitly (the whole run path: engine, ledger, fates judged at
    write-back). Policy-independent: none, abft and dmr give the same fate."""
    c, hw = campaign(30)
    assert len(c) == 120 and np.bincount(c.site).tolist() == [30] * 4
    seen = set()
    for t in range(len(c)):
        report = api.run(hw, WL, ["none", "abft", "dmr"], FaultSpec(seed=3, explicit=[given(c, t)]), fault_log=True)
        fates = set()
        for p in report.policies:
            (r,) = p.fault_log or ()
            fates.add(RUN_FATE[r["fate"]])
            assert p.outcomes["recomputations"] == 0
        assert fates == {MEMORY_FATES[int(c.fate[t])]}, (t, given(c, t))
        seen |= fates
    assert seen == {"masked", "sdc"}  # int8 write-back rounds some errors away; the rest escape


def test_exposure_is_the_fmeda_residency_and_fit_is_the_derated_line_times_the_avf() -> None:
    c, hw = campaign(10)
    r = scratchpad_residency(schedule_gemms(WL.gemms, hw), hw.array.datatype, hw.dram_bytes_per_cycle)
    assert c.cycles == r.cycles and c.bit_cycles[Site.DRAIN] == r.drain_bit_cycles
    assert [c.bit_cycles[s] for s in MEMORY_SITES[:3]] == [r.live_bit_cycles[x] for x in ("a", "b", "c")]
    env = environment("sea_level")
    lines = {f"sram_{x.name}": x for x in sram_fits(hw, env, residency=r)}
    for site in MEMORY_SITES[:3]:
        x = lines[str(site)]
        assert x.live_fraction < 1  # not capped: derated FIT = rate x live bit-cycles / cycles
        p = c.avf(site, "sdc").estimate
        assert c.fit(site, "sdc", env.sram_fit_per_mbit).estimate == pytest.approx(x.no_ecc_derated["sdc"] * p)
    d = drain_fit(env, r)
    p = c.avf(Site.DRAIN, "sdc")
    fit = c.fit(Site.DRAIN, "sdc", env.ff_fit_per_mbit)
    assert fit.estimate == pytest.approx(d.sdc_derated * p.estimate) and fit.hi == pytest.approx(d.sdc_derated * p.hi)


def test_secded_corrects_every_single_upset() -> None:
    c, _ = campaign(10, *(f"memory.sram.{x}.ecc=secded" for x in "abc"))
    for site in MEMORY_SITES[:3]:
        assert c.counts(site)["corrected"] == 10
    assert c.counts(Site.DRAIN)["corrected"] == 0  # registers have no ECC


def test_faults_land_in_proportion_to_live_bit_cycles() -> None:
    """Per site, the GEMM instances hit follow count x bit-cycles per instance (chi-square), and a fault's cycle
    lies in its word's life (the explicit-fault check accepts each, as the test above requires)."""
    c, hw = campaign(2000)
    schedules = schedule_gemms(WL.gemms, hw)
    per_instance = {}
    for g in range(2):
        r = scratchpad_residency([schedules[g]], hw.array.datatype, hw.dram_bytes_per_cycle)
        per_instance[g] = r
    for sp, site in enumerate(MEMORY_SITES):
        mine = c.site == sp
        observed = [np.count_nonzero(mine & (c.gemm == 0)), *(np.count_nonzero(mine & (c.gemm == 1) & (c.instance == i))
                                                                for i in range(2))]  # fmt: skip
        w = [
            per_instance[g].drain_bit_cycles if site is Site.DRAIN else per_instance[g].live_bit_cycles[site.value[-1]]
            for g in (0, 1)
        ]
        expected = [w[0], w[1] / 2, w[1] / 2]  # fc2's residency counts its 2 instances
        assert chi_square_p(np.array(observed), np.array(expected)) > P_MIN, site
