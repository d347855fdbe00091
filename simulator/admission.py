"""Up-front admission of a run: the fault selection names what the workload has, and the run's
memory estimate (faults and operands) fits in this machine's memory, before anything is built.

The estimate is deliberately coarse: it refuses runs that cannot finish (BER 0.5 on a ViT block
expects 4.6e10 faults), not runs near the limit. Constants are measured, with the command below.
"""

from __future__ import annotations

import contextlib
import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass

from simulator.config.enums import FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.errors import ConfigError
from simulator.workload.workload import Gemm, Workload

# Peak resident memory per injected fault, measured on the struct-of-arrays verifier (verify/) with
# `/usr/bin/time -f "%M KB" abftsim run --workload vit_block_gemms --policy none --ber B --json /dev/null`
# (kernels compiled beforehand): B = 0: 115,040 KB; 1e-6: 355,676 KB (93,181 faults); 1e-5:
# 1,213,412 KB (929,472 faults); 3e-5: 3,038,100 KB (2,789,743 faults). The slope is 1,050 B per
# fault from 1e-6 to 1e-5 and 1,004 B from 1e-5 to 3e-5 (the intercept, ~142 MiB, is the faulted
# GEMMs' operands: 13.5 B per element, under BYTES_PER_OPERAND_ELEMENT); 1,280 B leaves ~20 % margin.
# (The old verifier took 1.7-4.0 KB per fault.)
BYTES_PER_FAULT = 1280
# Operands kept per faulted GEMM instance: A (M x K) and B (K x N) in the datatype, their 64-bit
# kernel copies and the 64-bit clean output (M x N), rounded up to 16 bytes per element.
BYTES_PER_OPERAND_ELEMENT = 16
BASE_BYTES = 256 * 2**20  # interpreter, numpy, numba and the compiled kernels (measured ~112 MB RSS)
# An A / B scratchpad upset (sites sram_a / sram_b, verify.sram_effects) is a ledger row per output element
# it corrupts: an A[i, k] upset up to the N outputs of row i, a B[k, n] upset up to the M of column n. Peak
# resident memory per such (upset x reach) element, measured with `/usr/bin/time -f "%M KB" abftsim run
# --workload vit_block_gemms --ber 1e-8 --seed 3 --sites sram_a --policy none`: 2,934,436 KB for 15,985
# upsets whose expected upsets x N are 33.6 M (sram_copies' live bit-cycles x BER x N per GEMM): 80 B each
# beyond the ~250 MB of the fault-free run; 96 B leaves ~20 % margin.
BYTES_PER_SRAM_OUTPUT = 96


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    faults: float  # expected injected faults, recomputation passes included
    bytes: float  # estimated peak memory of the run
    fault_bytes: float = 0.0  # of which the faults
    operand_bytes: float = 0.0  # of which the faulted GEMMs' operands
    fault_key: str = "faults.ber"  # the key that sets the fault count
    operand_key: str = ""  # the workload GEMM dimension that makes the operands largest
    sram_bytes: float = 0.0  # of which the A / B scratchpad upsets' corrupted-output rows

    def describe(self) -> str:
        return f"~{self.faults:.3g} faults, ~{_gib(self.bytes)}"


def check_fault_selection(spec: FaultSpec, workload: Workload) -> None:
    """A spec restricted to GEMM names or kinds the workload lacks would inject nothing silently."""
    names = [g.name for g in workload.gemms]
    kinds = sorted({g.kind for g in workload.gemms})
    for name in spec.gemms or ():
        if name not in names:
            shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
            raise ConfigError(f"faults.gemms: workload {workload.name!r} has no GEMM named {name!r} (has: {shown})")
    for kind in spec.kinds or ():
        if kind not in kinds:
            raise ConfigError(
                f"faults.kinds: workload {workload.name!r} has no GEMM of kind {kind!r} (has: {', '.join(kinds)})"
            )
    if spec.injects and not any(spec.selects(g) for g in workload.gemms):
        raise ConfigError("faults.gemms and faults.kinds: no GEMM of the workload matches both")


