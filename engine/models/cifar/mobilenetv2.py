"""MobileNetV2 for CIFAR (Sandler et al. 2018) as CIFAR-100 KD code uses it under the name
``MobileNetV2`` (also ``mobile_half``): expansion 6, width 0.5, a stride-2 stem and stride 1 in
the second stage, so a 32 px input ends at 2 x 2 before the 1280-channel ``conv2``.

Parameter names follow that code (``conv1.{0,1}``, ``blocks.<stage>.<block>.conv.<0-7>``,
``conv2.{0,1}``, ``classifier.0``), so its checkpoints load unchanged. Every inverted residual
keeps its 1x1 expansion, also at expansion 1, as there.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CifarMobileNetV2"]

# (expansion, channels, blocks, stride) per stage, before the width multiplier.
_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _conv_bn_relu(inp: int, oup: int, kernel: int, stride: int) -> nn.Sequential:
    conv = nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


class _InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = inp * expansion
        self.residual = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class CifarMobileNetV2(nn.Module):
    def __init__(self, num_classes: int, width: float = 0.5, expansion: int = 6) -> None:
        super().__init__()
        channels = int(32 * width)
        self.conv1 = _conv_bn_relu(3, channels, 3, 2)
        self.blocks = nn.ModuleList()
        for t, c, n, s in _STAGES:
            out = int(c * width)
            layers = []
            for index in range(n):
                stride = s if index == 0 else 1
                layers.append(_InvertedResidual(channels, out, stride, expansion if t > 1 else 1))
                channels = out
            self.blocks.append(nn.Sequential(*layers))
        last = int(1280 * width) if width > 1.0 else 1280
        self.conv2 = _conv_bn_relu(channels, last, 1, 1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(last, num_classes))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        for stage in self.blocks:
            x = stage(x)
        return self.classifier(torch.flatten(self.avgpool(self.conv2(x)), 1))
