"""Input checks of the statistics: named errors, the n >= 4 rule, and the DistanceMatrix type.

Invalid input raises a subclass of :class:`StatsInputError` whose message says what is wrong
and what is needed; the maths modules call these checks before any computation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import KDLensError

MIN_SAMPLES = 4


class StatsInputError(KDLensError, ValueError):
    """Input that the statistics cannot be computed on; the message says how to fix it."""


class TooFewSamplesError(StatsInputError):
    """Fewer than four samples: U-centring divides by n - 2 and n - 3."""


class SampleCountMismatchError(StatsInputError):
    """Two sample sets with different row counts (they must describe the same images)."""


class NonFiniteInputError(StatsInputError):
    """NaN or infinite values in the features."""


class DimensionError(StatsInputError):
    """A tensor of the wrong shape (features must be n x D, matrices n x n)."""


@dataclass(frozen=True)
class DistanceMatrix:
    """An n x n pairwise distance matrix, precomputed (e.g. from feature chunks).

    Every statistic below accepts either raw features (n x D) or a ``DistanceMatrix``.
    """

    values: torch.Tensor

    @property
    def n(self) -> int:
        return int(self.values.shape[0])


def default_eps(dtype: torch.dtype) -> float:
    """The eps added under the square root: keeps gradients finite at zero distance."""
    return 1e-18 if dtype == torch.float64 else 1e-12


def as_tensor(x, name: str, dtype: torch.dtype | None) -> torch.Tensor:
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        array = np.asarray(x)
        if array.dtype.kind not in "biufc":
            raise DimensionError(
                f"{name} must hold numbers, got numpy dtype {array.dtype} (strings or Python objects); "
                "convert it with np.asarray(x, dtype=float) first."
            )
        x = torch.as_tensor(array)
    if not isinstance(x, torch.Tensor):
        raise DimensionError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}.")
    if x.is_complex():
        raise DimensionError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    return x.to(dtype or torch.float64)


def check_finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteInputError(
            f"{name} holds {bad} NaN or infinite value(s); the statistics need finite numbers. "
            f"Check where {name} comes from (a diverged model, images or an embeddings file with NaN)."
        )


def to_safe_scale(x: torch.Tensor) -> torch.Tensor:
    """``x`` times the power of two that brings its largest magnitude near 1, when that magnitude
    is so small or large that squares would underflow or overflow (``x * 1e-300``); else ``x``.

    Every statistic here is invariant to scaling a feature set (or a distance matrix) by a
    constant, and a power of two scales exactly, so this changes no result, only what is
    representable.
    """
    top = x.detach().abs().max()
    info = torch.finfo(x.dtype)
    if not bool(torch.isfinite(top)) or bool(top == 0) or info.tiny**0.25 <= float(top) <= info.max**0.25:
        return x
    _, exponent = torch.frexp(top)
    return torch.ldexp(x, -exponent)


def check_n(n: int, name: str) -> None:
    if n < MIN_SAMPLES:
        raise TooFewSamplesError(
            f"{name} has {n} sample(s); distance correlation needs at least {MIN_SAMPLES} "
            "(U-centring divides by n - 2 and n - 3). Use a larger batch or sample set."
        )


def as_features(x, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Validate a feature set: n x D (a 1-D vector counts as n x 1)."""
    x = as_tensor(x, name, dtype)
    if x.ndim == 1:
        x = x.unsqueeze(1)
    if x.ndim != 2:
        raise DimensionError(
            f"{name} has shape {tuple(x.shape)}; features must be 2-D (n samples x D features). "
            "Flatten each sample first, e.g. x.reshape(len(x), -1)."
        )
    check_n(x.shape[0], name)
    if x.shape[1] == 0:
        raise DimensionError(f"{name} has no feature columns; each sample needs at least one.")
    return x  # finiteness is checked on the Gram diagonal in squared_distances (no extra pass)


def as_square(a, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    a = as_tensor(a, name, dtype)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise DimensionError(
            f"{name} has shape {tuple(a.shape)}; it must be a square n x n matrix "
            "(a distance matrix or a U-centred one)."
        )
    check_n(a.shape[0], name)
    check_finite(a, name)
    return a


def same_n(*pairs: tuple[str, int]) -> None:
    counts = {n for _, n in pairs}
    if len(counts) > 1:
        listing = ", ".join(f"{name}: {n}" for name, n in pairs)
        raise SampleCountMismatchError(
            f"The sample sets have different numbers of rows ({listing}); every set must "
            "describe the same images in the same order."
        )
