"""Intervals and verdicts (SPEC §10): every comparison KD Lens reports carries a 95 % interval, and
a claim is stated only when the interval excludes zero.

* Over images (paired): the percentile bootstrap of the mean (paired) difference, 10,000
  resamples of the images, seeded; 2.5 % and 97.5 % quantiles. A statistic that is not a mean of
  per-image values (an ECE) gets the same bootstrap by resampling whole images
  (:func:`paired_bootstrap`).
* Over seeds: mean ± t_{k-1, 0.975} · sd / sqrt(k); with k < 3 no interval is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "INCONCLUSIVE",
    "NOT_SUPPORTED",
    "SUPPORTED",
    "Interval",
    "bootstrap_mean",
    "paired_bootstrap",
    "paired_difference",
    "t_interval",
    "verdict",
]

RESAMPLES = 10_000
BLOCK = 1000  # resamples drawn at a time: keeps memory small
SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"


@dataclass(frozen=True)
class Interval:
    """A mean with its 95 % interval over ``n`` values (NaN bounds: no interval possible)."""

    mean: float
    low: float
    high: float
    n: int
    method: str
    note: str = ""

    def excludes_zero(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high) and (self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, float | int | str | None]:
        def plain(value: float) -> float | None:
            return round(float(value), 6) if math.isfinite(value) else None

        return {
            "mean": plain(self.mean),
            "ci_low": plain(self.low),
            "ci_high": plain(self.high),
            "n": self.n,
            "method": self.method,
            **({"note": self.note} if self.note else {}),
        }


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def bootstrap_mean(
    values: Sequence[float] | np.ndarray, seed: int = 0, resamples: int = RESAMPLES
) -> Interval:
    """Percentile bootstrap of the mean: ``resamples`` draws of the values with replacement.

    Undefined values (NaN, e.g. an all-zero map's localisation) are left out and ``n`` counts
    what was used. Fewer than 2 values give no interval.
    """
    data = _finite(values)
    n = int(data.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "bootstrap", "no defined values")
    mean = float(data.mean())
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, "bootstrap", "one value: no interval")
    means = _resampled(lambda indices: data[indices].mean(axis=1), n, seed, resamples)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(mean, float(low), float(high), n, "bootstrap")


def paired_bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, seed: int = 0, resamples: int = RESAMPLES
) -> Interval:
    """Percentile bootstrap of a statistic of ``n`` images that is not a mean of per-image values
    (e.g. ECE(base) − ECE(student)): ``resamples`` draws of the images with replacement, the
    same draws for everything the statistic pairs.

    ``statistic(indices)`` maps a block of resamples, image indices of shape (r, n), to their r
    values; the estimate is its value on the images as they are (``arange(n)``). Draws as
    :func:`bootstrap_mean` (with a mean as the statistic both give the same interval). Fewer than
    2 images give no interval; NaN values of the statistic are left out of the quantiles.
    """
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "bootstrap", "no images")
    estimate = float(np.asarray(statistic(np.arange(n)[None, :]), dtype=np.float64)[0])
    if n < 2:
        return Interval(estimate, math.nan, math.nan, n, "bootstrap", "one image: no interval")
    values = _resampled(statistic, n, seed, resamples)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(estimate, math.nan, math.nan, n, "bootstrap", "undefined on every resample")
    low, high = np.percentile(values, [2.5, 97.5])
    return Interval(estimate, float(low), float(high), n, "bootstrap")


def _resampled(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, seed: int, resamples: int
) -> np.ndarray:
    """The statistic on ``resamples`` draws of ``n`` indices with replacement, in blocks of draws
    (one seeded generator, so every caller with the same seed and n draws the same images)."""
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for start in range(0, resamples, BLOCK):
        stop = min(resamples, start + BLOCK)
        values[start:stop] = statistic(rng.integers(0, n, size=(stop - start, n)))
    return values


def paired_difference(
    first: Sequence[float] | np.ndarray, second: Sequence[float] | np.ndarray, seed: int = 0
) -> Interval:
    """Bootstrap interval of mean(first - second) over the pairs where both are defined."""
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same shape, got {a.shape} and {b.shape}")
    return bootstrap_mean(a - b, seed=seed)


def t_interval(values: Sequence[float] | np.ndarray) -> Interval:
    """mean ± t_{k-1, 0.975} sd / sqrt(k) over seeds; k < 3 gives the mean and no interval."""
    data = _finite(values)
    k = int(data.size)
    if k == 0:
        return Interval(math.nan, math.nan, math.nan, 0, "t", "no defined values")
    mean = float(data.mean())
    if k < 3:
        return Interval(mean, math.nan, math.nan, k, "t", f"{k} seed(s): an interval needs at least 3")
    from scipy import stats as scipy_stats  # here: the window reads intervals without SciPy's import time

    half = float(scipy_stats.t.ppf(0.975, k - 1) * data.std(ddof=1) / math.sqrt(k))
    return Interval(mean, mean - half, mean + half, k, "t")


def verdict(interval: Interval) -> str:
    """For the claim "the difference is positive": supported when the whole interval lies above
    zero, not supported when it lies below, inconclusive when it holds zero (or is missing)."""
    if not interval.excludes_zero():
        return INCONCLUSIVE
    return SUPPORTED if interval.low > 0 else NOT_SUPPORTED
