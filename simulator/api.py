"""Python API: run() a workload on a hardware config under ABFT policies. Orchestration, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from simulator.abft.policies import PolicyContext
from simulator.abft.protocol import NoFaults, Policy
from simulator.abft.registry import make_policy, policy_names
from simulator.admission import check_fault_selection, check_memory, estimate_memory, recomputing_policies
from simulator.config.abft_options import AbftConfig
from simulator.config.enums import Site
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import DEFAULT_HW, DEFAULT_WORKLOAD, load_hw, load_workload
from simulator.config.schema import HwConfig
from simulator.engine.result import EngineResult
from simulator.engine.simulate import simulate
from simulator.errors import ConfigError
from simulator.faults.codes import SITE_OF_CODE
from simulator.faults.explicit import check_explicit_faults
from simulator.faults.explicit_output import check_explicit_output
from simulator.faults.explicit_sites import check_explicit_sites
from simulator.faults.operands import GemmOperands
from simulator.faults.sampling import check_faults_fit, permanent_id, transient_id
from simulator.faults.sram_faults import check_ecc_words
from simulator.faults.sram_residency import sram_upset_reach
from simulator.kernels.codes import FLIP, STUCK0, STUCK1
from simulator.mapping.schedule import GemmSchedule, schedule_gemm, schedule_gemms
from simulator.metrics.ecc_refetch import RefetchCost, refetch_cost
from simulator.metrics.energy import energy_breakdown_pj
from simulator.metrics.report import LayerReport, PolicyReport, Report
from simulator.verify.fates import FATES
from simulator.verify.operand_cache import OperandCache
from simulator.verify.outcomes import Outcomes
from simulator.verify.verifier import FaultVerifier, make_verifier
from simulator.workload.workload import Workload

HwLike = HwConfig | str | Path
WorkloadLike = Workload | str | Path
NO_FAULTS = FaultSpec(ber=0.0)


def resolve_hw(hw: HwLike, overrides: Iterable[str] = ()) -> HwConfig:
    overrides = list(overrides)
    if isinstance(hw, HwConfig):
        if overrides:
            raise ConfigError("apply to a hardware file or name, not to a config object", argument="overrides")
        return hw
    return load_hw(hw, overrides)


def resolve_workload(workload: WorkloadLike) -> Workload:
    return workload if isinstance(workload, Workload) else load_workload(workload)


def run(
    hw: HwLike = DEFAULT_HW,
    workload: WorkloadLike = DEFAULT_WORKLOAD,
    policies: Sequence[str] | None = None,
    faults: FaultSpec | None = None,
    seed: int | None = None,
    *,
    abft: AbftConfig | None = None,
    overrides: Iterable[str] = (),
    trace: str | None = None,
    trace_window: tuple[float, float] | None = None,
    progress: Callable[[str], None] | None = None,
    operands: dict[tuple[int, int], GemmOperands] | None = None,
    fault_log: bool = False,
) -> Report:
    """Simulate `workload` on `hw` under each policy with the same injected faults.

    Overheads are relative to the fault-free, unprotected baseline on the same hardware.
    `seed` (if given) replaces the fault spec's seed. `trace` names the policy whose report keeps
    its engine trace records (`PolicyReport.trace`, not serialised to JSON): one span per pass or
    transfer, one per run of identical folds coalesced, and inside `trace_window` (cycles) one
    per fold. `progress` is called with a
    policy's name each time one finishes (the CLI draws a progress bar with it). `operands`
    maps (gemm index, instance) to real operands (e.g. simulator.functional captured activations);
    the other GEMM instances get seeded synthetic operands. `fault_log` keeps every policy's per-fault
    records (`PolicyReport.fault_log`, from verify.records.FaultRecords; not in JSON).
    """
    hw_cfg = resolve_hw(hw, overrides)
    wl = resolve_workload(workload)
    spec = faults or NO_FAULTS
    if seed is not None:
        spec = spec.model_copy(update={"seed": seed})
    abft = abft or AbftConfig()
    names = list(policies) if policies else policy_names()
    context = PolicyContext(hw_cfg.checksum_unit.placement, abft)
    try:
        chosen = [make_policy(name, context) for name in names]
    except ValueError as exc:
        raise ConfigError(str(exc), argument="policies") from None
    _check_faults_fit(spec, hw_cfg, wl)
    unknown = abft.unknown_keys(g.name for g in wl.gemms)
    if unknown:
        raise ConfigError(f"abft: unknown GEMM kind or name {unknown[0]!r} in workload {wl.name}")
    check_fault_selection(spec, wl)
    schedules = schedule_gemms(wl.gemms, hw_cfg)
    sram = sram_upset_reach(spec, hw_cfg.array.datatype, schedules) if spec.injects else None
    check_memory(estimate_memory(spec, hw_cfg, wl, recomputing_policies(chosen), sram))
    _check_explicit_sites(spec, hw_cfg, schedules, abft)
    operand_cache = OperandCache(hw_cfg, schedules, spec.seed, supplied=operands)
    done: dict[tuple[str, FaultSpec, bool], PolicyReport] = {}
    timed: dict[str, EngineResult] = {}  # engine results of faulty runs, by policy name

    def simulated(policy: Policy, faults: FaultSpec, with_trace: bool) -> PolicyReport:
        """A fault-free run of a policy is the same whatever the spec says, so it runs once; and a
        faulty run of it that recomputed nothing has its timing (EngineResult.without_faults)."""
        key = (policy.name, faults if faults.injects else NO_FAULTS, with_trace)
        if key not in done:
            window = trace_window if with_trace else None
            same = timed.get(policy.name) if not faults.injects else None
            reuse = same.without_faults() if same is not None and same.timing_is_fault_free else None
            done[key], result = _simulate_policy(
                policy, schedules, hw_cfg, faults, abft, operand_cache, with_trace, window, fault_log, reuse
            )
            if faults.injects:
                timed[policy.name] = result
        return done[key]

    reports = []
    for policy in chosen:
        reports.append(simulated(policy, spec, policy.name == trace))
        if progress is not None:
            progress(policy.name)
    baseline = simulated(make_policy("none", context), NO_FAULTS, False)  # after: it may reuse `none`'s
    return Report(
        hw=hw_cfg.model_dump(mode="json"),
        workload=wl.to_dict(),
        baseline=baseline,
        policies=tuple(reports),
        run={"seed": spec.seed, "faults": spec.model_dump(mode="json"), "abft": abft.model_dump(mode="json")},
    )


def _check_faults_fit(spec: FaultSpec, hw: HwConfig, wl: Workload) -> None:
    """faults.sampling.check_faults_fit, faults.sram_faults.check_ecc_words (SRAM ECC words hold whole stored
    words) and faults.explicit.check_explicit_faults (the explicit faults against the workload), as a clean
    ConfigError."""
    arr = hw.array
    try:
        check_faults_fit(spec, arr.datatype, arr.rows, arr.cols)
        sram = {"a": hw.memory.sram.a, "b": hw.memory.sram.b, "c": hw.memory.sram.c}
        ecc_bits = {op: c.secded_data_bits for op, c in sram.items()}
        check_ecc_words(spec.sites, ecc_bits, arr.datatype)
        named = {f.gemm for f in spec.explicit if f.kind == "transient"}
        orders = {g.name: schedule_gemm(g, hw).order for g in wl.gemms if g.name in named}
        check_explicit_faults(spec, wl.gemms, arr.dataflow, arr.datatype, arr.rows, arr.cols, orders)
    except ValueError as exc:
        raise ConfigError(f"faults: {exc}") from None


def _check_explicit_sites(spec: FaultSpec, hw: HwConfig, schedules: Sequence[GemmSchedule], abft: AbftConfig) -> None:
    """faults.explicit_sites.check_explicit_sites and faults.explicit_output.check_explicit_output (checksum words,
    SRAM elements, C words and drains against the schedule)."""
    if all(f.site.in_pe for f in spec.explicit):
        return
    blocks = {s.gemm.name: abft.block_for(s.gemm.kind, s.gemm.name) for s in schedules}
    try:
        check_explicit_sites(spec, schedules, hw.array.datatype, blocks)
        c_bits = hw.memory.sram.c.secded_data_bits
        check_explicit_output(spec, schedules, hw.array.datatype, hw.dram_bytes_per_cycle, c_bits)
    except ValueError as exc:
        raise ConfigError(f"faults: {exc}") from None


def _simulate_policy(
    policy: Policy,
    schedules: Sequence[GemmSchedule],
    hw: HwConfig,
    spec: FaultSpec,
    abft: AbftConfig,
    operands: OperandCache,
    trace: bool,
    trace_window: tuple[float, float] | None = None,
    fault_log: bool = False,
    timing: EngineResult | None = None,
) -> tuple[PolicyReport, EngineResult]:
    """The policy's report and its engine result; `timing`: the engine result, if known already
    (a fault-free run derived from a faulty one, EngineResult.without_faults; no trace)."""
    faulty = make_verifier(policy, hw, schedules, spec, abft, operands) if spec.injects else None
    verifier: FaultVerifier | NoFaults = faulty if faulty is not None else NoFaults()
    if timing is None or trace:
        result = simulate(hw, schedules, policy, verifier, trace=trace, trace_window=trace_window)
    else:
        result = timing
    layers = []
    # A / B SRAM sites: price their ECC refetches (metrics.ecc_refetch)
    refetches = faulty is not None and bool(faulty.sram)
    total_refetch = refetch_cost((), hw)
    for s, layer in zip(schedules, result.layers, strict=True):
        g = s.gemm
        per_layer = faulty.layer_outcomes(layer.index) if faulty is not None else {}
        actions, stall, total = layer.actions, layer.memory_stall_cycles, layer.total_cycles
        if faulty is not None and faulty.output_path.sram_c:
            per_layer["unrecoverable"] = faulty.unrecoverable(layer.index)
        if refetches:
            assert faulty is not None
            cost = refetch_cost(faulty.sram.refetches(layer.index), hw)
            per_layer.update(_refetch_fields(cost, hw))
            actions, stall, total = actions + cost.actions, stall + cost.cycles, total + cost.cycles
            total_refetch = total_refetch + cost
        layers.append(
            LayerReport(
                name=g.name,
                kind=g.kind,
                m=g.m,
                k=g.k,
                n=g.n,
                count=g.count,
                folds=layer.folds,
                compute_cycles=layer.compute_cycles,
                memory_stall_cycles=stall,
                checksum_stall_cycles=layer.checksum_stall_cycles,
                recompute_cycles=layer.recompute_cycles,
                total_cycles=total,
                actions=actions,
                energy_breakdown_pj=energy_breakdown_pj(actions, hw),
                outcomes=per_layer,
                compulsory_dram_bytes=s.compulsory_dram_bytes,
                writeback_stall_cycles=layer.writeback_stall_cycles,
            )
        )
    found = faulty.outcomes() if faulty is not None else Outcomes()
    outcomes = {**found.to_dict(), "recomputations": result.recompute.passes}
    del outcomes["gave_up_folds"]  # the engine's count is in `extra`
    if faulty is not None and faulty.output_path.sram_c:
        outcomes["unrecoverable"] = faulty.unrecoverable()
    extra: dict[str, Any] = {"corrections": result.recompute.corrections, "gave_up_folds": result.recompute.given_up}
    if refetches:
        extra.update(_refetch_fields(total_refetch, hw))
    actions = result.actions + total_refetch.actions
    return PolicyReport(
        policy=policy.name,
        cycles=result.total_cycles + total_refetch.cycles,
        clock_hz=hw.clock_hz,
        energy_breakdown_pj=energy_breakdown_pj(actions, hw),
        actions=actions,
        layers=tuple(layers),
        outcomes=outcomes,
        extra=extra,
        trace=result.records if trace else None,
        fault_log=_fault_log(faulty, schedules) if fault_log and faulty is not None else None,
    ), result


def _refetch_fields(cost: RefetchCost, hw: HwConfig) -> dict[str, Any]:
    """The report fields of ECC refetches (metrics.ecc_refetch): count, DRAM bytes, stall cycles, energy."""
    return {"ecc_refetches": cost.refetches, "ecc_refetch_bytes": cost.size_bytes,
            "ecc_refetch_cycles": cost.cycles, "ecc_refetch_energy_pj": cost.energy_pj(hw)}  # fmt: skip


FAULT_LOG_KEYS = (
    "fault_id", "gemm", "gemm_index", "instance", "fold", "attempt", "row", "col", "cycle", "site", "bit", "kind",
    "detected", "fate", "outputs_corrupted", "max_abs_error", "max_rel_error", "false_alarm", "hid_error",
)  # fmt: skip  # the keys of one fault-log record, in the CSV's column order
FAULT_LOG_TYPES = {
    **dict.fromkeys(("fault_id", "gemm", "site", "kind", "fate", "policy"), "string"),
    **dict.fromkeys(("gemm_index", "instance", "fold", "attempt", "row", "col", "cycle", "bit", "outputs_corrupted"),
                    "int64"),
    **dict.fromkeys(("max_abs_error", "max_rel_error"), "float64"),
    **dict.fromkeys(("detected", "false_alarm", "hid_error"), "bool"),
}  # fmt: skip  # the Arrow type of each fault-log column (Parquet fault logs)


def _fault_log(verifier: FaultVerifier, schedules: Sequence[GemmSchedule]) -> tuple[dict[str, Any], ...]:
    """The verifier's per-fault records (verify.records.FaultRecords) as one dict per fault."""
    r = verifier.records()
    kinds = {FLIP: "transient", STUCK0: "stuck0", STUCK1: "stuck1"}
    out = []
    for i in range(len(r)):
        g, inst, f, a, o = (int(x[i]) for x in (r.gemm, r.instance, r.fold, r.attempt, r.ordinal))
        mode, site = int(r.mode[i]), SITE_OF_CODE[int(r.site[i])]
        # A / B SRAM upsets, C words, drain flips: ordinal among the instance's (`s`, `o`, `d`: distinct, as a
        # fold can hold the first of each); checksum words: the fold's (`c`)
        tag = {Site.SRAM_C: "o", Site.DRAIN: "d"}.get(site, "s" if site.in_sram else "c")
        out.append({
            "fault_id": (transient_id(g, inst, f, a, o) if site.in_pe else f"g{g}/i{inst}/f{f}/a{a}/{tag}{o}")
            if mode == FLIP else permanent_id(o),
            "gemm": schedules[g].gemm.name, "gemm_index": g, "instance": inst, "fold": f, "attempt": a,
            "row": int(r.row[i]), "col": int(r.col[i]), "cycle": int(r.cycle[i]),
            "site": str(SITE_OF_CODE[int(r.site[i])]), "bit": int(r.bit[i]), "kind": kinds[mode],
            "detected": bool(r.detected[i]), "fate": FATES[int(r.fate[i])],
            "outputs_corrupted": int(r.outputs_corrupted[i]), "max_abs_error": float(r.max_abs_error[i]),
            "max_rel_error": float(r.max_rel_error[i]), "false_alarm": bool(r.false_alarm[i]),
            "hid_error": bool(r.hidden[i]),
        })  # fmt: skip
    return tuple(out)
