"""N x N squared-distance matrices of features whose rows are spread over a group (SPEC §2.1).

Each rank holds the rows of its share of the images (all feature columns). The columns are cut
into blocks of at most ``block`` features; block ``k`` belongs to rank ``k mod world``, which
gathers the rows of that block from every rank (in image order, so it is the very block one
process would see), adds its squared distances to a float64 N x N accumulator, and moves on. A
final all-reduce sums the accumulators. Besides its own rows and the N x N matrix, a rank holds
at most one gathered block of N x ``block`` features, and the work of the N^2 x D products is
split over the ranks. The result equals the one-process accumulation up to the order in which
the blocks' float64 contributions are added; with a :class:`LocalGroup` it is that
accumulation, block by block, bit for bit.
"""

from __future__ import annotations

import torch

from engine import stats
from engine.distributed.group import Group

__all__ = ["gathered_distances"]


def gathered_distances(
    rows: torch.Tensor, counts: list[int], group: Group, *, block: int, name: str
) -> stats.DistanceMatrix:
    """Distances of every rank's rows (this rank's ``rows``: ``counts[group.rank]`` x D, float32)."""
    n = sum(counts)
    columns = group.maximum(rows.shape[1] if len(rows) else 0)  # a rank without rows learns D
    if len(rows) == 0:
        rows = torch.zeros((0, columns), dtype=torch.float32)
    height = max(counts)
    acc = stats.SquaredDistanceAccumulator(n, name=name)
    for index, start in enumerate(range(0, columns, block)):
        piece = torch.zeros((height, min(block, columns - start)), dtype=rows.dtype)
        piece[: len(rows)] = rows[:, start : start + block]
        pieces = group.gather(piece, dst=index % group.world)
        if pieces is not None:  # this rank owns the block
            acc.add(torch.cat([p[:c] for p, c in zip(pieces, counts, strict=True)]))
        del piece, pieces
    group.all_reduce(acc.squared)
    acc.columns = columns
    return acc.distances()
