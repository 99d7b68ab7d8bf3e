"""torchvision classifiers by name, always built with ``weights=None`` (no downloads, ever).

torchvision is imported when one is built, not when the table is read: importing its models pulls
in torch's compiler modules, seconds of start-up that an analysis of other models never needs."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from engine.models.spec import ModelSpec

__all__ = ["TORCHVISION"]


def _torchvision(name: str) -> Callable[[int], nn.Module]:
    def factory(num_classes: int) -> nn.Module:
        from torchvision import models

        return getattr(models, name)(weights=None, num_classes=num_classes)

    return factory


def _resnet(name: str, last_block: int) -> ModelSpec:
    taps = ("layer1", "layer2", "layer3", "layer4")
    return ModelSpec(name, f"layer4.{last_block}", "fc", taps, 224)


def _features(name: str, cam: int, taps: tuple[int, ...], classifier: int) -> ModelSpec:
    tap_names = tuple(f"features.{index}" for index in taps)
    return ModelSpec(name, f"features.{cam}", f"classifier.{classifier}", tap_names, 224)


# name -> (factory(num_classes), spec). Stage indices were read off the torchvision modules:
# MobileNet/EfficientNet taps end each resolution stage; VGG taps are its max-pool outputs and
# its CAM layer the last ReLU before the final pool.
TORCHVISION: dict[str, tuple[Callable[[int], nn.Module], ModelSpec]] = {
    "resnet18": (_torchvision("resnet18"), _resnet("resnet18", 1)),
    "resnet34": (_torchvision("resnet34"), _resnet("resnet34", 2)),
    "resnet50": (_torchvision("resnet50"), _resnet("resnet50", 2)),
    "resnet101": (_torchvision("resnet101"), _resnet("resnet101", 2)),
    "mobilenet_v2": (
        _torchvision("mobilenet_v2"),
        _features("mobilenet_v2", 18, (3, 6, 13, 18), 1),
    ),
    "mobilenet_v3_small": (
        _torchvision("mobilenet_v3_small"),
        _features("mobilenet_v3_small", 12, (1, 3, 8, 12), 3),
    ),
    "mobilenet_v3_large": (
        _torchvision("mobilenet_v3_large"),
        _features("mobilenet_v3_large", 16, (3, 6, 12, 16), 3),
    ),
    "vgg11_bn": (_torchvision("vgg11_bn"), _features("vgg11_bn", 27, (7, 14, 21, 28), 6)),
    "vgg16_bn": (_torchvision("vgg16_bn"), _features("vgg16_bn", 42, (13, 23, 33, 43), 6)),
    "efficientnet_b0": (
        _torchvision("efficientnet_b0"),
        _features("efficientnet_b0", 8, (2, 3, 5, 8), 1),
    ),
}
