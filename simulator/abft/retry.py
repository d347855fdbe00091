"""The retry rule, written once: check a fold attempt, let the policy decide, recompute while it
asks and retries remain. Engine-free: the engine, the functional accelerator and the tests replay
its verdicts (a verdict never depends on time, only on the faults and the policy).

The loop runs in rounds over a set of folds: round a checks attempt a of every fold still being
recomputed, in one `check_round` call, so a verifier can draw and resolve the faults of a whole
round at once (verify.verifier draws one batch per (GEMM, instance, attempt)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from simulator.abft.protocol import Action, Decision, FoldAttempts, TileCheck
from simulator.mapping.region import Region

Item = TypeVar("Item")
Attempt = tuple[Item, int, Region | None]  # (fold, attempt, region rerun; None for attempt 0)


def retry_rounds(
    items: Sequence[Item],
    check_round: Callable[[list[Attempt]], list[TileCheck]],
    decide: Callable[[TileCheck], Decision],
    max_retries: int,
    rerun: Callable[[Item, Region], Region] | None = None,
) -> list[FoldAttempts]:
    """Every attempt of every item: attempt 0 of all, then attempt a + 1 of those whose attempt a
    verdict is RECOMPUTE while a < max_retries. `check_round` gets one round's attempts and returns
    their checks in the same order; `decide` is called on each check as soon as it is made;
    `rerun(item, region)` is the region the pass actually reruns (default: the verdict's)."""
    checks: list[list[TileCheck]] = [[] for _ in items]
    decisions: list[list[Decision]] = [[] for _ in items]
    pending: list[tuple[int, Region | None]] = [(i, None) for i in range(len(items))]
    attempt = 0
    while pending:
        found = check_round([(items[i], attempt, region) for i, region in pending])
        following: list[tuple[int, Region | None]] = []
        for (i, _), check in zip(pending, found, strict=True):
            decision = decide(check)
            checks[i].append(check)
            decisions[i].append(decision)
            if decision.action is Action.RECOMPUTE and attempt < max_retries:
                assert decision.region is not None
                following.append((i, rerun(items[i], decision.region) if rerun else decision.region))
        pending, attempt = following, attempt + 1
    return [FoldAttempts(tuple(c), tuple(d)) for c, d in zip(checks, decisions, strict=True)]
