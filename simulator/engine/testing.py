"""A scripted policy and verifier that force given verdicts on given folds (tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from simulator.abft.protocol import ACCEPT, NO_CHECK, NO_CONTRACT, CheckWork, Decision, FoldAttempts, Rerun, TileCheck
from simulator.abft.retry import retry_rounds
from simulator.mapping.region import Region
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold

FoldKey = tuple[int, int, int]  # (layer, instance, fold index)


class ScriptedVerifier:
    """Reports on the given folds; its checks carry no details; `policy` decides (the shared retry
    loop). Remembers every check it made, in order."""

    def __init__(self, flagged: Iterable[FoldKey], policy: ScriptedPolicy, max_retries: int):
        self.flagged = frozenset(flagged)
        self.policy, self.max_retries = policy, max_retries
        self.calls: list[tuple[int, int, int, int, Region | None]] = []

    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        return frozenset((i, f) for layer, i, f in self.flagged if layer == gemm_index)

    def attempts(self, gemm_index: int, instance: int, fold: Fold, rerun: Rerun | None = None) -> FoldAttempts:
        def check_round(batch: list[tuple[Fold, int, Region | None]]) -> list[TileCheck]:
            for f, attempt, region in batch:
                self.calls.append((gemm_index, instance, f.index, attempt, region))
            return [TileCheck(gemm_index, instance, f.index, attempt) for f, attempt, _ in batch]

        return retry_rounds([fold], check_round, self.policy.decide, self.max_retries, rerun)[0]


class ScriptedPolicy:
    """Decides from a script: fold -> one verdict per attempt (the last one repeats); else accept.

    Every fold costs `work` of checking (none by default).
    """

    name = "scripted"
    contract = NO_CONTRACT

    def __init__(self, script: Mapping[FoldKey, Sequence[Decision]] | None = None, work: CheckWork = NO_CHECK):
        self.script = dict(script or {})
        self.work = work

    def check_work(self, schedule: GemmSchedule, fold: Fold) -> CheckWork:
        return self.work

    def check_key(self, schedule: GemmSchedule) -> tuple:
        return ()

    def decide(self, check: TileCheck) -> Decision:
        verdicts = self.script.get((check.gemm_index, check.instance, check.fold_index))
        if not verdicts:
            return ACCEPT
        return verdicts[min(check.attempt, len(verdicts) - 1)]


def forced(
    script: Mapping[FoldKey, Sequence[Decision]], work: CheckWork = NO_CHECK, max_retries: int = 3
) -> tuple[ScriptedPolicy, ScriptedVerifier]:
    """A policy and a verifier that apply `script` to exactly the folds it names (`max_retries`:
    the hardware's recompute.max_retries)."""
    policy = ScriptedPolicy(script, work)
    return policy, ScriptedVerifier(script, policy, max_retries)
