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
            ("gemm", spec, gemm, gemm_index, instance, dataflow, datatype, rows, cols, folds),
            lambda: sample_gemm_faults(spec, gemm, gemm_index, instance, dataflow, datatype, rows, cols, folds),
        )

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
            ("attempt", spec, gemm, gemm_index, instance, attempt, dataflow, datatype, rows, cols, folds),
            lambda: sample_attempt_faults(spec, gemm, gemm_index, instance, attempt, dataflow, datatype, rows, cols,
                                          folds),
        )  # fmt: skip

    def checksum_faults(
        self, spec: FaultSpec, geom: CheckGeometry, datatype: Datatype, gemm_index: int, instance: int, attempt: int
    ) -> ChecksumFaults:
        """checksum_faults.sample_checksum_faults."""
        return self._memoised(
            ("checksum", spec, geom, datatype, gemm_index, instance, attempt),
            lambda: sample_checksum_faults(spec, geom, datatype, gemm_index, instance, attempt),
        )

    def _memoised(self, key: tuple, draw: Callable[[], Any]) -> Any:
        """The draw (a cache looks `key`, what the draw depends on, up first)."""
        return draw()


class FaultDraws(DirectDraws):
    """DirectDraws memoised: (draw, spec, GEMM, instance, attempt, array, folds or geometry) -> the draw."""

    def __init__(self) -> None:
        self._memo: dict[tuple, Any] = {}
        # id of a fold table / check geometry -> (the object, kept alive so its id stays its own; its token)
        self._tokens: dict[int, tuple[object, int]] = {}
        self._by_content: dict[bytes, int] = {}

    def __reduce__(self) -> tuple[type[FaultDraws], tuple[()]]:
        return FaultDraws, ()  # a pickled cache travels empty (it is only a memo)

    @property
    def entries(self) -> int:
        """Draws held (no __len__: an empty cache must not read as false)."""
        return len(self._memo)

    # -- internals ----------------------------------------------------------------------------
    def _memoised(self, key: tuple, draw: Callable[[], Any]) -> Any:
        """The draw under `key` (fold tables and check geometries in it named by content), drawn once."""
        name = tuple(self._folds_token(p) if isinstance(p, FoldTable)
                     else self._geometry_token(p) if isinstance(p, CheckGeometry) else p for p in key)  # fmt: skip
        found = self._memo.get(name)
        if found is None:
            found = self._memo[name] = draw()
        return found

    def _folds_token(self, folds: FoldTable) -> int:
        return self._token(folds, lambda: (b"folds", folds.temporal, folds.table))

    def _geometry_token(self, geom: CheckGeometry) -> int:
        return self._token(geom, lambda: (b"geometry", geom.rows, geom.cols, geom.k, geom.block_rows,
                                          geom.block_cols, geom.n_block_rows, geom.n_block_cols))  # fmt: skip

    def _token(self, obj: object, parts: Callable[[], tuple]) -> int:
        """A small int naming `obj`'s content: equal tables get equal tokens (compared by bytes once per object)."""
        known = self._tokens.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        content = b"|".join(_bytes(p) for p in parts())
        token = self._by_content.setdefault(content, len(self._by_content))
        self._tokens[id(obj)] = (obj, token)
        return token


def _bytes(part: object) -> bytes:
    if isinstance(part, np.ndarray):
        return repr((part.dtype.str, part.shape)).encode() + np.ascontiguousarray(part).tobytes()
    return repr(part).encode()
