"""Tolerable bit error rate with an interval: a monotone fit of accuracy drop vs BER and where it crosses the limit.

Per policy, the mean accuracy drop at each swept BER (clean - faulty, points) is fitted by the
non-decreasing function of BER closest in least squares (isotonic regression by the pool-adjacent-
violators algorithm, Barlow et al. 1972): more upsets never help on average, and the fit removes
the noise that would otherwise make "the largest BER below the limit" jump between grid points.
The tolerable BER is where the fitted drop crosses `limit`: between the last grid BER at or below
the limit and the next one, interpolated linearly in log10(BER); below the smallest swept BER
("below") or at least the largest ("above") when the fit never / always stays under the limit.

Interval: a two-way (pigeonhole) bootstrap (Owen, Annals of Applied Statistics 2007): images and
trials are resampled with replacement, the same draw for every policy and BER (each trial's fault
seed is shared by all of them), the fit and crossing recomputed; the percentile interval of
log10 BER, and of the ratio of two policies' tolerable BERs on the same resamples. Censored
resamples (below / above the grid) count at the grid's ends, so an interval that touches an end
says the grid is too narrow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BELOW, INSIDE, ABOVE = "below", "inside", "above"
_EPS_POINTS = 1e-9  # drops are means of 0/1 counts: round-off must not push "at the limit" over it


def isotonic_nondecreasing(y: Sequence[float], weights: Sequence[float] | None = None) -> np.ndarray:
    """The non-decreasing sequence closest to `y` in weighted least squares (pool adjacent violators)."""
    vals = np.asarray(y, np.float64)
    w = np.ones_like(vals) if weights is None else np.asarray(weights, np.float64)
    blocks: list[list[float]] = []  # [weighted mean, weight, length]
    for v, wi in zip(vals.tolist(), w.tolist(), strict=True):
        blocks.append([v, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, _, n in blocks]) if blocks else vals


def crossing_ber(bers: Sequence[float], fitted_drop: Sequence[float] | np.ndarray, limit: float) -> tuple[float, str]:
    """Where a non-decreasing drop crosses `limit` (log-linear between grid BERs), and how."""
    b = np.log10(np.asarray(bers, np.float64))
    d = np.asarray(fitted_drop, np.float64)
    over = np.flatnonzero(d > limit + _EPS_POINTS)
    if over.size == 0:
        return float(10 ** b[-1]), ABOVE
    j = int(over[0])
    if j == 0:
        return float(10 ** b[0]), BELOW
    frac = (limit - d[j - 1]) / (d[j] - d[j - 1])
    return float(10 ** (b[j - 1] + frac * (b[j] - b[j - 1]))), INSIDE


@dataclass(frozen=True)
class TolerableBer:
    """A policy's tolerable BER from the monotone fit, with its bootstrap interval."""

    policy: str
    ber: float
    status: str  # inside the grid, below its smallest BER, above its largest
    lo: float
    hi: float
    fitted_drop_points: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"ber": self.ber, "status": self.status, "lo": self.lo, "hi": self.hi,
                "fitted_drop_points": list(self.fitted_drop_points)}  # fmt: skip


@dataclass(frozen=True)
class Ratio:
    """The ratio of two policies' tolerable BERs (numerator / denominator), with its interval."""

    numerator: str
    denominator: str
    value: float
    lo: float
    hi: float
    censored_fraction: float  # resamples where either BER fell outside the grid

    def to_dict(self) -> dict[str, Any]:
        return {"numerator": self.numerator, "denominator": self.denominator, "value": self.value, "lo": self.lo,
                "hi": self.hi, "censored_fraction": self.censored_fraction}  # fmt: skip


@dataclass(frozen=True)
class CorrectnessGrid:
    """Per-image correctness of a study: clean (images,), and per (policy, BER) a (trials, images) array."""

    bers: tuple[float, ...]
    clean: np.ndarray
    runs: Mapping[tuple[str, float], np.ndarray]

    def drops(self, policy: str, image_w: np.ndarray, trial_w: np.ndarray) -> np.ndarray:
        """Accuracy drop (points) per resample (rows of the weight matrices) and BER: (resamples, BERs)."""
        clean = image_w @ self.clean.astype(np.float64) / image_w.sum(axis=1)
        out = np.empty((image_w.shape[0], len(self.bers)))
        norm = image_w.sum(axis=1) * trial_w.sum(axis=1)
        for j, ber in enumerate(self.bers):
            c = self.runs[(policy, ber)].astype(np.float64)
            out[:, j] = 100.0 * (clean - np.einsum("rt,ti,ri->r", trial_w, c, image_w) / norm)
        return out


def tolerable_bers(
    grid: CorrectnessGrid,
    policies: Sequence[str],
    limit_points: float,
    *,
    ratio: tuple[str, str] | None = None,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[dict[str, TolerableBer], Ratio | None]:
    """Every policy's tolerable BER with its interval, and optionally ratio[0] / ratio[1] (same resamples)."""
    n_t, n_i = grid.runs[(policies[0], grid.bers[0])].shape
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    ones_i, ones_t = np.ones((1, n_i)), np.ones((1, n_t))
    image_w = np.vstack([ones_i, rng.multinomial(n_i, np.full(n_i, 1 / n_i), size=resamples)])
    trial_w = np.vstack([ones_t, rng.multinomial(n_t, np.full(n_t, 1 / n_t), size=resamples)])
    if n_t == 1:
        trial_w[:] = 1.0  # one trial: only images can be resampled
    q = ((1 - confidence) / 2, (1 + confidence) / 2)
    found: dict[str, TolerableBer] = {}
    logs: dict[str, np.ndarray] = {}  # log10 crossing per resample (row 0: the data), clamped to the grid
    inside: dict[str, np.ndarray] = {}
    for policy in policies:
        fits = [isotonic_nondecreasing(row) for row in grid.drops(policy, image_w, trial_w)]
        crossings = [crossing_ber(grid.bers, f, limit_points) for f in fits]
        logs[policy] = np.log10([c[0] for c in crossings])
        inside[policy] = np.array([c[1] == INSIDE for c in crossings])
        lo, hi = np.quantile(logs[policy][1:], q, method="inverted_cdf")
        ber, status = crossings[0]
        found[policy] = TolerableBer(policy, ber, status, float(10**lo), float(10**hi), tuple(fits[0].tolist()))
    result = None
    if ratio is not None:
        diffs = logs[ratio[0]] - logs[ratio[1]]
        censored = 1.0 - float(np.mean(inside[ratio[0]][1:] & inside[ratio[1]][1:]))
        lo, hi = np.quantile(diffs[1:], q, method="inverted_cdf")
        result = Ratio(ratio[0], ratio[1], float(10 ** diffs[0]), float(10**lo), float(10**hi), censored)
    return found, result
