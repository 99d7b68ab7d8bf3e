"""VGG for CIFAR (Simonyan & Zisserman 2015, with batch norm), as CIFAR-100 KD code shapes it: five
conv blocks ``block0``..``block4`` (conv 3x3 with bias, BN, ReLU; the last ReLU of a block is applied
in the forward), max pools between blocks, a global average pool and one ``classifier`` layer.

Parameter names follow that code, so its checkpoints (``vgg8`` ... ``vgg19``, all with batch
norm) load unchanged. As there, the pool after ``block3`` is applied only to 64 px inputs.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["VGG_CONFIGS", "CifarVGG"]

# Output channels of each conv in each of the five blocks.
VGG_CONFIGS: dict[str, tuple[tuple[int, ...], ...]] = {
    "vgg8": ((64,), (128,), (256,), (512,), (512,)),
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg13": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "vgg19": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


def _block(widths: tuple[int, ...], in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        in_channels = width
    return nn.Sequential(*layers[:-1])


class CifarVGG(nn.Module):
    def __init__(self, config: tuple[tuple[int, ...], ...], num_classes: int) -> None:
        super().__init__()
        in_channels = 3
        for index, widths in enumerate(config):
            self.add_module(f"block{index}", _block(widths, in_channels))
            in_channels = widths[-1]
        for index in range(4):
            self.add_module(f"pool{index}", nn.MaxPool2d(2, 2))
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = x.shape[2]
        x = self.pool0(F.relu(self.block0(x)))
        x = self.pool1(F.relu(self.block1(x)))
        x = self.pool2(F.relu(self.block2(x)))
        x = F.relu(self.block3(x))
        if side == 64:
            x = self.pool3(x)
        x = F.relu(self.block4(x))
        return self.classifier(torch.flatten(self.pool4(x), 1))
