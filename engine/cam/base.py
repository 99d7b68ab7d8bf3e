"""What every CAM method shares: results, layer lookup, input checks and the channel-weighted map.

Grad-CAM and UniCAM differ only in the scalar they differentiate; both then weight each channel
of the target layer's activations A by the spatial mean of the gradient (alpha_k) and draw
ReLU(sum_k alpha_k A_k) (SPEC §3.5). The post-processing follows the ``grad-cam`` package, so
that our Grad-CAM equals theirs: min-max normalise each map, bilinear upsample to the input
size, and min-max normalise again (upsampling can move the maximum off 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine.errors import KDLensError
from engine.models import fixed_size_problem, get_layer, map_rule
from engine.models.token_maps import block_cam_layer

__all__ = ["CamError", "CamResult", "UnicamResult", "default_cam_layer", "resolve_layer"]

# Added to the maximum before dividing, as the grad-cam package does; an all-zero map stays 0.
NORMALISE_EPS = 1e-7


class CamError(KDLensError, ValueError):
    """A CAM cannot be computed for these inputs; the message says what to change."""


@dataclass(frozen=True)
class CamResult:
    """Grad-CAM of a batch. ``maps`` (n, H, W) in [0, 1] per image; ``raw`` (n, H, W) the
    unnormalised ReLU map at input size (one absolute scale); ``signed`` (n, h, w) before ReLU at
    layer resolution; ``targets`` (n,) the explained classes; ``probabilities`` (n, k)."""

    maps: np.ndarray
    raw: np.ndarray
    signed: np.ndarray
    targets: np.ndarray
    probabilities: np.ndarray


@dataclass(frozen=True)
class UnicamResult:
    """UniCAM of a context batch (arrays as in :class:`CamResult`). ``objective`` is the value of
    the scalar that was differentiated; ``no_unique_features`` is True when X carries nothing
    beyond Y (e.g. identical weights): the maps are then all zero, never NaN."""

    maps: np.ndarray
    raw: np.ndarray
    signed: np.ndarray
    objective: float
    no_unique_features: bool


def resolve_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """(dotted name, module) of a layer given by name or as a submodule of ``model``."""
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise CamError(
            f"the layer {type(layer).__name__} is not a submodule of the {type(model).__name__}; "
            "pass a layer of the model being explained, or its dotted name (e.g. 'layer4.1')."
        )
    return str(layer), get_layer(model, str(layer))


_POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout)


def default_cam_layer(model: nn.Module) -> str:
    """The model's last convolutional stage, found from its last ``nn.Conv2d``; for a plain
    vision transformer (patch tokens in ``blocks``) its last block's ``norm1``.

    Inside the top-level container that holds that conv: when its children are blocks (ResNet
    ``layer4`` -> ``layer4.1``; MobileNet/EfficientNet ``features`` -> ``features.18``) the block
    holding the conv; when they are single layers ending in a pool (VGG ``features``) the layer
    before the pool (``features.42``); otherwise the whole container (small CNNs: ``stage4``).
    """
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.Sequential | nn.ModuleList) and len(blocks) and map_rule(model).grid:
        return block_cam_layer(model, f"blocks.{len(blocks) - 1}")
    convs = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise CamError(
            f"the {type(model).__name__} has no nn.Conv2d layer, so no default CAM layer; "
            "name the target layer explicitly."
        )
    parts = convs[-1].split(".")
    if len(parts) == 1:
        return parts[0]
    stage = get_layer(model, parts[0])
    block = get_layer(model, f"{parts[0]}.{parts[1]}")
    if len(list(block.children())) > 0:
        return f"{parts[0]}.{parts[1]}"
    children = list(stage.named_children())
    if children and isinstance(children[-1][1], _POOLING) and len(children) > 1:
        return f"{parts[0]}.{children[-2][0]}"
    return parts[0]


def model_device(model: nn.Module) -> torch.device:
    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def check_images(images, model: nn.Module) -> torch.Tensor:
    """A detached float (n, 3, H, W) batch on the model's device (images are already normalised)."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise CamError(
            f"images must be a batch tensor of shape (n, channels, height, width), got {shape}; "
            "add a batch dimension with images[None] for a single image."
        )
    if len(images) == 0:
        raise CamError("the image batch is empty; pass at least one image.")
    if not images.is_floating_point():
        raise CamError(f"images must be floating point (normalised), got dtype {images.dtype}.")
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None and images.shape[1] != first.in_channels:
        raise CamError(
            f"the images have {images.shape[1]} channel(s) but the {type(model).__name__}'s first "
            f"convolution takes {first.in_channels}; give (n, {first.in_channels}, H, W) images "
            "(grey images: repeat the channel, e.g. images.expand(-1, 3, -1, -1))."
        )
    problem = images.shape[-1] == images.shape[-2] and fixed_size_problem(model, int(images.shape[-1]))
    if problem:
        raise CamError(problem)
    # float16/float64 images on a float32 model: the model's own dtype (exact for float16)
    return images.detach().to(device=model_device(model), dtype=_model_dtype(model))


def _model_dtype(model: nn.Module) -> torch.dtype:
    for parameter in model.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32


def check_layer_size(activations: torch.Tensor, size) -> None:
    """A CAM needs a layer map larger than one value per image: at 1 x 1 every map is all zero."""
    if activations.ndim == 4 and tuple(activations.shape[-2:]) == (1, 1):
        raise CamError(
            f"the images ({int(size[0])}x{int(size[1])} px) are too small for the target layer: its "
            "activations are 1x1, so each map would be one value and come out all zero. Give larger "
            "images (resize them to the model's input size) or explain an earlier layer."
        )


def _min_max(maps: torch.Tensor) -> torch.Tensor:
    shifted = maps - maps.amin(dim=(-2, -1), keepdim=True)
    return shifted / (shifted.amax(dim=(-2, -1), keepdim=True) + NORMALISE_EPS)


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def channel_weighted_maps(
    activations: torch.Tensor, gradients: torch.Tensor, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(maps, raw, signed) from A and dL/dA: alpha = spatial mean of the gradient per channel.

    Weights and the channel sum are taken in float64 so the result does not depend on the
    summation order; the maps come back as float32 numpy arrays.
    """
    if activations.ndim != 4:
        raise CamError(
            f"the target layer gives activations of shape {tuple(activations.shape)}; a CAM needs a "
            "convolutional layer with (n, channels, height, width) output (e.g. 'layer4.1'), or a "
            "transformer block whose patch tokens fold into their grid (e.g. 'blocks.11.norm1')."
        )
    check_layer_size(activations, size)
    a = activations.detach().to(torch.float64)
    alpha = gradients.detach().to(torch.float64).mean(dim=(2, 3), keepdim=True)
    signed = (alpha * a).sum(dim=1).to(torch.float32)
    relu = signed.clamp_min(0.0)
    size = (int(size[0]), int(size[1]))
    maps = _min_max(_upsample(_min_max(relu), size))
    raw = _upsample(relu, size)
    return _numpy(maps), _numpy(raw), _numpy(signed)


def zero_maps(activations: torch.Tensor, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All-zero (maps, raw, signed) with the shapes :func:`channel_weighted_maps` returns."""
    check_layer_size(activations, size)
    n, _, h, w = activations.shape
    full = np.zeros((n, int(size[0]), int(size[1])), dtype=np.float32)
    return full, full.copy(), np.zeros((n, h, w), dtype=np.float32)


def _numpy(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
