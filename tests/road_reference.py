"""The test-only reference for ROAD: the grad-cam package's own removal and imputation classes,
one image and one host sparse solve (``spsolve``) at a time, as ``road_scores`` ran before it was
batched. tests/test_road.py compares with it and bench/bench_road.py times it."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from torch import nn

from engine.cam.hooks import eval_mode
from engine.evidence.road import TIE_BREAK


def _probabilities(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    with torch.no_grad(), eval_mode(model):
        probs = torch.softmax(model(images).float(), dim=1)
    return probs.gather(1, labels[:, None])[:, 0].numpy().astype(np.float64)


def grad_cam_road(
    models: Mapping[str, nn.Module],
    images: torch.Tensor,
    labels: torch.Tensor,
    maps: np.ndarray,
    *,
    percentiles: Sequence[int],
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Per-image ROAD of each model (CPU models), with road_scores' tie-break and NaN rule."""
    images = images.detach().float().cpu()
    rng = np.random.default_rng(seed)
    cams = (np.asarray(maps, dtype=np.float64) + TIE_BREAK * rng.random(np.shape(maps))).astype(np.float32)
    imputer = NoisyLinearImputer()
    totals = {role: np.zeros(len(images)) for role in models}
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)
        warnings.filterwarnings("ignore", message="__array_wrap__", category=DeprecationWarning)
        for percentile in percentiles:
            most = RemoveMostRelevantFirst(percentile, imputer)
            least = RemoveLeastRelevantFirst(percentile, imputer)
            per_map = [torch.from_numpy(c) for c in cams]
            without_most = torch.stack([most(x, c) for x, c in zip(images, per_map, strict=True)])
            without_least = torch.stack([least(x, c) for x, c in zip(images, per_map, strict=True)])
            for role, model in models.items():
                totals[role] += _probabilities(model, without_least, labels) - _probabilities(
                    model, without_most, labels
                )
    empty = np.asarray(maps).reshape(len(images), -1).max(axis=1) <= 0
    return {role: np.where(empty, np.nan, total / len(percentiles)) for role, total in totals.items()}
