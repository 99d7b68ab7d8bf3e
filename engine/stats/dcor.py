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

import torch

from engine.stats.distances import as_distances, pairwise_distances
from engine.stats.inputs import DistanceMatrix, StatsInputError, as_features, as_square, same_n


def u_centered(a, *, check: bool = True) -> torch.Tensor:
    """U-centre a distance matrix (SPEC §2.2). Needs n >= 4; the diagonal is set to 0.

    ``check=False`` skips the input checks, for a float64 tensor sub-matrix of a matrix the
    caller has checked once (the many subsamples of the metrics set)."""
    a = as_square(a, "a") if check else a
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
    a = as_square(a, "a")
    b = as_square(b, "b")
    same_n(("a", a.shape[0]), ("b", b.shape[0]))
    n = a.shape[0]
    return (a * b).sum() / (n * (n - 3))


def u_correlation(a, b) -> torch.Tensor:
    """R* of two already U-centred n x n matrices: (A.B) / sqrt((A.A)(B.B)); NaN if undefined."""
    a = as_square(a, "a")
    b = as_square(b, "b")
    same_n(("a", a.shape[0]), ("b", b.shape[0]))
    return _correlation(a, b)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(A.B) / sqrt((A.A)(B.B)) for U-centred matrices; NaN when a factor is zero."""
    return correlation_from_sums((a * b).sum(), (a * a).sum(), (b * b).sum(), a.shape[0])


def correlation_from_sums(ab: torch.Tensor, aa: torch.Tensor, bb: torch.Tensor, n: int) -> torch.Tensor:
    """R* from the sums over i, j of A_ij B_ij, A_ij^2 and B_ij^2 of two U-centred n x n matrices
    (so that callers computing many R* of the same matrices sum each product once); NaN when
    a factor is zero."""
    ab = ab / (n * (n - 3))
    aa = aa / (n * (n - 3))
    bb = bb / (n * (n - 3))
    denom_sq = aa * bb
    if bool(denom_sq <= 0):
        return torch.full((), float("nan"), dtype=ab.dtype, device=ab.device)
    return ab / torch.sqrt(denom_sq)


def _u_centred_pair(x, y, names=("x", "y")):
    a = as_distances(x, names[0])
    b = as_distances(y, names[1])
    same_n((names[0], a.shape[0]), (names[1], b.shape[0]))
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
    a = as_square(a, "a")
    b = as_square(b, "b")
    same_n(("a", a.shape[0]), ("b", b.shape[0]))
    return projection_from_sums(a, b, (a * b).sum(), (b * b).sum())


def projection_from_sums(
    a: torch.Tensor, b: torch.Tensor, ab: torch.Tensor, bb: torch.Tensor
) -> torch.Tensor:
    """P_B(A) of two U-centred matrices given the sums over i, j of A_ij B_ij and B_ij^2 (no input
    checks: for callers that computed those sums already)."""
    if bool(bb == 0):
        return a
    projected = a - (ab / bb) * b
    return _zero_if_noise(projected, a)


def semi_partial_dcor(x, y, z) -> torch.Tensor:
    """sR*(X, Y; Z) = R*(P_{U(Y)}(U(X)), U(Z)) — what the UniCAM authors' code computes.

    Equals (r_xz - r_xy r_yz) / sqrt(1 - r_xy^2). NaN when X carries nothing beyond Y (for
    example X = Y) or Z is constant.
    """
    a = as_distances(x, "x")
    b = as_distances(y, "y")
    c = as_distances(z, "z")
    same_n(("x", a.shape[0]), ("y", b.shape[0]), ("z", c.shape[0]))
    ua, ub, uc = u_centered(a), u_centered(b), u_centered(c)
    return _correlation(complementary_projection(ua, ub), uc)


def partial_dcor(x, z, y) -> torch.Tensor:
    """pR*(X, Z; Y): partial distance correlation of X and Z given Y (as ``dcor`` defines it).

    Equals (r_xz - r_xy r_yz) / sqrt((1 - r_xy^2)(1 - r_yz^2)); NaN when undefined.
    """
    a = as_distances(x, "x")
    c = as_distances(z, "z")
    b = as_distances(y, "y")
    same_n(("x", a.shape[0]), ("z", c.shape[0]), ("y", b.shape[0]))
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
        a, b = as_distances(x, "x"), as_distances(y, "y")
    else:
        xf, yf = as_features(x, "x"), as_features(y, "y")
        if row_normalize:
            xf = torch.nn.functional.normalize(xf, dim=1)
            yf = torch.nn.functional.normalize(yf, dim=1)
        a, b = pairwise_distances(xf), pairwise_distances(yf)
    same_n(("x", a.shape[0]), ("y", b.shape[0]))
    ca, cb = _zero_if_noise(_double_centred(a), a), _zero_if_noise(_double_centred(b), b)
    ab, aa, bb = (ca * cb).mean(), (ca * ca).mean(), (cb * cb).mean()
    if bool(aa * bb <= 0):
        return torch.full((), float("nan"), dtype=a.dtype, device=a.device)
    return ab / torch.sqrt(aa * bb)
