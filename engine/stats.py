"""Distance-correlation statistics: the maths UniCAM, FSS and RS are made of (SPEC §2).

Rows are samples (images), columns are flattened features. Everything is torch, differentiable,
float64 by default, and uses the Gram form of pairwise distances (an n x n matrix built from
X X^T), never an n x n x D broadcast. Wide feature sets can be fed in column blocks through
:class:`SquaredDistanceAccumulator`, so that n x D never has to sit in memory at once.

Conventions (Szekely & Rizzo 2014, "Partial distance correlation with methods for dissimilarities"):

* ``u_centered(a)`` is the U-centred distance matrix (needs n >= 4), with a zero diagonal;
* ``u_inner(A, B) = sum_ij A_ij B_ij / (n (n - 3))``;
* ``dcor_u`` is R*, the bias-corrected estimate of the *squared* distance correlation. It is
  signed and can be slightly negative at small n.

Invalid input raises a subclass of :class:`StatsInputError` whose message says what is wrong
and what is needed. Degenerate but valid input (a constant feature set, so a zero denominator)
gives NaN, which callers show as "n/a".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from engine.errors import KDLensError

__all__ = [
    "DimensionError",
    "DistanceMatrix",
    "SquaredDistanceAccumulator",
    "NonFiniteInputError",
    "SampleCountMismatchError",
    "StatsInputError",
    "TooFewSamplesError",
    "complementary_projection",
    "dcor_u",
    "dcor_v",
    "default_eps",
    "distances_from_chunks",
    "pairwise_distances",
    "partial_dcor",
    "semi_partial_dcor",
    "u_centered",
    "u_correlation",
    "u_inner",
]

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


def _as_tensor(x, name: str, dtype: torch.dtype | None) -> torch.Tensor:
    if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)):
        x = torch.as_tensor(np.asarray(x))
    if not isinstance(x, torch.Tensor):
        raise DimensionError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}.")
    if x.is_complex():
        raise DimensionError(f"{name} must hold real numbers, got dtype {x.dtype}.")
    return x.to(dtype or torch.float64)


def _check_finite(x: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise NonFiniteInputError(
            f"{name} holds {bad} NaN or infinite value(s); the statistics need finite numbers. "
            "Check the model's outputs (a diverged model) or the input images."
        )


def _check_n(n: int, name: str) -> None:
    if n < MIN_SAMPLES:
        raise TooFewSamplesError(
            f"{name} has {n} sample(s); distance correlation needs at least {MIN_SAMPLES} "
            "(U-centring divides by n - 2 and n - 3). Use a larger batch or sample set."
        )


def _as_features(x, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Validate a feature set: n x D (a 1-D vector counts as n x 1)."""
    x = _as_tensor(x, name, dtype)
    if x.ndim == 1:
        x = x.unsqueeze(1)
    if x.ndim != 2:
        raise DimensionError(
            f"{name} has shape {tuple(x.shape)}; features must be 2-D (n samples x D features). "
            "Flatten each sample first, e.g. x.reshape(len(x), -1)."
        )
    _check_n(x.shape[0], name)
    if x.shape[1] == 0:
        raise DimensionError(f"{name} has no feature columns; each sample needs at least one.")
    return x  # finiteness is checked on the Gram diagonal in _squared_distances (no extra pass)


