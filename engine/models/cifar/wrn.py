"""Wide ResNets for CIFAR (Zagoruyko & Komodakis 2016): WRN-d-k has (d-4)/6 pre-activation blocks
per stage, widths 16k/32k/64k, then BN, ReLU, pool and ``fc``.

Parameter names follow CIFAR-100 KD code (``conv1``, ``block1``..``block3`` each holding
``layer.<i>`` blocks of ``bn1``/``conv1``/``bn2``/``conv2`` and, where the width changes,
``convShortcut``; then ``bn1`` and ``fc``), so its checkpoints load unchanged. As there, a block
that changes width applies its first BN-ReLU to the input before both branches.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["WideResNet"]


class _PreActBlock(nn.Module):
    def __init__(self, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, padding=1, bias=False)
        self.same_width = in_planes == out_planes
        self.convShortcut = (  # noqa: N815 - the name checkpoints use
            None if self.same_width else nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(activated))))
        if self.convShortcut is None:
            return x + out
        return self.convShortcut(activated) + out


class _Stage(nn.Module):
    def __init__(self, count: int, in_planes: int, out_planes: int, stride: int) -> None:
        super().__init__()
        blocks = [_PreActBlock(in_planes, out_planes, stride)]
        blocks += [_PreActBlock(out_planes, out_planes, 1) for _ in range(1, count)]
        self.layer = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen``: stem conv, three stages (strides 1, 2, 2), BN-ReLU, pool, ``fc``."""

    def __init__(self, depth: int, widen: int, num_classes: int) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6:
            raise ValueError(f"a Wide ResNet needs depth 6n+4, not {depth}")
        count = (depth - 4) // 6
        widths = (16, 16 * widen, 32 * widen, 64 * widen)
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.block1 = _Stage(count, widths[0], widths[1], 1)
        self.block2 = _Stage(count, widths[1], widths[2], 2)
        self.block3 = _Stage(count, widths[2], widths[3], 2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(self.conv1(x))))
        return self.fc(torch.flatten(self.pool(self.relu(self.bn1(x))), 1))
