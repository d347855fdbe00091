"""`Outcomes`: the one record of what happened to a run's faults (counts per fate, stored-output damage)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Fault counts and stored-output damage of a run, a GEMM or a forward pass.

    Every injected fault has exactly one fate: masked + corrected + recomputed + tolerated +
    escaped = faults_injected, plus the C scratchpad's unrecoverable upsets (SEC-DED detected, a DUE:
    verify.output_effects), which the run report counts as `unrecoverable` when site sram_c is injected.
    `masked_at_output` counts the masked faults whose error reached an accumulator but rounded away at
    write-back (verify.writeback); `detected` those a check flagged.
    `corrupted_outputs`: stored outputs that differ from the fault-free ones; `max_rel_error` the
    worst relative error among them (writeback.WriteBack.judge).
    `false_alarms`: checksum-hardware faults (verify.checksum_checks) whose flip made a check flag a row
    or column that no data error flagged (each costs what the policy does about it: a recomputation
    under `abft`, a detection under `detect_only`); `hidden_errors`: those whose flip cleared a flag a
    data error had raised. Both are counted among the `masked` faults (a checksum word holds no output).
    """

    faults_injected: int = 0
    detected: int = 0
    masked: int = 0
    masked_at_output: int = 0
    corrected: int = 0
    recomputed: int = 0
    tolerated: int = 0
    escaped: int = 0
    gave_up_folds: int = 0
    recomputations: int = 0
    corrupted_outputs: int = 0
    max_rel_error: float = 0.0
    false_alarms: int = 0
    hidden_errors: int = 0

    def __add__(self, other: Outcomes) -> Outcomes:
        values = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        values["max_rel_error"] = max(self.max_rel_error, other.max_rel_error)
        return Outcomes(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


OUTCOME_KEYS = tuple(f.name for f in fields(Outcomes))
