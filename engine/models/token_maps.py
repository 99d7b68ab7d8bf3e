"""Every layer's output seen as feature maps (n, C, h, w): the one rule per model family.

CAMs weight the channels of (n, C, h, w) activations and the metrics flatten a layer's map, but
transformers give other shapes. :func:`map_rule` reads a model's rule once; :func:`feature_map`
applies it to one layer's output. The hooks of :mod:`engine.cam.hooks` apply it for every CAM
(Grad-CAM, UniCAM), metric tap (FSS, RS, LP), feature-based KD loss and the sanity check, so all
of them see the same maps and drop the same tokens.

============================================  ==================  ===========================
family                                        a layer gives       turned into (n, C, h, w) by
============================================  ==================  ===========================
CNNs; hybrids with conv stages (MobileViT,    (n, C, h, w)        nothing: used as it is
LeViT-conv, EfficientViT)
plain ViTs (ViT, DeiT, DeiT distilled, BEiT,  (n, T, C) tokens    dropping the first T - h*w
EVA, CaiT, ...)                                                   tokens (class, distillation
                                                                  and register tokens: timm's
                                                                  ``num_prefix_tokens``), then
                                                                  folding the rest row-major
                                                                  into the (h, w) patch grid
token hierarchies (LeViT)                     (n, h*w, C)         folding into the square grid
Swin, SwinV2 (timm's ``output_fmt`` "NHWC")   (n, h, w, C)        moving channels first
                                                                  (a convolution's output, the
                                                                  patch embedding's, stays)
============================================  ==================  ===========================

The patch grid is the model's (``patch_embed.grid_size``) when the token count fits it, else
the square one (a ViT built with ``dynamic_img_size``). A 3-D output that fits no grid is left
as it is: the metrics still flatten it, a CAM refuses it with a message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["MapRule", "block_cam_layer", "feature_map", "fixed_size_problem", "map_rule"]


@dataclass(frozen=True)
class MapRule:
    """How one model's layer outputs become maps: channels-last stages, the prefix tokens to drop,
    the patch grid (None when the model has none)."""

    channels_last: bool = False
    prefix_tokens: int = 0
    grid: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        """The rule in words, as the documentation names it."""
        if self.channels_last:
            return "channels-last maps (n, h, w, C): channels moved first"
        if self.prefix_tokens or self.grid:
            return f"tokens (n, T, C): {self.prefix_tokens} prefix token(s) dropped, the rest folded"
        return "feature maps (n, C, h, w) as they are"


def _format(module: nn.Module) -> str:
    fmt = getattr(module, "output_fmt", "")
    return str(getattr(fmt, "value", fmt)).upper()


def map_rule(model: nn.Module) -> MapRule:
    """The rule of ``model``, read off the outermost module declaring each part (so a user's
    wrapper around a timm model gets the timm model's rule): the stage format (timm's
    ``output_fmt``; a patch embedding's own format does not count), the prefix tokens
    (``num_prefix_tokens``) and the patch grid (``patch_embed.grid_size``)."""
    modules = list(model.modules())
    fmt = next(
        (_format(m) for m in modules if _format(m) and "patchembed" not in type(m).__name__.lower()), ""
    )
    if fmt == "NHWC":
        return MapRule(channels_last=True)
    prefix = next(
        (m.num_prefix_tokens for m in modules if isinstance(getattr(m, "num_prefix_tokens", None), int)), 0
    )
    sizes = (getattr(getattr(m, "patch_embed", None), "grid_size", None) for m in modules)
    grid = next(((int(s[0]), int(s[1])) for s in sizes if isinstance(s, (tuple, list)) and len(s) == 2), None)
    return MapRule(prefix_tokens=prefix, grid=grid)


def feature_map(rule: MapRule, module: nn.Module, output: object) -> object:
    """``output`` of ``module`` (the first tensor of a tuple) as (n, C, h, w) maps under ``rule``.

    Views only (slicing, reshape, permute): gradients flow through, and the map of a gradient
    with respect to the output is the gradient with respect to the map.
    """
    tensor = output[0] if isinstance(output, tuple) else output
    if not isinstance(tensor, torch.Tensor):
        return tensor
    if tensor.ndim == 4 and rule.channels_last and not isinstance(module, nn.Conv2d):
        return tensor.permute(0, 3, 1, 2)
    if tensor.ndim == 3:
        grid = _grid(rule, tensor.shape[1])
        if grid is not None:
            prefix, (h, w) = grid
            n, _, channels = tensor.shape
            return tensor[:, prefix:, :].reshape(n, h, w, channels).permute(0, 3, 1, 2)
    return tensor


def _grid(rule: MapRule, tokens: int) -> tuple[int, tuple[int, int]] | None:
    """(prefix tokens, (h, w)) that ``tokens`` fit: the model's prefix first, then none."""
    for prefix in dict.fromkeys((rule.prefix_tokens, 0)):
        cells = tokens - prefix
        if cells <= 0:
            continue
        if rule.grid is not None and cells == rule.grid[0] * rule.grid[1]:
            return prefix, rule.grid
        side = math.isqrt(cells)
        if side * side == cells:
            return prefix, (side, side)
    return None


def block_cam_layer(model: nn.Module, block: str) -> str:
    """Where a plain ViT's CAM is drawn: its last block's first norm (``norm1``), as the grad-cam
    package advises. The class token reads the patch tokens through that block's attention; the
    block's own output reaches the classifier through the class token alone, so the patch tokens
    there get no gradient and every map would be zero."""
    norm = f"{block}.norm1"
    return norm if norm in dict(model.named_modules()) else block


def fixed_size_problem(model: nn.Module, size: int) -> str | None:
    """Why ``model`` cannot take ``size`` x ``size`` images, or None.

    Transformers built for one image size (a patch embedding with a fixed grid: ViT, DeiT, Swin,
    BEiT, ...) refuse any other; timm's own error ("Input height ... doesn't match") says nothing
    about what to change.
    """
    if getattr(model, "dynamic_img_size", False):
        return None
    for module in model.modules():
        embed = getattr(module, "patch_embed", None)
        fixed = getattr(embed, "img_size", None)
        if (
            fixed is None
            or not getattr(embed, "strict_img_size", False)
            or getattr(module, "dynamic_img_size", False)
        ):
            continue
        side = tuple(int(s) for s in fixed) if isinstance(fixed, (tuple, list)) else (int(fixed),) * 2
        if side != (size, size):
            return (
                f"the {type(module).__name__} was built for {side[0]} x {side[1]} px images and cannot take "
                f"{size} x {size} px ones; resize the images to {side[0]} px (dataset.image_size, "
                f"--image-size {side[0]}), or build it for {size} px (timm:<name>?img_size={size}; ViTs "
                "also take dynamic_img_size=true)"
            )
        return None
    return None
