"""Paired accuracy comparisons: a policy's drop against clean inference, with an interval over trials and images.

Every policy sees the same faults (common random numbers) and every trial the same images, so the
evidence for "policy X loses at most Y points" is the matrix of paired differences
D[t, i] = clean_correct[i] - correct[t, i] (1: image i lost in trial t, -1: gained, 0: same).
The drop is 100 mean(D). Trials (fault draws) and images (a sample of the image population) are
crossed random factors, D[t, i] = mu + a_t + b_i + e_ti, so the grand mean has variance
sigma_a^2 / T + sigma_b^2 / I + sigma_e^2 / (T I). With the two-way ANOVA mean squares
(MS_T = I s_r^2, MS_I = T s_c^2, MS_E the residual; s_r^2, s_c^2 the sample variances of the
trial means and image means) its unbiased estimate is s_r^2 / T + s_c^2 / I - MS_E / (T I),
floored at MS_E / (T I) (the residual-only variance, should the main effects estimate below
zero). The interval is Student-t with Satterthwaite's degrees of freedom for the two main
terms (Satterthwaite, Biometrics 1946); with one trial the fault term cannot be estimated and the
interval is the paired t interval over images alone (method "images").

A claim "within Y points of clean" holds at the stated confidence when the interval's upper end
is at most Y; `trials_for_claim` says how many trials make the interval narrow enough, given
these variance estimates, or None when no number of trials can (the image term alone is too wide,
or the drop itself exceeds Y): then more images are needed.

Overheads are totals over the split per trial, so two policies' overheads pair by trial (the same
fault seeds): `paired_reduction` gives 1 - mean(ours) / mean(theirs), the relative overhead saved,
with the delta-method interval of a ratio of paired means (var R ~ (s_a^2 - 2 R s_ab + R^2 s_b^2) /
(n mean(b)^2), e.g. Casella & Berger, Statistical Inference, 2nd ed., section 5.5.4), Student-t
with n - 1 degrees of freedom; it counts the fault draws, not the image sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from simulator.metrics.stats import normal_quantile, t_quantile

MAX_TRIALS = 100_000


@dataclass(frozen=True)
class PairedDrop:
    """The accuracy drop (points) of a policy against clean inference, with its interval."""

    drop_points: float
    lo: float
    hi: float
    trials: int
    images: int
    trial_term: float  # s_r^2 / T, points^2
    image_term: float  # s_c^2 / I, points^2
    residual_term: float  # MS_E / (T I), points^2
    df: float
    confidence: float
    method: str  # "two-way" or "images"

    def holds(self, claim_points: float) -> bool:
        """Is "within `claim_points` of clean" supported (upper end at most the claim)?"""
        return bool(self.hi <= claim_points)

    def to_dict(self) -> dict[str, Any]:
        return {"drop_points": self.drop_points, "lo": self.lo, "hi": self.hi, "trials": self.trials,
                "images": self.images, "df": self.df, "confidence": self.confidence, "method": self.method}  # fmt: skip


def paired_drop(correct: np.ndarray, clean_correct: np.ndarray, confidence: float = 0.95) -> PairedDrop:
    """`correct`: (trials, images) booleans of the faulty runs; `clean_correct`: (images,) of the clean run."""
    ok = np.asarray(correct, bool)
    clean = np.asarray(clean_correct, bool)
    if ok.ndim != 2 or clean.shape != ok.shape[1:]:
        raise ValueError(f"need (trials, images) and (images,), got {ok.shape} and {clean.shape}")
    return crossed_mean_interval(100.0 * (clean[None, :].astype(np.float64) - ok), confidence)


def crossed_mean_interval(d: np.ndarray, confidence: float = 0.95) -> PairedDrop:
    """The mean of a (trials, images) matrix of paired differences with its two-way interval."""
    d = np.asarray(d, np.float64)
    if d.ndim != 2 or d.shape[1] < 2:
        raise ValueError(f"need a (trials, images >= 2) matrix, got shape {d.shape}")
    n_t, n_i = d.shape
    mean = float(d.mean())
    image_means = d.mean(axis=0)
    s_c2 = float(image_means.var(ddof=1))
    if n_t == 1:
        half = t_quantile(0.5 + confidence / 2, n_i - 1) * float(np.sqrt(s_c2 / n_i))
        return PairedDrop(mean, mean - half, mean + half, 1, n_i, 0.0, s_c2 / n_i, 0.0, n_i - 1.0, confidence,
                          "images")  # fmt: skip
    trial_means = d.mean(axis=1)
    s_r2 = float(trial_means.var(ddof=1))
    resid = d - trial_means[:, None] - image_means[None, :] + mean
    ms_e = float(np.sum(resid**2) / ((n_t - 1) * (n_i - 1)))
    v_t, v_i, v_e = s_r2 / n_t, s_c2 / n_i, ms_e / (n_t * n_i)
    var = max(v_t + v_i - v_e, v_e)
    df = _satterthwaite(v_t, n_t - 1, v_i, n_i - 1)
    half = t_quantile(0.5 + confidence / 2, df) * float(np.sqrt(var))
    return PairedDrop(mean, mean - half, mean + half, n_t, n_i, v_t, v_i, v_e, df, confidence, "two-way")


@dataclass(frozen=True)
class PairedReduction:
    """1 - mean(ours) / mean(theirs) over paired trials, in percent, with its interval."""

    reduction_pct: float
    lo: float
    hi: float
    trials: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"reduction_pct": self.reduction_pct, "lo": self.lo, "hi": self.hi, "trials": self.trials,
                "confidence": self.confidence}  # fmt: skip


def paired_reduction(ours: np.ndarray, theirs: np.ndarray, confidence: float = 0.95) -> PairedReduction:
    """The relative saving of `ours` against `theirs` (per-trial totals, same fault seeds per trial)."""
    a = np.asarray(ours, np.float64)
    b = np.asarray(theirs, np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"need two paired samples of >= 2 trials, got shapes {a.shape} and {b.shape}")
    mean_b = float(b.mean())
    if mean_b <= 0:
        raise ValueError("the reference overhead must have a positive mean")
    n = a.size
    ratio = float(a.mean()) / mean_b
    cov = np.cov(a, b, ddof=1)
    var = max(float(cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]), 0.0) / (n * mean_b**2)
    half = t_quantile(0.5 + confidence / 2, n - 1) * float(np.sqrt(var))
    return PairedReduction(100.0 * (1 - ratio), 100.0 * (1 - ratio - half), 100.0 * (1 - ratio + half), n,
                           confidence)  # fmt: skip


def trials_for_claim(pilot: PairedDrop, claim_points: float) -> int | None:
    """The fewest trials whose interval's upper end is at most `claim_points`, if the drop and the
    per-trial variance stay as the pilot estimated them (images unchanged); None if none can."""
    if pilot.method != "two-way":
        return None
    per_trial = pilot.trial_term * pilot.trials  # s_r^2 (it carries sigma_e^2 / I, kept: conservative)
    q = pilot.confidence
    if pilot.drop_points + normal_quantile(0.5 + q / 2) * np.sqrt(pilot.image_term) > claim_points:
        return None  # even infinitely many trials leave the image term too wide
    for n_t in _candidates():
        v_t = per_trial / n_t
        df = _satterthwaite(v_t, n_t - 1, pilot.image_term, pilot.images - 1)
        half = t_quantile(0.5 + q / 2, df) * np.sqrt(v_t + pilot.image_term)
        if pilot.drop_points + half <= claim_points:
            return n_t
    return None


def _candidates():
    n = 2
    while n <= MAX_TRIALS:
        yield n
        n = n + 1 if n < 64 else int(n * 1.25)


def _satterthwaite(v1: float, df1: int, v2: float, df2: int) -> float:
    """Welch-Satterthwaite degrees of freedom of v1 + v2 (v = s^2 / n with df degrees of freedom)."""
    num = (v1 + v2) ** 2
    den = (v1**2 / df1 if df1 > 0 else 0.0) + (v2**2 / df2 if df2 > 0 else 0.0)
    return float(num / den) if den > 0 else float(max(df1, 1) + max(df2, 1))
