"""N x N squared-distance matrices of features whose rows are spread over ranks (SPEC §2.1).

Each rank holds the rows of its share of the images (all feature columns). The columns are cut
into blocks of at most ``block`` features; block ``k`` belongs to rank ``k mod world``, which
gathers the rows of that block from every rank (in image order, so it is the very block one
process would see), adds its squared distances to a float64 N x N accumulator, and moves on. A
final all-reduce sums the accumulators. Besides its own rows and the N x N matrix, a rank holds
at most one gathered block of N x ``block`` features, and the work of the N^2 x D products is
split over the ranks. The result equals the one-process accumulation up to the order in which
the blocks' float64 contributions are added.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from engine import stats
from engine.distributed.group import Ranks

__all__ = ["gathered_distances"]


def gathered_distances(
    rows: torch.Tensor, counts: list[int], ranks: Ranks, *, block: int, name: str
) -> stats.DistanceMatrix:
    """Distances of all ranks' rows (this rank's ``rows``: ``counts[ranks.rank]`` x D, float32)."""
    n = sum(counts)
    columns = ranks.maximum(rows.shape[1] if len(rows) else 0)  # a rank without rows learns D
    if len(rows) == 0:
        rows = torch.zeros((0, columns), dtype=torch.float32)
    height = max(counts)
    acc = stats.SquaredDistanceAccumulator(n, name=name)
    device = torch.device("cpu")
    for index, start in enumerate(range(0, columns, block)):
        owner = index % ranks.world
        piece = torch.zeros((height, min(block, columns - start)), dtype=rows.dtype, device=device)
        piece[: len(rows)] = rows[:, start : start + block]
        if ranks.rank == owner:
            pieces = [torch.empty_like(piece) for _ in range(ranks.world)]
            dist.gather(piece, pieces, dst=owner)
            acc.add(torch.cat([p[:c] for p, c in zip(pieces, counts, strict=True)]))
            del pieces
        else:
            dist.gather(piece, dst=owner)
        del piece
    dist.all_reduce(acc.squared)
    acc.columns = columns
    return acc.distances()
