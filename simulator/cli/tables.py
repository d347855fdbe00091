"""Presentation: every text table the CLI prints (run, sweep, accuracy, calibration) and a run's JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from simulator.functional.paired import trials_for_claim
from simulator.metrics.report import LayerReport, Report
from simulator.metrics.stats import DEFAULT_CONFIDENCE, Interval, trials_needed

if TYPE_CHECKING:  # type names only: the records' packages load with the commands that build them
    from simulator.campaign.summary import PolicySummary
    from simulator.functional.accuracy import AccuracyStudy
    from simulator.functional.bayes import BayesResult
    from simulator.functional.calibrate import Calibration
    from simulator.functional.tolerable import TolerableBer
from simulator.workload.gemm import GEMM_KINDS


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=True) + "\n"


CSV_LAYER_KEYS = (
    "name", "kind", "M", "K", "N", "count", "folds", "macs", "compute_cycles", "memory_stall_cycles",
    "checksum_stall_cycles", "recompute_cycles", "total_cycles", "energy_pj", "writeback_stall_cycles",
)  # fmt: skip


def to_csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("policy", *CSV_LAYER_KEYS))
    for pol in data["policies"]:
        for layer in pol["layers"]:
            writer.writerow((pol["policy"], *(layer[k] for k in CSV_LAYER_KEYS)))
    return out.getvalue()


def format_table(report: Report, layers: bool = False) -> str:
    """The policy comparison first, then per GEMM kind for each protected policy (all layers
    of a kind summed: the blocks of a ViT aggregate), or every layer of every policy (`layers`)."""
    hw, wl = report.hw, report.workload
    arr = hw["array"]
    base, run = report.baseline, report.run
    faults = run.get("faults", {})
    lines = [
        f"{wl['name']} ({len(wl['gemms'])} GEMMs, {wl['macs'] / 1e9:.3f} GMAC) on {hw['name']} "
        f"({arr['rows']}x{arr['cols']} {arr['dataflow'].upper()} {arr['datatype']}, {hw['clock_ghz']} GHz)",
        f"baseline (none, fault-free): {base.cycles:,} cycles, {base.latency_s * 1e3:.3f} ms, "
        f"{base.energy_pj / 1e6:.1f} uJ",
        f"faults: {faults.get('kind', 'transient')}, ber {faults.get('ber', 0):g}, sites "
        f"{','.join(faults.get('sites', ()))}, seed {run.get('seed', 0)}",
        _dram_line(report),
        "",
        *_comparison(report),
        *_output_path_lines(report),
    ]
    if layers:
        for pol in report.policies:
            lines += [
                "",
                f"layers under policy {pol.policy}:",
                *_rows(LAYER_HEADER, [_layer_cells(x) for x in pol.layers]),
            ]
    else:
        for pol in report.policies:
            if pol.policy != "none":
                kinds = [_kind_cells(kind, group) for kind, group in _by_kind(pol.layers)]
                lines += ["", f"per GEMM kind under policy {pol.policy} (--layers for every layer):"]
                lines += _rows(KIND_HEADER, kinds)
    return "\n".join(lines) + "\n"


COMPARISON_HEADER = (
    ("policy", "<12"), ("cycles", ">13"), ("lat ovh %", ">10"), ("energy uJ", ">11"), ("en ovh %", ">9"),
    ("recomp MACs", ">15"), ("faults", ">8"), ("masked", ">7"), ("detect", ">7"), ("corr", ">6"), ("recomp", ">7"),
    ("toler", ">6"), ("escaped", ">8"), ("bad out", ">8"), ("max rel", ">9"), ("false al", ">9"),
)  # fmt: skip
_CYCLE_COLUMNS = (
    ("folds", ">8"), ("compute", ">12"), ("mem stall", ">11"), ("wb stall", ">10"), ("chk stall", ">10"),
    ("recompute", ">11"), ("total", ">12"), ("energy uJ", ">11"), ("DRAM MB", ">9"), ("/compul", ">8"),
    ("faults", ">8"), ("escaped", ">8"),
)  # fmt: skip
LAYER_HEADER = (("layer", "<16"), ("M", ">6"), ("K", ">6"), ("N", ">6"), ("count", ">6"), *_CYCLE_COLUMNS)
KIND_HEADER = (("kind", "<12"), ("GEMMs", ">6"), ("GMAC", ">9"), *_CYCLE_COLUMNS)


def _dram_line(report: Report) -> str:
    """DRAM bytes of the first policy against the compulsory bytes (A and B read once, C written once)."""
    first = report.policies[0]
    dram_bytes = sum(layer.dram_bytes for layer in first.layers)
    compulsory_bytes = sum(layer.compulsory_dram_bytes for layer in first.layers)
    return (
        f"DRAM traffic under {first.policy}: {dram_bytes / 1e6:,.1f} MB, compulsory {compulsory_bytes / 1e6:,.1f} MB "
        f"({dram_bytes / max(compulsory_bytes, 1):.2f}x; mapping {report.hw.get('mapping', {}).get('policy', '?')})"
    )


def _output_path_lines(report: Report) -> list[str]:
    """Per policy, when the run injects the sites and their scratchpads have SEC-DED: the C scratchpad's DUEs
    (sram_c upsets its SEC-DED detected, fate unrecoverable) and the A / B ECC refetches with their price
    (metrics.ecc_refetch)."""
    sram = report.hw.get("memory", {}).get("sram", {})
    ecc = {op: sram.get(op, {}).get("ecc") == "secded" for op in ("a", "b", "c")}
    lines = []
    for pol in report.policies:
        d = pol.to_dict()
        parts = []
        if "unrecoverable" in d and ecc["c"]:
            parts.append(f"unrecoverable (C SEC-DED DUE) {d['unrecoverable']:,}")
        if "ecc_refetches" in d and (ecc["a"] or ecc["b"]):
            parts.append(
                f"ECC refetches {d['ecc_refetches']:,} ({d['ecc_refetch_bytes'] / 1e3:,.1f} kB, "
                f"{d['ecc_refetch_cycles']:,} stall cycles, {d['ecc_refetch_energy_pj'] / 1e6:.3f} uJ)"
            )
        if parts:
            lines.append(f"  {pol.policy}: {'; '.join(parts)}")
    return lines


def _comparison(report: Report) -> list[str]:
    rows = []
    for pol in report.policies:
        d = pol.to_dict(report.baseline)
        rows.append((pol.policy, f"{pol.cycles:,}", f"{d['latency_overhead_pct']:.3f}", f"{pol.energy_pj / 1e6:.1f}",
                     f"{d['energy_overhead_pct']:.3f}", f"{d['recomputed_macs']:,}", d["faults_injected"],
                     d.get("masked", 0), d["detected"], d["corrected"], d.get("recomputed", 0), d.get("tolerated", 0),
                     d["escaped"], d.get("corrupted_outputs", 0), f"{d.get('max_rel_error', 0.0):.3g}",
                     d.get("false_alarms", 0)))  # fmt: skip
    return _rows(COMPARISON_HEADER, rows)


def _by_kind(layers: Sequence[LayerReport]) -> list[tuple[str, list[LayerReport]]]:
    groups: dict[str, list[LayerReport]] = {}
    for layer in layers:
        groups.setdefault(layer.kind, []).append(layer)
    rank = {kind: i for i, kind in enumerate(GEMM_KINDS)}
    return sorted(groups.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _cycle_cells(layers: Sequence[LayerReport]) -> tuple[Any, ...]:
    def total(attr: str) -> int:
        return sum(getattr(x, attr) for x in layers)

    def outcome(key: str) -> int:
        return sum(int(x.outcomes.get(key, 0)) for x in layers)

    energy_uj = sum(x.energy_pj for x in layers) / 1e6
    dram_bytes, compulsory_bytes = total("dram_bytes"), total("compulsory_dram_bytes")
    return (
        f"{total('folds'):,}", f"{total('compute_cycles'):,}", f"{total('memory_stall_cycles'):,}",
        f"{total('writeback_stall_cycles'):,}", f"{total('checksum_stall_cycles'):,}",
        f"{total('recompute_cycles'):,}", f"{total('total_cycles'):,}",
        f"{energy_uj:.2f}", f"{dram_bytes / 1e6:.2f}", f"{dram_bytes / max(compulsory_bytes, 1):.2f}",
        f"{outcome('faults_injected'):,}", f"{outcome('escaped'):,}",
    )  # fmt: skip


def _layer_cells(layer: LayerReport) -> tuple[Any, ...]:
    return (layer.name, layer.m, layer.k, layer.n, layer.count, *_cycle_cells([layer]))


def _kind_cells(kind: str, layers: Sequence[LayerReport]) -> tuple[Any, ...]:
    macs = sum(x.m * x.k * x.n * x.count for x in layers)
    return (kind, len(layers), f"{macs / 1e9:.3f}", *_cycle_cells(layers))


def _rows(header: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A header, a rule and one line per row, each cell formatted by its column's alignment."""
    title = "".join(f"{name:{spec}}" for name, spec in header)
    return [
        title,
        "-" * len(title),
        *("".join(f"{cell!s:{spec}}" for cell, (_, spec) in zip(row, header, strict=True)) for row in rows),
    ]


