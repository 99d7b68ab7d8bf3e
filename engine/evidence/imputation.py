"""ROAD's noisy linear imputation (Rong et al., ICML 2022, "A Consistent and Efficient Evaluation
Strategy for Attribution Methods", its noisy linear imputation) for a whole batch of images at once.

Every removed pixel becomes the weighted mean of its 8 neighbours (1/6 for the 4 direct, 1/12 for
the 4 diagonal ones; neighbours outside the image dropped from the weights), kept neighbours being
fixed: one sparse linear system per image and channel, the one the ``grad-cam`` package solves with
a host ``spsolve`` per image. Two batched solvers of the same system:

- ``"cg"``: Jacobi-preconditioned conjugate gradients in float64 on the images' device, the matrix
  applied as a masked 3 x 3 stencil; what an accelerator runs.
- ``"direct"``: the batch's block-diagonal matrix factorised by one sparse LU (SuperLU) on the
  host. On a CPU the CG's hundreds of passes over memory cost 2.5x (32 px) to 10x (224 px) the
  LU (measured, one thread), so ``"auto"`` uses this for CPU tensors.

Then noise ``noise * N(0, 1)`` is added to the removed pixels, drawn from the host's generator image
by image in grad-cam's order, so a seed gives the same images with either solver on any device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["NOISE", "TOLERANCE", "ImputationError", "images_per_batch", "impute"]

NOISE = 0.01  # the paper's (and grad-cam's) noise level, in the images' units
TOLERANCE = 1e-10  # CG: relative residual ||b - A x|| / ||b|| at which a system counts as solved
WORK_BUFFERS = 12  # float64 images the CG holds per input image (x, r, z, p, A p, the stencil's)
DIRECT_UNKNOWNS = 1 << 17  # removed pixels per sparse LU: a group's fill-in stays bounded
#: (row offset, column offset, weight) of the 8 neighbours (the paper's, and grad-cam's, weights)
NEIGHBOURS = tuple(
    (dy, dx, 1 / 12 if dy and dx else 1 / 6) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx
)


class ImputationError(RuntimeError):
    """The imputation has nothing to work from (every pixel removed) or the CG did not converge."""


def images_per_batch(channels: int, height: int, width: int, budget_bytes: int = 512 << 20) -> int:
    """How many images one :func:`impute` call may take with its float64 work within the budget."""
    return max(1, budget_bytes // (WORK_BUFFERS * 8 * channels * height * width))


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """sum_j w_j x_j over the 8 neighbours of every pixel, 0 outside the image. The weights are
    (1/12) [1 2 1]^T [1 2 1] without its centre 4/12, so the stencil is two 3-tap passes."""
    padded = F.pad(x, (1, 1, 1, 1))
    rows = padded[..., :-2, :] + 2 * padded[..., 1:-1, :] + padded[..., 2:, :]
    both = rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]
    return both / 12 - x / 3


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * b).sum(dim=(-2, -1), keepdim=True)


def _conjugate_gradients(
    image: torch.Tensor, missing: torch.Tensor, tolerance: float, max_iterations: int
) -> torch.Tensor:
    """The removed pixels' values (0 elsewhere), float64 (B, C, H, W): for every removed pixel i,
    d_i x_i - sum_{j removed} w_ij x_j = sum_{k kept} w_ik v_k, with d_i the sum of i's in-image
    weights: symmetric, and positive definite where some pixel is kept. Each (image, channel)
    stops at its own tolerance."""
    height, width = image.shape[-2:]
    diagonal = _neighbour_sum(image.new_ones(1, 1, height, width))
    b = missing * _neighbour_sum(image * ~missing)
    x = torch.zeros_like(b)
    r = b.clone()
    z = r / diagonal
    p = z.clone()
    rz = _dot(r, z)
    limit = tolerance * _dot(b, b).sqrt()
    active = _dot(r, r).sqrt() > limit
    for _ in range(max_iterations):
        if not bool(active.any()):
            return x
        ap = missing * (diagonal * p - _neighbour_sum(p))
        alpha = torch.where(active, rz / torch.where(active, _dot(p, ap), 1.0), 0.0)
        x += alpha * p
        r -= alpha * ap
        active = _dot(r, r).sqrt() > limit
        z = r / diagonal
        rz_next = _dot(r, z)
        p = z + torch.where(active, rz_next / torch.where(active, rz, 1.0), 0.0) * p
        rz = rz_next
    if bool(active.any()):
        worst = (_dot(r, r).sqrt() / _dot(b, b).sqrt()).max().item()
        raise ImputationError(
            f"ROAD's imputation did not converge in {max_iterations} conjugate-gradient iterations "
            f"(relative residual {worst:.1e}, wanted {tolerance:.0e}) on {height} x {width} images"
        )
    return x


def _direct_group(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The removed pixels' values, (n_removed, C) in row-major order image after image: the
    system of :func:`_conjugate_gradients` for all images as one block-diagonal sparse matrix."""
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import splu

    height, width = missing.shape[1:]
    n = int(missing.sum())
    unknown = np.full(missing.shape, -1, dtype=np.int64)
    unknown[missing] = np.arange(n)
    which, ys, xs = np.nonzero(missing)
    rows, cols, values = [np.arange(n)], [np.arange(n)], []
    diagonal, rhs = np.zeros(n), np.zeros((n, image.shape[1]))
    for dy, dx, weight in NEIGHBOURS:
        y, x = ys + dy, xs + dx
        at = np.nonzero((y >= 0) & (y < height) & (x >= 0) & (x < width))[0]
        diagonal[at] += weight
        neighbour = unknown[which[at], y[at], x[at]]
        removed = neighbour >= 0
        rows.append(at[removed])
        cols.append(neighbour[removed])
        values.append(np.full(int(removed.sum()), -weight))
        kept = at[~removed]
        rhs[kept] += weight * image[which[kept], :, y[kept], x[kept]]
    matrix = csc_matrix(
        (np.concatenate([diagonal, *values]), (np.concatenate(rows), np.concatenate(cols))), (n, n)
    )
    return splu(matrix).solve(rhs)


