"""timm models by name (``timm:<name>``, e.g. ``timm:resnet26d``), resolved by timm's own registry,
with timm's own keyword arguments after a ``?`` (:mod:`engine.models.timm_options`).

Models are always built with ``pretrained=False``: nothing is downloaded, the weights come from
the user's checkpoint. ``timm`` is imported only here, inside the functions that use it, so
importing the engine stays fast. Where to look inside a model comes from timm's own feature
information (``model.feature_info``), read off a copy built on the ``meta`` device (no memory, no
compute), and its classifier (``get_classifier()``: the feature cut; a distilled model's class
head). Per family:

- **hierarchical** models, whose stages shrink the image (CNNs, Swin, LeViT, MobileViT, ...): the
  CAM layer is the last stage, the metric taps the last four stages;
- **plain** vision transformers, whose blocks all keep one patch grid (ViT, DeiT with or without
  a distillation token, BEiT, EVA, CaiT, ...): the metric taps are four blocks spread over the
  depth (the ends of its quarters) and the CAM layer is the last block's ``norm1``
  (:func:`engine.models.token_maps.block_cam_layer`).

Token and channels-last outputs become (n, C, h, w) maps by :mod:`engine.models.token_maps`.
A model whose CAM layer or taps give nothing that rule can turn into maps is refused with a
message saying so (:class:`NotAConvNetError`).
"""

from __future__ import annotations

import difflib
import fnmatch
from functools import lru_cache

import torch
from torch import nn

from engine.models.layers import classifier_layer
from engine.models.spec import ModelError, ModelSpec, UnknownArchitectureError
from engine.models.timm_options import OptionValue, arch_label, check_options, split_options
from engine.models.token_maps import block_cam_layer, feature_map, map_rule

__all__ = [
    "TIMM_EXAMPLES",
    "TIMM_PREFIX",
    "NotAConvNetError",
    "build_timm",
    "is_timm_name",
    "timm_architectures",
    "timm_spec",
]

TIMM_PREFIX = "timm:"

#: small transformers for 32 px images (shapes, CIFAR), offered first in the window's search
TIMM_EXAMPLES = (
    "timm:vit_tiny_patch16_224?img_size=32&patch_size=4&depth=4&embed_dim=96&num_heads=3",
    "timm:deit_tiny_distilled_patch16_224?img_size=32&patch_size=4&depth=4&embed_dim=96&num_heads=3",
    "timm:swin_tiny_patch4_window7_224?img_size=32&window_size=4&embed_dim=48&depths=2,2&num_heads=2,4",
)


class NotAConvNetError(ModelError):
    """A timm model in which KD Lens finds no (n, C, h, w) feature maps, so no CAM can be drawn."""


def is_timm_name(arch: str) -> bool:
    return str(arch).strip().lower().startswith(TIMM_PREFIX)


def timm_architectures(pattern: str = "*") -> list[str]:
    """Every timm architecture name (``timm:<name>``) matching a shell-style ``pattern``, sorted.

    Listing builds nothing; a name KD Lens cannot explain gives a clear error when chosen.
    """
    import timm

    return [TIMM_PREFIX + name for name in timm.list_models() if fnmatch.fnmatch(name, pattern)]


def _parts(arch: str) -> tuple[str, dict[str, OptionValue], str]:
    """(timm's model name, its options, the name as KD Lens writes it) of ``timm:<name>?...``."""
    import timm

    name, options = split_options(str(arch).strip()[len(TIMM_PREFIX) :])
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(TIMM_PREFIX + c for c in close)}? " if close else ""
        raise UnknownArchitectureError(
            f"timm has no model {name!r}; {hint}timm_architectures() (or timm.list_models()) lists "
            "the names it knows"
        )
    return name, options, arch_label(TIMM_PREFIX, name, options)


