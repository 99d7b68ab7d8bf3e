"""Localisation, ROAD faithfulness and the sanity check on cases whose answer is known."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.road import ROADLeastRelevantFirstAverage, ROADMostRelevantFirstAverage
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget
from torch import nn

from engine.evidence.faithfulness import PERCENTILES, RANDOM_MAP, faithfulness
from engine.evidence.intervals import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from engine.evidence.localisation import localisation
from engine.evidence.randomisation import cascading_randomisation, reinitialise
from engine.evidence.road import road_scores
from engine.models import build_model, get_spec

SIZE = 16
# the grad-cam package's own ROAD classes (called directly in one comparison) trip a numpy 2 notice
pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")


class QuadrantModel(nn.Module):
    """Decides from the top-left quadrant alone: class 0 when its mean is high, else class 1."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(4.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x[:, :, : SIZE // 2, : SIZE // 2].mean(dim=(1, 2, 3))
        return torch.stack([self.scale * q, -self.scale * q], dim=1)


class BlindModel(QuadrantModel):
    """Ignores its input: no pixel is evidence for it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.scale, -self.scale]).expand(len(x), 2)


def _quadrant_data(n: int = 12):
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.normal(0, 0.1, (n, 3, SIZE, SIZE)).astype(np.float32))
    images[:, :, : SIZE // 2, : SIZE // 2] += 1.0  # the evidence for class 0, and only there
    labels = torch.zeros(n, dtype=torch.int64)
    top_left = np.zeros((n, SIZE, SIZE), dtype=np.float32)
    top_left[:, : SIZE // 2, : SIZE // 2] = 1.0
    top_left += 0.01 * rng.random(top_left.shape).astype(np.float32)
    return images, labels, top_left


def test_road_rewards_the_map_of_the_evidence_a_model_uses():
    images, labels, top_left = _quadrant_data()
    models = {"uses": QuadrantModel(), "blind": BlindModel()}
    scores = road_scores(models, images, labels, top_left, percentiles=PERCENTILES, seed=0)
    assert scores["uses"].mean() > 0.2  # removing the top-left quadrant first costs the model
    np.testing.assert_allclose(scores["blind"], 0.0, atol=1e-6)  # a model that uses no pixel
    opposite = road_scores(
        models, images, labels, top_left[:, ::-1, ::-1].copy(), percentiles=PERCENTILES, seed=0
    )
    assert opposite["uses"].mean() < -0.05  # a map of the wrong corner: least relevant removal hurts


def test_road_equals_the_grad_cam_package_up_to_its_factor_of_one_half():
    images, labels, top_left = _quadrant_data(6)
    model = QuadrantModel()
    ours = road_scores({"m": model}, images, labels, top_left, percentiles=(20, 50, 80), seed=0)["m"]
    targets = [ClassifierOutputSoftmaxTarget(0)] * 6
    torch.manual_seed(0)
    morf = ROADMostRelevantFirstAverage([20, 50, 80])(images, top_left, targets, model)
    lerf = ROADLeastRelevantFirstAverage([20, 50, 80])(images, top_left, targets, model)
    np.testing.assert_allclose(ours, lerf - morf, atol=2e-3)  # the package's ROADCombined: half


def test_faithfulness_claims_and_the_random_baseline():
    images, labels, top_left = _quadrant_data()
    models = {"student": QuadrantModel(), "base": BlindModel()}
    maps = {"distilled": top_left, "residual": top_left[:, ::-1, ::-1].copy()}
    result = faithfulness(models, images, labels, maps, percentiles=(20, 50, 80), seed=0)
    assert result.claims["distilled"][1] == SUPPORTED  # the student uses the distilled region
    assert result.claims["residual"][1] == SUPPORTED  # the base uses the residual region
    assert abs(result.intervals[(RANDOM_MAP, "student")].mean) < 0.15
    rows = result.rows()
    assert {(r["map"], r["model"]) for r in rows} == {
        (m, r) for m in ("distilled", "residual", RANDOM_MAP) for r in ("student", "base")
    }
    swapped = faithfulness(
        {"student": BlindModel(), "base": QuadrantModel()},
        images,
        labels,
        maps,
        percentiles=(50,),
        seed=0,
    )
    assert swapped.claims["distilled"][1] == NOT_SUPPORTED  # the tool says so when the claim fails


def test_an_all_zero_map_has_no_road_score():
    images, labels, top_left = _quadrant_data(4)
    top_left[1] = 0.0
    scores = road_scores({"m": QuadrantModel()}, images, labels, top_left, percentiles=(50,))["m"]
    assert np.isnan(scores[1]) and np.isfinite(scores[[0, 2, 3]]).all()


def test_localisation_shares_chance_and_differences():
    rng = np.random.default_rng(0)
    masks = np.zeros((40, 8, 8), dtype=bool)
    masks[:, 2:6, 2:6] = True  # a quarter of the image
    on_object = masks.astype(np.float32) * rng.uniform(0.5, 1.0, (40, 1, 1)).astype(np.float32)
    uniform = np.ones((40, 8, 8), dtype=np.float32)
    result = localisation({"distilled": on_object, "residual": uniform}, masks, seed=0)
    assert result.chance == pytest.approx(0.25)
    assert result.shares["distilled"].mean == pytest.approx(1.0) and result.shares[
        "residual"
    ].mean == pytest.approx(0.25)
    interval, verdict_text, _ = result.differences["distilled - residual"]
    assert interval.mean == pytest.approx(0.75) and verdict_text == SUPPORTED
    same = localisation({"distilled": uniform, "residual": uniform}, masks)
    assert same.differences["distilled - residual"][1] == INCONCLUSIVE
    rows = {row["map"]: row for row in result.rows()}
    assert rows["residual"]["chance"] == pytest.approx(0.25) and rows["distilled - residual"]["n"] == 40


def test_cascading_randomisation_and_that_unicam_ignores_the_classifier():
    torch.manual_seed(0)
    student, base = build_model("small_cnn", 4), build_model("small_cnn", 4)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    spec = get_spec("small_cnn")
    images = torch.randn(16, 3, 32, 32)
    labels = torch.arange(16) % 4
    steps = cascading_randomisation(student, base, spec, spec, images, labels, seed=0)
    assert [s.randomised for s in steps][:3] == [(), ("fc",), ("fc", "stage4")]
    assert steps[0].correlation["distilled"].mean == pytest.approx(1.0)
    # UniCAM's features are the classifier's input: re-initialising the classifier changes nothing
    assert steps[1].correlation["distilled"].mean == pytest.approx(1.0)
    # ...while Grad-CAM, which differentiates the classifier's score, moves
    assert steps[1].correlation["gradcam_student"].mean < 0.99
    assert steps[-1].correlation["distilled"].mean < 0.6  # every stage destroyed: the map decorrelates
    assert all(torch.equal(before[k], v) for k, v in student.state_dict().items())  # the model is untouched
    assert len(steps) == 1 + len(spec.metric_taps) + 1


def test_the_sanity_checks_new_weights_come_from_the_host_whatever_the_models_device_and_rng():
    """reinitialise draws on a host copy from the host's seeded generator: the same weights for a
    layer in another precision (standing in for another device here), and the same sanity rows
    whatever state the global generators are in; the caller's random state is left as it was."""
    torch.manual_seed(0)
    layer = build_model("small_cnn", 4).stage4
    elsewhere = copy.deepcopy(layer).double()  # "another device": other storage, other dtype
    before = torch.random.get_rng_state()
    reinitialise(layer, 7)
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.manual_seed(999)  # a different global (device) generator state
    torch.randn(1000)
    reinitialise(elsewhere, 7)
    for (name, ours), (_, theirs) in zip(
        layer.state_dict().items(), elsewhere.state_dict().items(), strict=True
    ):
        assert theirs.dtype == torch.float64 or name.endswith("num_batches_tracked")
        assert torch.equal(theirs.float(), ours.float()), name

    def rows(global_seed: int) -> list:
        torch.manual_seed(0)
        student, base = build_model("small_cnn", 4), build_model("small_cnn", 4)
        torch.manual_seed(global_seed)
        spec = get_spec("small_cnn")
        images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
        steps = cascading_randomisation(student, base, spec, spec, images, torch.arange(8) % 4, seed=3)
        return [row for step in steps for row in step.rows()]

    assert rows(1) == rows(2)
