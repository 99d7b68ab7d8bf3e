"""The process group of a distributed run, read from torchrun's environment.

torchrun (or :mod:`engine.distributed.launch`, which uses the same elastic agent) starts one
process per rank with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` set. :func:`join` turns that environment into an initialised default process
group -- NCCL for CUDA tensors and Gloo for CPU tensors when this machine has CUDA, Gloo alone
otherwise -- and a :class:`Ranks` handle that jobs take as an explicit argument. Without that
environment :func:`join` returns a :class:`LocalGroup`: one process with the same faces, whose
collectives are the identity, so a job reads the same with one process or many.

Besides the collectives, a group has the four faces of a training step (what lockstep means):
``check_stop`` at a step's start, ``parallel`` (the module a role trains through),
``batch_slice`` (this rank's part of a global batch) and ``step_counts`` (a step's losses and
counts over every rank, with rank 0's stop carried to every rank).
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from engine.errors import KDLensError
from engine.events import JobStopped, StopToken

__all__ = [
    "DistributedError",
    "Group",
    "LocalGroup",
    "Ranks",
    "backend",
    "follower",
    "join",
    "joined",
    "per_rank_batch",
    "requested",
]

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT = datetime.timedelta(minutes=30)  # a rank waits this long for the others at a collective


class DistributedError(KDLensError):
    """A distributed run cannot start or went wrong on one of its ranks."""


@dataclass(frozen=True)
class Ranks:
    """This process's place in the default process group, and the few collectives jobs use."""

    rank: int
    world: int
    local_rank: int

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes files and whose events are shown."""
        return self.rank == 0

    def device(self, name: str) -> str:
        """A run's device for this rank: ``cuda`` means this rank's GPU (``cuda:<LOCAL_RANK>``)."""
        device = torch.device(name)
        if device.type == "cuda" and device.index is None:
            return f"cuda:{self.local_rank}"
        return name

    def broadcast_object(self, value: Any = None) -> Any:
        """Rank 0's ``value`` on every rank (pickled; for configurations and small states)."""
        holder = [value if self.leader else None]
        dist.broadcast_object_list(holder, src=0)
        return holder[0]

    def sum(self, values: Sequence[float]) -> list[float]:
        """The element-wise sum of ``values`` over all ranks (float64, on the CPU through Gloo)."""
        total = torch.tensor(list(values), dtype=torch.float64)
        dist.all_reduce(total)
        return total.tolist()

    def maximum(self, value: int) -> int:
        total = torch.tensor([value], dtype=torch.int64)
        dist.all_reduce(total, op=dist.ReduceOp.MAX)
        return int(total.item())

    def share(self, count: int, unit: int = 1) -> range:
        """This rank's contiguous share of ``count`` items dealt out in whole units of ``unit``
        (e.g. whole batches), so every item keeps the batch it has in one process."""
        units = -(-count // unit)
        first = units * self.rank // self.world
        last = units * (self.rank + 1) // self.world
        return range(min(count, first * unit), min(count, last * unit))

    def counts(self, count: int, unit: int = 1) -> list[int]:
        """Every rank's share size of :meth:`share`, in rank order."""
        return [len(Ranks(r, self.world, r).share(count, unit)) for r in range(self.world)]

    def collective_stop(self, stop: Any) -> None:
        """No stop inside a collective section: every rank must reach every collective, so a
        stop asked of rank 0 takes effect where the ranks next agree (:mod:`lockstep`)."""
        return None

    def gather_objects(self, value: Any) -> list[Any] | None:
        """Every rank's ``value`` (pickled), in rank order, on rank 0; None on the others."""
        values: list | None = [None] * self.world if self.leader else None
        dist.gather_object(value, values, dst=0)
        return values

    def gather(self, tensor: torch.Tensor, dst: int) -> list[torch.Tensor] | None:
        """Every rank's ``tensor`` (same shape everywhere) on rank ``dst``; None on the others."""
        if self.rank != dst:
            dist.gather(tensor, dst=dst)
            return None
        pieces = [torch.empty_like(tensor) for _ in range(self.world)]
        dist.gather(tensor, pieces, dst=dst)
        return pieces

    def all_reduce(self, tensor: torch.Tensor) -> None:
        """Sum ``tensor`` over the ranks, in place."""
        dist.all_reduce(tensor)

    def leave(self) -> None:
        """Destroy the default process group (the end of :func:`joined`)."""
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()

    # ---- a training step in lockstep ---------------------------------------------------------
    def check_stop(self, stop: StopToken) -> None:
        """Nothing at a step's start: a stop asked of rank 0 takes effect after the step, where
        every rank learns of it (:meth:`step_counts`)."""
        return None

    def parallel(self, model: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
        """(the model to keep, its DistributedDataParallel wrapper to train through; rank 0's
        weights win). On GPUs batch norm is synchronised first, so its statistics are the global
        batch's; the model to keep is a new module then."""
        from torch.nn.parallel import DistributedDataParallel

        if device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [device.index] if device.type == "cuda" else None
        return model, DistributedDataParallel(model, device_ids=ids)

    def batch_slice(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's equal part of a global batch (rows in order)."""
        return torch.tensor_split(batch, self.world)[self.rank]

    def step_counts(self, counts: dict[str, tuple[float, int, int]], stop: StopToken) -> dict[str, tuple]:
        """(loss sum, correct, seen) per role summed over ranks; every rank stops together when a
        stop was asked of rank 0 (which also waits here while paused)."""
        stopped = False
        if self.leader:
            try:
                stop.check()
            except JobStopped:
                stopped = True
        flat = [value for role in counts for value in counts[role]]
        total = self.sum([*flat, float(stopped)])
        if total[-1]:
            raise JobStopped()
        return {role: tuple(total[3 * i : 3 * i + 3]) for i, role in enumerate(counts)}


@dataclass(frozen=True)
class LocalGroup:
    """One process: the same faces as :class:`Ranks`, so jobs read the same with one process or
    many. Rank 0 of a world of one; every collective is the identity."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        return True

    def device(self, name: str) -> str:
        return name

    def broadcast_object(self, value: Any = None) -> Any:
        return value

    def sum(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def maximum(self, value: int) -> int:
        return int(value)

    def share(self, count: int, unit: int = 1) -> range:
        return range(count)

    def counts(self, count: int, unit: int = 1) -> list[int]:
        return [count]

    def collective_stop(self, stop: Any) -> Any:
        """The job's own stop token: one process may stop anywhere."""
        return stop

    def gather_objects(self, value: Any) -> list[Any]:
        return [value]

    def gather(self, tensor: torch.Tensor, dst: int) -> list[torch.Tensor]:
        return [tensor]

    def all_reduce(self, tensor: torch.Tensor) -> None:
        return None

    def leave(self) -> None:
        return None

    # ---- a training step in one process -----------------------------------------------------
    def check_stop(self, stop: StopToken) -> None:
        """A stop (or a pause) takes effect before the step."""
        stop.check()

    def parallel(self, model: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
        """The model trains through itself."""
        return model, model

    def batch_slice(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def step_counts(self, counts: dict[str, tuple[float, int, int]], stop: StopToken) -> dict[str, tuple]:
        """The step's own counts; the stop was checked before the step."""
        return counts


#: What a job shares its work with: the other ranks of a distributed run, or nobody.
Group = Ranks | LocalGroup


def requested() -> bool:
    """Whether this process was started as one rank of several (torchrun's environment)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def follower() -> bool:
    """Whether this process is a rank other than 0 of a torchrun launch (before joining)."""
    return requested() and os.environ.get("RANK", "0") != "0"


def backend() -> str:
    """NCCL for CUDA tensors and Gloo for CPU tensors where CUDA and NCCL exist, else Gloo."""
    if torch.cuda.is_available() and dist.is_nccl_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


def join() -> Group:
    """Initialise the default process group from torchrun's environment; a :class:`LocalGroup`
    in one process."""
    if not requested():
        return LocalGroup()
    missing = [key for key in ENV_KEYS if key not in os.environ]
    if missing:
        raise DistributedError(
            f"WORLD_SIZE is set but {', '.join(missing)} is not; start distributed runs with torchrun "
            "(torchrun --nproc-per-node N -m engine.cli ...) or with --nproc N"
        )
    if not dist.is_available():
        raise DistributedError("this PyTorch build has no torch.distributed; run with one process")
    local_rank = int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available() and local_rank < torch.cuda.device_count():
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend(), timeout=TIMEOUT)
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank)


@contextmanager
def joined() -> Iterator[Group]:
    """:func:`join` for the length of a block; the group is left after it."""
    group = join()
    try:
        yield group
    finally:
        group.leave()


def per_rank_batch(batch_size: int, world: int) -> int:
    """The batch of one rank when the global batch ``batch_size`` is split over ``world`` ranks."""
    if world < 1:
        raise DistributedError(f"the number of processes must be at least 1, got {world}")
    if batch_size % world:
        fits = [n for n in range(1, min(batch_size, 64) + 1) if batch_size % n == 0]
        raise DistributedError(
            f"the batch size {batch_size} cannot be split evenly over {world} processes; choose a batch "
            f"size that is a multiple of {world}, or a number of processes that divides {batch_size} "
            f"({', '.join(map(str, fits[:8]))}...)"
        )
    return batch_size // world
