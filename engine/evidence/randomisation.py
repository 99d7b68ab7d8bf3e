"""The maths of the sanity check (Adebayo et al., NeurIPS 2018, cascading randomisation; SPEC §10;
the evidence kind is :mod:`engine.evidence.sanity`).

The student's layers are re-initialised from the top down, one stage more at each step (its
classifier, then its last stage, and so on); at each step the distilled map (UniCAM of the
damaged student given the base) is drawn again on the same images and compared with the
original by Spearman rank correlation, per image. A map that does not change while the weights
are destroyed does not explain the model. The student's Grad-CAM is reported beside it as a
reference. The models passed in are never changed: the student is copied.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats as scipy_stats
from torch import nn

from engine.cam import distilled_and_residual, grad_cam
from engine.data.imageset import context_batches
from engine.events import StopToken
from engine.evidence.intervals import Interval, bootstrap_mean
from engine.models import ModelSpec, get_layer
from engine.vocab import DISTILLED, gradcam_key

__all__ = ["SanityStep", "cascading_randomisation", "randomisation_order", "reinitialise"]


@dataclass(frozen=True)
class SanityStep:
    """After re-initialising ``randomised`` (cumulative), the rank correlation of each map with
    its original, per map key."""

    step: int
    randomised: tuple[str, ...]
    correlation: dict[str, Interval]

    def rows(self) -> list[dict]:
        out = []
        for key, interval in self.correlation.items():
            d = interval.as_dict()
            out.append(
                {
                    "step": self.step,
                    "randomised": " + ".join(self.randomised) or "none",
                    "map": key,
                    "spearman": d["mean"],
                    "ci_low": d["ci_low"],
                    "ci_high": d["ci_high"],
                    "n": d["n"],
                }
            )
        return out


def randomisation_order(spec: ModelSpec) -> list[str]:
    """Top down: the classifier (the feature cut), then the metric stages from the last one."""
    return [spec.feature_cut, *reversed(spec.metric_taps)]


def _maps(student: nn.Module, base: nn.Module, spec_s: ModelSpec, spec_b: ModelSpec, images, labels, batches):
    n = len(images)
    out = {DISTILLED: None, gradcam_key("student"): None}
    for batch in batches:
        index = torch.as_tensor(batch)
        distilled, _ = distilled_and_residual(
            student,
            base,
            images[index],
            labels[index],
            layer_student=spec_s.cam_layer,
            layer_base=spec_b.cam_layer,
        )
        cam = grad_cam(student, spec_s.cam_layer, images[index])
        for key, value in ((DISTILLED, distilled.maps), (gradcam_key("student"), cam.maps)):
            if out[key] is None:
                out[key] = np.zeros((n, *value.shape[1:]), dtype=np.float32)
            out[key][batch] = value
    return out


def reinitialise(layer: nn.Module, seed: int) -> None:
    """New weights for every module of ``layer`` (its own ``reset_parameters``), drawn from the
    host's generator seeded with ``seed`` on a float32 host copy, then copied to the layer's device
    and dtype: the same weights on a CPU and on any GPU (a GPU's own generator would give others), and
    the caller's random state left as it was (SPEC §10)."""
    if not layer.state_dict():  # stand-ins that own no tensors (TorchScript layers) reset in place,
        with torch.random.fork_rng(devices=[]):  # drawing on the host themselves
            torch.random.default_generator.manual_seed(seed)
            for module in layer.modules():
                if hasattr(module, "reset_parameters"):
                    module.reset_parameters()
        return
    twin = copy.deepcopy(layer).to(device="cpu", dtype=torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        for module in twin.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    layer.load_state_dict(twin.state_dict())


def _spearman(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    values = []
    for a, b in zip(first.reshape(len(first), -1), second.reshape(len(second), -1), strict=True):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            values.append(np.nan)  # a constant map has no ranking
        else:
            values.append(float(scipy_stats.spearmanr(a, b).statistic))
    return np.asarray(values)


def cascading_randomisation(
    student: nn.Module,
    base: nn.Module,
    spec_student: ModelSpec,
    spec_base: ModelSpec,
    normalized: torch.Tensor,
    labels,
    *,
    order: Sequence[str] | None = None,
    batch_size: int = 16,
    seed: int = 0,
    stop: StopToken | None = None,
) -> list[SanityStep]:
    """Step 0 is the trained student (correlation 1 by definition); step i re-initialises the
    first i layers of ``order`` (default :func:`randomisation_order`)."""
    labels = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    order = list(order or randomisation_order(spec_student))
    batches = context_batches(labels, batch_size, seed)
    damaged = copy.deepcopy(student).eval()
    base = copy.deepcopy(base).eval()
    original = _maps(damaged, base, spec_student, spec_base, normalized, labels, batches)
    steps = [SanityStep(0, (), {k: bootstrap_mean(_spearman(v, v), seed=seed) for k, v in original.items()})]
    for step, layer in enumerate(order, start=1):
        if stop is not None:
            stop.check()
        reinitialise(get_layer(damaged, layer), seed * 1000 + step)
        now = _maps(damaged, base, spec_student, spec_base, normalized, labels, batches)
        correlation = {k: bootstrap_mean(_spearman(original[k], now[k]), seed=seed) for k in original}
        steps.append(SanityStep(step, tuple(order[:step]), correlation))
    return steps
