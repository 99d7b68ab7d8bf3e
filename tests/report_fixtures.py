"""Shared helpers of the report tests: tiny checkpoints (with KD Lens cards) of the built-in
shapes' four classes, the arguments of a tiny ``kdlens-cli analyze`` on them, and a parser that
lists every tag and attribute of an HTML page; ``MODEL_FILE``, a user's model file (``--model-file``)
with two architectures, ``big_net`` and ``small_net``.

Import them with ``from report_fixtures import ...``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import torch

from engine.checkpoints import ModelCard, save_checkpoint
from engine.data.shapes import SHAPE_NAMES
from engine.models import build_model

CLASSES = tuple(SHAPE_NAMES[:4])  # the shapes data set's default four classes

MODEL_FILE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width, num_classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU())
        self.stage = nn.Sequential(nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        return self.classifier(self.stage(self.stem(x)).mean((2, 3)))


def build(arch, num_classes):
    return Net({"big_net": 24, "small_net": 8}[arch], num_classes)
"""
ARCHS = {"teacher": "large_cnn", "student": "small_cnn", "base": "small_cnn"}


def card_checkpoints(root: Path) -> dict[str, Path]:
    """A teacher, a student and a base (seeded random weights) saved with KD Lens cards."""
    root.mkdir(parents=True, exist_ok=True)
    paths = {}
    for seed, (role, arch) in enumerate(ARCHS.items(), start=1):
        torch.manual_seed(seed)
        card = ModelCard(arch=arch, num_classes=len(CLASSES), class_names=CLASSES, input_size=32)
        paths[role] = save_checkpoint(build_model(arch, len(CLASSES)), root / f"{role}.safetensors", card)
    return paths


def analyze_args(checkpoints: dict[str, Path], out: Path, *extra: str) -> list[str]:
    """A tiny analysis on the built-in shapes: 8 probe images, 16 metric images, 2 subsamples;
    evidence without ROAD (its noisy imputation takes a minute here), unless ``extra`` says;
    agreement and calibration on 16 images."""
    return ["analyze", *(f"--{role}={checkpoints[role]}" for role in ARCHS), "--data", "shapes",
            "--out", str(out), "--probe", "8", "--metrics-n", "16", "--repeats", "2", "--seed", "3",
            "--device", "cpu", "--localisation-n", "8", "--faithfulness-n", "0", "--sanity-n", "8",
            "--agreement-n", "16", "--calibration-n", "16", *extra]  # fmt: skip


class PageParts(HTMLParser):
    """Every start tag of a page with its attributes, and the text of its <style> elements."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def named(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag]
