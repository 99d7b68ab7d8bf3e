"""Transformers in training and analysis (issue 20): DeiT's own distillation loss, DeiT's released
checkpoint layout, the documented CNN -> ViT configuration, and tiny runs on the shapes analysed
by `kdlens-cli analyze` into complete reports for a CNN -> ViT and a ViT -> CNN pair. Tiny
transformers (32 px, patch 4, 2 blocks), a couple of steps per role."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine import cli
from engine.checkpoints import CheckpointMismatchError, load_checkpoint
from engine.events import JobFinished
from engine.frames import read_probe_frame
from engine.jobs.demo import demo_config
from engine.jobs.train import train_job
from engine.losses import KDInputs, deit_hard_kd, get_kd_loss
from engine.models import build_model, get_spec
from engine.training.config import KDConfig, RoleConfig, TrainConfig
from engine.training.steps import role_step
from engine.vocab import MAP_KEYS

TINY = "img_size=32&patch_size=4&depth=2&embed_dim=48&num_heads=3"
VIT = f"timm:vit_tiny_patch16_224?{TINY}"
DEIT = f"timm:deit_tiny_patch16_224?{TINY}"
DEIT_DISTILLED = f"timm:deit_tiny_distilled_patch16_224?{TINY}"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_deit_loss_is_registered_and_follows_its_formula() -> None:
    loss = get_kd_loss("deit")
    assert loss.two_heads and loss.defaults() == {"alpha": 0.5} and get_kd_loss("hinton").function
    g = torch.Generator().manual_seed(0)
    cls, dist, teacher = (torch.randn(6, 4, generator=g) for _ in range(3))
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    expected = 0.7 * F.cross_entropy(cls, y) + 0.3 * F.cross_entropy(dist, teacher.argmax(1))
    value = loss.function(KDInputs(cls, teacher, y, student_dist_logits=dist), alpha=0.3)
    torch.testing.assert_close(value, expected)
    # one head (DeiT's hard distillation without a distillation token): both terms on it
    one = 0.5 * F.cross_entropy(cls, y) + 0.5 * F.cross_entropy(cls, teacher.argmax(1))
    torch.testing.assert_close(deit_hard_kd(cls, teacher, y), one)


def test_deit_loss_trains_both_heads_of_a_distilled_deit() -> None:
    torch.manual_seed(0)
    student, teacher = build_model(DEIT_DISTILLED, 4), build_model("small_cnn", 4).eval()
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    optim = (optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0))
    x, y = torch.randn(8, 3, 32, 32), torch.tensor([0, 1, 2, 3] * 2)
    loss = get_kd_loss("deit")
    before = student.head_dist.weight.detach().clone()
    for step in range(3):
        with torch.no_grad():
            teacher_logits = teacher(x)
        value, logits = role_step(
            student.train(), optim, x, y, (loss, {"alpha": 0.5}, teacher_logits, None), ("student", 1, step)
        )
        assert torch.isfinite(value) and logits.shape == (8, 4)
        for head in (student.head, student.head_dist):  # both heads receive gradients
            assert head.weight.grad is not None and float(head.weight.grad.abs().sum()) > 0
    assert not torch.equal(before, student.head_dist.weight) and not student.distilled_training
    assert isinstance(student.train()(x), torch.Tensor)  # without the loss: one (averaged) output


def test_deit_released_layout_loads_and_a_token_mix_up_is_named(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(DEIT_DISTILLED, 5).eval()
    path = tmp_path / "deit_tiny_distilled.pth"
    torch.save({"model": model.state_dict(), "epoch": 299, "args": argparse.Namespace(lr=5e-4)}, path)
    loaded = load_checkpoint(path, arch=DEIT_DISTILLED)
    assert (
        loaded.card.num_classes == 5 and loaded.card.arch == DEIT_DISTILLED and loaded.spec.input_size == 32
    )
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(loaded.model(x), model(x))
    with pytest.raises(CheckpointMismatchError, match=r"distillation token .*timm:deit_\*_distilled_\*"):
        load_checkpoint(path, arch=DEIT)


def test_the_documented_cnn_to_vit_configuration_reads() -> None:
    config = TrainConfig.load(DOCS / "vit_student.json")
    assert config.teacher.arch == "large_cnn" and config.kd.loss == "deit"
    spec = get_spec(config.student.arch)
    assert spec.input_size == config.dataset.image_size == 32 and spec.cam_layer == "blocks.3.norm1"


def _train(out: Path, teacher: str, student: str, loss: str) -> Path:
    quick = demo_config("kd-gain", quick=True)
    config = replace(
        quick,
        teacher=RoleConfig(teacher, epochs=1, max_steps=2),
        base=RoleConfig(student, epochs=2, max_steps=2),
        student=RoleConfig(student, epochs=2, max_steps=2),
        kd=KDConfig(loss),
        evidence=False,
    )
    events = list(train_job(config, out))
    assert isinstance(events[-1], JobFinished) and not events[-1].stopped
    return out / "checkpoints"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vit")
    return {
        "cnn-to-vit": _train(root / "cnn-to-vit", "large_cnn", DEIT_DISTILLED, "deit"),
        "vit-to-cnn": _train(root / "vit-to-cnn", VIT, "small_cnn", "hinton"),
        "root": root,
    }


@pytest.mark.parametrize("pair", ["cnn-to-vit", "vit-to-cnn"])
def test_analyze_writes_a_complete_report_for_transformer_pairs(runs, pair: str, capsys) -> None:
    checkpoints, out = runs[pair], runs["root"] / f"report-{pair}"
    args = ["analyze", "--data", "shapes", "--out", str(out), "--device", "cpu", "--probe", "8",
            "--metrics-n", "16", "--repeats", "2", "--localisation-n", "8", "--faithfulness-n", "8",
            "--faithfulness-percentiles", "20,50", "--sanity-n", "8", "--agreement-n", "16",
            "--calibration-n", "16"]  # fmt: skip
    for role in ("teacher", "student", "base"):
        args += [f"--{role}", str(checkpoints / f"{role}.safetensors")]
    assert cli.main(args) == 0
    assert "report written" in capsys.readouterr().out

    manifest = json.loads((out / "manifest.json").read_text())
    transformer = "teacher" if pair == "vit-to-cnn" else "student"
    assert manifest["checkpoints"][transformer]["arch"] == (VIT if pair == "vit-to-cnn" else DEIT_DISTILLED)
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    for name in ("FSS(S,T)", "FSS(S,B)", "RS(T)", "RS(S|B)", "RS(B|S)"):
        assert any(r["mean"] != "n/a" for r in rows if r["metric"] == name), name
    if pair == "cnn-to-vit":
        assert {r["layer"] for r in rows} >= {"blocks.0", "blocks.1"}  # the student's token taps
    probe = read_probe_frame(sorted((out / "maps").glob("*.npz"))[0])
    for key in MAP_KEYS:
        assert probe.maps[key].shape == (1, 32, 32) and np.isfinite(probe.maps[key]).all()
    for name in ("localisation.json", "faithfulness.json", "sanity.csv"):
        assert (out / name).stat().st_size > 0, name
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'alt="overlay grid"' in page and 'alt="FSS and RS per layer"' in page and "Evidence" in page
    assert "blocks.1.norm1" in page  # the transformer's CAM layer is shown with the others
