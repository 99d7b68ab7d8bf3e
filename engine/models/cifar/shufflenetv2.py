"""ShuffleNetV2 for CIFAR (Ma et al. 2018) as CIFAR-100 KD code uses it under the name ``ShuffleV2``
(size 1x: stages of 116/232/464 channels, 3/7/3 blocks, a 1x1 stem at full resolution, a
1024-channel ``conv2``, then ``linear``).

Parameter names follow that code (stage ``layer<i>.0`` is the down-sampling unit with
``conv1``..``conv5``/``bn1``..``bn5``; the others split the channels in half and hold
``conv1``..``conv3``/``bn1``..``bn3``), so its checkpoints load unchanged. Each stage returns a
tensor (never a tuple), so stages can be watched like any layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CifarShuffleNetV2"]


def _shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    """Channel shuffle: interleave the channels of ``groups`` equal groups."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class _Unit(nn.Module):
    """Split the channels; transform one half (1x1, depthwise 3x3, 1x1); concatenate; shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv1 = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept, branch = x.chunk(2, dim=1)
        branch = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(branch)))))
        branch = F.relu(self.bn3(self.conv3(branch)))
        return _shuffle(torch.cat([kept, branch], 1))


class _DownUnit(nn.Module):
    """Two stride-2 branches over the whole input, concatenated (channels grow) and shuffled."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 2, 1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, 2, 1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = self.bn4(self.conv4(F.relu(self.bn3(self.conv3(x)))))
        right = F.relu(self.bn5(self.conv5(right)))
        return _shuffle(torch.cat([left, right], 1))


class CifarShuffleNetV2(nn.Module):
    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, int, int, int] = (116, 232, 464, 1024),
        blocks: tuple[int, int, int] = (3, 7, 3),
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 24, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(24)
        channels = 24
        for index, (width, count) in enumerate(zip(widths[:3], blocks, strict=True), start=1):
            units = [_DownUnit(channels, width)] + [_Unit(width) for _ in range(count)]
            self.add_module(f"layer{index}", nn.Sequential(*units))
            channels = width
        self.conv2 = nn.Conv2d(channels, widths[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(widths[3])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.linear(torch.flatten(self.pool(x), 1))
