"""timm models by name (``timm:<name>``, e.g. ``timm:resnet26d``), resolved by timm's own registry.

Models are always built with ``pretrained=False``: nothing is downloaded, the weights come from
the user's checkpoint. Where to look inside a model comes from timm's own feature information
(``model.feature_info``, its stages), read off a copy built on the ``meta`` device (no memory, no
compute): the CAM layer is the last stage, the metric taps the last four stages, the feature cut
timm's classifier (``model.get_classifier()``). A model whose last stage does not give feature
maps (n, C, h, w) — a vision transformer's token sequences, a Swin's channels-last maps — has no
place for a CAM, and is refused with a message saying so.
"""

from __future__ import annotations

import difflib
import fnmatch
from functools import lru_cache

import timm
import torch
from torch import nn

from engine.models.spec import ModelError, ModelSpec, UnknownArchitectureError

__all__ = ["TIMM_PREFIX", "NotAConvNetError", "build_timm", "is_timm_name", "timm_architectures", "timm_spec"]

TIMM_PREFIX = "timm:"


class NotAConvNetError(ModelError):
    """A timm model whose stages give no (n, C, h, w) feature maps, so no CAM can be drawn."""


def is_timm_name(arch: str) -> bool:
    return str(arch).strip().lower().startswith(TIMM_PREFIX)


def timm_architectures(pattern: str = "*") -> list[str]:
    """Every timm architecture name (``timm:<name>``) matching a shell-style ``pattern``, sorted.

    Listing builds nothing. Names of non-convolutional models (ViTs, ...) are listed too; choosing
    one gives a clear error.
    """
    return [TIMM_PREFIX + name for name in timm.list_models() if fnmatch.fnmatch(name, pattern)]


def _timm_name(arch: str) -> str:
    name = str(arch).strip()[len(TIMM_PREFIX) :].strip()
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(TIMM_PREFIX + c for c in close)}? " if close else ""
        raise UnknownArchitectureError(
            f"timm has no model {name!r}; {hint}timm_architectures() (or timm.list_models()) lists "
            "the names it knows"
        )
    return name


def build_timm(arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised timm model with a ``num_classes``-way classifier (never pretrained)."""
    timm_spec(arch)  # refuses models KD Lens cannot explain before any memory is spent
    return timm.create_model(_timm_name(arch), pretrained=False, num_classes=num_classes)


@lru_cache(maxsize=256)
def timm_spec(arch: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``timm:<name>``, from timm's feature information and classifier."""
    name = _timm_name(arch)
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, num_classes=2).eval()
    stages = [info["module"] for info in getattr(model, "feature_info", None) or ()]
    classifier = model.get_classifier()
    cut = next((n for n, module in model.named_modules() if module is classifier and n), None)
    label = f"{TIMM_PREFIX}{name}"
    if not stages or cut is None:
        raise NotAConvNetError(
            f"{label} does not describe its stages and a single classifier to KD Lens (timm's "
            "feature_info and get_classifier()); choose a convolutional timm model"
        )
    size = int(model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    _check_feature_maps(model, label, stages[-1], int(model.feature_info[-1]["num_chs"]), size)
    return ModelSpec(label, stages[-1], cut, tuple(stages[-4:]), size)


def _check_feature_maps(model: nn.Module, label: str, layer: str, channels: int, size: int) -> None:
    """Refuse a model whose last stage does not output (n, ``channels``, h, w) feature maps."""
    seen: list[object] = []
    handle = model.get_submodule(layer).register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        with torch.no_grad():
            model(torch.empty(1, 3, size, size, device="meta"))
    except Exception:  # noqa: BLE001 - an op without a meta kernel: judge by the real build later
        return
    finally:
        handle.remove()
    out = seen[-1] if seen else None
    if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[1] == channels:
        return
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    raise NotAConvNetError(
        f"{label} is not a convolutional network KD Lens can draw CAMs on: its last stage {layer!r} "
        f"gives {shape}, not feature maps (n, {channels}, h, w) (vision transformers give token "
        "sequences, Swin-style models channels-last maps). Choose a convolutional timm model, e.g. "
        "timm:resnet26d, timm:efficientnet_b0, timm:mobilenetv3_small_100, timm:convnext_atto, "
        "timm:regnety_002"
    )