# -- a sweep's summary (campaign.summary) ---------------------------------------------------------
def _pm(iv: Interval) -> str:
    if math.isnan(iv.lo):
        return f"{iv.estimate:10.3f}        "
    return f"{iv.estimate:10.3f} ±{iv.half_width:<7.3f}"


def _rate(iv: Interval) -> str:
    if iv.n == 0:
        return f"{'-':>29}"
    return f"{iv.estimate:9.2e} [{iv.lo:.2e}, {iv.hi:.2e}]"


def format_sweep_summary(summaries: Sequence[PolicySummary], confidence: float = DEFAULT_CONFIDENCE) -> str:
    """A sweep's text table: one line per (point, policy), overheads with +- half-widths, escape rates."""
    level = f"{confidence * 100:g} %"
    header = (
        f"{'point':>5}  {'policy':<12}{'trials':>6}  {'latency ovh %':<18}  {'energy ovh %':<18}"
        f"{'faults/run':>11}  {'P(escape | fault) [' + level + ' CI]':<25}"
    )
    legend = f"means ± {level} t-interval half-widths; escape rate with its interval over trials"
    lines = [legend, header, "-" * len(header)]
    last = None
    for s in summaries:
        if s.point != last:
            lines.append(f"{s.point:>5}  {s.label}")
            last = s.point
        m = s.means
        lines.append(
            f"{'':>5}  {s.policy:<12}{s.trials:>6}  {_pm(m['latency_overhead_pct'])}  {_pm(m['energy_overhead_pct'])}"
            f"{m['faults_injected'].estimate:>11.1f}  {_rate(s.escape_per_fault)}"
        )
    margins = ", ".join(f"±{m:g}: {trials_needed(m, confidence)}" for m in (0.1, 0.05, 0.01))
    lines.append(f"trials for a margin on a per-run rate at {level} (Leveugle et al. 2009, p = 0.5): {margins}")
    return "\n".join(lines) + "\n"


