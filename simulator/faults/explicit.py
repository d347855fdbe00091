"""Explicit faults checked against a workload and an array: the GEMM exists and the slot is a MAC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from simulator.config.enums import Dataflow, Datatype, FaultKind
from simulator.config.fault_spec import FaultSpec
from simulator.faults.model import PeFault
from simulator.kernels.codes import T_CU, T_RU, T_TT
from simulator.mapping.dataflow import mac_tau
from simulator.mapping.fold_table import fold_table
from simulator.mapping.loop_order import LoopOrder
from simulator.workload.gemm import Gemm


def check_explicit_faults(
    spec: FaultSpec,
    gemms: Sequence[Gemm],
    dataflow: Dataflow,
    datatype: Datatype,
    rows: int,
    cols: int,
    orders: Mapping[str, LoopOrder] | None = None,
) -> None:
    """ValueError naming the first explicit PE fault that cannot happen: an unknown or unselected GEMM, an
    instance, fold or PE outside it, a bit outside the site's word, or a cycle where the PE does no MAC.

    `orders`: each GEMM's scheduled loop order by name (fold indices follow it, K chunks included);
    without it the dataflow's fixed order."""
    by_name = {g.name: g for g in gemms}
    for n, f in enumerate(spec.explicit):
        if not f.site.in_pe or f.row is None or f.col is None:
            continue  # the checksum and SRAM sites: faults.explicit_sites
        where = f"explicit fault {n + 1} ({f.site} bit {f.bit} at PE {f.row},{f.col})"
        kind = FaultKind.TRANSIENT if f.kind == "transient" else FaultKind.PERMANENT
        stuck = None if f.kind == "transient" else int(f.kind == "stuck1")
        pe = PeFault(f.row, f.col, -1 if f.cycle is None else f.cycle, f.site, f.bit, kind, stuck)
        try:
            pe.check(rows, cols, datatype)
        except ValueError:
            raise ValueError(f"{where}: outside the {rows} x {cols} array or the {datatype} {f.site} word") from None
        if f.kind != "transient":
            continue
        gemm = by_name.get(f.gemm or "")
        if gemm is None:
            raise ValueError(f"{where}: no GEMM named {f.gemm!r} in the workload")
        if not spec.selects(gemm):
            raise ValueError(f"{where}: GEMM {f.gemm!r} is not selected by faults.gemms / faults.kinds")
        if f.instance >= gemm.count:
            raise ValueError(f"{where}: instance {f.instance} of a GEMM run {gemm.count} time(s)")
        folds = fold_table(dataflow, gemm.m, gemm.k, gemm.n, rows, cols, (orders or {}).get(gemm.name))
        if f.fold is None or f.fold >= len(folds):
            raise ValueError(f"{where}: fold {f.fold} of {len(folds)}")
        ru, cu, steps = (int(folds.table[f.fold, x]) for x in (T_RU, T_CU, T_TT))
        tau = mac_tau(dataflow, rows, f.row, f.col, f.cycle or 0)
        if f.row >= ru or f.col >= cu or not 0 <= tau < steps:
            raise ValueError(
                f"{where}: PE {f.row},{f.col} does no MAC at cycle {f.cycle} of fold {f.fold} "
                f"({ru} x {cu} PEs used, {steps} temporal steps)"
            )
