"""The floor of each stage of one ``analyze`` run (``bench_scale.py``), read off its manifest: the
same models, images, set sizes, taps and CAM layers, each floor made of :mod:`floors`' bare parts
and timed in the benchmark's own process right after the run.

| stage | floor |
| --- | --- |
| FSS / RS: forward passes | the metrics set through the three models, no hooks, ``no_grad`` |
| FSS / RS: distances | X @ X.T in float64 of every tap's N x D features |
| FSS / RS: statistics | per subsample: 10 U-centrings (label, 9 taps), 34 sums of products, 12 projections |
| Grad-CAM and UniCAM | 3 Grad-CAMs + 2 UniCAMs of the probe set: a forward and the gradient at the CAM layer |
| faithfulness (ROAD) | its set's maps as above (context batches of 16), the forward passes of every perturbed image, grad-cam's imputation of them (a sample, scaled) |
| sanity | per step (the original and each re-initialisation): the student's two gradients (distilled map, Grad-CAM) and the base's forward |
| agreement | its set through the three models (calibration reads the same cached pass: no floor of its own) |
| classes | its set through the three models, and per subsample the one-vs-rest U-centrings (2) and sums (3) |
| layers | per subsample and measure (R*, CKA): 9 U-centrings and 36 sums of products |
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from floors import Clock, centring_floor, forward_floor, gradient_floor, gram_floor, imputation_floor
from torch import nn

from engine.evidence.randomisation import randomisation_order
from engine.evidence.road import kept_pixels
from engine.metrics_plan import tap_widths
from engine.models import get_spec
from engine.vocab import MAP_KEYS

__all__ = ["stage_floors", "total"]

CONTEXT_BATCH = 16  # the evidence's UniCAM context batches
LOGITS_BATCH = 128  # engine.evidence.context.FORWARD_BATCH
ROAD_BATCH = 256  # engine.evidence.road.FORWARD_BATCH
IMPUTATION_SAMPLE = 8  # images whose imputation at every level, both orders, is timed and scaled
METRICS_CENTRINGS, METRICS_PRODUCTS, METRICS_PROJECTIONS = 10, 34, 12


def total(*clocks: Clock, scale: float = 1.0) -> Clock:
    """One clock holding the sum of ``clocks`` (times ``scale``)."""
    out = Clock(clocks[0].device)
    out.wall = scale * sum(c.wall for c in clocks)
    out.cpu = scale * sum(c.cpu for c in clocks)
    return out


def stage_floors(
    manifest: Mapping[str, Any], models: Mapping[str, nn.Module], inputs: torch.Tensor, device: torch.device
) -> dict[str, Clock]:
    """Manifest timing name -> its floor, for one run (``inputs``: the analysed split, normalised,
    on ``device``, in the data's order)."""
    sets = {kind: np.asarray(p, dtype=np.int64) for kind, p in manifest["evidence"]["sets"].items()}
    metrics_set = inputs[np.asarray(manifest["metrics_indices"])]
    n, repeats = len(metrics_set), int(manifest["config"]["repeats"])
    draws = _draws(n, repeats, device)
    matrices = _matrices(METRICS_CENTRINGS, n, device)
    cam = {role: manifest["cam_layers"][role] for role in models}
    taps = manifest["layers"]
    floors = {
        "FSS / RS: forward passes": forward_floor(models.values(), metrics_set, device),
        "FSS / RS: distances": gram_floor(_widths(models, metrics_set, taps), n, device),
        "FSS / RS: statistics": centring_floor(matrices, draws, METRICS_PRODUCTS, METRICS_PROJECTIONS),
        "Grad-CAM and UniCAM": _maps(models, cam, inputs[manifest["probe_indices"]], device, batch=None),
        "evidence: faithfulness": _road(manifest, models, cam, inputs[sets["faithfulness"]], device),
        "evidence: sanity": _sanity(manifest, models, cam, inputs[sets["sanity"]], device),
        "evidence: agreement": forward_floor(
            models.values(), inputs[sets["agreement"]], device, batch=LOGITS_BATCH
        ),
        "evidence: layers": total(
            centring_floor(matrices[:9], draws, 36), centring_floor(matrices[:9], draws, 36, squared=True)
        ),
        "evidence: classes": total(
            forward_floor(models.values(), inputs[sets["classes"]], device, batch=LOGITS_BATCH),
            centring_floor(matrices[:2], draws, 3),
        ),
    }
    floors["FSS / RS"] = total(
        *(floors[f"FSS / RS: {part}"] for part in ("forward passes", "distances", "statistics"))
    )
    floors["evidence"] = total(*(c for name, c in floors.items() if name.startswith("evidence: ")))
    return floors


def _draws(n: int, repeats: int, device: torch.device) -> list[torch.Tensor]:
    """``repeats`` subsamples of three quarters of the set, as the metrics draw them (sorted)."""
    generator = torch.Generator().manual_seed(0)
    size = max(4, 3 * n // 4)
    return [torch.randperm(n, generator=generator)[:size].sort().values.to(device) for _ in range(repeats)]


def _matrices(count: int, n: int, device: torch.device) -> list[torch.Tensor]:
    generator = torch.Generator(device).manual_seed(1)
    return [torch.rand(n, n, dtype=torch.float64, device=device, generator=generator) for _ in range(count)]


def _widths(
    models: Mapping[str, nn.Module], images: torch.Tensor, taps: Mapping[str, list[str]]
) -> list[int]:
    return [w for role, model in models.items() for w in tap_widths(model, images, taps[role]).values()]


def _maps(
    models: Mapping[str, nn.Module], cam: Mapping[str, str], images: torch.Tensor, device, batch: int | None
) -> Clock:
    """3 Grad-CAMs (every model) + UniCAM's distilled (the student's gradient) and residual (the
    base's) maps of ``images``, in batches of ``batch`` (None: one batch)."""
    passes = [(models[r], cam[r]) for r in ("teacher", "student", "base", "student", "base")]
    return gradient_floor(passes, images, device, batch=batch or len(images))


def _road(manifest, models, cam, images: torch.Tensor, device: torch.device) -> Clock:
    """The maps of ROAD's set, the forward passes of every perturbed image, and grad-cam's
    imputation of them (timed on a sample of images at every level, both orders, and scaled)."""
    levels = list(manifest["config"]["faithfulness_percentiles"])
    kinds = len(MAP_KEYS) + 1  # every map and a random one
    n = len(images)
    perturbed = torch.randn(kinds * len(levels) * 2 * n, *images.shape[1:], device=device)
    passes = forward_floor(models.values(), perturbed, device, batch=ROAD_BATCH)
    del perturbed
    sample = images[:IMPUTATION_SAMPLE]
    cams = _cam_like(len(sample), images.shape[-1])
    keeps = {}
    for i, k in enumerate(levels):  # most relevant first, then least (grad-cam's 1 - map)
        keeps[2 * i] = torch.from_numpy(kept_pixels(cams, k))
        keeps[2 * i + 1] = torch.from_numpy(kept_pixels(1 - cams, k))
    imputation = imputation_floor(sample, keeps)
    scaled = total(imputation, scale=kinds * n / len(sample))
    return total(_maps(models, cam, images, device, batch=CONTEXT_BATCH), passes, scaled)


def _cam_like(n: int, size: int) -> np.ndarray:
    """Smooth maps with ReLU zeros, as CAMs of an 8 x 8 layer upsampled (float32, (n, size, size))."""
    coarse = torch.from_numpy(np.random.default_rng(0).random((n, 1, 8, 8)).astype(np.float32))
    smooth = nn.functional.interpolate(coarse, size=(size, size), mode="bilinear")[:, 0].numpy()
    return np.maximum(smooth - 0.3, 0.0) + 1e-6 * np.random.default_rng(1).random(smooth.shape).astype(
        np.float32
    )


def _sanity(manifest, models, cam, images: torch.Tensor, device: torch.device) -> Clock:
    steps = 1 + len(randomisation_order(get_spec(manifest["checkpoints"]["student"]["arch"])))
    student, base = models["student"], models["base"]
    passes = [(student, cam["student"]), (base, None), (student, cam["student"])] * steps
    return gradient_floor(passes, images, device, batch=CONTEXT_BATCH)