# -- functional studies (functional.accuracy, calibrate, bayes) -----------------------------------
def format_accuracy_study(study: AccuracyStudy) -> str:
    """An accuracy study's text table: one line per policy and BER, then the tolerable BER per policy."""
    hw = study.hw
    lines = [
        f"{study.model.get('name', 'model')} on {hw['name']} ({hw['rows']}x{hw['cols']} {hw['dataflow'].upper()} "
        f"{hw['datatype']}): {study.split} split, {study.images} images, {study.trials} trial(s), seed {study.seed}",
        f"clean accuracy {study.clean_accuracy_pct:.2f} % ({study.clean.correct}/{study.images}); "
        f"{study.macs:,} MACs per pass",
        "",
    ]
    header = (
        f"{'policy':<13}{'ber':>10}{'accuracy %':>12}{'95% CI':>17}{'drop pts':>10}{'paired 95% CI':>18}"
        f"{'claim':>7}{'recovery %':>12}{'passes':>9}"
    )
    lines += [header, "-" * len(header)]
    claim = study.max_drop_points
    for p in study.points:
        lo, hi, _ = p.interval_pct
        pd = p.paired
        paired = f"[{pd.lo:.2f}, {pd.hi:.2f}]" if pd else ""
        verdict = "" if pd is None else "yes" if pd.holds(claim) else f"n={trials_for_claim(pd, claim) or '-'}"
        lines.append(
            f"{p.policy:<13}{p.ber:>10.3g}{p.accuracy_pct:>12.2f}{f'[{lo:.2f}, {hi:.2f}]':>17}"
            f"{p.drop_points:>10.2f}{paired:>18}{verdict:>7}{p.recovery_overhead_pct:>12.3f}{p.recompute_passes:>9.1f}"
        )
    lines += [
        "",
        f"claim: drop <= {claim:g} points, paired interval's upper end (n=: trials that would "
        "show it, -: none at this many images)",
        f"tolerable BER (accuracy drop <= {claim:g} points):",
    ]
    fit = study.tolerable_fit()
    for pol in study.policies:
        tol = study.tolerable_ber(pol)
        text = f"  {pol:<13}{'< smallest swept BER' if tol is None else f'{tol:g}'}"
        if fit is not None:
            t = fit[0][pol]
            text += f"   monotone fit: {_ber_text(t)} [{t.lo:.3g}, {t.hi:.3g}]"
        lines.append(text)
    if fit is not None and fit[1] is not None:
        r = fit[1]
        lines.append(f"  ratio approx_abft / abft: {r.value:.3g} [{r.lo:.3g}, {r.hi:.3g}] "
                     f"({100 * r.censored_fraction:.0f} % of resamples outside the BER grid)")  # fmt: skip
    return "\n".join(lines) + "\n"