def estimate_memory(
    spec: FaultSpec,
    hw: HwConfig,
    workload: Workload,
    recomputing: bool,
    sram_upsets: tuple[float, float] | None = None,
) -> MemoryEstimate:
    """Expected faults and peak bytes; `recomputing` when some policy may re-run faulty work
    (each of up to max_retries passes is exposed to faults again). `sram_upsets`: the A / B scratchpad
    upsets counted over their residency, (expected upsets, upsets x outputs each reaches) as
    faults.sram_residency.sram_upset_reach gives them; without it sram_a / sram_b count per MAC."""
    if not spec.injects:
        return MemoryEstimate(0.0, float(BASE_BYTES))
    selected = [g for g in workload.gemms if spec.selects(g)]
    datatype = hw.array.datatype
    by_residency = (Site.SRAM_A, Site.SRAM_B) if sram_upsets is not None else ()
    upsets, reach = sram_upsets or (0.0, 0.0)
    exposed_bits = sum(spec.site_bits(site, datatype)[1] for site in spec.sites if site not in by_residency)
    passes = 1 + (hw.recompute.max_retries if recomputing else 0)
    if spec.kind is FaultKind.PERMANENT:
        faults, fault_key = float(spec.permanent_count * passes), "faults.permanent_count"
    else:
        faults, fault_key = spec.ber * exposed_bits * sum(float(g.macs) for g in selected) * passes, "faults.ber"

    def elements(g: Gemm) -> float:
        return float(g.count) * (g.m * g.k + g.k * g.n + g.m * g.n)

    operand_bytes = sum(elements(g) for g in selected) * BYTES_PER_OPERAND_ELEMENT
    faults += upsets
    fault_bytes = faults * BYTES_PER_FAULT
    sram_bytes = reach * BYTES_PER_SRAM_OUTPUT
    operand_key = ""
    if selected:
        index, largest = max(enumerate(workload.gemms), key=lambda ig: elements(ig[1]) if spec.selects(ig[1]) else -1.0)
        dim, size = max((("M", largest.m), ("K", largest.k), ("N", largest.n)), key=lambda d: d[1])
        operand_key = f"gemms.{index}.{dim}"
        operand_key += f" (GEMM {largest.name!r}, {dim} = {size:,})"
    total = BASE_BYTES + fault_bytes + operand_bytes + sram_bytes
    return MemoryEstimate(faults, total, fault_bytes, operand_bytes, fault_key, operand_key, sram_bytes)


def check_memory(estimate: MemoryEstimate, available_bytes: float | None = None) -> None:
    """Refuse a run whose estimate exceeds the memory this process may use, in one line naming the
    key that makes it large: the fault rate (faults.ber), or the workload GEMM dimension whose
    operands dominate (gemms.I.K with the GEMM's name)."""
    limit = memory_available_bytes() if available_bytes is None else available_bytes
    if limit is None or estimate.bytes <= limit:
        return
    if estimate.sram_bytes > max(estimate.operand_bytes, estimate.fault_bytes):
        raise ConfigError(
            f"faults.sites: this run needs {estimate.describe()} of memory, {_gib(estimate.sram_bytes)} of it for "
            f"the outputs its A / B scratchpad upsets corrupt (sram_a, sram_b: each holds one row per output), more "
            f"than the {_gib(limit)} available; lower the BER, drop sram_a / sram_b or restrict faults.gemms/kinds"
        )
    if estimate.operand_key and estimate.operand_bytes > estimate.fault_bytes:
        raise ConfigError(
            f"{estimate.operand_key}: this run needs {estimate.describe()} of memory, "
            f"{_gib(estimate.operand_bytes)} of it for the faulted GEMMs' operands, more than the {_gib(limit)} "
            "available; shrink that GEMM or leave it out of faults.gemms/kinds"
        )
    raise ConfigError(
        f"{estimate.fault_key}: this run needs {estimate.describe()} of memory, more than the {_gib(limit)} available; "
        "lower the BER, restrict faults.gemms/kinds or use a smaller workload"
    )


def memory_available_bytes() -> float | None:
    """The least of: the address-space and data limits (what remains of them) and physical memory."""
    limits: list[float] = []
    for which in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft - _vm_bytes())
    with contextlib.suppress(ValueError, OSError, AttributeError):
        limits.append(float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")))
    return min(limits) if limits else None


def recomputing_policies(policies: Sequence[object]) -> bool:
    """Whether any policy checks (and so may recompute) or duplicates work."""
    return any(getattr(p, "checks", False) or getattr(p, "duplicates", False) for p in policies)


def _vm_bytes() -> float:
    """Virtual memory this process already uses (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return float(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


def _gib(value: float) -> str:
    return f"{value / 2**30:.3g} GiB"
