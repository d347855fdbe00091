"""Vulnerability of the checksum hardware itself, from single-fault injection, and its FIT per policy.

The checksum words (faults.checksum_faults: predicted sums `chk_pred`, actual sums `chk_sum`, verdict
latches `chk_cmp`; the operand encoders `chk_enc` when selected, per add) are exposed per operation like
the PE registers: one inference exposes, per selected GEMM instance and fold, the check's operations x
the site's word bits (the run's ABFT check blocks). A
single fault is one (GEMM, instance, fold, word, operation, bit) drawn uniformly over them
(SeedSequence([seed, 8]): as many faults per site, each site's GEMM weighted by its bit-operations, the
instance, the fold weighted by its operations, then faults.checksum_faults.place_words (chk_enc:
place_encoder_adds, after the GEMM's other sites) and the bit). Its exact deviation
(word_values / word_deltas on the fold's operands) is checked as a faulty run checks it
(verify.checksum_checks) and the policy's own decide() settles its fate, the fold's data being clean:

* no flag, or a policy without checksums (the unit is idle): `masked`;
* a flag the policy recomputes: `recomputed` (a false alarm: a wasted pass, no failure);
* a flag accepted by a policy that does not tolerate (`detect_only`): `due` (an error signalled where
  there is none: an availability loss);
* a flag a tolerating policy accepts: `masked` (nothing wrong reaches storage);
* a correction (two flags in one block, only with several upsets): `sdc`, conservatively.

FIT per policy = 10^9 h x raw rate x checksum bit-operations per inference x P(fate) / cycles (as
reliability.fit prices the PE registers); with a single checksum upset per trial no failure is silent, so
the hardware adds DUE (detect_only) and recomputations, not SDC. A campaign draws at most
MAX_CHECKSUM_INJECTIONS faults (fates hardly vary: every integer flip is seen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simulator.abft.checksum import tolerance_for
from simulator.abft.protocol import Action, FoldVerification, Policy, TileCheck
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Site
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.faults.checksum_faults import (
    CheckGeometry,
    ChecksumFaults,
    check_geometry,
    checksum_operations,
    place_encoder_adds,
    place_words,
    word_deltas,
    word_values,
)
from simulator.faults.codes import CHECKSUM_SITES, SITE_CODE
from simulator.kernels.codes import CHK_ENC
from simulator.mapping.schedule import GemmSchedule
from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval
from simulator.reliability.rates import fit_from_exposure
from simulator.reliability.single_fault import FATE_CODE, FateTally
from simulator.verify.checksum_checks import checked_blocks
from simulator.verify.operand_cache import OperandCache

STREAM_CHECKSUM_SINGLE = 8
MAX_CHECKSUM_INJECTIONS = 20_000


@dataclass(frozen=True)
class ChecksumExposure:
    """Checksum bit-operations of one inference per selected GEMM and checksum site."""

    sites: tuple[Site, ...]
    gemm_indices: np.ndarray
    instances: np.ndarray  # `count` of each GEMM
    bit_ops: np.ndarray  # (GEMMs x sites) per instance
    first_bit: np.ndarray  # per site
    bits: np.ndarray  # per site
    geoms: dict[int, CheckGeometry]
    blocks: dict[int, tuple[int, int]]

    @property
    def bit_ops_per_site(self) -> np.ndarray:
        return (self.bit_ops * self.instances[:, None]).sum(axis=0)

    @property
    def total(self) -> float:
        return float(self.bit_ops_per_site.sum())


def checksum_exposure(
    schedules: Sequence[GemmSchedule], spec: FaultSpec, hw: HwConfig, abft: AbftConfig, operands: OperandCache
) -> ChecksumExposure | None:
    """The exposed checksum bit-operations of a workload, per selected site that has any (None when none has)."""
    sites = tuple(s for s in CHECKSUM_SITES if s in spec.sites)
    chosen = [i for i, s in enumerate(schedules) if spec.selects(s.gemm)]
    if not sites or not chosen:
        return None
    windows = np.array([spec.site_bits(s, hw.array.datatype) for s in sites], np.int64)
    geoms, blocks, rows = {}, {}, []
    for g in chosen:
        gemm = schedules[g].gemm
        blocks[g] = abft.block_for(gemm.kind, gemm.name)
        geoms[g] = check_geometry(hw.array.dataflow, operands.folds(g), blocks[g])
        ops = checksum_operations(geoms[g])
        rows.append([float(ops[SITE_CODE[s]].sum()) * w for s, w in zip(sites, windows[:, 1], strict=True)])
    bit_ops = np.array(rows, np.float64)
    # a site with no exposed bit-operation (chk_enc when every check block is one row and one column
    # wide: no encoder add) cannot be struck: it has no AVF to measure and contributes 0 FIT
    exposed = bit_ops.sum(axis=0) > 0
    if not exposed.any():
        return None
    return ChecksumExposure(
        tuple(s for s, e in zip(sites, exposed, strict=True) if e), np.array(chosen, np.int64),
        np.array([schedules[g].gemm.count for g in chosen], np.int64),
        bit_ops[:, exposed], windows[exposed, 0], windows[exposed, 1], geoms, blocks,
    )  # fmt: skip


@dataclass(frozen=True)
class ChecksumCampaign(FateTally):
    """Per single checksum fault: its site, GEMM kind and fate under each policy (single_fault.FATES codes)."""

    policies: tuple[str, ...]
    exposure: ChecksumExposure
    site: np.ndarray  # kernels.codes site code per fault
    kinds: np.ndarray
    fate: np.ndarray  # (policies, faults) int8

    def __len__(self) -> int:
        return int(self.site.shape[0])

    def mask(self, site: str | None = None) -> np.ndarray:
        return np.ones(len(self), bool) if site is None else self.site == SITE_CODE[Site(site)]


def run_checksum_campaign(
    hw: HwConfig,
    schedules: Sequence[GemmSchedule],
    spec: FaultSpec,
    abft: AbftConfig,
    policies: Sequence[Policy],
    injections: int,
    seed: int,
    operands: OperandCache,
) -> ChecksumCampaign | None:
    """About min(injections, MAX_CHECKSUM_INJECTIONS) single checksum faults, as many per selected site
    (stratified: each site's AVF has its own interval, whatever its share of the exposure), and their fates
    (None without checksum sites)."""
    exposure = checksum_exposure(schedules, spec, hw, abft, operands)
    if exposure is None:
        return None
    per_site = max(1, min(injections, MAX_CHECKSUM_INJECTIONS) // len(exposure.sites))
    n = per_site * len(exposure.sites)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAM_CHECKSUM_SINGLE])))
    s_pos = np.repeat(np.arange(len(exposure.sites)), per_site)  # stratified: as many faults per site
    g_pos = np.empty(n, np.int64)
    for sp in range(len(exposure.sites)):
        weights = exposure.bit_ops[:, sp] * exposure.instances
        g_pos[s_pos == sp] = rng.choice(weights.size, size=per_site, p=weights / weights.sum())
    instance = rng.integers(0, exposure.instances[g_pos])
    site = np.array([SITE_CODE[s] for s in exposure.sites], np.int64)[s_pos]
    fold = np.empty(n, np.int64)
    for gp in np.unique(g_pos):
        hit = np.flatnonzero(g_pos == gp)
        geom = exposure.geoms[int(exposure.gemm_indices[gp])]
        for sp in np.unique(s_pos[hit]):
            mine = hit[s_pos[hit] == sp]
            ops = checksum_operations(geom)[int(site[mine[0]])]
            fold[mine] = rng.choice(ops.size, size=mine.size, p=ops / ops.sum())
    gemm = exposure.gemm_indices[g_pos]
    axis, line, block, step = np.empty((4, n), np.int64)
    for g in np.unique(gemm):
        hit = np.flatnonzero(gemm == g)
        words, enc = hit[site[hit] != CHK_ENC], hit[site[hit] == CHK_ENC]  # chk_enc: its adds (opt-in)
        axis[words], line[words], block[words], step[words] = place_words(rng, site[words], exposure.geoms[int(g)],
                                                                          fold[words])  # fmt: skip
        if enc.size:
            axis[enc], line[enc], block[enc], step[enc] = place_encoder_adds(rng, exposure.geoms[int(g)], fold[enc])
    bit = exposure.first_bit[s_pos] + rng.integers(0, exposure.bits[s_pos])
    fate = np.zeros((len(policies), n), np.int8)
    for t in range(n):
        g, inst, f = int(gemm[t]), int(instance[t]), int(fold[t])
        faults = ChecksumFaults(g, inst, *(np.array([x], np.int64) for x in (
            f, 0, 0, site[t], axis[t], line[t], block[t], step[t], bit[t])))  # fmt: skip
        fate[:, t] = _fates(hw, schedules[g], abft, policies, operands, exposure.blocks[g], faults)
    kinds = np.array([schedules[g].gemm.kind for g in gemm.tolist()], dtype=object)
    return ChecksumCampaign(tuple(p.name for p in policies), exposure, site, kinds, fate)


def _fates(
    hw: HwConfig,
    s: GemmSchedule,
    abft: AbftConfig,
    policies: Sequence[Policy],
    operands: OperandCache,
    block: tuple[int, int],
    faults: ChecksumFaults,
) -> list[int]:
    g, inst, f = faults.gemm_index, faults.instance, int(faults.fold_index[0])
    datatype = hw.array.datatype
    fold = operands.folds(g).fold(f)
    a_blk, b_blk = operands.fold_blocks(g, inst, fold)
    deltas = word_deltas(word_values(faults, a_blk, b_blk, block), faults.bit, datatype.is_integer)
    tol = tolerance_for(datatype, a_blk, b_blk, abft.fp_tolerance_factor)
    shape = (a_blk.shape[0], b_blk.shape[1])
    verdict = checked_blocks([], faults, deltas, shape, block, tol, datatype.is_integer, (a_blk, b_blk))
    check = FoldVerification(s.gemm.kind, operands.scale(g, inst), verdict.blocks, False, s.gemm.name)
    out = []
    for policy in policies:
        if not policy.contract.checksums or not check.detected:
            out.append(FATE_CODE["masked"])
            continue
        action = policy.decide(TileCheck(g, inst, f, 0, check)).action
        if action is Action.RECOMPUTE:
            out.append(FATE_CODE["recomputed"])
        elif action is Action.CORRECT:
            out.append(FATE_CODE["sdc"])
        else:
            out.append(FATE_CODE["masked" if policy.contract.tolerates else "due"])
    return out


def checksum_fits(
    campaign: ChecksumCampaign,
    ff_fit_per_mbit: float,
    cycles: Mapping[str, int],
    fates: Sequence[str],
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, dict[str, dict[str, Interval]]]:
    """policy -> checksum site, and "all" (their sum), -> fate -> FIT interval: a site's FIT is its
    bit-operations x its AVF (Wilson interval mapped); the sites' bounds add up to the total's."""
    out: dict[str, dict[str, dict[str, Interval]]] = {}
    exposed = dict(zip((str(s) for s in campaign.exposure.sites), campaign.exposure.bit_ops_per_site.tolist(),
                       strict=True))  # fmt: skip
    for policy in campaign.policies:
        per: dict[str, dict[str, Interval]] = {}
        for site, bit_ops in exposed.items():
            mask = campaign.mask(site)
            cells = {}
            for fate in fates:
                iv = campaign.avf(policy, fate, mask, confidence)

                def fit(p: float, bit_ops: float = bit_ops, policy: str = policy) -> float:
                    return fit_from_exposure(ff_fit_per_mbit, bit_ops * p, cycles[policy])

                cells[fate] = Interval(fit(iv.estimate), fit(iv.lo), fit(iv.hi), iv.n)
            per[site] = cells
        per["all"] = {fate: _summed([per[s][fate] for s in exposed]) for fate in fates}
        out[policy] = per
    return out


def _summed(parts: Sequence[Interval]) -> Interval:
    return Interval(
        sum(p.estimate for p in parts), sum(p.lo for p in parts), sum(p.hi for p in parts), sum(p.n for p in parts)
    )