def _sparse_direct(image: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Like :func:`_conjugate_gradients`, on the host by sparse LU, in groups of images holding up
    to ``DIRECT_UNKNOWNS`` removed pixels (the matrix is block-diagonal: grouping only saves calls)."""
    values, holes = image.cpu().numpy(), missing[:, 0].cpu().numpy()
    out = np.zeros((len(values), *holes.shape[1:], values.shape[1]))  # (B, H, W, C)
    counts = holes.reshape(len(holes), -1).sum(axis=1)
    first, total = 0, 0
    for i, count in enumerate([*counts, DIRECT_UNKNOWNS + 1]):
        if i > first and total + count > DIRECT_UNKNOWNS:
            group = slice(first, i)
            if total:
                out[group][holes[group]] = _direct_group(values[group], holes[group])
            first, total = i, 0
        total += count
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(image.device)


def _noise(keep: torch.Tensor, channels: int, noise: float) -> torch.Tensor:
    """``noise * N(0, 1)`` on the removed pixels, float32 (B, C, H*W), drawn on the host image by
    image as grad-cam draws it: one contiguous (C, n_removed) tensor each (torch's normal values
    depend on the tensor's size and layout, not only on the generator's state)."""
    flat = keep.reshape(len(keep), -1).cpu()
    out = torch.zeros(len(keep), channels, flat.shape[1])
    for i, kept in enumerate(flat):
        removed = ~kept
        count = int(removed.sum())
        if count:
            out[i][:, removed] = noise * torch.randn(channels, count)
    return out


def impute(
    images: torch.Tensor,
    keep: torch.Tensor,
    *,
    solver: str = "auto",
    noise: float = NOISE,
    tolerance: float = TOLERANCE,
    max_iterations: int | None = None,
) -> torch.Tensor:
    """``images`` (B, C, H, W) with the pixels where ``keep`` (B, H, W) is False imputed from their
    neighbours plus noise, on the images' device and in their dtype. ``solver``: "cg", "direct" or
    "auto" (direct for CPU tensors, else cg). The noise comes from torch's default CPU generator,
    so ``torch.manual_seed(s)`` before gives grad-cam's ``NoisyLinearImputer`` images, one call per
    image in order, up to the solver's tolerance."""
    batch, channels, height, width = images.shape
    keep = keep.to(device=images.device, dtype=torch.bool)
    if not bool(keep.reshape(batch, -1).any(dim=1).all()):
        raise ImputationError("ROAD's imputation needs a kept pixel in every image; one has none")
    missing = ~keep[:, None]
    if solver == "auto":
        solver = "direct" if images.device.type == "cpu" else "cg"
    if solver == "direct":
        solution = _sparse_direct(images.double(), missing)
    elif solver == "cg":
        # one hole over the whole image takes about 2 (H + W) iterations (856 at 224 x 224): 10x that
        cap = max_iterations if max_iterations is not None else 20 * (height + width) + 100
        solution = _conjugate_gradients(images.double(), missing, tolerance, cap)
    else:
        raise ValueError(f"unknown solver {solver!r}; use 'auto', 'cg' or 'direct'")
    added = _noise(keep, channels, noise).to(images.device).reshape(batch, channels, height, width)
    filled = solution.float() + added  # grad-cam: float32(solution) + float32 noise
    return torch.where(missing, filled, images.float()).to(images.dtype)
