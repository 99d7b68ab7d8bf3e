"""Distributed training and FSS/RS on ``torch.distributed`` (torchrun's elastic agent, NCCL on GPUs,
Gloo on CPUs): :mod:`group` (the process group from torchrun's environment, :class:`Ranks`, or
one process, :class:`LocalGroup`, with the same faces: collectives and a training step's DDP
wrapper, batch slice and summed counts), :mod:`distances` (N x N distances accumulated across
ranks in column blocks), :mod:`launch`
(``--nproc N``: the elastic agent started from Python, rank 0's events streamed back) and
:mod:`rank` (what each launched process runs)."""

from engine.distributed.group import (
    DistributedError,
    Group,
    LocalGroup,
    Ranks,
    follower,
    join,
    joined,
    per_rank_batch,
    requested,
)

__all__ = [
    "DistributedError",
    "Group",
    "LocalGroup",
    "Ranks",
    "follower",
    "join",
    "joined",
    "per_rank_batch",
    "requested",
]
