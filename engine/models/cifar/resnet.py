"""CIFAR ResNets (He et al. 2016, section 4.2): a 3x3 stem and three stages of residual blocks
at 32, 16 and 8 px, as CIFAR-100 KD code defines them (``resnet20`` ... ``resnet110`` with widths
16/16/32/64; ``resnet8x4``/``resnet32x4`` with 32/64/128/256).

Parameter names follow that code (``conv1``, ``bn1``, ``layer1``..``layer3`` of blocks with
``conv1``/``bn1``/``conv2``/``bn2``/``downsample``, ``fc``), so its checkpoints load unchanged.
Pooling is adaptive: the same as its 8 x 8 average pool at 32 px, and usable at other sizes.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CifarResNet", "resnet_stages"]


class _Basic(nn.Module):
    """Two 3x3 convolutions and an identity (or 1x1 projection) shortcut; ReLU after the sum."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + shortcut)


class _Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4), with the shortcut added before the last ReLU."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return torch.relu(self.bn3(self.conv3(out)) + shortcut)


def resnet_stages(depth: int, bottleneck: bool = False) -> int:
    """Blocks per stage for a CIFAR ResNet of ``depth`` layers (6n+2 basic, 9n+2 bottleneck)."""
    per_block = 9 if bottleneck else 6
    if depth < per_block + 2 or (depth - 2) % per_block:
        raise ValueError(f"a CIFAR ResNet needs depth {per_block}n+2, not {depth}")
    return (depth - 2) // per_block


class CifarResNet(nn.Module):
    """Stem (3x3 conv, BN, ReLU at full resolution), three stages (strides 1, 2, 2), pool, ``fc``."""

    def __init__(
        self, depth: int, widths: tuple[int, int, int, int], num_classes: int, bottleneck: bool = False
    ) -> None:
        super().__init__()
        block = _Bottleneck if bottleneck else _Basic
        blocks = resnet_stages(depth, bottleneck)
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._stage(block, widths[1], blocks, 1)
        self.layer2 = self._stage(block, widths[2], blocks, 2)
        self.layer3 = self._stage(block, widths[3], blocks, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def _stage(self, block: type[nn.Module], planes: int, count: int, stride: int) -> nn.Sequential:
        width = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != width:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = width
        layers += [block(width, planes, 1, None) for _ in range(1, count)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))
