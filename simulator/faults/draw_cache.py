"""`FaultDraws`: a trial's transient fault draws, drawn once and looked up by every pass that shares them.

What a draw depends on (faults.sampling, faults.checksum_faults): the fault spec (seed, rate, sites,
bits, kind), the GEMM (name and kind, for the spec's selection), its index and instance, the attempt,
the array (dataflow, datatype, rows, cols) and the GEMM's fold table (its shape and loop order; for
the checksum hardware, the check geometry of those folds and the check block). Never the operands,
never the policy, never the order of the calls. A verifier draws each key once per run and shares
the draw among the run's policies (verify.operand_cache's memo); the accuracy study and the
threshold calibration run every policy (or threshold candidate) of a trial as a forward pass of its
own, each with a verifier per GEMM call, so they hand every verifier of a trial one `FaultDraws`
and each key is drawn once per trial instead of once per pass.

Only draws are kept: the faults' effects depend on the operands, which differ between passes once a
residual error has changed an activation. Fold tables and check geometries are compared by value
(once per table object), so passes that build their own equal tables share the draws.

Memory: every key drawn, empty batches included (about 1 kB each), for as long as the cache lives
(a trial of a study). A `FaultDraws` pickles empty: a worker process fills its own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.config.enums import Dataflow, Datatype
from simulator.config.fault_spec import FaultSpec
from simulator.faults.checksum_faults import CheckGeometry, ChecksumFaults, sample_checksum_faults
from simulator.faults.sampling import FaultBatch, sample_attempt_faults, sample_gemm_faults
from simulator.mapping.fold_table import FoldTable
from simulator.workload.gemm import Gemm


class DirectDraws:
    """The draw functions themselves, drawing on every call (a verifier's default: its OperandCache's
    memo keeps each draw for the run). Each call hands `_memoised` what its draw depends on, for a cache."""

    def gemm_faults(
        self,
        spec: FaultSpec,
        gemm: Gemm,
        gemm_index: int,
        instance: int,
        dataflow: Dataflow,
        datatype: Datatype,
        rows: int,
        cols: int,
        folds: FoldTable,
    ) -> FaultBatch:
        """sampling.sample_gemm_faults."""
        return self._memoised(
            ("gemm", self._named(spec), self._named(gemm), gemm_index, instance, dataflow, datatype, rows, cols,
             self._named(folds)),
            lambda: sample_gemm_faults(spec, gemm, gemm_index, instance, dataflow, datatype, rows, cols, folds),
        )  # fmt: skip

    def attempt_faults(
        self,
        spec: FaultSpec,
        gemm: Gemm,
        gemm_index: int,
        instance: int,
        attempt: int,
        dataflow: Dataflow,
        datatype: Datatype,
        rows: int,
        cols: int,
        folds: FoldTable,
    ) -> FaultBatch:
        """sampling.sample_attempt_faults."""
        return self._memoised(
            ("attempt", self._named(spec), self._named(gemm), gemm_index, instance, attempt, dataflow, datatype, rows,
             cols, self._named(folds)),
            lambda: sample_attempt_faults(spec, gemm, gemm_index, instance, attempt, dataflow, datatype, rows, cols,
                                          folds),
        )  # fmt: skip

    def checksum_faults(
        self, spec: FaultSpec, geom: CheckGeometry, datatype: Datatype, gemm_index: int, instance: int, attempt: int
    ) -> ChecksumFaults:
        """checksum_faults.sample_checksum_faults."""
        return self._memoised(
            ("checksum", self._named(spec), self._named(geom), datatype, gemm_index, instance, attempt),
            lambda: sample_checksum_faults(spec, geom, datatype, gemm_index, instance, attempt),
        )

    def _named(self, part: object) -> object:
        """How a key names a spec, GEMM, fold table or check geometry (here: the object itself)."""
        return part

    def _memoised(self, key: tuple, draw: Callable[[], Any]) -> Any:
        """The draw (a cache looks `key`, what the draw depends on, up first)."""
        return draw()


class FaultDraws(DirectDraws):
    """DirectDraws memoised: (draw, spec, GEMM, instance, attempt, array, folds or geometry) -> the draw."""

    def __init__(self) -> None:
        self._memo: dict[tuple, Any] = {}
        # id of a key part (spec, GEMM, fold table, check geometry) -> (the part, kept alive so its id
        # stays its own; its token)
        self._tokens: dict[int, tuple[object, int]] = {}
        # a part's value (a spec or GEMM itself; a table's or geometry's bytes) -> its token
        self._by_content: dict[object, int] = {}

    def __reduce__(self) -> tuple[type[FaultDraws], tuple[()]]:
        return FaultDraws, ()  # a pickled cache travels empty (it is only a memo)

    @property
    def entries(self) -> int:
        """Draws held (no __len__: an empty cache must not read as false)."""
        return len(self._memo)

    # -- internals ----------------------------------------------------------------------------
    def _memoised(self, key: tuple, draw: Callable[[], Any]) -> Any:
        """The draw under `key` (its spec, GEMM, fold table and geometry named by tokens), drawn once."""
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = draw()
        return found

    def _named(self, part: object) -> int:
        """A small int naming `part`'s value, looked up by identity: a key of ints hashes cheaply, where a
        spec or GEMM (pydantic / dataclass) would hash all its fields on every lookup. Equal values get
        equal tokens (fold tables and geometries by their bytes, other parts by ==), once per object."""
        known = self._tokens.get(id(part))
        if known is not None and known[0] is part:
            return known[1]
        content: object = part
        if isinstance(part, FoldTable):
            content = _content(b"folds", part.temporal, part.table)
        elif isinstance(part, CheckGeometry):
            content = _content(b"geometry", part.rows, part.cols, part.k, part.block_rows, part.block_cols,
                               part.n_block_rows, part.n_block_cols)  # fmt: skip
        token = self._by_content.setdefault(content, len(self._by_content))
        self._tokens[id(part)] = (part, token)
        return token


def _content(*parts: object) -> bytes:
    """The bytes of a fold table's or check geometry's content (arrays by dtype, shape and data)."""
    return b"|".join(_bytes(p) for p in parts)


def _bytes(part: object) -> bytes:
    if isinstance(part, np.ndarray):
        return repr((part.dtype.str, part.shape)).encode() + np.ascontiguousarray(part).tobytes()
    return repr(part).encode()
