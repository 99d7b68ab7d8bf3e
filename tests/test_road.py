"""ROAD batched on the device against the grad-cam package's serial implementation: the imputed
images image by image (both solvers), the kept pixels, and the scores (tests/road_reference.py)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from road_reference import grad_cam_road
from torch import nn

from engine.evidence import road
from engine.evidence.imputation import ImputationError, impute
from engine.evidence.road import kept_pixels, road_scores

pytestmark = pytest.mark.filterwarnings("ignore:__array_wrap__:DeprecationWarning")
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")),
]


def _removing(rng: np.random.Generator, height: int, width: int, fraction: float) -> np.ndarray:
    keep = np.ones(height * width, dtype=bool)
    keep[rng.permutation(height * width)[: round(fraction * height * width)]] = False
    return keep.reshape(height, width)


def _masks(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """10 % and 90 % removed at random, a frame along two borders and a corner, one interior and
    one corner pixel removed."""
    border = np.ones((height, width), dtype=bool)
    border[0, :] = border[:, -1] = False
    border[-3:, :3] = False
    inner, corner = np.ones((2, height, width), dtype=bool)
    inner[height // 2, width // 2] = False
    corner[-1, 0] = False
    tenth, most = _removing(rng, height, width, 0.1), _removing(rng, height, width, 0.9)
    return np.stack([tenth, most, border, inner, corner])


@pytest.mark.parametrize("solver", ["cg", "direct"])
@pytest.mark.parametrize("shape", [(3, 9, 7), (1, 5, 5), (2, 13, 11), (3, 32, 32)])
def test_imputation_equals_grad_cams_imputer_image_by_image(shape, solver):
    rng = np.random.default_rng(sum(shape))
    keep = torch.from_numpy(_masks(rng, *shape[1:]))
    images = torch.from_numpy(rng.normal(0, 1, (len(keep), *shape)).astype(np.float32))
    torch.manual_seed(7)
    reference = torch.stack([NoisyLinearImputer()(x, k.float()) for x, k in zip(images, keep, strict=True)])
    torch.manual_seed(7)
    ours = impute(images, keep, solver=solver)
    assert ours.dtype == torch.float32 and torch.equal(
        ours[keep[:, None].expand_as(ours)], images[keep[:, None].expand_as(images)]
    )
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=0, atol=1e-5)


def test_kept_pixels_equal_grad_cams_masks_with_ties():
    rng = np.random.default_rng(3)
    cams = rng.random((4, 10, 10)).astype(np.float32)
    cams[:, :5] = 0.0  # ties, as after a ReLU
    cams[1] = np.round(cams[1], 1)
    mask_of = lambda image, mask: mask.bool()  # noqa: E731 - an "imputer" that returns the mask
    for percentile in (10, 30, 50, 90):
        most = np.stack(
            [RemoveMostRelevantFirst(percentile, mask_of)(None, torch.from_numpy(c)).numpy() for c in cams]
        )
        least = np.stack(
            [RemoveLeastRelevantFirst(percentile, mask_of)(None, torch.from_numpy(c)).numpy() for c in cams]
        )
        np.testing.assert_array_equal(kept_pixels(cams, percentile), most)
        np.testing.assert_array_equal(kept_pixels(1 - cams, percentile), least)


class SmallCNN(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.head = nn.Linear(32, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def _scored_data(n: int = 7, size: int = 12):
    rng = np.random.default_rng(11)
    images = torch.from_numpy(rng.normal(0, 1, (n, 3, size, size)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 5, n))
    coarse = torch.from_numpy(rng.random((n, 1, 3, 3)).astype(np.float32))
    maps = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")[:, 0].numpy()
    maps = np.maximum(maps - 0.4, 0.0)  # zeros after a ReLU: ties for the tie-break
    maps[2] = 0.0  # an all-zero map: NaN
    return images, labels, maps


@pytest.mark.parametrize("solver", ["auto", "cg"])
@pytest.mark.parametrize("chunk", [None, 3])
def test_road_scores_equal_the_grad_cam_reference_loop(chunk, solver, monkeypatch):
    if chunk is not None:  # batches smaller than the two removal orders of all images
        monkeypatch.setattr(road, "images_per_batch", lambda *shape: chunk)
    monkeypatch.setattr(road, "impute", partial(impute, solver=solver))
    images, labels, maps = _scored_data()
    models = {"student": SmallCNN(0), "base": SmallCNN(1)}
    ours = road_scores(models, images, labels, maps, percentiles=(10, 50, 90), seed=4)
    reference = grad_cam_road(models, images, labels, maps, percentiles=(10, 50, 90), seed=4)
    for role in models:
        assert np.isnan(ours[role][2]) and np.isnan(reference[role][2])
        np.testing.assert_allclose(ours[role], reference[role], rtol=0, atol=1e-5)


@pytest.mark.parametrize("device", DEVICES)
def test_the_device_path_gives_the_cpu_scores(device, monkeypatch):
    """The accelerator's path (CG on the images' device) run with the device's tensors: on a CPU
    the same functions as on a GPU, forced to the CG that "auto" gives an accelerator."""
    monkeypatch.setattr(road, "impute", partial(impute, solver="cg"))
    images, labels, maps = _scored_data()
    models = {"student": SmallCNN(0), "base": SmallCNN(1)}
    reference = grad_cam_road(models, images, labels, maps, percentiles=(20, 80), seed=1)
    on_device = {role: model.to(device) for role, model in models.items()}
    ours = road_scores(on_device, images.to(device), labels.to(device), maps, percentiles=(20, 80), seed=1)
    for role in models:
        np.testing.assert_allclose(ours[role], reference[role], rtol=0, atol=1e-5)
    keep = torch.from_numpy(_masks(np.random.default_rng(0), 12, 12))
    torch.manual_seed(0)
    there = impute(images[:5].to(device), keep.to(device), solver="cg")
    torch.manual_seed(0)
    here = impute(images[:5], keep, solver="direct")
    assert there.device.type == device
    np.testing.assert_allclose(there.cpu().numpy(), here.numpy(), rtol=0, atol=1e-6)


def test_an_unconverged_imputation_is_a_clear_error():
    keep = torch.zeros(1, 16, 16, dtype=torch.bool)
    keep[0, 0, 0] = True
    with pytest.raises(ImputationError, match=r"did not converge in 3 conjugate-gradient iterations"):
        impute(torch.ones(1, 3, 16, 16), keep, solver="cg", max_iterations=3)


@pytest.mark.parametrize("solver", ["cg", "direct"])
def test_an_image_with_every_pixel_removed_is_a_clear_error(solver):
    keep = torch.ones(2, 4, 4, dtype=torch.bool)
    keep[1] = False
    with pytest.raises(ImputationError, match="needs a kept pixel in every image"):
        impute(torch.ones(2, 3, 4, 4), keep, solver=solver)
