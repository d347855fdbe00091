"""Confidence intervals for Monte-Carlo trials and the trial count for a target margin."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from simulator.errors import ConfigError

DEFAULT_CONFIDENCE = 0.95
_BETA_EPS = 1e-15
_BETA_MAX_TERMS = 500


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with a two-sided confidence interval [lo, hi] from `n` observations."""

    estimate: float
    lo: float
    hi: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2.0


def check_confidence(confidence: float) -> float:
    """A two-sided confidence level, which must lie in (0, 1) (ConfigError on argument "confidence")."""
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"must be in (0, 1), got {confidence}", argument="confidence")
    return confidence


def check_trials(trials: int) -> int:
    """A Monte-Carlo trial count, which must be >= 1 (ConfigError on argument "trials")."""
    if trials < 1:
        raise ConfigError(f"must be >= 1, got {trials}", argument="trials")
    return trials


def normal_quantile(p: float) -> float:
    """Standard normal quantile z_p (stdlib NormalDist)."""
    return NormalDist().inv_cdf(p)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (modified Lentz, Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, _BETA_MAX_TERMS + 1):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < _BETA_EPS:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularised incomplete beta function, for 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(x: float, df: float) -> float:
    """CDF of Student's t distribution with `df` degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + x * x))
    return 1.0 - tail if x >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (bisection on t_cdf to ~1e-12; scipy is not a runtime dependency)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def t_interval(
    values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE, support_min: float | None = None
) -> Interval:
    """Mean with the Student-t interval mean +- t_{(1+c)/2, n-1} s / sqrt(n).

    With one value the interval is undefined (lo = hi = nan); with none everything is nan.
    `support_min` (e.g. 0 for counts) truncates the interval to the values the mean can take:
    a true mean >= support_min inside [lo, hi] is also inside [max(lo, support_min), hi], so the
    coverage is unchanged and no interval of a count goes below zero.
    """
    check_confidence(confidence)
    n = len(values)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, math.nan, math.nan, 1)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half = t_quantile((1.0 + confidence) / 2.0, n - 1) * math.sqrt(var / n)
    lo = mean - half if support_min is None else max(support_min, mean - half)
    return Interval(mean, lo, mean + half, n)


def wilson_interval(successes: int, n: int, confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """Proportion successes / n with the Wilson score interval (E. B. Wilson, JASA 1927).

    centre = (p + z^2/2n) / (1 + z^2/n), half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/4n^2).
    """
    check_confidence(confidence)
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return Interval(math.nan, 0.0, 1.0, 0)
    z = normal_quantile((1.0 + confidence) / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, lo, hi, n)


def _wilson_bounds(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score bounds of a proportion p observed over n (possibly effective, non-integer) draws."""
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered_rate_interval(
    events: Sequence[int], totals: Sequence[int], confidence: float = DEFAULT_CONFIDENCE
) -> Interval:
    """Pooled rate sum(events) / sum(totals) over independent trials whose events cluster.

    Faults of one trial are not independent (a given-up tile carries several escapes), so the
    trial is the unit: the ratio estimator R = sum y / sum x has the linearised variance
    v = sum (y_i - R x_i)^2 / (n (n - 1) xbar^2) over the n trials (Cochran, Sampling
    Techniques, 1977, section 6.4). Its design effect d = max(1, v / (R (1 - R) / sum x)) turns
    the pooled count into Kish's effective sample size n_eff = sum x / d, shrunk by (z / t_{n-1})^2
    for the n - 1 degrees of freedom, and the interval is Wilson's at (R, n_eff) (Korn & Graubard,
    Survey Methodology 24(2), 1998). One trial cannot show clustering: plain Wilson (d = 1).
    `Interval.n` is the pooled total (sum x), as for `wilson_interval`.
    """
    check_confidence(confidence)
    if len(events) != len(totals):
        raise ValueError("events and totals need one value per trial")
    if any(not 0 <= y <= x for y, x in zip(events, totals, strict=True)):
        raise ValueError("need 0 <= events <= total in every trial")
    n, total = len(totals), sum(totals)
    if total == 0:
        return Interval(math.nan, 0.0, 1.0, 0)
    rate = sum(events) / total
    z = normal_quantile((1.0 + confidence) / 2.0)
    n_eff = float(total)
    if n >= 2:
        mean_total = total / n
        var_ratio = math.fsum((y - rate * x) ** 2 for y, x in zip(events, totals, strict=True)) / (
            n * (n - 1) * mean_total * mean_total
        )
        var_binomial = rate * (1.0 - rate) / total
        design_effect = max(1.0, var_ratio / var_binomial) if var_binomial > 0 else 1.0
        t = t_quantile((1.0 + confidence) / 2.0, n - 1)
        n_eff = total / design_effect * (z / t) ** 2
    lo, hi = _wilson_bounds(rate, n_eff, z)
    return Interval(rate, 0.0 if rate == 0.0 else lo, 1.0 if rate == 1.0 else hi, total)


def trials_needed(
    margin: float,
    confidence: float = DEFAULT_CONFIDENCE,
    population: float | None = None,
    proportion: float = 0.5,
) -> int:
    """Fault injections needed to estimate a proportion within +-`margin` (Leveugle et al., DATE 2009).

    n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p))), with N the population of possible faults (None:
    infinite, n = t^2 p (1 - p) / e^2), e the margin, t the normal cut-off of the confidence and p
    the expected proportion (0.5, the worst case, when unknown).
    """
    check_confidence(confidence)
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be in (0, 1), got {margin}")
    if not 0.0 < proportion < 1.0:
        raise ValueError(f"proportion must be in (0, 1), got {proportion}")
    t = normal_quantile((1.0 + confidence) / 2.0)
    spread = t * t * proportion * (1.0 - proportion)
    if population is None or math.isinf(population):
        return math.ceil(spread / (margin * margin) - 1e-9)
    if population < 1:
        raise ValueError(f"population must be >= 1, got {population}")
    n = population / (1.0 + margin * margin * (population - 1.0) / spread)
    return min(math.ceil(n - 1e-9), math.ceil(population))
