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

Empty draws: at the error rates studied most draws of a small GEMM instance hold no fault, and
setting up a draw's Generator costs more than drawing. A `ScreenedDraws` (a verifier's default,
keeping no draw) or a `FaultDraws` (its memoised kind) first asks
kernels.poisson_screen whether the key's Poisson counts are all zero (the same stream, read in one
numba call, from the Poisson means the sampler itself computes: sampling.transient_rates,
checksum_faults.word_rates) and returns the empty batch the sampler would return without drawing;
any other key is drawn by the sampler. A verifier first asks, per GEMM, which instances' attempt-0 draws
are empty (`empty_gemm_draws`, `empty_checksum_draws`: every instance's key in one kernel call) and
visits only the others. It screens only plain random draws (transient kind, ber > 0,
no explicit faults, no chk_enc stream, every mean < 10), so the screened keys' results are the
sampler's by construction (tests/test_draw_cache.py compares them key by key).

Memory: every key asked for, empty batches included (about 1 kB each), for as long as the cache lives
(a trial of a study). A `FaultDraws` pickles empty: a worker process fills its own copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from simulator.config.enums import Dataflow, Datatype, FaultKind, Site
from simulator.config.fault_spec import FaultSpec
from simulator.faults.checksum_faults import (
    STREAM_CHECKSUM,
    CheckGeometry,
    ChecksumFaults,
    sample_checksum_faults,
    word_rates,
    word_sites,
)
from simulator.faults.sampling import (
    STREAM_GEMM,
    STREAM_RETRY,
    FaultBatch,
    pe_windows,
    sample_attempt_faults,
    sample_gemm_faults,
    transient_rates,
)
from simulator.kernels.poisson_screen import POISSON_MULT_MAX, empty_draws, entropy_words, exp_neg
from simulator.mapping.fold_table import FoldTable
from simulator.workload.gemm import Gemm

# (rates key, rates() -> Poisson means or None when the draw is not screened, the draw's key words,
# empty() -> the sampler's empty result): what `FaultDraws` needs to skip an empty draw
Screen = tuple[tuple, Callable[[], np.ndarray | None], tuple[int, ...], Callable[[], Any]]
Mask = np.ndarray  # bool, one per key
Means = tuple[np.ndarray, np.ndarray]  # Poisson means in draw order, exp(-mean) of each (_with_exp)
Draw = Callable[[Means | None], Any]  # the sampler, handed the means when a screen has them
_UNKNOWN: Any = object()  # ScreenedDraws: rates not computed yet (None means "not screened")


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
        named = (self._named(spec), self._named(gemm), datatype, self._named(folds))
        return self._memoised(
            ("gemm", *named[:2], gemm_index, instance, dataflow, datatype, rows, cols, named[3]),
            lambda means: sample_gemm_faults(spec, gemm, gemm_index, instance, dataflow, datatype, rows, cols, folds,
                                             means),
            (("pe", *named), lambda: _transient_rates(spec, gemm, datatype, folds),
             (spec.seed, STREAM_GEMM, gemm_index, instance), lambda: FaultBatch.empty(gemm_index, instance)),
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
        named = (self._named(spec), self._named(gemm), datatype, self._named(folds))
        return self._memoised(
            ("attempt", *named[:2], gemm_index, instance, attempt, dataflow, datatype, rows, cols, named[3]),
            lambda means: sample_attempt_faults(spec, gemm, gemm_index, instance, attempt, dataflow, datatype, rows,
                                                cols, folds, means),
            (("pe", *named), lambda: _transient_rates(spec, gemm, datatype, folds),
             (spec.seed, STREAM_RETRY, gemm_index, instance, attempt), lambda: FaultBatch.empty(gemm_index, instance)),
        )  # fmt: skip

    def checksum_faults(
        self, spec: FaultSpec, geom: CheckGeometry, datatype: Datatype, gemm_index: int, instance: int, attempt: int
    ) -> ChecksumFaults:
        """checksum_faults.sample_checksum_faults."""
        named = (self._named(spec), self._named(geom), datatype)
        return self._memoised(
            ("checksum", *named, gemm_index, instance, attempt),
            lambda means: sample_checksum_faults(spec, geom, datatype, gemm_index, instance, attempt, means),
            (("words", *named), lambda: _word_rates(spec, geom, datatype),
             (spec.seed, STREAM_CHECKSUM, gemm_index, instance, attempt),
             lambda: ChecksumFaults.empty(gemm_index, instance)),
        )  # fmt: skip

    def empty_gemm_draws(
        self, spec: FaultSpec, gemm: Gemm, gemm_index: int, count: int, datatype: Datatype, folds: FoldTable
    ) -> np.ndarray:
        """Per instance 0..count-1 of the GEMM: whether its `gemm_faults` draw is known to be empty
        without drawing it (ScreenedDraws screens every instance in one kernel call; here none is known)."""
        named = (self._named(spec), self._named(gemm), datatype, self._named(folds))
        keys = [(spec.seed, STREAM_GEMM, gemm_index, i) for i in range(count)]
        return self._screened_empty(("pe", *named), lambda: _transient_rates(spec, gemm, datatype, folds), keys)

    def empty_checksum_draws(
        self, spec: FaultSpec, geom: CheckGeometry, datatype: Datatype, gemm_index: int, count: int, attempt: int
    ) -> np.ndarray:
        """Per instance 0..count-1: whether its `checksum_faults` draw of `attempt` is known to be empty
        without drawing it (as `empty_gemm_draws`)."""
        named = (self._named(spec), self._named(geom), datatype)
        keys = [(spec.seed, STREAM_CHECKSUM, gemm_index, i, attempt) for i in range(count)]
        return self._screened_empty(("words", *named), lambda: _word_rates(spec, geom, datatype), keys)

    def _screened_empty(self, rates_key: tuple, rates: Callable[[], np.ndarray | None], keys: list[tuple]) -> Mask:
        """Per key: whether the draw under it is known empty without drawing (here: none is)."""
        return np.zeros(len(keys), bool)

    def _named(self, part: object) -> object:
        """How a key names a spec, GEMM, fold table or check geometry (here: the object itself)."""
        return part

    def _memoised(self, key: tuple, draw: Draw, screen: Screen) -> Any:
        """The draw (a cache looks `key`, what the draw depends on, up first, and may `screen` it)."""
        return draw(None)


class ScreenedDraws(DirectDraws):
    """DirectDraws that skip empty draws: each key's Poisson counts are first screened (one
    kernels.poisson_screen call) and a key whose counts are all zero gets the sampler's empty result
    without setting up its Generator; nothing is kept but the Poisson means per rates key (a
    verifier's default: its OperandCache's memo keeps the draws for the run)."""

    def __init__(self) -> None:
        self._tokens = ValueTokens()  # key parts: spec, GEMM, fold table, check geometry
        # rates key (Screen) -> (Poisson means in draw order, exp(-mean) of each), or None: not screened
        self._rates: dict[tuple, Means | None] = {}

    def _memoised(self, key: tuple, draw: Draw, screen: Screen) -> Any:
        """The sampler's empty result without drawing when `screen` finds every Poisson count zero,
        else the draw (handed the means and their exp(-mean), which the sampler's kernel reads)."""
        rates_key, rates, words, empty = screen
        means = self._means(rates_key, rates)
        if means is not None and empty_draws(np.array([entropy_words(words)], np.uint64), *means)[0]:
            return empty()
        return draw(means)

    def _screened_empty(self, rates_key: tuple, rates: Callable[[], np.ndarray | None], keys: list[tuple]) -> Mask:
        """Per key: whether its Poisson counts are all zero (one kernels.poisson_screen call for keys
        of one entropy length, as a GEMM's instances are); all False where the draws are not screened."""
        means = self._means(rates_key, rates)
        empty = np.zeros(len(keys), bool)
        if means is None or not keys:
            return empty
        words = [entropy_words(k) for k in keys]
        for n in sorted({len(w) for w in words}):  # (one length unless an instance or attempt needs 2 words)
            at = [i for i, w in enumerate(words) if len(w) == n]
            empty[at] = empty_draws(np.array([words[i] for i in at], np.uint64), *means)
        return empty

    def _means(self, rates_key: tuple, rates: Callable[[], np.ndarray | None]) -> Means | None:
        """The Poisson means under `rates_key` with exp(-mean) of each (computed once), or None: not screened."""
        means = self._rates.get(rates_key, _UNKNOWN)
        if means is _UNKNOWN:
            means = self._rates[rates_key] = _with_exp(rates())
        return means

    def _named(self, part: object) -> int:
        """A small int naming `part`'s value (ValueTokens): fold tables and geometries by their bytes,
        other parts (a spec, a GEMM) by ==."""
        return self._tokens.of(part, _content_of)


class FaultDraws(ScreenedDraws):
    """ScreenedDraws memoised: (draw, spec, GEMM, instance, attempt, array, folds or geometry) -> the draw."""

    def __init__(self) -> None:
        super().__init__()
        self._memo: dict[tuple, Any] = {}

    def __reduce__(self) -> tuple[type[FaultDraws], tuple[()]]:
        return FaultDraws, ()  # a pickled cache travels empty (it is only a memo)

    @property
    def entries(self) -> int:
        """Draws held (no __len__: an empty cache must not read as false)."""
        return len(self._memo)

    def _memoised(self, key: tuple, draw: Draw, screen: Screen) -> Any:
        """The draw under `key` (its spec, GEMM, fold table and geometry named by tokens), drawn or
        screened empty once (ScreenedDraws)."""
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = super()._memoised(key, draw, screen)
        return found


class ValueTokens:
    """Small ints naming values, looked up by identity: a memo key of ints hashes cheaply, where a
    spec or GEMM (pydantic / dataclass) would hash all its fields on every lookup. Equal values get
    equal tokens, each object's value found once (FaultDraws here, verify.operand_cache's memo)."""

    def __init__(self) -> None:
        # id of a part -> (the part, kept alive so its id stays its own; its token)
        self._by_id: dict[int, tuple[object, int]] = {}
        self._by_value: dict[object, int] = {}  # a part's value -> its token

    def of(self, part: object, value: Callable[[object], object] | None = None) -> int:
        """The token of `part`, whose value is `value(part)` (default: the part itself)."""
        known = self._by_id.get(id(part))
        if known is not None and known[0] is part:
            return known[1]
        token = self._by_value.setdefault(part if value is None else value(part), len(self._by_value))
        self._by_id[id(part)] = (part, token)
        return token


def _content_of(part: object) -> object:
    """What a FaultDraws key compares of a part: a fold table's or check geometry's bytes, else the part."""
    if isinstance(part, FoldTable):
        return _content(b"folds", part.temporal, part.table)
    if isinstance(part, CheckGeometry):
        return _content(b"geometry", part.rows, part.cols, part.k, part.block_rows, part.block_cols,
                        part.n_block_rows, part.n_block_cols)  # fmt: skip
    return part


def _plain_transients(spec: FaultSpec) -> bool:
    """A spec whose draws are random transients only, each a fresh Poisson draw (no explicit fault)."""
    return spec.kind is FaultKind.TRANSIENT and spec.ber > 0.0 and not spec.explicit


def _transient_rates(spec: FaultSpec, gemm: Gemm, datatype: Datatype, folds: FoldTable) -> np.ndarray | None:
    """The PE draws' Poisson means, or None where the sampler does not draw them plainly."""
    if not (_plain_transients(spec) and spec.selects(gemm) and pe_windows(spec, datatype)[0]):
        return None
    return transient_rates(spec, datatype, folds)


def _word_rates(spec: FaultSpec, geom: CheckGeometry, datatype: Datatype) -> np.ndarray | None:
    """The checksum words' Poisson means, or None where the sampler does not draw them plainly (no word
    site; the encoders' stream follows the words' when chk_enc is selected)."""
    if not (_plain_transients(spec) and Site.CHK_ENC not in spec.sites and word_sites(spec)):
        return None
    return word_rates(spec, geom, datatype)


def _with_exp(rates: np.ndarray | None) -> Means | None:
    """(means in the order numpy draws them, exp(-mean) by the C library's exp, as numpy's sampler
    computes it), or None when a mean is not screened (>= POISSON_MULT_MAX: numpy draws it another way)."""
    if rates is None:
        return None
    flat = np.ascontiguousarray(rates, np.float64).ravel()
    if flat.size and not float(flat.max()) < POISSON_MULT_MAX:
        return None
    return flat, exp_neg(flat)


def _content(*parts: object) -> bytes:
    """The bytes of a fold table's or check geometry's content (arrays by dtype, shape and data)."""
    return b"|".join(_bytes(p) for p in parts)


def _bytes(part: object) -> bytes:
    if isinstance(part, np.ndarray):
        return repr((part.dtype.str, part.shape)).encode() + np.ascontiguousarray(part).tobytes()
    return repr(part).encode()
