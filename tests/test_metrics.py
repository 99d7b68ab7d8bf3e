"""FSS / RS against dcor on independently computed features; bands; localisation share."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from engine import metrics


class Tiny(nn.Module):
    def __init__(self, width: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.stage1 = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 3)

    def forward(self, x):
        return self.fc(self.pool(self.stage2(self.stage1(x))).flatten(1))


def _data(n=18, seed=0):
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, 8, 8, generator=gen)
    labels = np.arange(n) % 3
    images[:, 0] += torch.as_tensor(labels, dtype=torch.float32)[:, None, None]  # class signal
    return images, labels


def _features(model, images, tap):
    with torch.no_grad():
        out = model.stage1(images)
        if tap == "stage2":
            out = model.stage2(out)
    return out.reshape(len(images), -1).double().numpy()


def test_full_set_values_equal_dcor_on_independent_features(dcor):
    images, labels = _data()
    models = {"teacher": Tiny(6, 1), "student": Tiny(4, 2), "base": Tiny(4, 3)}
    taps = {role: ["stage1", "stage2"] for role in models}
    rows = metrics.compute_metrics(models, images, labels, taps, num_classes=3, subsample=18, repeats=1)
    by_key = {(r.layer, r.metric): r for r in rows}
    onehot = np.eye(3)[labels]
    for tap in ("stage1", "stage2"):
        f = {role: _features(m, images, tap) for role, m in models.items()}
        expected = {
            "FSS(S,T)": dcor.u_distance_correlation_sqr(f["student"], f["teacher"]),
            "FSS(B,T)": dcor.u_distance_correlation_sqr(f["base"], f["teacher"]),
            "FSS(S,B)": dcor.u_distance_correlation_sqr(f["student"], f["base"]),
            "RS(T)": dcor.u_distance_correlation_sqr(f["teacher"], onehot),
            "RS(S)": dcor.u_distance_correlation_sqr(f["student"], onehot),
            "RS(B)": dcor.u_distance_correlation_sqr(f["base"], onehot),
        }
        r_sb = expected["FSS(S,B)"]
        expected["RS(S|B)"] = (expected["RS(S)"] - r_sb * expected["RS(B)"]) / math.sqrt(1 - r_sb**2)
        expected["RS(B|S)"] = (expected["RS(B)"] - r_sb * expected["RS(S)"]) / math.sqrt(1 - r_sb**2)
        r_st = expected["FSS(S,T)"]
        expected["RS(T|S)"] = (expected["RS(T)"] - r_st * expected["RS(S)"]) / math.sqrt(1 - r_st**2)
        expected["RS(S|T)"] = (expected["RS(S)"] - r_st * expected["RS(T)"]) / math.sqrt(1 - r_st**2)
        for role, letter in (("teacher", "T"), ("student", "S"), ("base", "B")):  # each tap with the last
            expected[f"LP({letter})"] = dcor.u_distance_correlation_sqr(
                f[role], _features(models[role], images, "stage2")
            )
        for name, value in expected.items():
            row = by_key[(tap, name)]
            assert row.mean == pytest.approx(value, abs=1e-6), (tap, name)
            assert row.low == pytest.approx(row.mean) and row.high == pytest.approx(row.mean)
    assert {r.epoch for r in rows} == {0}


def test_fss_v_is_the_row_normalised_v_statistic(dcor):
    images, labels = _data()
    models = {"teacher": Tiny(6, 1), "student": Tiny(4, 2)}
    taps = {role: ["stage1", "stage2"] for role in models}
    rows = metrics.compute_metrics(
        models, images, labels, taps, num_classes=3, subsample=18, repeats=1, fss_v=True
    )
    by_key = {(r.layer, r.metric): r.mean for r in rows}
    for tap in ("stage1", "stage2"):
        s, t = (_features(models[role], images, tap) for role in ("student", "teacher"))
        s, t = s / np.linalg.norm(s, axis=1, keepdims=True), t / np.linalg.norm(t, axis=1, keepdims=True)
        assert by_key[(tap, "FSSv(S,T)")] == pytest.approx(dcor.distance_correlation_sqr(s, t), abs=1e-6)
    plain = metrics.compute_metrics(models, images, labels, taps, num_classes=3, subsample=18, repeats=1)
    assert not any(r.metric.startswith("FSSv") for r in plain)  # an option; R* stays the default


def test_chunked_path_and_bands(monkeypatch):
    images, labels = _data(n=24, seed=4)
    models = {"student": Tiny(4, 2), "base": Tiny(4, 5)}
    taps = {"student": ["stage1"], "base": ["stage1"]}
    one_block = metrics.compute_metrics(models, images, labels, taps, num_classes=3, repeats=8, seed=3)
    monkeypatch.setattr(metrics, "COLUMN_BLOCK", 7)  # 256 features -> 37 blocks
    chunked = metrics.compute_metrics(models, images, labels, taps, num_classes=3, repeats=8, seed=3)
    for a, b in zip(one_block, chunked, strict=True):
        assert (a.metric, a.layer) == (b.metric, b.layer)
        assert a.mean == pytest.approx(b.mean, abs=1e-9)
    fss = next(r for r in chunked if r.metric == "FSS(S,B)")
    assert fss.low < fss.mean < fss.high  # subsamples differ, so the band is not empty
    assert fss.samples == 18


def test_identical_student_and_base_give_undefined_conditional_rs():
    images, labels = _data()
    student = Tiny(4, 2)
    base = Tiny(4, 2)
    rows = metrics.compute_metrics(
        {"student": student, "base": base},
        images,
        labels,
        {"student": ["stage2"], "base": ["stage2"]},
        num_classes=3,
        repeats=3,
    )
    values = {r.metric: r for r in rows}
    assert values["FSS(S,B)"].mean == pytest.approx(1.0)
    assert math.isnan(values["RS(S|B)"].mean) and math.isnan(values["RS(B|S)"].mean)


def test_one_class_gives_nan_rs_and_models_keep_their_mode():
    images, _ = _data()
    model = Tiny(4, 2).train()
    rows = metrics.compute_metrics(
        {"student": model}, images, np.zeros(18, dtype=int), {"student": ["stage1"]}, num_classes=3
    )
    assert math.isnan(rows[0].mean) and rows[0].metric == "RS(S)"
    assert model.training
    assert not model.stage1[0]._forward_hooks


def test_bad_taps_and_sizes_say_what_to_do():
    images, labels = _data()
    with pytest.raises(metrics.MetricsInputError, match="not in the Tiny model"):
        metrics.compute_metrics(
            {"student": Tiny(4, 1)}, images, labels, {"student": ["layer9"]}, num_classes=3
        )
    with pytest.raises(metrics.MetricsInputError, match="at least 4"):
        metrics.compute_metrics(
            {"student": Tiny(4, 1)}, images[:3], labels[:3], {"student": ["stage1"]}, num_classes=3
        )


def test_localisation_share_by_hand():
    maps = np.zeros((3, 4, 4), dtype=np.float32)
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[:, :2, :2] = True
    maps[0, 0, 0] = 3.0
    maps[0, 3, 3] = 1.0  # 3 of 4 units inside
    maps[1] = 1.0  # uniform: 4 of 16 pixels inside
    share = metrics.localisation_share(maps, masks)
    assert share[0] == pytest.approx(0.75)
    assert share[1] == pytest.approx(0.25)
    assert math.isnan(share[2])  # an all-zero map has no mass to place
