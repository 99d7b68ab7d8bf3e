"""The architectures KD Lens knows, by name, and where to look inside each (SPEC §3, §4, §6).

An explicit name -> factory table (so PyInstaller sees every import and the GUI can list the
choices) of torchvision classifiers, built with ``weights=None`` (no downloads, ever), and two
small CNNs for fast CPU work: ``large_cnn`` (fit to teach) and ``small_cnn`` (fit to learn).

Each architecture has a :class:`ModelSpec` with its defaults: ``cam_layer`` (the layer whose
output Grad-CAM/UniCAM maps are drawn on), ``feature_cut`` (the final classifier ``nn.Linear``;
UniCAM's features are that layer's *input*, the pooled penultimate features) and
``metric_taps`` (the stage outputs where FSS/RS are measured). Layers are named as in
``model.named_modules()``, e.g. ``layer4.1`` or ``features.18``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models as tv

from engine.errors import KDLensError

__all__ = [
    "ModelError",
    "ModelSpec",
    "StagedCNN",
    "UnknownArchitectureError",
    "UnknownLayerError",
    "build_model",
    "default_feature_cut",
    "get_layer",
    "get_spec",
    "layer_names",
    "list_architectures",
]


class ModelError(KDLensError, ValueError):
    """A model cannot be built or looked into as asked; the message says how to fix it."""


class UnknownArchitectureError(ModelError):
    """An architecture name that is not in the registry."""


class UnknownLayerError(ModelError):
    """A layer name that the model does not have."""


@dataclass(frozen=True)
class ModelSpec:
    """What KD Lens needs to know about one architecture.

    ``input_size`` is the side in pixels the architecture is usually trained at (any size that
    survives its downsampling works: every registered model pools adaptively).
    """

    name: str
    family: str
    cam_layer: str
    feature_cut: str
    metric_taps: tuple[str, ...]
    input_size: int


class StagedCNN(nn.Module):
    """A plain CNN of four named stages, a global average ``pool`` and an ``fc`` classifier.

    Each stage is ``convs`` x (3x3 conv, batch norm, ReLU); the first conv of a stage applies
    its stride. Strides (2, 1, 2, 1) keep the last stage at 1/4 of the input (8 x 8 at 32 px), so
    CAMs on ``stage4`` stay readable on small images, while the stride-2 stem keeps CPU training
    cheap (about 2 s per 1000 images of 32 px per epoch for ``large_cnn`` on 2 cores).
    """

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, int, int, int],
        convs: tuple[int, int, int, int],
        strides: tuple[int, int, int, int] = (2, 1, 2, 1),
    ) -> None:
        super().__init__()
        channels = 3
        for index, (width, count, stride) in enumerate(zip(widths, convs, strides, strict=True), start=1):
            layers: list[nn.Module] = []
            for conv in range(count):
                layers += [
                    nn.Conv2d(channels, width, 3, stride=stride if conv == 0 else 1, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
            self.add_module(f"stage{index}", nn.Sequential(*layers))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage4(self.stage3(self.stage2(self.stage1(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def _large_cnn(num_classes: int) -> nn.Module:
    return StagedCNN(num_classes, widths=(32, 48, 96, 128), convs=(1, 1, 1, 1))


def _small_cnn(num_classes: int) -> nn.Module:
    return StagedCNN(num_classes, widths=(16, 24, 32, 48), convs=(1, 1, 1, 1))


def _torchvision(builder: Callable[..., nn.Module]) -> Callable[[int], nn.Module]:
    def factory(num_classes: int) -> nn.Module:
        return builder(weights=None, num_classes=num_classes)

    return factory


def _resnet(name: str, last_block: int) -> ModelSpec:
    taps = ("layer1", "layer2", "layer3", "layer4")
    return ModelSpec(name, "resnet", f"layer4.{last_block}", "fc", taps, 224)


def _features(name: str, family: str, cam: int, taps: tuple[int, ...], classifier: int) -> ModelSpec:
    tap_names = tuple(f"features.{index}" for index in taps)
    return ModelSpec(name, family, f"features.{cam}", f"classifier.{classifier}", tap_names, 224)


_CNN_TAPS = ("stage1", "stage2", "stage3", "stage4")

# name -> (factory(num_classes), spec). Stage indices were read off the torchvision modules:
# MobileNet/EfficientNet taps end each resolution stage; VGG taps are its max-pool outputs and
# its CAM layer the last ReLU before the final pool.
_REGISTRY: dict[str, tuple[Callable[[int], nn.Module], ModelSpec]] = {
    "resnet18": (_torchvision(tv.resnet18), _resnet("resnet18", 1)),
    "resnet34": (_torchvision(tv.resnet34), _resnet("resnet34", 2)),
    "resnet50": (_torchvision(tv.resnet50), _resnet("resnet50", 2)),
    "resnet101": (_torchvision(tv.resnet101), _resnet("resnet101", 2)),
    "mobilenet_v2": (
        _torchvision(tv.mobilenet_v2),
        _features("mobilenet_v2", "mobilenet", 18, (3, 6, 13, 18), 1),
    ),
    "mobilenet_v3_small": (
        _torchvision(tv.mobilenet_v3_small),
        _features("mobilenet_v3_small", "mobilenet", 12, (1, 3, 8, 12), 3),
    ),
    "mobilenet_v3_large": (
        _torchvision(tv.mobilenet_v3_large),
        _features("mobilenet_v3_large", "mobilenet", 16, (3, 6, 12, 16), 3),
    ),
    "vgg11_bn": (_torchvision(tv.vgg11_bn), _features("vgg11_bn", "vgg", 27, (7, 14, 21, 28), 6)),
    "vgg16_bn": (_torchvision(tv.vgg16_bn), _features("vgg16_bn", "vgg", 42, (13, 23, 33, 43), 6)),
    "efficientnet_b0": (
        _torchvision(tv.efficientnet_b0),
        _features("efficientnet_b0", "efficientnet", 8, (2, 3, 5, 8), 1),
    ),
    "large_cnn": (_large_cnn, ModelSpec("large_cnn", "cnn", "stage4", "fc", _CNN_TAPS, 32)),
    "small_cnn": (_small_cnn, ModelSpec("small_cnn", "cnn", "stage4", "fc", _CNN_TAPS, 32)),
}


def list_architectures() -> list[str]:
    """Every registered architecture name, in registry order (torchvision first, then small CNNs)."""
    return list(_REGISTRY)


def _lookup(arch: str) -> tuple[Callable[[int], nn.Module], ModelSpec]:
    key = str(arch).strip().lower().replace("-", "_")
    if key in _REGISTRY:
        return _REGISTRY[key]
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownArchitectureError(
        f"unknown architecture {arch!r}; {hint}known architectures: {', '.join(_REGISTRY)}"
    )


def get_spec(arch: str) -> ModelSpec:
    """The defaults (CAM layer, feature cut, metric taps, input size) of a registered architecture."""
    return _lookup(arch)[1]


def build_model(arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised ``arch`` with a ``num_classes``-way classifier (no pretrained weights).

    Initialisation draws from torch's global RNG: seed it first for reproducible weights.
    """
    factory, _ = _lookup(arch)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ModelError(f"a classifier needs at least 2 classes, got num_classes={num_classes!r}")
    return factory(num_classes)


def layer_names(model: nn.Module) -> list[str]:
    """The names of every submodule, as ``named_modules()`` spells them (the root is left out)."""
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; an unknown name raises an error listing the closest ones."""
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    names = [candidate for candidate in modules if candidate]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    if close:
        hint = f"close matches: {', '.join(close)}"
    else:
        top = sorted({candidate.split(".")[0] for candidate in names})
        hint = f"its top-level layers are: {', '.join(top)}"
    raise UnknownLayerError(
        f"the {type(model).__name__} has no layer {name!r}; {hint}. Pick a layer by its dotted name "
        f"(as in model.named_modules(), e.g. {names[-1] if names else 'layer4.1'})."
    )


def default_feature_cut(model: nn.Module) -> str:
    """The name of the model's last ``nn.Linear``: UniCAM's features are that layer's input."""
    linear = [name for name, module in model.named_modules() if isinstance(module, nn.Linear) and name]
    if not linear:
        raise UnknownLayerError(
            f"the {type(model).__name__} has no nn.Linear classifier to cut features at; "
            "name a feature cut layer explicitly (its input is used as the features)"
        )
    return linear[-1]
