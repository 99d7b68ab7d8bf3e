"""The CIFAR-100 KD zoo by the names its papers' code uses (RepDistiller, mdistiller): CIFAR
ResNets, Wide ResNets, VGG with batch norm, MobileNetV2 (width 0.5) and ShuffleV2, with the
parameter names of that code so that its checkpoints (``{"model": state_dict}``) load unchanged.

Each architecture is written here from its paper's definition; ``CIFAR_ZOO`` maps each name to
its factory and :class:`~engine.models.spec.ModelSpec` (all trained at 32 px).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from engine.models.cifar.mobilenetv2 import CifarMobileNetV2
from engine.models.cifar.resnet import CifarResNet, resnet_stages
from engine.models.cifar.shufflenetv2 import CifarShuffleNetV2
from engine.models.cifar.vgg import VGG_CONFIGS, CifarVGG
from engine.models.cifar.wrn import WideResNet
from engine.models.spec import ModelSpec

__all__ = ["CIFAR_ZOO"]

Entry = tuple[Callable[[int], nn.Module], ModelSpec]

_THREE_STAGES = ("layer1", "layer2", "layer3")


def _resnet(name: str, depth: int, widths: tuple[int, int, int, int]) -> Entry:
    last = resnet_stages(depth) - 1
    spec = ModelSpec(name, f"layer3.{last}", "fc", _THREE_STAGES, 32)
    return (lambda k: CifarResNet(depth, widths, k)), spec


def _wrn(name: str, depth: int, widen: int) -> Entry:
    spec = ModelSpec(name, "block3", "fc", ("block1", "block2", "block3"), 32)
    return (lambda k: WideResNet(depth, widen, k)), spec


def _vgg(name: str) -> Entry:
    taps = ("block1", "block2", "block3", "block4")
    spec = ModelSpec(name, "block4", "classifier", taps, 32)
    return (lambda k: CifarVGG(VGG_CONFIGS[name], k)), spec


_NARROW = (16, 16, 32, 64)
_WIDE = (32, 64, 128, 256)
_MOBILENET_TAPS = ("blocks.1", "blocks.2", "blocks.4", "blocks.6")

CIFAR_ZOO: dict[str, Entry] = {
    **{f"resnet{d}": _resnet(f"resnet{d}", d, _NARROW) for d in (8, 14, 20, 32, 44, 56, 110)},
    "resnet8x4": _resnet("resnet8x4", 8, _WIDE),
    "resnet32x4": _resnet("resnet32x4", 32, _WIDE),
    **{f"wrn_{d}_{k}": _wrn(f"wrn_{d}_{k}", d, k) for d in (16, 40) for k in (1, 2)},
    **{name: _vgg(name) for name in VGG_CONFIGS},
    "mobilenetv2": (
        CifarMobileNetV2,
        ModelSpec("MobileNetV2", "conv2", "classifier.0", _MOBILENET_TAPS, 32),
    ),
    "mobile_half": (
        CifarMobileNetV2,
        ModelSpec("mobile_half", "conv2", "classifier.0", _MOBILENET_TAPS, 32),
    ),
    "shufflev2": (
        CifarShuffleNetV2,
        ModelSpec("ShuffleV2", "layer3", "linear", _THREE_STAGES, 32),
    ),
}
