"""Explanations of a set of images by every role: the probe frame (Grad-CAM of every role,
distilled and residual UniCAM maps, predictions) and the FSS/RS metrics rows (SPEC §3-§5).

Training streams them every epoch; the analyze and explain jobs build theirs the same way.
Both work on eval-mode *snapshots* (deep copies) of the models, so no hook, gradient, mode
change or batch-norm statistic can leak back into a model that is training.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.cam import distilled_and_residual, grad_cam, unicam
from engine.distributed.group import Group, LocalGroup
from engine.events import MetricsRow, ProbeFrame, StopToken
from engine.metrics import compute_metrics
from engine.models import ModelSpec
from engine.vocab import DISTILLED, NO_UNIQUE_FEATURES, RESIDUAL, given_key, gradcam_key, no_unique_flag

__all__ = ["probe_frame", "probe_metrics", "snapshot", "to_uint8"]


def snapshot(models: Mapping[str, nn.Module]) -> dict[str, nn.Module]:
    """Eval-mode deep copies with no gradients and none of the training run's hooks attached."""
    copies = {}
    for role, model in models.items():
        clone = copy.deepcopy(model).eval()
        clone.zero_grad(set_to_none=True)
        for module in clone.modules():  # deepcopy keeps hooks, whose closures point at training state
            module._forward_hooks.clear()
            module._forward_pre_hooks.clear()
            module._backward_hooks.clear()
        copies[role] = clone
    return copies


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(n, 3, H, W) in [0, 1] -> (n, H, W, 3) uint8, as shown."""
    array = images.detach().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    return np.ascontiguousarray(np.round(array * 255.0).astype(np.uint8))


def probe_frame(
    models: Mapping[str, nn.Module],
    specs: Mapping[str, ModelSpec],
    images: torch.Tensor,
    normalized: torch.Tensor,
    labels: torch.Tensor,
    class_names: tuple[str, ...],
    *,
    epoch: int,
    masks: torch.Tensor | None = None,
    indices: np.ndarray | None = None,
    flags: Mapping[str, Any] | None = None,
    unicam_labels: torch.Tensor | None = None,
    embeddings=None,
    objective: str = "label",
    extra_pairs: Sequence[tuple[str, str]] = (),
    copy_models: bool = True,
) -> ProbeFrame:
    """Grad-CAM of every role plus distilled/residual maps, for ``images`` (in [0, 1]) as one
    context batch. ``unicam_labels`` (default ``labels``) guide UniCAM's objective;
    ``embeddings`` and ``objective`` are UniCAM's (SPEC §3). ``extra_pairs`` adds UniCAM(X | Y)
    maps for other role pairs, e.g. ``(("teacher", "student"),)``: what was not transferred.
    ``copy_models=False`` uses ``models`` as they are (they must be eval-mode snapshots already)."""
    frozen = snapshot(models) if copy_models else dict(models)
    maps: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    signed: dict[str, np.ndarray] = {}
    predictions: dict[str, np.ndarray] = {}
    for role, model in frozen.items():
        result = grad_cam(model, specs[role].cam_layer, normalized)
        key = gradcam_key(role)
        maps[key], raw[key], signed[key] = result.maps, result.raw, result.signed
        predictions[role] = result.probabilities
    frame_flags = dict(flags or {})
    guide = labels if unicam_labels is None else unicam_labels
    unicam_maps = _unicam_maps(frozen, specs, normalized, guide, embeddings, objective, extra_pairs)
    for name, result in unicam_maps.items():
        maps[name], raw[name], signed[name] = result.maps, result.raw, result.signed
        frame_flags[no_unique_flag(name)] = bool(result.no_unique_features)
    if DISTILLED in unicam_maps:
        frame_flags[NO_UNIQUE_FEATURES] = bool(
            unicam_maps[DISTILLED].no_unique_features or unicam_maps[RESIDUAL].no_unique_features
        )
    return ProbeFrame(
        epoch=epoch,
        images=to_uint8(images),
        labels=labels.detach().cpu().numpy().astype(np.int64),
        class_names=tuple(class_names),
        maps=maps,
        signed=signed,
        raw=raw,
        predictions=predictions,
        masks=None if masks is None else masks.detach().cpu().numpy().astype(bool),
        indices=None if indices is None else np.asarray(indices, dtype=np.int64),
        flags=frame_flags,
    )


def _unicam_maps(frozen, specs, normalized, guide, embeddings, objective, extra_pairs) -> dict[str, Any]:
    """Distilled and residual UniCAM (with a student and a base), then UniCAM(X | Y) of each extra
    pair present, by map key."""
    out: dict[str, Any] = {}
    if "student" in frozen and "base" in frozen:
        out[DISTILLED], out[RESIDUAL] = distilled_and_residual(
            frozen["student"], frozen["base"], normalized, guide,
            layer_student=specs["student"].cam_layer, layer_base=specs["base"].cam_layer,
            embeddings=embeddings, objective=objective,
        )  # fmt: skip
    for x_role, y_role in extra_pairs:
        if x_role in frozen and y_role in frozen:
            out[given_key(x_role, y_role)] = unicam(
                frozen[x_role], frozen[y_role], specs[x_role].cam_layer, normalized, guide,
                embeddings=embeddings, objective=objective,
            )  # fmt: skip
    return out


def probe_metrics(
    models: Mapping[str, nn.Module],
    specs: Mapping[str, ModelSpec],
    normalized: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    epoch: int,
    repeats: int,
    seed: int,
    stop: StopToken | None = None,
    taps: Mapping[str, list[str]] | None = None,
    embeddings=None,
    group: Group = LocalGroup(),
    keep: dict | None = None,
) -> list[MetricsRow]:
    """FSS/RS per metric tap of every role on the metrics set (eval-mode snapshots); ``taps``
    default to each architecture's metric taps; the work is shared out over ``group``
    (:func:`engine.metrics.compute_metrics`, which fills ``keep`` with the matrices behind it)."""
    frozen = snapshot(models)
    taps = taps or {role: list(specs[role].metric_taps) for role in frozen}
    return compute_metrics(
        frozen,
        normalized,
        labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels),
        taps,
        num_classes=num_classes,
        embeddings=embeddings,
        repeats=repeats,
        seed=seed,
        epoch=epoch,
        stop=stop,
        keep=keep,
        group=group,
    )
