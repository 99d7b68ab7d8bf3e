"""Pairwise Euclidean distances in Gram form (SPEC §2.1), whole or accumulated in column blocks.

An n x n matrix is built from X X^T, never an n x n x D broadcast; wide feature sets are fed in
column blocks through :class:`SquaredDistanceAccumulator`, so n x D never sits in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from engine.stats.inputs import (
    DimensionError,
    DistanceMatrix,
    NonFiniteInputError,
    as_features,
    as_square,
    as_tensor,
    check_finite,
    check_n,
    default_eps,
    same_n,
    to_safe_scale,
)


def squared_distances(x: torch.Tensor, name: str) -> torch.Tensor:
    """||x_i - x_j||^2 for the rows of one feature block, in Gram form with a precision guard.

    Distances only need the Gram matrix of the column-centred rows (smaller norms, less
    cancellation). When the common offset is no larger than the spread around it, centring the
    n x n Gram matrix (G - row means - column means + grand mean) gives it without copying the
    n x D block; when the offset dominates (as after a ReLU), the block itself is centred first.
    Offset and spread come from the rows' norms (one pass over the block), so either way only
    one n x n Gram product is formed. Pairs whose Gram value is small next to their norms --
    near-duplicate rows, where sq_i + sq_j - 2 g_ij cancels catastrophically -- are recomputed
    directly from their difference, so duplicates get exactly 0 and close pairs keep their digits.
    """
    mean = x.mean(dim=0)
    offset = mean @ mean
    spread = torch.linalg.vector_norm(x.detach(), dim=1).square().mean() - offset.detach()
    if bool(torch.isfinite(spread)) and bool(offset.detach() <= spread):
        gram = x @ x.T
        row = gram.mean(dim=1)  # x_i . mean
        gram = gram - row.unsqueeze(0) - row.unsqueeze(1) + offset
    else:
        centred = x - mean
        gram = centred @ centred.T
    sq = torch.diagonal(gram)
    if not bool(torch.isfinite(sq).all()):  # NaN/inf anywhere in x reaches the diagonal
        check_finite(x, name)
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


def distances_from_squared(d2: torch.Tensor, eps: float | None) -> torch.Tensor:
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


def pairwise_distances(x, eps: float | None = None, *, dtype: torch.dtype | None = None, name: str = "x"):
    """Euclidean distances between the rows of ``x`` (n x D), in Gram form (SPEC §2.1);
    ``name`` is what an error calls ``x``."""
    x = as_features(x, name, dtype)
    return distances_from_squared(squared_distances(x, name), eps)


class SquaredDistanceAccumulator:
    """Builds the n x n squared-distance matrix of n samples from column blocks of features.

    Feed blocks of shape (n, d_k) with :meth:`add` (any float dtype; a block is promoted to the
    accumulator's dtype only while it is added), then call :meth:`distances`. Squared distances
    add up over disjoint column blocks, so the result equals ``pairwise_distances`` of the
    concatenated blocks while only one block (plus n x n) is ever in memory.
    """

    def __init__(self, n: int, *, dtype: torch.dtype = torch.float64, device=None, name="x"):
        check_n(n, name)
        self.n = n
        self.name = name
        self.columns = 0
        self.squared = torch.zeros((n, n), dtype=dtype, device=device)

    def add(self, block) -> None:
        block = as_tensor(block, f"{self.name} block", self.squared.dtype)
        if block.ndim == 1:
            block = block.unsqueeze(1)
        if block.ndim != 2:
            block = block.reshape(block.shape[0], -1)
        if block.shape[0] != self.n:
            same_n((f"{self.name} accumulator", self.n), (f"{self.name} block", block.shape[0]))
        self.squared += squared_distances(block.to(self.squared.device), f"{self.name} block")
        self.columns += block.shape[1]

    def distances(self, eps: float | None = None) -> DistanceMatrix:
        if self.columns == 0:
            raise DimensionError(f"No feature columns were added to the {self.name} accumulator.")
        return DistanceMatrix(distances_from_squared(self.squared, eps))


def distances_from_chunks(
    blocks: Iterable, n: int, *, dtype: torch.dtype = torch.float64, device=None, eps=None
) -> DistanceMatrix:
    """Distances of n samples whose features arrive as an iterable of column blocks."""
    acc = SquaredDistanceAccumulator(n, dtype=dtype, device=device)
    for block in blocks:
        acc.add(block)
    return acc.distances(eps)


def as_distances(x, name: str) -> torch.Tensor:
    """The distance matrix of features or a DistanceMatrix ``x``, at a safe scale (a statistic is
    scale-invariant, so features or distances of magnitude 1e-300 give the same result as 1)."""
    if isinstance(x, DistanceMatrix):
        return to_safe_scale(as_square(x.values, name))
    return pairwise_distances(to_safe_scale(as_features(x, name)), name=name)
