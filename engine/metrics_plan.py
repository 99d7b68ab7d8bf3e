"""Where FSS/RS runs (SPEC §4): on the models' device when its free memory holds the work, else
on the host, decided before the work starts and said in one line.

On a GPU the forward passes' tap features stay there (float32), the N x N squared distances are
accumulated there in float64 one tap at a time, and the statistics run there on the finished
matrices. What that needs, in bytes (:class:`DeviceNeeds`): the tap features of the widest
model (this rank's rows) and one gathered column block; one tap's N x N accumulation; every
tap's finished N x N distances; the class-label distances and one subsample's statistics.

Three plans, the first that fits the device's free memory wins (:func:`choose`):

1. ``device``: all of it on the device;
2. ``distances on the device``: the features and one tap's accumulation on the device, each
   finished matrix parked on the host, where the statistics then run (peak device memory: one
   model's tap features plus one tap's N x N matrices);
3. ``host``: the features are copied to the host batch by batch and everything runs there.

On the CPU the device is the host: plan 1, nothing to check. Ranks of a group agree on the most
cautious plan of any rank, so their collectives see tensors on the same kind of device.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from engine.cam.hooks import eval_mode, first_tensor, output_hooks
from engine.devices import to_device
from engine.distributed.group import Group, LocalGroup

__all__ = [
    "COLUMN_BLOCK",
    "DeviceNeeds",
    "MetricsPlan",
    "choose",
    "device_needs",
    "metrics_plan",
    "tap_widths",
]

COLUMN_BLOCK = 1 << 15  # features per column block of the distance accumulation
HOST = torch.device("cpu")
FLOAT32, FLOAT64 = 4, 8
ACCUMULATION = 7  # N x N float64 alive while a block is added (accumulator, Gram, norms, guard)
SUBSAMPLE_WORK = 4  # m x m float64 transients of U-centring or one value's statistic
BLOCK_COPIES = 2 * FLOAT32 + 2 * FLOAT64  # a block as sent and gathered, in float64, centred
SLACK = 1.15, 512 << 20  # the estimate times 1.15 plus 512 MiB must fit (allocator, cuBLAS)
PLANS = ("device", "distances on the device", "host")


@dataclass(frozen=True)
class DeviceNeeds:
    """Bytes the device path holds at once, by part (see the module's note)."""

    features: int  # the widest model's tap features (float32) and one column block's copies
    tap: int  # one tap's N x N float64 accumulation
    matrices: int  # every tap's finished N x N float64 distances
    statistics: int  # the label distances and one subsample's U-centred matrices and work

    def peak(self, keep: bool) -> int:
        """The largest total of plan 1 (``keep``: matrices stay on the device) or plan 2."""
        if not keep:
            return self.features + self.tap
        return max(self.features + self.tap + self.matrices, self.matrices + self.statistics)


@dataclass(frozen=True)
class MetricsPlan:
    """``sweep``: where the tap features are kept and the distances accumulated; ``statistics``:
    where the finished N x N matrices are kept and the statistics run."""

    sweep: torch.device
    statistics: torch.device
    level: int = 0  # the index of the plan in PLANS
    needs: DeviceNeeds | None = None
    free: int | None = None  # the device's free bytes when planned (None: not checked)
    n: int = 0

    @property
    def name(self) -> str:
        return PLANS[self.level]

    def note(self) -> str | None:
        """The one log line of a plan that leaves the device, naming the sizes; None otherwise."""
        if self.level == 0 or self.needs is None or self.free is None:
            return None
        need, free = _gib(self.needs.peak(keep=True)), _gib(self.free)
        needs, n = self.needs, self.n
        sizes = (
            f"{_gib(needs.features)} of tap features, {_gib(needs.matrices)} of {n} x {n} float64 "
            f"distances, {_gib(needs.tap + needs.statistics)} of work"
        )
        if self.level == 1:
            return (
                f"FSS/RS: the distances are built on the GPU but the statistics run on the host: all of it "
                f"needs about {need} ({sizes}) and {free} is free"
            )
        return (
            f"FSS/RS on the host, not the GPU: it needs about {_gib(self.needs.peak(keep=False))} there "
            f"even with the matrices kept on the host ({sizes}) and {free} is free; fewer metrics "
            "images (--metrics-n) or a GPU with more free memory keep it on the device"
        )


def _gib(size: int) -> str:
    return f"{size / (1 << 30):.1f} GiB"


def tap_widths(model: nn.Module, image: torch.Tensor, taps: Sequence[str]) -> dict[str, int]:
    """Flattened features per image of each tap present in ``model`` (one forward of one image)."""
    named = dict(model.named_modules())
    present = [t for t in taps if t in named]
    widths: dict[str, int] = {}

    def keep(name: str, output: object) -> None:
        widths[name] = int(first_tensor(output)[0].numel())

    device = next(model.parameters()).device
    with eval_mode(model), torch.no_grad(), output_hooks(model, present, keep):
        model(to_device(image[:1], device))
    return widths


def device_needs(
    widths: Mapping[str, Mapping[str, int]], n: int, rows: int, subsample: int, *, fss_v: bool, block: int
) -> DeviceNeeds:
    """What the device path needs for ``n`` images (``rows`` of them on this rank), ``widths``:
    role -> tap -> features per image, subsamples of ``subsample`` images."""
    per_role = [sum(w.values()) + (max(w.values()) if fss_v else 0) for w in widths.values() if w]
    widest = max((max(w.values()) for w in widths.values() if w), default=0)
    features = FLOAT32 * rows * max(per_role, default=0) + BLOCK_COPIES * n * min(block, widest)
    taps = sum(len(w) for w in widths.values()) * (2 if fss_v else 1)
    roles = len(widths)
    square, sub = FLOAT64 * n * n, FLOAT64 * subsample * subsample
    kept = 2 * roles + 1 + (roles if fss_v else 0) + SUBSAMPLE_WORK  # label, last taps, a row's taps
    return DeviceNeeds(features, ACCUMULATION * square, taps * square, square + kept * sub)


def choose(
    device: torch.device, needs: DeviceNeeds, free: int, n: int, group: Group = LocalGroup()
) -> MetricsPlan:
    """The first plan whose peak fits ``free`` bytes on ``device``, agreed over ``group``."""
    scale, extra = SLACK
    fits = [needs.peak(keep=True) * scale + extra <= free, needs.peak(keep=False) * scale + extra <= free]
    level = group.maximum(fits.index(True) if any(fits) else 2)
    sweep = device if level < 2 else HOST
    return MetricsPlan(sweep, device if level == 0 else HOST, level, needs, free, n)


def free_memory(device: torch.device) -> int:
    """Bytes a new allocation can take on a CUDA device: free memory plus what torch's caching
    allocator holds unused."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def metrics_plan(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    taps: Mapping[str, Sequence[str]],
    *,
    fss_v: bool = False,
    subsample: int | None = None,
    batch_size: int = 64,
    block: int = COLUMN_BLOCK,
    group: Group = LocalGroup(),
) -> MetricsPlan:
    """Where :func:`engine.metrics.compute_metrics` runs for these arguments (the same ones)."""
    device = next(next(iter(models.values())).parameters()).device
    if device.type == "cpu":
        return MetricsPlan(device, device, n=len(images))
    n = len(images)
    widths = {role: tap_widths(model, images, taps[role]) for role, model in models.items()}
    rows = len(group.share(n, batch_size))
    needs = device_needs(widths, n, rows, subsample or max(4, (3 * n) // 4), fss_v=fss_v, block=block)
    return choose(device, needs, free_memory(device), n, group)
