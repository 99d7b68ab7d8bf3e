"""ROAD (Rong et al., ICML 2022; SPEC §10) as the ``grad-cam`` package implements it (its noisy
linear imputer and its most- / least-relevant-first removal), batched on the models' device: per
image, the mean over k of (p(true class) after removing the k % least relevant pixels by the map -
after removing the k % most relevant). The package's ``ROADCombined`` reports half of this. The
perturbed images depend on the image and the map only, so they are made once and every model
scores them. :mod:`engine.evidence.imputation` fills the removed pixels (one sparse LU per batch on
a CPU, conjugate gradients on an accelerator), with noise seeded and drawn on the host, so the CPU
and a GPU give the same scores. :mod:`engine.evidence.faithfulness` is the evidence kind built on
it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from engine.cam.hooks import eval_mode
from engine.events import StopToken
from engine.evidence.imputation import images_per_batch, impute

__all__ = ["kept_pixels", "road_scores"]

TIE_BREAK = 1e-6  # ties (e.g. the zeros after ReLU) broken at random, so k % is exactly k %
FORWARD_BATCH = 256  # images per forward pass


def kept_pixels(cams: np.ndarray, percentile: float) -> np.ndarray:
    """(n, H, W) bool: the pixels grad-cam's removal keeps at ``percentile`` of each float32 map,
    those below the map's ``np.percentile`` (so percentile k removes the 100 - k % most relevant;
    over a set of k symmetric about 50 the mean is the same). Pass ``1 - cams`` for
    least-relevant-first removal, as grad-cam does."""
    flat = cams.reshape(len(cams), -1)
    # row by row equal to grad-cam's per-map call; the threshold compared in the map's dtype, as torch does
    thresholds = np.percentile(flat, percentile, axis=1).astype(flat.dtype)
    return (flat < thresholds[:, None]).reshape(cams.shape)


def _device(models: Mapping[str, nn.Module]) -> torch.device:
    for model in models.values():
        for parameter in model.parameters():
            return parameter.device
    return torch.device("cpu")


def _probabilities(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """p(label) of every image under ``model``, float64 on the host."""
    device = _device({"model": model})
    out = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, len(images), FORWARD_BATCH):
            logits = model(images[start : start + FORWARD_BATCH].to(device))
            probs = torch.softmax(logits.float(), dim=1)
            out.append(probs.gather(1, labels[start : start + FORWARD_BATCH, None].to(device))[:, 0])
    return torch.cat(out).cpu().numpy().astype(np.float64)


def road_scores(
    models: Mapping[str, nn.Module],
    normalized: torch.Tensor,
    labels: torch.Tensor,
    maps: np.ndarray,
    *,
    percentiles: Sequence[int],
    seed: int = 0,
    stop: StopToken | None = None,
) -> dict[str, np.ndarray]:
    """Per-image ROAD score of each model for one kind of map ``maps`` (n, H, W), removing k % of
    the pixels for k in ``percentiles``; NaN for an all-zero map (UniCAM found nothing unique:
    there is no ranking to test). Per k, every image with both removal orders is imputed in a few
    large batches on the first model's device (float64 work within ~512 MB per batch)."""
    images = normalized.detach().float()
    labels = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    n = len(images)
    rng = np.random.default_rng(seed)
    cams = (np.asarray(maps, dtype=np.float64) + TIE_BREAK * rng.random(np.shape(maps))).astype(np.float32)
    device = _device(models)
    chunk = images_per_batch(*images.shape[1:])
    # items 0..n-1 remove the most relevant pixels, n..2n-1 the least: grad-cam's order of noise draws
    order = torch.arange(2 * n, device=images.device) % n
    totals = {role: np.zeros(n) for role in models}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the imputer's noise, seeded, without touching the caller's RNG
        for percentile in percentiles:
            keep = torch.from_numpy(
                np.concatenate([kept_pixels(cams, percentile), kept_pixels(1 - cams, percentile)])
            )
            probability = {role: np.empty(2 * n) for role in models}
            for start in range(0, 2 * n, chunk):
                if stop is not None:
                    stop.check()
                items = slice(start, start + chunk)
                perturbed = impute(images[order[items]].to(device), keep[items].to(device))
                for role, model in models.items():
                    probability[role][items] = _probabilities(model, perturbed, labels[order[items].cpu()])
            for role in models:
                totals[role] += probability[role][n:] - probability[role][:n]
    empty = np.asarray(maps).reshape(n, -1).max(axis=1) <= 0
    return {role: np.where(empty, np.nan, total / len(percentiles)) for role, total in totals.items()}
