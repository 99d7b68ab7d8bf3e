"""Two small CNNs for fast CPU work: ``large_cnn`` (fit to teach) and ``small_cnn`` (fit to learn)."""

from __future__ import annotations

import torch
from torch import nn

from engine.models.spec import ModelSpec

__all__ = ["SMALL_CNNS", "StagedCNN"]


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


_TAPS = ("stage1", "stage2", "stage3", "stage4")

SMALL_CNNS = {
    "large_cnn": (_large_cnn, ModelSpec("large_cnn", "stage4", "fc", _TAPS, 32)),
    "small_cnn": (_small_cnn, ModelSpec("small_cnn", "stage4", "fc", _TAPS, 32)),
}
