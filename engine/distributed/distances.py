"""N x N squared-distance matrices of features whose rows are spread over a group (SPEC §2.1).

Each rank holds the rows of its share of the images (all feature columns), as one tensor or as
the batches the forward passes gave, on the device they were made on. The columns are cut
into blocks of at most ``block`` features; block ``k`` belongs to rank ``k mod world``, which
gathers the rows of that block from every rank (in image order, so it is the very block one
process would see), adds its squared distances to a float64 N x N accumulator, and moves on. A
final all-reduce sums the accumulators. Besides its own rows and the N x N matrix, a rank holds
at most one gathered block of N x ``block`` features, and the work of the N^2 x D products is
split over the ranks. The result equals the one-process accumulation up to the order in which
the blocks' float64 contributions are added; with a :class:`LocalGroup` it is that
accumulation, block by block, bit for bit.

Everything stays on the rows' device: on a GPU the blocks are gathered there (NCCL) and the
accumulator lives there; on the host the same code runs on CPU tensors (Gloo).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine import stats
from engine.distributed.group import Group

__all__ = ["gathered_distances"]


def gathered_distances(
    rows: torch.Tensor | Sequence[torch.Tensor],
    counts: list[int],
    group: Group,
    *,
    block: int,
    name: str,
    device: torch.device | str | None = None,
) -> stats.DistanceMatrix:
    """Distances of every rank's rows (this rank's ``rows``: ``counts[group.rank]`` x D float32,
    whole or as consecutive row batches), accumulated on ``device`` (default: the rows')."""
    parts = [p for p in ([rows] if isinstance(rows, torch.Tensor) else rows) if len(p)]
    if device is None:
        device = parts[0].device if parts else torch.device("cpu")
    dtype = parts[0].dtype if parts else torch.float32
    n, height = sum(counts), max(counts)
    columns = group.maximum(parts[0].shape[1] if parts else 0)  # a rank without rows learns D
    acc = stats.SquaredDistanceAccumulator(n, name=name, device=device)
    for index, start in enumerate(range(0, columns, block)):
        piece = _column_block(parts, start, min(start + block, columns), height, dtype, device)
        pieces = group.gather(piece, dst=index % group.world)
        if pieces is not None:  # this rank owns the block
            acc.add(_in_image_order(pieces, counts))
        del piece, pieces
    group.all_reduce(acc.squared)
    acc.columns = columns
    return acc.distances()


def _column_block(
    parts: list[torch.Tensor], start: int, stop: int, height: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """This rank's rows of columns ``start:stop`` (one contiguous copy), zero-padded to ``height``
    rows so that every rank sends a block of the same shape."""
    mine = sum(len(p) for p in parts)
    if mine == height:
        return torch.cat([p[:, start:stop].to(device) for p in parts])
    piece = torch.zeros((height, stop - start), dtype=dtype, device=device)
    if parts:
        piece[:mine] = torch.cat([p[:, start:stop].to(device) for p in parts])
    return piece


def _in_image_order(pieces: list[torch.Tensor], counts: list[int]) -> torch.Tensor:
    """Every rank's real rows of one block, stacked in rank (image) order."""
    if len(pieces) == 1:
        return pieces[0][: counts[0]]
    return torch.cat([p[:c] for p, c in zip(pieces, counts, strict=True)])
