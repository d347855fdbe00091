"""Exposed PE-register bit-slots of one inference, and single faults drawn over them weighted by exposure.

A slot is (GEMM, instance, fold, PE row, PE column, temporal index, site, bit) where the PE does a MAC:
every GEMM instance contributes M x K x N active (PE, cycle) slots (the folds' ru x cu x T summed) times the
exposed bits of each site's word. A single fault is one slot drawn uniformly over all of them, so a GEMM and a
site are hit in proportion to MACs x bits, which is where independent upsets at a low rate land.

Keying: one Generator, SeedSequence([seed, 6]) (faults.sampling uses streams 1-4, the verifier's DMR copy 5),
draws for all N faults at once, in this order: the (GEMM, site) unit, the instance, the MAC slot within the
instance (one integer over M x K x N, decoded fold-major, then PE row, PE column, temporal index) and the bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.config.enums import Dataflow, Datatype, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.codes import PE_SITES, SITE_CODE
from simulator.faults.sampling import FaultBatch
from simulator.kernels.codes import FLIP, T_CU, T_RU
from simulator.mapping.dataflow import geometry_of
from simulator.mapping.fold_table import FoldTable
from simulator.mapping.schedule import GemmSchedule

STREAM_SINGLE_FAULTS = 6


@dataclass(frozen=True)
class Exposure:
    """Active MACs per selected GEMM and exposed bits per selected site (the single-fault population)."""

    gemm_indices: np.ndarray  # GEMMs the spec selects, in workload order
    macs_per_instance: np.ndarray  # M x K x N of each
    instances: np.ndarray  # `count` of each
    sites: tuple[Site, ...]  # canonical order, restricted to the spec
    first_bit: np.ndarray  # per site: first exposed bit of its word
    bits: np.ndarray  # per site: exposed bits

    @property
    def bit_macs_per_site(self) -> np.ndarray:
        """Exposed bit-MACs of one inference per site: sum of MACs x the site's exposed bits."""
        return float(np.sum(self.macs_per_instance * self.instances)) * self.bits.astype(np.float64)

    @property
    def bit_macs(self) -> float:
        """All exposed bit-MAC slots of one inference (the campaign's population size)."""
        return float(self.bit_macs_per_site.sum())


def workload_exposure(schedules: Sequence[GemmSchedule], spec: FaultSpec, datatype: Datatype) -> Exposure:
    """The exposed slots of a workload under a fault spec's site, bit and GEMM selections."""
    chosen = [i for i, s in enumerate(schedules) if spec.selects(s.gemm)]
    if not chosen:
        raise ValueError("the fault spec selects no GEMM of the workload")
    sites = tuple(s for s in PE_SITES if s in spec.sites)
    if not sites:
        raise ValueError("the single-fault campaign needs at least one PE register site (acc, mult, a_reg, b_reg)")
    windows = np.array([spec.site_bits(s, datatype) for s in sites], np.int64)
    return Exposure(
        np.array(chosen, np.int64),
        np.array([schedules[i].gemm.macs_per_instance for i in chosen], np.int64),
        np.array([schedules[i].gemm.count for i in chosen], np.int64),
        sites,
        windows[:, 0],
        windows[:, 1],
    )


@dataclass(frozen=True)
class SingleFaults:
    """N single faults in trial order, as parallel int64 arrays (site: kernels.codes site code)."""

    gemm_index: np.ndarray
    instance: np.ndarray
    fold_index: np.ndarray
    row: np.ndarray
    col: np.ndarray
    cycle: np.ndarray
    site: np.ndarray
    bit: np.ndarray

    def __len__(self) -> int:
        return int(self.gemm_index.shape[0])

    def groups(self) -> list[tuple[int, int, np.ndarray]]:
        """(gemm index, instance, trial indices) of every GEMM instance that was hit, in workload order."""
        order = np.lexsort((self.instance, self.gemm_index))
        keys = np.stack([self.gemm_index[order], self.instance[order]], axis=1)
        starts = np.flatnonzero(np.concatenate([[True], np.any(keys[1:] != keys[:-1], axis=1)]))
        ends = np.append(starts[1:], order.size)
        return [(int(keys[s, 0]), int(keys[s, 1]), order[s:e]) for s, e in zip(starts, ends, strict=True)]

    def batch(self, gemm_index: int, instance: int, trials: np.ndarray) -> FaultBatch:
        """The faults of some trials (all in one GEMM instance) as a FaultBatch; ordinal = trial index."""
        n = trials.size
        return FaultBatch(
            gemm_index, instance, self.fold_index[trials], np.zeros(n, np.int64), trials.astype(np.int64),
            self.row[trials], self.col[trials], self.cycle[trials], self.site[trials], self.bit[trials],
            np.full(n, FLIP, np.int64),
        )  # fmt: skip


def sample_single_faults(
    exposure: Exposure,
    folds: dict[int, FoldTable],
    dataflow: Dataflow,
    rows: int,
    injections: int,
    seed: int,
) -> SingleFaults:
    """`injections` independent single faults, each uniform over the exposed slots (see module doc)."""
    if injections < 1:
        raise ValueError(f"injections must be >= 1, got {injections}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, STREAM_SINGLE_FAULTS])))
    n_sites = len(exposure.sites)
    weights = (exposure.macs_per_instance * exposure.instances).astype(np.float64)[:, None] * exposure.bits[None, :]
    unit = rng.choice(weights.size, size=injections, p=(weights / weights.sum()).ravel())
    g_pos, s_pos = unit // n_sites, unit % n_sites
    instance = rng.integers(0, exposure.instances[g_pos])
    slot = rng.integers(0, exposure.macs_per_instance[g_pos])
    bit = exposure.first_bit[s_pos] + rng.integers(0, exposure.bits[s_pos])
    fold = np.empty(injections, np.int64)
    row, col, tau = (np.empty(injections, np.int64) for _ in range(3))
    for g in np.unique(g_pos):
        hit = np.flatnonzero(g_pos == g)
        table = folds[int(exposure.gemm_indices[g])]
        ru, cu, steps = table.table[:, T_RU], table.table[:, T_CU], table.steps
        size = ru * cu * steps  # active slots per fold; they sum to M x K x N
        start = np.cumsum(size) - size
        f = np.searchsorted(start, slot[hit], side="right") - 1
        local = slot[hit] - start[f]
        fold[hit], tau[hit] = f, local % steps[f]
        pe = local // steps[f]
        row[hit], col[hit] = pe // cu[f], pe % cu[f]
    cycle = geometry_of(dataflow).mac_cycle(rows, row, col, tau)  # the dataflow's MAC timing, vectorised
    site_codes = np.array([SITE_CODE[s] for s in exposure.sites], np.int64)[s_pos]
    return SingleFaults(exposure.gemm_indices[g_pos], instance, fold, row, col, cycle, site_codes, bit)
