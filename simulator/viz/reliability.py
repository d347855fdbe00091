"""SDC and DUE failure rates (FIT) against latency overhead per policy, one panel per environment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from simulator.viz.style import policy_colour


def fit_vs_overhead(studies: Sequence[dict[str, Any]], source: str = "") -> Figure:
    """One panel per `abftsim reliability` JSON: per policy, SDC FIT (95 % interval; a policy with no SDC in
    the campaign shows its upper bound as a downward triangle) and DUE FIT over the latency overhead, with
    the ISO 26262 PMHF targets."""
    fig = Figure(figsize=(6.2 * len(studies), 4.6), layout="constrained")
    axes = fig.subplots(1, len(studies), squeeze=False)[0]
    for ax, study in zip(axes, studies, strict=True):
        ys = list(study["targets_fit"].values())
        n = len(study["policies"])
        for i, p in enumerate(study["policies"]):
            # policies of equal overhead sit side by side: a small multiplicative shift on the log axis
            x = max(p["latency_overhead_pct"], 1e-3) * 10 ** (0.06 * (i - (n - 1) / 2))
            colour = policy_colour(p["policy"], i)
            sdc, due = p["fit"]["sdc"], p["fit"]["due"]
            if sdc["estimate"] > 0:
                ax.errorbar([x], [sdc["estimate"]], yerr=[[sdc["estimate"] - sdc["lo"]], [sdc["hi"] - sdc["estimate"]]],
                            fmt="o", color=colour, ms=7, capsize=3, label=f"{p['policy']} SDC")  # fmt: skip
            else:
                ax.plot([x], [sdc["hi"]], marker="v", ls="none", color=colour, ms=8, label=f"{p['policy']} SDC < bound")
            ys += [sdc["hi"], sdc["estimate"]]
            if due["estimate"] > 0:
                ax.plot([x], [due["estimate"]], marker="s", ls="none", mfc="none", color=colour, ms=8,
                        label=f"{p['policy']} DUE")  # fmt: skip
                ys.append(due["estimate"])
            tolerated = p["fit"]["tolerated"]["estimate"]
            if tolerated > 0:
                ax.plot([x], [tolerated], marker="x", ls="none", color=colour, ms=8, label=f"{p['policy']} tolerated")
                ys.append(tolerated)
        for name, target in study["targets_fit"].items():
            if name != "ASIL C":
                ax.axhline(target, color="black", lw=0.8, ls="--" if name == "ASIL D" else ":")
                ax.annotate(f"{name} PMHF {target:g} FIT", (0.02, target), xycoords=("axes fraction", "data"),
                            fontsize=8, va="bottom")  # fmt: skip
        ax.set_xscale("log")
        ax.set_yscale("log")
        positive = [y for y in ys if y > 0]
        if positive:
            ax.set_ylim(
                10 ** (math.floor(math.log10(min(positive))) - 1), 10 ** (math.ceil(math.log10(max(positive))) + 1)
            )
        ax.set_xlabel("latency overhead (%; none at 1e-3)")
        ax.set_ylabel("failures in time (FIT)")
        env = study["environment"]
        ax.set_title(f"{study['workload']} on {study['hw']}, {env['name']} ({env['ff_fit_per_mbit']:.3g} FIT/Mbit)",
                     fontsize=10)  # fmt: skip
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=4)
    title = "SDC / DUE rate vs overhead per policy (PE-register upsets, single-fault AVF, 95 % intervals)"
    fig.suptitle(f"{title}: {source}" if source else title, fontsize=11)
    return fig
