"""A plain `kdlens-cli analyze` (no size flags) on the data KD researchers bring: CIFAR-100-format
pickles with a RepDistiller resnet8x4 pair and a few images per class, and a 1,000-class image
list with tiny models. The sets adapt to the class count (a seeded subset of classes with two
images each where the classes outnumber a set), and the report is complete."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli
from engine.checkpoints import ModelCard, save_checkpoint
from engine.models import build_model
from engine.reports.folder import read_report


def _cifar100(root: Path, per_class: int) -> Path:
    """CIFAR-100's python files in their real format: ``meta``, ``train`` and ``test`` pickles."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 1), ("test", per_class)):
        labels = [c for c in range(100) for _ in range(count)]
        data = rng.integers(0, 255, size=(len(labels), 3072), dtype=np.uint8)
        data[:, :1024] = np.asarray(labels, dtype=np.uint8)[:, None] * 2  # a class cue in the red plane
        batch = {
            b"filenames": [],
            b"fine_labels": labels,
            b"coarse_labels": [c // 5 for c in labels],
            b"data": data,
        }
        (folder / split).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"fine_label_names": [f"class{c:03d}" for c in range(100)], "coarse_label_names": []}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return root


def _repdistiller(path: Path, arch: str, seed: int) -> Path:
    torch.manual_seed(seed)
    torch.save({"model": build_model(arch, 100).state_dict(), "epoch": 240}, path)
    return path


def _analyze(*args) -> int:
    return cli.main(["analyze", *map(str, args)])


@pytest.mark.timeout(900)
def test_a_plain_analyze_on_cifar100_with_a_resnet8x4_pair(tmp_path):
    data = _cifar100(tmp_path / "cifar", per_class=3)
    paths = {role: _repdistiller(tmp_path / f"{role}.pth", "resnet8x4", seed) for seed, role in
             enumerate(("teacher", "student", "base"))}  # fmt: skip
    out = tmp_path / "report"
    assert _analyze(*(a for role in paths for a in (f"--{role}", paths[role])), "--arch-teacher", "resnet8x4",
                    "--arch-student", "resnet8x4", "--data", data, "--out", out) == 0  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sets"]["probe set"].startswith("16 images of 8 of the 100 classes")
    assert manifest["sets"]["metrics set"].startswith("256 images of ")
    report = read_report(out)
    assert len(report.frame.images) == 16 and report.rows
    kinds = {table.kind for table in report.evidence}
    assert {"faithfulness", "sanity"} <= kinds
    assert (out / "index.html").is_file() and "No claims were tested" not in (out / "index.html").read_text()


def _thousand_classes(root: Path) -> Path:
    """A CSV image list of 1,000 classes, two test images and one training image of each."""
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = [f"n{c:05d}" for c in range(1000)]
    for split, count in (("train", 1), ("test", 2)):
        rows = ["path,label"]
        for c, name in enumerate(names):
            for i in range(count):
                pixels = rng.integers(0, 255, size=(16, 16, 3), dtype=np.uint8)
                pixels[..., c % 3] = 40 + c % 200
                Image.fromarray(pixels).save(root / "img" / f"{split}_{c}_{i}.png")
                rows.append(f"img/{split}_{c}_{i}.png,{name}")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    (root / "classes.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.mark.timeout(900)
def test_a_plain_analyze_on_a_thousand_class_list(tmp_path):
    data = _thousand_classes(tmp_path / "list")
    names = tuple(f"n{c:05d}" for c in range(1000))
    paths = {}
    for seed, (role, arch) in enumerate(
        (("teacher", "large_cnn"), ("student", "small_cnn"), ("base", "small_cnn"))
    ):
        torch.manual_seed(seed)
        card = ModelCard(arch, 1000, names, input_size=16)
        paths[role] = save_checkpoint(build_model(arch, 1000), tmp_path / f"{role}.safetensors", card)
    out = tmp_path / "report"
    assert (
        _analyze(*(a for role in paths for a in (f"--{role}", paths[role])), "--data", data, "--out", out)
        == 0
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sets"]["probe set"].startswith("16 images of 8 of the 1000 classes")
    assert manifest["sets"]["metrics set"].startswith("256 images of 128 of the 1000 classes")
    report = read_report(out)
    assert len(report.frame.images) == 16
    assert any(np.isfinite(r.mean) for r in report.rows if r.metric.startswith("RS("))  # RS is defined
    assert {"faithfulness", "sanity"} <= {table.kind for table in report.evidence}
