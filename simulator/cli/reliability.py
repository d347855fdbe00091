"""`abftsim reliability`: upset rates of an environment, single-fault AVF and FIT per policy, ISO 26262 targets."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from simulator import api
from simulator.abft.policies import PolicyContext
from simulator.abft.registry import make_policy, policy_names
from simulator.cli.common import EXIT_OK, add_hw_options
from simulator.cli.outputs import STDOUT, check_outputs, write_output
from simulator.cli.tables import to_json
from simulator.config.fault_spec import FaultSpec
from simulator.config.loader import DEFAULT_WORKLOAD, load_abft, load_fault_spec
from simulator.errors import ConfigError
from simulator.faults.sram_residency import scratchpad_residency
from simulator.mapping.schedule import schedule_gemms
from simulator.metrics.stats import check_confidence, trials_needed
from simulator.reliability import assumption, environments, fit
from simulator.reliability.avf import run_avf_campaign
from simulator.reliability.checksum_avf import run_checksum_campaign
from simulator.reliability.drain import drain_fit
from simulator.reliability.environments import ENVIRONMENTS
from simulator.reliability.exposure import workload_exposure
from simulator.reliability.memory_avf import run_memory_campaign
from simulator.reliability.report import ReliabilityReport
from simulator.reliability.sram import sram_fits
from simulator.verify.operand_cache import OperandCache

ORDER = 40  # place in `abftsim --help`
MAX_INJECTIONS = 10_000_000  # ~1 GB of per-fault arrays on ViT-B/16


def register(sub: Any) -> None:
    """`reliability`: FIT, AVF and SDC/DUE rates per policy in a radiation environment."""
    rel = sub.add_parser("reliability", help="FIT, AVF and SDC/DUE rates per policy in a radiation environment")
    add_hw_options(rel)
    rel.add_argument(
        "--workload", default=DEFAULT_WORKLOAD, help=f"bundled name or YAML path (default {DEFAULT_WORKLOAD})"
    )
    rel.add_argument(
        "--policy",
        dest="policies",
        action="append",
        metavar="NAME",
        help=f"ABFT policy (repeatable; default: all of {', '.join(policy_names())})",
    )
    rel.add_argument(
        "--environment",
        default="sea_level",
        choices=tuple(ENVIRONMENTS),
        help="named radiation environment (default sea_level)",
    )
    rel.add_argument("--ff-fit-per-mbit", type=float, help="raw flip-flop upset rate (replaces the environment's)")
    rel.add_argument("--sram-fit-per-mbit", type=float, help="raw SRAM upset rate (replaces the environment's)")
    rel.add_argument("--sites", metavar="LIST", help="fault sites, comma-separated (default all)")
    rel.add_argument("--faults", metavar="PATH", help="fault spec YAML: sites, bits, gemms, kinds restrict the slots")
    rel.add_argument("--abft", metavar="PATH", help="ABFT options YAML (thresholds per GEMM kind, blocking)")
    rel.add_argument("--injections", type=int, help="single faults to inject (default: Leveugle's count for --margin)")
    rel.add_argument("--margin", type=float, default=0.01, help="AVF margin for Leveugle's count (default 0.01)")
    rel.add_argument("--confidence", type=float, default=0.95, help="confidence of intervals (default 0.95)")
    rel.add_argument("--seed", type=int, default=0, help="root seed of the fault draw and operands (default 0)")
    rel.add_argument(
        "--check-ber",
        type=float,
        metavar="BER",
        help="also run Monte-Carlo at BER and 10 x BER and check that outcome fractions agree",
    )
    rel.add_argument("--json", metavar="PATH", help="write the JSON report to PATH ('-' for stdout)")
    rel.add_argument("--quiet", action="store_true", help="no table on stdout")
    rel.set_defaults(handler=cmd_reliability)


def _reliability_study(args: argparse.Namespace) -> ReliabilityReport:
    """Rates, a single-fault campaign, fault-free costs and the optional BER check (no output)."""

    confidence = check_confidence(args.confidence)
    env = environments.environment(args.environment)
    if args.ff_fit_per_mbit is not None or args.sram_fit_per_mbit is not None:
        try:
            env = environments.custom_environment(
                env.ff_fit_per_mbit if args.ff_fit_per_mbit is None else args.ff_fit_per_mbit,
                env.sram_fit_per_mbit if args.sram_fit_per_mbit is None else args.sram_fit_per_mbit,
            )
        except ValueError as exc:
            raise ConfigError(f"--ff-fit-per-mbit / --sram-fit-per-mbit: {exc}") from None
    hw = api.resolve_hw(args.hw, args.overrides)
    wl = api.resolve_workload(args.workload)
    spec = load_fault_spec(args.faults, {"sites": args.sites, "seed": args.seed})
    if spec.explicit or spec.kind.value != "transient":
        raise ConfigError("faults: the single-fault campaign draws transient upsets; drop `explicit` and `kind`")
    spec = spec.model_copy(update={"ber": 0.0})
    abft = load_abft(args.abft)
    names = args.policies or policy_names()
    context = PolicyContext(hw.checksum_unit.placement, abft)
    try:
        policies = [make_policy(name, context) for name in names]
    except ValueError as exc:
        raise ConfigError(f"--policy: {exc}") from None
    schedules = schedule_gemms(wl.gemms, hw)
    try:
        exposure = workload_exposure(schedules, spec, hw.array.datatype)
    except ValueError as exc:
        raise ConfigError(f"faults: {exc}") from None
    margin = None
    injections = args.injections
    if injections is None:
        if not 0.0 < args.margin < 1.0:
            raise ConfigError(f"--margin: must be in (0, 1), got {args.margin}")
        margin = args.margin
        injections = trials_needed(margin, confidence, population=exposure.bit_macs)
    if not 1 <= injections <= MAX_INJECTIONS:
        raise ConfigError(f"--injections: must be in [1, {MAX_INJECTIONS:,}], got {injections}")
    operands = OperandCache(hw, schedules, args.seed)
    campaign = run_avf_campaign(hw, schedules, spec, abft, policies, injections, args.seed, operands)
    checksum = run_checksum_campaign(hw, schedules, spec, abft, policies, injections, args.seed, operands)
    clean = api.run(hw, wl, names, FaultSpec(ber=0.0), abft=abft)
    base = clean.baseline
    costs = {}
    for p in clean.policies:
        d = p.to_dict(base)
        costs[p.policy] = fit.PolicyCost(p.policy, p.cycles, d["latency_overhead_pct"], d["energy_overhead_pct"])
    rates = fit.rate_summary(env, hw, exposure.sites)
    checks = []
    if args.check_ber is not None:
        if not 0.0 < args.check_ber <= 0.1:
            raise ConfigError(f"--check-ber: must be in (0, 0.1], got {args.check_ber}")
        bers = (args.check_ber, 10.0 * args.check_ber)
        # independent draws at the two rates (seed, seed + 1): the same seed would correlate them
        # the PE registers only: the single-fault campaign they are compared with draws those
        pe = tuple(site for site in spec.sites if site.in_pe)
        runs = [
            api.run(hw, wl, names, spec.model_copy(update={"ber": b, "seed": args.seed + i, "sites": pe}), abft=abft)
            for i, b in enumerate(bers)
        ]
        for name in names:
            fractions = tuple(assumption.run_fractions(r.policy(name).outcomes, confidence) for r in runs)
            single = assumption.campaign_fractions(campaign.counts(name), confidence)
            checks.append(assumption.RateCheck(name, bers, fractions, single))  # type: ignore[arg-type]
    fits = tuple(fit.policy_fits(campaign, rates, costs, confidence))
    residency = scratchpad_residency(schedules, hw.array.datatype, hw.dram_bytes_per_cycle)
    sram = tuple(sram_fits(hw, env, spec.mbu_fraction, spec.mbu_max_bits, residency))
    return ReliabilityReport(
        wl.name, hw.name, rates, campaign, fits, args.seed, margin, confidence, tuple(checks), checksum, sram,
        drain_fit(env, residency), run_memory_campaign(hw, schedules, spec, injections, args.seed, operands),
    )  # fmt: skip


def cmd_reliability(args: argparse.Namespace) -> int:
    check_outputs({"--json": args.json}, (args.hw, args.workload, args.faults, args.abft))
    report = _reliability_study(args)
    data = report.to_dict()
    if args.json:
        write_output(args.json, to_json(data))
    if not args.quiet and args.json != STDOUT:
        sys.stdout.write(format_reliability(data))
    return EXIT_OK


def format_reliability(d: dict[str, Any]) -> str:
    """The rates, the FIT table per policy, AVF by site and GEMM kind, and the rate check."""
    env, rates, exp, camp = d["environment"], d["rates"], d["exposure"], d["campaign"]
    study = rates["study_bers"]
    how = f"Leveugle: margin {camp['margin']} at {camp['confidence']:.0%}" if camp["margin"] else "as given"
    lines = [
        f"{d['workload']} on {d['hw']}, environment {env['name']} ({env['source']})",
        f"raw rates: flip-flops {env['ff_fit_per_mbit']:.4g} FIT/Mbit, SRAM {env['sram_fit_per_mbit']:.4g} FIT/Mbit"
        f" = {rates['ff_per_bit_cycle']:.3g} / {rates['sram_per_bit_cycle']:.3g} per bit per cycle at "
        f"{rates['clock_hz'] / 1e9:g} GHz",
        "study BERs "
        + ", ".join(f"{s['ber']:g} ({s['acceleration']:.2g}x, {s['decades']:.1f} decades higher)" for s in study),
        f"exposed PE-register bit-MACs per inference {exp['bit_macs_per_inference']:.4g}; PE registers "
        f"{exp['register_bits']:,} bits (raw {exp['register_raw_fit']:.4g} FIT); SRAM {exp['sram_bits']:,} bits "
        f"(raw {exp['sram_raw_fit']:.4g} FIT; per scratchpad below)",
        f"single-fault campaign: {camp['injections']:,} injections ({how}), seed {camp['seed']}",
        "",
    ]
    header = (
        f"{'policy':<13}{'lat ovh %':>10}{'en ovh %':>9}  {'AVF sdc [95 % CI]':<24}{'SDC FIT [95 % CI]':<29}"
        f"{'DUE FIT':>10}{'toler FIT':>11}  ASIL D  ASIL B"
    )
    lines += [header, "-" * len(header)]
    for p in d["policies"]:
        a, s = p["avf"]["sdc"], p["fit"]["sdc"]
        lines.append(
            f"{p['policy']:<13}{p['latency_overhead_pct']:>10.3f}{p['energy_overhead_pct']:>9.3f}  "
            f"{_iv(a):<24}{_iv(s):<29}{p['fit']['due']['estimate']:>10.3g}{p['fit']['tolerated']['estimate']:>11.3g}"
            f"  {'meets' if p['meets']['ASIL D'] else 'fails':>6}  {'meets' if p['meets']['ASIL B'] else 'fails':>6}"
        )
    lines.append("ASIL verdicts use the SDC FIT's upper bound; PMHF targets: ASIL D < 10 FIT, ASIL B/C < 100 FIT")
    chk = d.get("checksum_hardware")
    if chk:
        sites = list(chk["bit_ops_per_site"])
        lines += [
            "",
            f"checksum hardware ({', '.join(sites)}): {chk['injections']:,} single faults; bit-operations per "
            "inference " + ", ".join(f"{s} {x:.3g}" for s, x in chk["bit_ops_per_site"].items()),
            f"{'policy':<13}{'SDC FIT':>10}{'DUE FIT':>10}"
            + "".join(f"{'DUE ' + s:>14}" for s in sites)
            + f"{'total SDC FIT':>15}{'total DUE FIT':>15}",
        ]
        for p, per in chk["fit"].items():
            total = chk["fit_with_pe_registers"][p]
            lines.append(
                f"{p:<13}{per['all']['sdc']['estimate']:>10.3g}{per['all']['due']['estimate']:>10.3g}"
                + "".join(f"{per[s]['due']['estimate']:>14.3g}" for s in sites)
                + f"{total['sdc']:>15.3g}{total['due']:>15.3g}"
            )
    if d.get("sram"):
        lines += [
            "",
            "SRAM scratchpads (AVF 1: every upset taken to be read; derated: times the live fraction of the "
            "scratchpad's bit-cycles under the schedule; SEC-DED per word, A/B refetch on a detected error, C has "
            "no copy):",
            f"{'sram':<6}{'ecc':<8}{'raw FIT':>10}{'SDC no ECC':>12}{'live':>8}{'derated':>10}{'SDC SEC-DED':>13}"
            f"{'DUE SEC-DED':>13}{'refetch':>10}{'corrected':>11}",
        ]
        for x in d["sram"]:
            sec = x["fit_secded"]
            lines.append(
                f"{x['sram']:<6}{x['ecc']:<8}{x['raw_fit']:>10.4g}{x['fit_no_ecc']['sdc']:>12.4g}"
                f"{x['live_fraction']:>8.3g}{x['fit_no_ecc_derated']['sdc']:>10.4g}{sec['sdc']:>13.4g}"
                f"{sec['due']:>13.4g}{sec['refetch']:>10.4g}{sec['corrected']:>11.4g}"
            )
    dr = d.get("drain")
    if dr:
        lines.append(
            f"{'drain':<6}{'none':<8}{dr['raw_fit']:>10.4g}{dr['fit_sdc']:>12.4g}{dr['live_fraction']:>8.3g}"
            f"{dr['fit_sdc_derated']:>10.4g}  (accumulator drain registers: flip-flops, {dr['register_bits']:,} bits, "
            "AVF 1)"
        )
    mem = d.get("memory_avf")
    if mem:
        lines += [
            "",
            f"memory and output path, single-fault AVF ({mem['injections']:,} upsets over live bit-cycles; no check "
            "sees them, the same under every policy):",
            f"{'site':<8}{'n':>7}  {'P(sdc) [95 % CI]':<26}{'P(masked)':>10}{'P(corr)':>9}{'P(due)':>8}"
            f"  {'SDC FIT [95 % CI]':<30}",
        ]
        for site, x in mem["sites"].items():
            a = x["avf"]
            lines.append(
                f"{site:<8}{x['injections']:>7}  {_iv(a['sdc']):<26}{a['masked']['estimate']:>10.3f}"
                f"{a['corrected']['estimate']:>9.3f}{a['due']['estimate']:>8.3f}  {_iv(x['fit']['sdc']):<30}"
            )
    for by in ("by_site", "by_kind"):
        lines += ["", f"P(sdc) / P(due) in % {by.replace('_', ' ')}:"]
        policies = list(d[by])
        groups = list(d[by][policies[0]]) if policies else []
        lines.append(f"{'':<12}" + "".join(f"{p:>16}" for p in policies))
        for g in groups:
            cells = []
            for p in policies:
                cell = d[by][p][g]
                n = cell["sdc"]["n"]
                cells.append(f"{100 * cell['sdc']['estimate']:.1f}/{100 * cell['due']['estimate']:.1f}" if n else "-")
            lines.append(f"{g:<12}" + "".join(f"{c:>16}" for c in cells))
    for c in d["rate_checks"]:
        if c is d["rate_checks"][0]:
            lines += [
                "",
                f"rate check: outcome fractions at BER {c['bers'][0]:g} and {c['bers'][1]:g} (95 % CI overlap)",
            ]
        frac = " ".join(f"{k} {side[k]['estimate']:.3f}" for side in c["fractions"][:1] for k in side)
        lines.append(
            f"{c['policy']:<13}{'agree' if c['agree'] else 'DIFFER':<8} single-fault "
            f"{'agrees' if c['agrees_with_single_fault'] else 'differs':<8} {frac}"
        )
    return "\n".join(lines) + "\n"


def _iv(iv: dict[str, float]) -> str:
    return f"{iv['estimate']:.3g} [{iv['lo']:.3g}, {iv['hi']:.3g}]"