def build_timm(arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised timm model with a ``num_classes``-way classifier (never pretrained)."""
    import timm

    timm_spec(arch)  # refuses models KD Lens cannot explain before any memory is spent
    name, options, _ = _parts(arch)
    return timm.create_model(name, pretrained=False, num_classes=num_classes, **options)


@lru_cache(maxsize=64)
def _model_class(name: str) -> type:
    import timm

    with torch.device("meta"):
        return type(timm.create_model(name, pretrained=False, num_classes=2))


def _meta_model(name: str, options: dict[str, OptionValue], label: str) -> nn.Module:
    """The model on the meta device; timm's refusal of the options said plainly."""
    import timm

    check_options(label, _model_class(name), options)
    try:
        with torch.device("meta"):
            return timm.create_model(name, pretrained=False, num_classes=2, **options).eval()
    except (TypeError, ValueError, AssertionError, RuntimeError, KeyError, IndexError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"timm cannot build {label} with these options: {reason}") from None


@lru_cache(maxsize=256)
def timm_spec(arch: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``timm:<name>[?options]`` from timm's feature information."""
    name, options, label = _parts(arch)
    model = _meta_model(name, options, label)
    info = list(getattr(model, "feature_info", None) or ())
    cut = classifier_layer(model)
    if not info or cut is None:
        raise NotAConvNetError(
            f"{label} does not describe its stages and a classifier to KD Lens (timm's feature_info "
            "and get_classifier()); choose another timm model"
        )
    if any(n == "unroll" or n.endswith(".unroll") for n, _ in model.named_modules()):
        raise NotAConvNetError(
            f"{label} keeps its tokens in an unrolled (mask-unit) order, not in rows of its patch grid, "
            "so KD Lens cannot fold them into maps; choose another timm model"
        )
    stages = {entry["module"]: int(entry["num_chs"]) for entry in info}
    names = list(stages)
    if len({entry.get("reduction") for entry in info}) == 1 and len(names) > 1:  # one patch grid
        taps = tuple(dict.fromkeys(names[max(0, round(len(names) * k / 4) - 1)] for k in (1, 2, 3, 4)))
        cam = block_cam_layer(model, names[-1])
    else:
        taps, cam = tuple(names[-4:]), names[-1]
    size = options.get("img_size") or model.pretrained_cfg.get("input_size", (3, 224, 224))
    size = int(size[-1] if isinstance(size, (tuple, list)) else size)
    channels = {cam: stages[names[-1]], **{tap: stages[tap] for tap in taps}}
    _check_feature_maps(model, label, channels, size)
    return ModelSpec(label, cam, cut, taps, size)


def _check_feature_maps(model: nn.Module, label: str, channels: dict[str, int], size: int) -> None:
    """Refuse a model whose CAM layer (the first of ``channels``, name -> channel count) or taps
    give nothing :mod:`token_maps` turns into (n, channels, h, w) maps, or whose CAM layer does
    not reach the logits (every map there would be zero). One forward and backward on ``meta``."""
    rule, seen, cam = map_rule(model), {}, next(iter(channels))
    try:
        handles = [
            model.get_submodule(layer).register_forward_hook(_keeper(rule, seen, layer, cam))
            for layer in channels
        ]
    except AttributeError as error:
        raise NotAConvNetError(
            f"{label}: timm's feature_info names a layer the model lacks ({error})"
        ) from None
    try:
        reached = _reaches_logits(model, size, seen)
    except (AssertionError, ValueError) as error:  # timm's own checks: sizes that do not fit
        raise ModelError(f"{label} does not run on {size} x {size} px images: {error}") from None
    except Exception:  # noqa: BLE001 - an op without a meta kernel: judge by the real build later
        return
    finally:
        for handle in handles:
            handle.remove()
    for layer, count in channels.items():
        out = seen.get(layer)
        if isinstance(out, torch.Tensor) and out.ndim == 4 and out.shape[1] == count:
            continue
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise NotAConvNetError(
            f"{label}: KD Lens finds no feature maps in it: its layer {layer!r} gives {shape}, which is "
            f"neither (n, {count}, h, w) maps, nor patch tokens (n, T, {count}) that fold into a grid, "
            "nor channels-last maps of a model that says so (timm's output_fmt). Choose another timm "
            "model, e.g. timm:resnet26d, timm:convnext_atto, timm:deit_tiny_patch16_224, "
            "timm:swin_tiny_patch4_window7_224"
        )
    if reached is False:
        raise NotAConvNetError(
            f"{label}: the output of its last stage {cam!r} does not reach the logits (its class token "
            "travels apart), so every CAM drawn there would be zero; choose another timm model"
        )


def _keeper(rule, seen: dict, layer: str, cam: str):
    """A hook keeping ``layer``'s output as maps; the CAM layer's output becomes a leaf."""

    def hook(module: nn.Module, _args, out):
        seen.setdefault(layer, feature_map(rule, module, out))
        first = out[0] if isinstance(out, tuple) and out else out
        if layer != cam or "leaf" in seen or not isinstance(first, torch.Tensor):
            return None
        seen["leaf"] = first.detach().requires_grad_(True)
        return (seen["leaf"], *out[1:]) if isinstance(out, tuple) else seen["leaf"]

    return hook


def _reaches_logits(model: nn.Module, size: int, seen: dict) -> bool | None:
    """Whether the logits depend on the CAM layer's leaf (None: no leaf was made)."""
    with torch.enable_grad():
        logits = model(torch.empty(1, 3, size, size, device="meta"))
        leaf = seen.pop("leaf", None)
        if leaf is None or not isinstance(logits, torch.Tensor) or not logits.requires_grad:
            return None if leaf is None else False
        return torch.autograd.grad(logits.sum(), leaf, allow_unused=True)[0] is not None
