"""A scripted policy and verifier that force given verdicts on given folds (tests, benchmarks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from simulator.abft.protocol import ACCEPT, NO_CHECK, CheckWork, Decision, TileCheck
from simulator.mapping.region import Region
from simulator.mapping.schedule import GemmSchedule
from simulator.mapping.tiling import Fold

FoldKey = tuple[int, int, int]  # (layer, instance, fold index)


class ScriptedVerifier:
    """Reports on the given folds; its checks carry no details. Remembers every call, in order."""

    def __init__(self, flagged: Iterable[FoldKey]):
        self.flagged = frozenset(flagged)
        self.calls: list[tuple[int, int, int, int, Region | None]] = []

    def flagged_folds(self, gemm_index: int) -> frozenset[tuple[int, int]]:
        return frozenset((i, f) for layer, i, f in self.flagged if layer == gemm_index)

    def verify(self, gemm_index: int, instance: int, fold: Fold, attempt: int, region: Region | None) -> TileCheck:
        self.calls.append((gemm_index, instance, fold.index, attempt, region))
        return TileCheck(gemm_index, instance, fold.index, attempt)


class ScriptedPolicy:
    """Decides from a script: fold -> one verdict per attempt (the last one repeats); else accept.

    Every fold costs `work` of checking (none by default).
    """

    name = "scripted"

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
    script: Mapping[FoldKey, Sequence[Decision]], work: CheckWork = NO_CHECK
) -> tuple[ScriptedPolicy, ScriptedVerifier]:
    """A policy and a verifier that apply `script` to exactly the folds it names."""
    return ScriptedPolicy(script, work), ScriptedVerifier(script)
