"""Floors: the bare work a stage cannot do without, timed in the process that compares it with
the stage, right before or after it (bench/README.md: only a ratio from one run means much).

A floor runs the same models at the same precision (:func:`engine.devices.autocast`) on the same
device, with none of the stage's bookkeeping: no hooks but the one a gradient needs, no copies,
nothing kept. Shared by ``bench_metrics_device.py`` and ``bench_scale.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from engine.devices import autocast

__all__ = [
    "Clock",
    "centring_floor",
    "forward_floor",
    "gradient_floor",
    "gram_floor",
    "imputation_floor",
    "sync",
    "u_centre",
]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall and process-CPU seconds, added up over the spans it times. On a shared CPU the CPU
    seconds are the steadier measure of the work (other jobs stretch the wall time)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.wall, self.cpu = device, 0.0, 0.0

    def __enter__(self) -> Clock:
        sync(self.device)
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def forward_floor(
    models: Iterable[nn.Module], images: torch.Tensor, device: torch.device, batch: int = 64
) -> Clock:
    """The forward passes alone: no hooks, nothing kept (``images`` already on ``device``)."""
    with Clock(device) as clock, torch.no_grad(), autocast(device):
        for model in models:
            for start in range(0, len(images), batch):
                model(images[start : start + batch])
    return clock


def gram_floor(widths: list[int], n: int, device: torch.device) -> Clock:
    """X @ X.T in float64 for every tap's N x D, timed bare (X allocated outside the timing; a
    dense product costs the same whatever the values)."""
    clock = Clock(device)
    generator = torch.Generator(device).manual_seed(0)
    for width in widths:
        x = torch.randn(n, width, dtype=torch.float64, device=device, generator=generator)
        with clock:
            gram = x @ x.T
        del x, gram
    return clock


def gradient_floor(
    passes: Sequence[tuple[nn.Module, str | None]],
    images: torch.Tensor,
    device: torch.device,
    batch: int = 16,
) -> Clock:
    """One pass per (model, layer) over ``images`` in batches: a forward, and where ``layer`` is
    named, the gradient of the summed top logit at that layer's output (what a Grad-CAM or a
    UniCAM map needs: the backward stops there, no parameter gradient); None: a forward without
    gradients (a model whose features are only read)."""
    clock = Clock(device)
    for model, layer in passes:
        for start in range(0, len(images), batch):
            with clock:
                _gradient_pass(model, layer, images[start : start + batch], device)
    return clock


def _gradient_pass(model: nn.Module, layer: str | None, images: torch.Tensor, device: torch.device) -> None:
    if layer is None:
        with torch.no_grad(), autocast(device):
            model(images)
        return
    held: list[torch.Tensor] = []

    def leaf(_module, _inputs, output):  # the graph starts at the layer: nothing below it is kept
        held.append(output.detach().requires_grad_())
        return held[-1]

    handle = dict(model.named_modules())[layer].register_forward_hook(leaf)
    try:
        with torch.enable_grad(), autocast(device):
            logits = model(images)
        torch.autograd.grad(logits.float().max(dim=1).values.sum(), held[-1])
    finally:
        handle.remove()


def u_centre(d: torch.Tensor) -> torch.Tensor:
    """The U-centred matrix of a square ``d`` (Székely and Rizzo 2014), diagonal zero."""
    m = d.shape[0]
    out = (
        d
        - d.sum(1, keepdim=True) / (m - 2)
        - d.sum(0, keepdim=True) / (m - 2)
        + d.sum() / ((m - 1) * (m - 2))
    )
    return out.fill_diagonal_(0.0)


def centring_floor(
    matrices: Sequence[torch.Tensor],
    draws: Sequence[torch.Tensor],
    products: int,
    projections: int = 0,
    squared: bool = False,
) -> Clock:
    """Per subsample (``draws``: index tensors): each N x N matrix's sub-matrix gathered (its
    elementwise square with ``squared``, as debiased CKA reads it) and U-centred, then
    ``products`` sums of elementwise products of two of them and ``projections`` projections
    X - beta Y, each with its two sums (what RS(X|Y) needs). One host sync at the end."""
    device = matrices[0].device
    total = torch.zeros((), dtype=torch.float64, device=device)
    with Clock(device) as clock:
        for ix in draws:
            u = []
            for matrix in matrices:
                sub = matrix[ix.unsqueeze(1), ix]
                u.append(u_centre(sub * sub if squared else sub))
            k = len(u)
            for i in range(products):
                total += (u[i % k] * u[(i + 1 + i // k) % k]).sum()
            for i in range(projections):
                projected = u[i % k] - 0.5 * u[(i + 1) % k]
                total += (projected * u[-1]).sum() + (projected * projected).sum()
        float(total)
    return clock


def imputation_floor(images: torch.Tensor, keeps: Mapping[int, torch.Tensor]) -> Clock:
    """grad-cam's own ROAD imputation (``NoisyLinearImputer``: one sparse system solved on the
    host per image) of every image under each of ``keeps`` (k -> (n, H, W) bool kept pixels), the
    way its removal classes call it. Timed here; a caller scales a sample to the whole count."""
    from pytorch_grad_cam.metrics.road import NoisyLinearImputer

    imputer, host = NoisyLinearImputer(), images.detach().float().cpu()
    with Clock(torch.device("cpu")) as clock:
        for keep in keeps.values():
            for image, mask in zip(host, keep.float(), strict=True):
                imputer(image, mask)
    return clock
