"""What a training session does differently on several ranks (:mod:`engine.training.session`):
each trained role wrapped in DistributedDataParallel, each rank's slice of the global batch, and
the step's losses and counts summed over ranks with rank 0's stop carried to every rank."""

from __future__ import annotations

import torch
from torch import nn

from engine.distributed.group import Ranks
from engine.events import JobStopped, StopToken

__all__ = ["data_parallel", "global_counts", "rank_slice"]


def data_parallel(model: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """(the model, its DistributedDataParallel wrapper; rank 0's weights win). On GPUs batch norm
    is synchronised first, so its statistics are the global batch's; the returned model is the one
    to keep (it is a new module then)."""
    from torch.nn.parallel import DistributedDataParallel

    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return model, DistributedDataParallel(model, device_ids=ids)


def rank_slice(batch: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's equal part of a global batch (rows in order)."""
    return torch.tensor_split(batch, ranks.world)[ranks.rank]


def global_counts(
    counts: dict[str, tuple[float, int, int]], ranks: Ranks, stop: StopToken
) -> dict[str, tuple]:
    """(loss sum, correct, seen) per role summed over ranks; every rank stops together when a
    stop was asked of rank 0 (which also waits here while paused)."""
    stopped = False
    if ranks.leader:
        try:
            stop.check()
        except JobStopped:
            stopped = True
    flat = [value for role in counts for value in counts[role]]
    total = ranks.sum([*flat, float(stopped)])
    if total[-1]:
        raise JobStopped()
    return {role: tuple(total[3 * i : 3 * i + 3]) for i, role in enumerate(counts)}