def _ber_text(t: TolerableBer) -> str:
    prefix = {"below": "< ", "above": ">= "}.get(t.status, "")
    return f"{prefix}{t.ber:.3g}"


def format_calibration(cal: Calibration) -> str:
    """A grid calibration's thresholds per GEMM kind, then accuracy and recovery per BER."""
    lines = [
        f"calibrated approx_abft thresholds ({cal.split} split, {cal.images} images, BER "
        f"{', '.join(f'{b:g}' for b in cal.bers)}, {cal.trials} trial(s), delta {cal.delta_points:g} points, "
        f"{len(cal.history)} candidates evaluated):",
        f"{'kind':<13}{'T1':>10}{'T2':>10}",
    ]
    for kind, th in cal.abft.thresholds.items():
        lines.append(f"{kind:<13}{th.t1:>10g}{th.t2:>10g}")
    for ber in cal.bers:
        acc = cal.best.accuracy_pct[ber]
        lines.append(
            f"BER {ber:g}: accuracy {acc:.2f} % (clean {cal.clean_accuracy_pct:.2f} %, drop "
            f"{cal.clean_accuracy_pct - acc:.2f} points), recovery overhead {cal.best.overhead_pct[ber]:.3f} %"
        )
    if not cal.feasible:
        lines.append("warning: no grid value meets the accuracy constraint; the smallest thresholds are written")
    return "\n".join(lines) + "\n"


def format_bayes_calibration(result: BayesResult) -> str:
    """A Bayesian calibration's thresholds and block per layer, then accuracy and overheads per BER."""
    s = result.best.score
    lines = [
        f"Bayesian (TPE) approx_abft calibration, study {result.study_name}: {len(result.trials)} candidates, "
        f"delta {result.delta_points:g} points",
        f"{'layer':<16}{'T1':>10}{'T2':>10}{'block':>8}",
    ]
    for layer, th in {**result.abft.thresholds, **result.abft.layer_thresholds}.items():
        b = result.abft.blocking.get(layer)
        lines.append(f"{layer:<16}{th.t1:>10.4g}{th.t2:>10.4g}{(b.rows if b else 0) or 'fold':>8}")
    for ber, acc in s.accuracy_pct.items():
        lines.append(
            f"BER {ber:g}: accuracy {acc:.2f} % (clean {result.clean_accuracy_pct:.2f} %, drop "
            f"{result.clean_accuracy_pct - acc:.2f} points), recovery overhead {s.recovery_pct[ber]:.3f} %, "
            f"checking {s.check_pct[ber]:.3f} %"
        )
    if not result.feasible:
        lines.append("warning: no candidate meets the accuracy constraint; the least violating one is written")
    return "\n".join(lines) + "\n"
