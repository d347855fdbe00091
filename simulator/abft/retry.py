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
    if not items:
        return []
    # most items end after one attempt: an item's checks and decisions are kept as one tuple each,
    # grown only for the items a round recomputes (no per-item lists)
    found = check_round([(item, 0, None) for item in items])
    first = [decide(check) for check in found]
    checks: list[tuple[TileCheck, ...]] = [(check,) for check in found]
    decisions: list[tuple[Decision, ...]] = [(decision,) for decision in first]
    pending = _recomputed(items, range(len(items)), first, 0, max_retries, rerun)
    attempt = 1
    while pending:
        found = check_round([(items[i], attempt, region) for i, region in pending])
        made = [decide(check) for check in found]
        for (i, _), check, decision in zip(pending, found, made, strict=True):
            checks[i] += (check,)
            decisions[i] += (decision,)
        pending = _recomputed(items, [i for i, _ in pending], made, attempt, max_retries, rerun)
        attempt += 1
    return [FoldAttempts(c, d) for c, d in zip(checks, decisions, strict=True)]


def _recomputed(
    items: Sequence[Item],
    indices: Sequence[int],
    made: list[Decision],
    attempt: int,
    max_retries: int,
    rerun: Callable[[Item, Region], Region] | None,
) -> list[tuple[int, Region | None]]:
    """(item index, region rerun) of the items whose attempt `attempt` verdict asks for a
    recompute that the retry budget allows."""
    if attempt >= max_retries:
        return []
    following: list[tuple[int, Region | None]] = []
    for i, decision in zip(indices, made, strict=True):
        if decision.action is Action.RECOMPUTE:
            assert decision.region is not None
            following.append((i, rerun(items[i], decision.region) if rerun else decision.region))
    return following