def _as_square(a, name: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    a = _as_tensor(a, name, dtype)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise DimensionError(
            f"{name} has shape {tuple(a.shape)}; it must be a square n x n matrix "
            "(a distance matrix or a U-centred one)."
        )
    _check_n(a.shape[0], name)
    _check_finite(a, name)
    return a


def _same_n(*pairs: tuple[str, int]) -> None:
    counts = {n for _, n in pairs}
    if len(counts) > 1:
        listing = ", ".join(f"{name}: {n}" for name, n in pairs)
        raise SampleCountMismatchError(
            f"The sample sets have different numbers of rows ({listing}); every set must "
            "describe the same images in the same order."
        )


def _squared_distances(x: torch.Tensor, name: str) -> torch.Tensor:
    """||x_i - x_j||^2 for the rows of one feature block, in Gram form with a precision guard.

    Distances only need the Gram matrix of the column-centred rows (smaller norms, less
    cancellation). When the common offset is no larger than the spread around it, centring the
    n x n Gram matrix (G - row means - column means + grand mean) gives it without copying the
    n x D block; when the offset dominates, the block itself is centred first. Pairs whose Gram
    value is small next to their norms -- near-duplicate rows, where sq_i + sq_j - 2 g_ij cancels
    catastrophically -- are recomputed directly from their difference, so duplicates get
    exactly 0 and close pairs keep their digits.
    """
    mean = x.mean(dim=0)
    gram = x @ x.T
    offset = mean @ mean
    spread = torch.diagonal(gram).mean() - offset
    if bool(torch.isfinite(spread)) and bool(offset.detach() <= spread.detach()):
        row = gram.mean(dim=1)  # x_i . mean
        gram = gram - row.unsqueeze(0) - row.unsqueeze(1) + offset
    else:
        centred = x - mean
        gram = centred @ centred.T
    sq = torch.diagonal(gram)
    if not bool(torch.isfinite(sq).all()):  # NaN/inf anywhere in x reaches the diagonal
        _check_finite(x, name)
        raise NonFiniteInputError(
            f"{name} holds values too large to square in {x.dtype}; rescale the features."
        )
    norms = sq.unsqueeze(0) + sq.unsqueeze(1)
    d2 = (norms - 2.0 * gram).clamp_min(0.0)
    d2 = 0.5 * (d2 + d2.T)
    rel = max(1e-6, 1024 * torch.finfo(x.dtype).eps)
    close = (d2.detach() < rel * norms.detach()) & (norms.detach() > 0)
    close = torch.triu(close, diagonal=1)
    pairs = torch.nonzero(close)
    if len(pairs) == 0:
        return d2
    per_batch = max(1, (1 << 22) // max(1, x.shape[1]))
    exact = torch.cat(
        [(x[batch[:, 0]] - x[batch[:, 1]]).square().sum(dim=1) for batch in torch.split(pairs, per_batch)]
    )
    fixed = d2.index_put((pairs[:, 0], pairs[:, 1]), exact)
    return fixed.index_put((pairs[:, 1], pairs[:, 0]), exact)


def _distances_from_squared(d2: torch.Tensor, eps: float | None) -> torch.Tensor:
    """a_ij = sqrt(d2_ij + eps) - sqrt(eps), with an exact zero diagonal.

    eps keeps the gradient finite at zero distance (SPEC §2.1). Subtracting sqrt(eps) from every
    off-diagonal entry changes no U-centred quantity (U-centring removes a constant) and makes
    duplicate rows exactly 0 apart, so V-statistics and constant sets stay exact too.
    """
    eps = default_eps(d2.dtype) if eps is None else eps
    d = torch.sqrt(d2 + eps) - eps**0.5
    # The true a_ii is 0; masking (rather than subtracting) keeps its gradient exactly 0.
    off_diagonal = ~torch.eye(d.shape[0], dtype=torch.bool, device=d.device)
    return d * off_diagonal


def pairwise_distances(x, eps: float | None = None, *, dtype: torch.dtype | None = None):
    """Euclidean distances between the rows of ``x`` (n x D), in Gram form (SPEC §2.1)."""
    x = _as_features(x, "x", dtype)
    return _distances_from_squared(_squared_distances(x, "x"), eps)


class SquaredDistanceAccumulator:
    """Builds the n x n squared-distance matrix of n samples from column blocks of features.

    Feed blocks of shape (n, d_k) with :meth:`add` (any float dtype; a block is promoted to the
    accumulator's dtype only while it is added), then call :meth:`distances`. Squared distances
    add up over disjoint column blocks, so the result equals ``pairwise_distances`` of the
    concatenated blocks while only one block (plus n x n) is ever in memory.
    """

    def __init__(self, n: int, *, dtype: torch.dtype = torch.float64, device=None, name="x"):
        _check_n(n, name)
        self.n = n
        self.name = name
        self.columns = 0
        self.squared = torch.zeros((n, n), dtype=dtype, device=device)

    def add(self, block) -> None:
        block = _as_tensor(block, f"{self.name} block", self.squared.dtype)
        if block.ndim == 1:
            block = block.unsqueeze(1)
        if block.ndim != 2:
            block = block.reshape(block.shape[0], -1)
        if block.shape[0] != self.n:
            _same_n((f"{self.name} accumulator", self.n), (f"{self.name} block", block.shape[0]))
        self.squared += _squared_distances(block.to(self.squared.device), f"{self.name} block")
        self.columns += block.shape[1]

    def distances(self, eps: float | None = None) -> DistanceMatrix:
        if self.columns == 0:
            raise DimensionError(f"No feature columns were added to the {self.name} accumulator.")
        return DistanceMatrix(_distances_from_squared(self.squared, eps))


def distances_from_chunks(
    blocks: Iterable, n: int, *, dtype: torch.dtype = torch.float64, device=None, eps=None
) -> DistanceMatrix:
    """Distances of n samples whose features arrive as an iterable of column blocks."""
    acc = SquaredDistanceAccumulator(n, dtype=dtype, device=device)
    for block in blocks:
        acc.add(block)
    return acc.distances(eps)


def _distances(x, name: str) -> torch.Tensor:
    if isinstance(x, DistanceMatrix):
        return _as_square(x.values, name)
    return pairwise_distances(x)


def u_centered(a) -> torch.Tensor:
    """U-centre a distance matrix (SPEC §2.2). Needs n >= 4; the diagonal is set to 0."""
    a = _as_square(a, "a")
    n = a.shape[0]
    row = a.sum(dim=1, keepdim=True)
    col = a.sum(dim=0, keepdim=True)
    total = a.sum()
    centred = a - row / (n - 2) - col / (n - 2) + total / ((n - 1) * (n - 2))
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=a.device)
    centred = centred * off_diagonal
    return _zero_if_noise(centred, a)


def _zero_if_noise(result: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """Round a result that is pure rounding noise of ``source`` to an exact zero matrix.

    U-centring a constant matrix, or removing a matrix from itself, leaves values of the order
    of n * machine-eps relative to the input instead of 0. Making them exactly 0 lets the
    callers detect "undefined" reliably (a zero denominator) instead of dividing noise by noise.
    """
    n = source.shape[0]
    tol = 8.0 * n * torch.finfo(source.dtype).eps * torch.linalg.matrix_norm(source.detach())
    if bool(torch.linalg.matrix_norm(result.detach()) <= tol):
        return result * 0.0
    return result


def u_inner(a, b) -> torch.Tensor:
    """(A.B) = sum_ij A_ij B_ij / (n (n - 3)) for two U-centred n x n matrices."""
    a = _as_square(a, "a")
    b = _as_square(b, "b")
    _same_n(("a", a.shape[0]), ("b", b.shape[0]))
    n = a.shape[0]
    return (a * b).sum() / (n * (n - 3))


def u_correlation(a, b) -> torch.Tensor:
    """R* of two already U-centred n x n matrices: (A.B) / sqrt((A.A)(B.B)); NaN if undefined."""
    a = _as_square(a, "a")
    b = _as_square(b, "b")
    _same_n(("a", a.shape[0]), ("b", b.shape[0]))
    return _correlation(a, b)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A.B) / sqrt((A.A)(B.B)) for U-centred matrices; NaN when a factor is zero."""
    n = a.shape[0]
    ab = (a * b).sum() / (n * (n - 3))
    aa = (a * a).sum() / (n * (n - 3))
    bb = (b * b).sum() / (n * (n - 3))
    denom_sq = aa * bb
    if bool(denom_sq <= 0):
        return torch.full((), float("nan"), dtype=a.dtype, device=a.device)
    return ab / torch.sqrt(denom_sq)


def _u_centred_pair(x, y, names=("x", "y")):
    a = _distances(x, names[0])
    b = _distances(y, names[1])
    _same_n((names[0], a.shape[0]), (names[1], b.shape[0]))
    return u_centered(a), u_centered(b)


def dcor_u(x, y) -> torch.Tensor:
    """R*(X, Y): bias-corrected squared distance correlation (signed; NaN if undefined)."""
    a, b = _u_centred_pair(x, y)
    return _correlation(a, b)


def complementary_projection(a, b) -> torch.Tensor:
    """P_B(A) = A - ((A.B) / (B.B)) B: U-centred A with B's information removed.

    If B is zero (a constant feature set carries no information) nothing is removed and A is
    returned unchanged, as in the ``dcor`` package.
    """
    a = _as_square(a, "a")
    b = _as_square(b, "b")
    _same_n(("a", a.shape[0]), ("b", b.shape[0]))
    bb = (b * b).sum()
    if bool(bb == 0):
        return a
    projected = a - ((a * b).sum() / bb) * b
    return _zero_if_noise(projected, a)


def semi_partial_dcor(x, y, z) -> torch.Tensor:
    """sR*(X, Y; Z) = R*(P_{U(Y)}(U(X)), U(Z)) — what the UniCAM authors' code computes.

    Equals (r_xz - r_xy r_yz) / sqrt(1 - r_xy^2). NaN when X carries nothing beyond Y (for
    example X = Y) or Z is constant.
    """
    a = _distances(x, "x")
    b = _distances(y, "y")
    c = _distances(z, "z")
    _same_n(("x", a.shape[0]), ("y", b.shape[0]), ("z", c.shape[0]))
    ua, ub, uc = u_centered(a), u_centered(b), u_centered(c)
    return _correlation(complementary_projection(ua, ub), uc)


def partial_dcor(x, z, y) -> torch.Tensor:
    """pR*(X, Z; Y): partial distance correlation of X and Z given Y (as ``dcor`` defines it).

    Equals (r_xz - r_xy r_yz) / sqrt((1 - r_xy^2)(1 - r_yz^2)); NaN when undefined.
    """
    a = _distances(x, "x")
    c = _distances(z, "z")
    b = _distances(y, "y")
    _same_n(("x", a.shape[0]), ("z", c.shape[0]), ("y", b.shape[0]))
    ua, uc, ub = u_centered(a), u_centered(c), u_centered(b)
    return _correlation(complementary_projection(ua, ub), complementary_projection(uc, ub))


def _double_centred(a: torch.Tensor) -> torch.Tensor:
    return a - a.mean(dim=0, keepdim=True) - a.mean(dim=1, keepdim=True) + a.mean()


def dcor_v(x, y, row_normalize: bool = False) -> torch.Tensor:
    """V-statistic squared distance correlation (double centring with plain means).

    With ``row_normalize`` every sample's features are L2-normalised first, as one version of
    the authors' FSS code does. NaN when a feature set is constant.
    """
    if isinstance(x, DistanceMatrix) or isinstance(y, DistanceMatrix):
        if row_normalize:
            raise StatsInputError("row_normalize needs raw features, not a precomputed DistanceMatrix.")
        a, b = _distances(x, "x"), _distances(y, "y")
    else:
        xf, yf = _as_features(x, "x"), _as_features(y, "y")
        if row_normalize:
            xf = torch.nn.functional.normalize(xf, dim=1)
            yf = torch.nn.functional.normalize(yf, dim=1)
        a, b = pairwise_distances(xf), pairwise_distances(yf)
    _same_n(("x", a.shape[0]), ("y", b.shape[0]))
    ca, cb = _zero_if_noise(_double_centred(a), a), _zero_if_noise(_double_centred(b), b)
    ab, aa, bb = (ca * cb).mean(), (ca * ca).mean(), (cb * cb).mean()
    if bool(aa * bb <= 0):
        return torch.full((), float("nan"), dtype=a.dtype, device=a.device)
    return ab / torch.sqrt(aa * bb)
