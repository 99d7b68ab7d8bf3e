"""Faithfulness of the maps by ROAD (Rong et al., ICML 2022; SPEC §10), with the remove-and-debias
implementation of the ``grad-cam`` package (``pytorch_grad_cam.metrics``: its noisy linear
imputer and its most- / least-relevant-first removal).

For a model M, an image x with true class y and a map m: remove the k % most relevant pixels by m
(imputed from their neighbours), and separately the k % least relevant; the score is the mean over
k = 10, 20, ..., 90 of (drop of M's probability of y when the most relevant are removed − drop
when the least relevant are removed) = mean_k (p_LeRF,k − p_MoRF,k). Higher: the map points at
evidence M uses. (The package's ``ROADCombined`` reports half of this.) The perturbed images
depend on the image and the map only, so they are made once and every model scores them.

UniCAM's claim as a test: the distilled map should point at evidence the student uses more than
the base does, ROAD(S, distilled) − ROAD(B, distilled) > 0, and the residual map at evidence the
base uses more, ROAD(B, residual) − ROAD(S, residual) > 0; each with its bootstrap interval over
images and a verdict. A random map is the baseline.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_grad_cam.metrics.perturbation_confidence import RemoveLeastRelevantFirst, RemoveMostRelevantFirst
from pytorch_grad_cam.metrics.road import NoisyLinearImputer
from torch import nn

from engine.cam.hooks import eval_mode
from engine.events import StopToken
from engine.evidence.intervals import Interval, bootstrap_mean, paired_difference, verdict
from engine.vocab import DISTILLED, RESIDUAL

__all__ = ["CLAIMS", "PERCENTILES", "RANDOM_MAP", "FaithfulnessResult", "faithfulness", "road_scores"]

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
RANDOM_MAP = "random"
TIE_BREAK = 1e-6  # ties (e.g. the zeros after ReLU) broken at random, so k % is exactly k %

#: name -> (map, model that should use it, model that should not, what a positive value means)
CLAIMS = {
    DISTILLED: (
        DISTILLED,
        "student",
        "base",
        "removing the distilled regions hurts the student more than the base",
    ),
    RESIDUAL: (
        RESIDUAL,
        "base",
        "student",
        "removing the residual regions hurts the base more than the student",
    ),
}


@dataclass(frozen=True)
class FaithfulnessResult:
    """ROAD scores per (map, model) with intervals, and the two claims with verdicts."""

    scores: dict[tuple[str, str], np.ndarray]  # (map, role) -> per-image score
    intervals: dict[tuple[str, str], Interval]
    claims: dict[str, tuple[Interval, str, str]]  # claim -> (difference interval, verdict, meaning)
    percentiles: tuple[int, ...]

    def rows(self) -> list[dict]:
        """Rows of ``faithfulness.csv``: map, model, score, ci_low, ci_high, n."""
        out = []
        for (key, role), interval in self.intervals.items():
            d = interval.as_dict()
            out.append(
                {
                    "map": key,
                    "model": role,
                    "score": d["mean"],
                    "ci_low": d["ci_low"],
                    "ci_high": d["ci_high"],
                    "n": d["n"],
                }
            )
        return out

    def as_dict(self) -> dict:
        return {
            "score": "mean over k of (p(true class) after removing the k % least relevant pixels - "
            "after removing the k % most relevant), ROAD noisy linear imputation (grad-cam package)",
            "percentiles": list(self.percentiles),
            "claims": {
                name: {
                    "difference": _difference_text(name),
                    **interval.as_dict(),
                    "verdict": verdict_text,
                    "meaning_if_positive": meaning,
                }
                for name, (interval, verdict_text, meaning) in self.claims.items()
            },
        }


def _difference_text(claim: str) -> str:
    key, uses, lacks, _ = CLAIMS[claim]
    return f"ROAD({uses}, {key} map) - ROAD({lacks}, {key} map)"


def _probabilities(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 128
) -> np.ndarray:
    device = next(model.parameters()).device
    out = []
    with torch.no_grad(), eval_mode(model):
        for start in range(0, len(images), batch):
            logits = model(images[start : start + batch].to(device))
            probs = torch.softmax(logits.float(), dim=1)
            out.append(probs.gather(1, labels[start : start + batch, None].to(device))[:, 0].cpu())
    return torch.cat(out).numpy().astype(np.float64)


def road_scores(
    models: Mapping[str, nn.Module],
    normalized: torch.Tensor,
    labels: torch.Tensor,
    maps: np.ndarray,
    *,
    percentiles: Sequence[int] = PERCENTILES,
    seed: int = 0,
    stop: StopToken | None = None,
) -> dict[str, np.ndarray]:
    """Per-image ROAD score of each model for one kind of map ``maps`` (n, H, W); NaN for an
    all-zero map (UniCAM found nothing unique: there is no ranking to test)."""
    images = normalized.detach().float().cpu()
    labels = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    rng = np.random.default_rng(seed)
    cams = np.asarray(maps, dtype=np.float64) + TIE_BREAK * rng.random(np.shape(maps))
    imputer = NoisyLinearImputer()
    totals = {role: np.zeros(len(images)) for role in models}
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        torch.manual_seed(seed)  # the imputer's noise, seeded, without touching the caller's RNG
        warnings.filterwarnings("ignore", message="__array_wrap__", category=DeprecationWarning)
        for percentile in percentiles:
            if stop is not None:
                stop.check()
            most = RemoveMostRelevantFirst(percentile, imputer)
            least = RemoveLeastRelevantFirst(percentile, imputer)
            cam_tensors = [torch.from_numpy(c.astype(np.float32)) for c in cams]
            without_most = torch.stack([most(x, c) for x, c in zip(images, cam_tensors, strict=True)])
            without_least = torch.stack([least(x, c) for x, c in zip(images, cam_tensors, strict=True)])
            for role, model in models.items():
                totals[role] += _probabilities(model, without_least, labels) - _probabilities(
                    model, without_most, labels
                )
    empty = np.asarray(maps).reshape(len(images), -1).max(axis=1) <= 0
    return {role: np.where(empty, np.nan, total / len(percentiles)) for role, total in totals.items()}


def faithfulness(
    models: Mapping[str, nn.Module],
    normalized: torch.Tensor,
    labels: torch.Tensor,
    maps: Mapping[str, np.ndarray],
    *,
    percentiles: Sequence[int] = PERCENTILES,
    seed: int = 0,
    stop: StopToken | None = None,
) -> FaithfulnessResult:
    """ROAD of every map kind (plus a seeded random map) for every model, and UniCAM's claims."""
    some = next(iter(maps.values()))
    kinds = dict(maps) | {RANDOM_MAP: np.random.default_rng(seed + 1).random(some.shape).astype(np.float32)}
    scores: dict[tuple[str, str], np.ndarray] = {}
    for key, value in kinds.items():
        for role, score in road_scores(
            models, normalized, labels, value, percentiles=percentiles, seed=seed, stop=stop
        ).items():
            scores[(key, role)] = score
    intervals = {pair: bootstrap_mean(values, seed=seed) for pair, values in scores.items()}
    claims = {}
    for name, (key, uses, lacks, meaning) in CLAIMS.items():
        if (key, uses) in scores and (key, lacks) in scores:
            interval = paired_difference(scores[(key, uses)], scores[(key, lacks)], seed=seed)
            claims[name] = (interval, verdict(interval), meaning)
    return FaithfulnessResult(scores, intervals, claims, tuple(percentiles))
