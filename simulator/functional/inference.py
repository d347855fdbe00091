"""One inference pass of a split through the functional accelerator: top-1 correct count and recovery cost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from simulator.config.abft_options import AbftConfig
from simulator.config.fault_spec import FaultSpec
from simulator.config.schema import HwConfig
from simulator.executors import Executor, InlineExecutor
from simulator.faults.draw_cache import FaultDraws
from simulator.faults.operands import GemmOperands
from simulator.functional.accelerator import FunctionalAccelerator
from simulator.functional.bundle import Split
from simulator.functional.vit import VitWeights, float_matmul, forward, predictions
from simulator.verify.outcomes import Outcomes
from simulator.workload.workload import Workload


@dataclass(frozen=True)
class Evaluation:
    """Top-1 result of one pass over a split, and what recovery cost (recomputed MACs, passes)."""

    correct: int
    total: int
    macs: int  # MACs of the clean forward pass
    recomputed_macs: int
    recompute_passes: int
    recomputed_macs_by_kind: dict[str, int] = field(default_factory=dict)
    outcomes: Outcomes | None = field(default_factory=Outcomes)  # None: not tallied (evaluate's `outcomes`)
    check_macs: int = 0  # MACs the policy spent checking (first and recompute passes)
    per_image_correct: np.ndarray | None = field(default=None, compare=False)  # bool per image, split order

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def recovery_overhead(self) -> float:
        """Recomputed MACs / clean MACs."""
        return self.recomputed_macs / self.macs if self.macs else 0.0

    @property
    def check_overhead(self) -> float:
        """Checking MACs / clean MACs."""
        return self.check_macs / self.macs if self.macs else 0.0


def evaluate(
    params: VitWeights,
    split: Split,
    hw: HwConfig,
    policy: str = "none",
    faults: FaultSpec | None = None,
    abft: AbftConfig | None = None,
    draws: FaultDraws | None = None,
    outcomes: bool = True,
) -> Evaluation:
    """Run the whole split as one batch (batch = part of M, as in the timing workload) on `hw`
    (`draws`: the fault draws this pass shares with the other passes of its trial, faults.draw_cache;
    `outcomes`: tally the faults' fates, FunctionalAccelerator)."""
    acc = FunctionalAccelerator(hw, params.config.gemms(len(split)), policy, faults, abft, draws=draws,
                                outcomes=outcomes)  # fmt: skip
    pred = predictions(forward(params, split.inputs(), acc))
    st = acc.stats
    hits = pred == split.labels
    return Evaluation(
        correct=int(np.sum(hits)), total=len(split), macs=st.macs, recomputed_macs=st.recomputed_macs,
        recompute_passes=st.recompute_passes, recomputed_macs_by_kind=dict(st.recomputed_macs_by_kind),
        outcomes=st.outcomes, check_macs=st.check_macs, per_image_correct=hits,
    )  # fmt: skip


@dataclass(frozen=True)
class EvalTask:
    """The arguments of one `evaluate` call (picklable: it may run in a worker process).

    `draws`: a faults.draw_cache.FaultDraws shared by the tasks of one trial (same fault spec, hardware
    and model); `evaluate_all` runs such tasks one after the other in one process, so every pass after
    the first looks its fault draws up instead of drawing them again (results do not change)."""

    params: VitWeights
    split: Split
    hw: HwConfig
    policy: str = "none"
    faults: FaultSpec | None = None
    abft: AbftConfig | None = None
    draws: FaultDraws | None = field(default=None, compare=False)
    outcomes: bool = True  # tally the faults' fates (Evaluation.outcomes; a threshold search does not read them)


def _run_unit(unit: list[tuple[int, EvalTask]]) -> list[tuple[int, Evaluation]]:
    return [(i, evaluate(t.params, t.split, t.hw, t.policy, t.faults, t.abft, t.draws, t.outcomes)) for i, t in unit]


def work_units(tasks: Sequence[EvalTask], workers: int = 1) -> list[list[tuple[int, EvalTask]]]:
    """(index, task) lists run as one unit each: the tasks sharing a `draws` cache together (in task
    order), every other task alone; all alone when that leaves fewer units than `workers`."""
    units: dict[tuple[str, int], list[tuple[int, EvalTask]]] = {}
    for i, t in enumerate(tasks):
        units.setdefault(("shared", id(t.draws)) if t.draws is not None else ("alone", i), []).append((i, t))
    if len(units) < workers:
        return [[item] for item in enumerate(tasks)]
    return list(units.values())


def evaluate_all(
    tasks: Sequence[EvalTask], executor: Executor | None = None, progress: Callable[[], None] | None = None
) -> list[Evaluation]:
    """Every task's Evaluation, in task order, on `executor` (campaign.executors; default inline); the
    tasks of one trial (one `draws`) run as one unit of work (`work_units`).
    `progress` is called once per finished task."""
    runner = executor or InlineExecutor()
    results: list[Evaluation | None] = [None] * len(tasks)
    units = work_units(tasks, int(getattr(runner, "workers", 1)))
    for _, done in runner.map_unordered(_run_unit, units):
        for i, result in done:
            results[i] = result
            if progress is not None:
                progress()
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def float_accuracy(params: VitWeights, split: Split) -> float:
    """Top-1 accuracy of the float32 model (no quantisation, no faults)."""
    pred = predictions(forward(params, split.inputs(), float_matmul))
    return float(np.mean(pred == split.labels))


def capture_operands(
    params: VitWeights, split: Split, hw: HwConfig
) -> tuple[Workload, dict[tuple[int, int], GemmOperands]]:
    """The workload of one clean pass over the split and every GEMM instance's real operands, as
    `OperandCache(hw, schedules, seed, supplied=...)` takes them (timing runs on real activations)."""
    gemms = params.config.gemms(len(split))
    acc = FunctionalAccelerator(hw, gemms, capture=True)
    forward(params, split.inputs(), acc)
    assert acc.captured is not None
    return params.config.workload(len(split)), acc.captured
