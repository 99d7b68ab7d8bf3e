"""Grad-CAM (Selvaraju et al. 2017) of one model at one layer, for the predicted or a chosen class.

The objective is the sum over the batch of each image's target logit; images are independent
in eval mode, so each map is that image's own Grad-CAM. Matches the ``grad-cam`` package's
``GradCAM`` with ``ClassifierOutputTarget`` (checked in tests to 1e-5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from engine.cam.base import CamError, CamResult, channel_weighted_maps, check_images, resolve_layer
from engine.cam.hooks import LayerHooks
from engine.devices import autocast

__all__ = ["grad_cam"]


def grad_cam(
    model: nn.Module,
    layer: str | nn.Module,
    images: torch.Tensor,
    target: int | Sequence[int] | np.ndarray | torch.Tensor | None = None,
) -> CamResult:
    """Grad-CAM maps of ``images`` (normalised, (n, 3, H, W)) at ``layer`` of ``model``.

    ``target``: None explains each image's predicted class; an int explains that class for every
    image; a sequence gives one class per image.
    """
    images = check_images(images, model)
    name, _ = resolve_layer(model, layer)
    with LayerHooks(model, [name]) as hooks, torch.enable_grad():
        with autocast(images.device):  # a GPU's forward only; the backward runs outside
            logits = model(images)
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
            raise CamError(
                f"the {type(model).__name__} must return class scores of shape (n, classes) for "
                "Grad-CAM; wrap it so that its forward returns the logits."
            )
        targets = _targets(target, logits.detach())
        score = logits.gather(1, targets[:, None]).sum()
        gradient = hooks.gradients(score)[name]
        maps, raw, signed = channel_weighted_maps(hooks.activation(name), gradient, images.shape[-2:])
    probabilities = torch.softmax(logits.detach().to(torch.float32), dim=1).cpu().numpy()
    return CamResult(
        maps=maps,
        raw=raw,
        signed=signed,
        targets=targets.cpu().numpy().astype(np.int64),
        probabilities=np.ascontiguousarray(probabilities, dtype=np.float32),
    )


def _targets(target, logits: torch.Tensor) -> torch.Tensor:
    n, k = logits.shape
    if target is None:
        return logits.argmax(dim=1)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        chosen = torch.full((n,), int(target), dtype=torch.int64)
    else:
        chosen = torch.as_tensor(np.asarray(target)).reshape(-1)
        if chosen.is_floating_point() or chosen.dtype == torch.bool or len(chosen) != n:
            raise CamError(
                f"target must be None, one class index, or {n} integer class indices (one per "
                f"image); got {np.asarray(target).dtype} of shape {tuple(np.asarray(target).shape)}."
            )
        chosen = chosen.to(torch.int64)
    if bool(((chosen < 0) | (chosen >= k)).any()):
        raise CamError(f"target class indices must lie in [0, {k - 1}] for this {k}-class model.")
    return chosen.to(logits.device)
