"""UniCAM: where model X holds what model Y lacks (SPEC §3).

Distilled map = UniCAM(X=student, Y=base); residual map = UniCAM(X=base, Y=student).
From the pooled features f of each model on a context batch (n >= 4 images),
R_{X|Y} = P_{U(f_Y)}(U(f_X)) is the n x n U-centred distance matrix of X with Y's information
removed. The scalar objective is R*(R_{X|Y}, U(E_y)) (label-guided) or sum_i R_{i, j*(i)}
(unique-feature), differentiated with respect to X's target-layer activations only; the maps are
then drawn as in Grad-CAM. Because the objective couples the whole batch, one image's map
depends on the other images of the context batch.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from engine import stats
from engine.cam.base import (
    CamError,
    UnicamResult,
    channel_weighted_maps,
    check_images,
    default_cam_layer,
    model_device,
    resolve_layer,
    zero_maps,
)
from engine.cam.hooks import LayerHooks
from engine.devices import autocast
from engine.models import default_feature_cut

__all__ = ["OBJECTIVES", "distilled_and_residual", "unicam"]

OBJECTIVES = ("label", "unique")

FeatureCut = str | nn.Module | tuple[str | nn.Module, str | nn.Module] | None


def unicam(
    model_x: nn.Module,
    model_y: nn.Module,
    layer_x: str | nn.Module,
    images: torch.Tensor,
    labels,
    *,
    embeddings=None,
    objective: str = "label",
    feature_cut: FeatureCut = None,
) -> UnicamResult:
    """UniCAM maps of X given Y at X's ``layer_x`` for a context batch of normalised images.

    ``labels``: (n,) class indices. ``embeddings``: None (one-hot of the labels), a
    ``ClassEmbeddings`` or a (classes, d) array. ``feature_cut``: the layer whose input is f_M
    (None: each model's last ``nn.Linear``; a pair gives X's and Y's separately).
    """
    images, labels = _check_batch(images, labels, model_x, objective)
    cut_x, cut_y = _feature_cuts(feature_cut, model_x, model_y)
    name, _ = resolve_layer(model_x, layer_x)
    with ExitStack() as stack:
        hooks_x = stack.enter_context(LayerHooks(model_x, [name], feature_cut=cut_x))
        hooks_y = stack.enter_context(LayerHooks(model_y, feature_cut=cut_y, track_gradients=False))
        with torch.no_grad(), autocast(images.device):
            model_y(images.to(model_device(model_y)))
        features_y = _features(hooks_y, model_y)
        with torch.enable_grad():
            with autocast(images.device):  # forward passes only: the statistics stay float64
                logits = model_x(images)
            target = _label_embeddings(embeddings, labels, logits) if objective == "label" else None
            same = _same_weights(model_x, model_y)
            return _explain(hooks_x, name, features_y, target, objective, images.shape[-2:], same)


def distilled_and_residual(
    student: nn.Module,
    base: nn.Module,
    images: torch.Tensor,
    labels,
    *,
    layer_student: str | nn.Module | None = None,
    layer_base: str | nn.Module | None = None,
    embeddings=None,
    objective: str = "label",
    feature_cut: FeatureCut = None,
) -> tuple[UnicamResult, UnicamResult]:
    """(distilled, residual) = (UniCAM(S | B), UniCAM(B | S)) from one forward pass per model.

    A layer left as None is the model's last convolutional stage (``default_cam_layer``: ResNet
    ``layer4.<last>``, MobileNet/EfficientNet ``features.<last>``, VGG the last ReLU, small CNNs
    ``stage4``). Equal to calling :func:`unicam` twice, at about half the cost.
    """
    images, labels = _check_batch(images, labels, student, objective)
    cut_s, cut_b = _feature_cuts(feature_cut, student, base)
    name_s, _ = resolve_layer(student, default_cam_layer(student) if layer_student is None else layer_student)
    name_b, _ = resolve_layer(base, default_cam_layer(base) if layer_base is None else layer_base)
    size = images.shape[-2:]
    with ExitStack() as stack, torch.enable_grad():
        hooks_s = stack.enter_context(LayerHooks(student, [name_s], feature_cut=cut_s))
        hooks_b = stack.enter_context(LayerHooks(base, [name_b], feature_cut=cut_b))
        with autocast(images.device):  # forward passes only: the statistics stay float64
            logits = student(images)
        features_s = _features(hooks_s, student)
        hooks_s.activation(name_s)  # the layer ran
        output_s = hooks_s.outputs[name_s]
        with autocast(images.device):
            base(images.to(model_device(base)))
        # When S is B the base pass re-fires S's hooks: keep what the student pass captured.
        hooks_s.features, hooks_s.outputs[name_s] = features_s, output_s
        features_b = _features(hooks_b, base)
        target = _label_embeddings(embeddings, labels, logits) if objective == "label" else None
        same = _same_weights(student, base)
        distilled = _explain(hooks_s, name_s, features_b, target, objective, size, same)
        residual = _explain(hooks_b, name_b, features_s, target, objective, size, same)
    return distilled, residual


def _explain(
    hooks_x: LayerHooks,
    name: str,
    features_y: torch.Tensor,
    target: torch.Tensor | None,
    objective: str,
    size,
    same_weights: bool,
) -> UnicamResult:
    """The objective, its gradient at X's layer and the maps (SPEC §3.2-3.6)."""
    activation = hooks_x.activation(name)
    if activation.ndim != 4:
        channel_weighted_maps(activation, activation, size)  # raises the explanatory CamError
    features_x = _features(hooks_x, hooks_x.model)
    u_x = stats.u_centered(stats.pairwise_distances(features_x, name="the explained model's features (X)"))
    u_y = stats.u_centered(
        stats.pairwise_distances(
            features_y.detach().to(features_x.device), name="the other model's features (Y)"
        )
    )
    residual_x = stats.complementary_projection(u_x, u_y)
    if same_weights or not bool(residual_x.detach().any()):
        maps, raw, signed = zero_maps(activation, size)
        return UnicamResult(maps, raw, signed, objective=0.0, no_unique_features=True)
    if objective == "label":
        u_target = stats.u_centered(
            stats.pairwise_distances(target.to(features_x.device), name="the class embeddings of the labels")
        )
        if not bool(u_target.any()):
            raise CamError(_flat_labels(target))
        value = stats.u_correlation(residual_x, u_target)
    else:
        best = residual_x.detach().argmax(dim=1, keepdim=True)
        value = residual_x.gather(1, best).sum()
    gradient = hooks_x.gradients(value, [name])[name]
    maps, raw, signed = channel_weighted_maps(activation, gradient, size)
    return UnicamResult(maps, raw, signed, objective=float(value.detach()), no_unique_features=False)


def _flat_labels(target: torch.Tensor) -> str:
    """Why the label geometry of a context batch (its labels' embeddings, n x d) is flat: one
    class, or every image of its own class."""
    n, classes = len(target), len(torch.unique(target.detach().float().cpu(), dim=0))
    if classes == 1:
        cause = "all of its images are of one class, so their class embeddings are all alike"
    elif classes == n:
        cause = (
            f"its {n} images are of {n} different classes, one each, so every pair of labels is equally "
            "far apart (one-hot embeddings)"
        )
    else:
        cause = "the class embeddings of its labels are all equally far apart"
    return (
        f"the UniCAM context batch has no label geometry: {cause}, and the label-guided objective is "
        "undefined. Use a class-balanced context batch with two or more images of some class (more "
        "images than classes), or objective='unique'."
    )


def _check_batch(images, labels, model: nn.Module, objective: str) -> tuple[torch.Tensor, torch.Tensor]:
    if objective not in OBJECTIVES:
        raise CamError(f"unknown UniCAM objective {objective!r}; choose one of {', '.join(OBJECTIVES)}.")
    images = check_images(images, model)
    n = len(images)
    if n < stats.MIN_SAMPLES:
        raise stats.TooFewSamplesError(
            f"the UniCAM context batch has {n} image(s); its statistics need at least "
            f"{stats.MIN_SAMPLES} (16 is the default). Explain the image inside a larger context batch."
        )
    labels = torch.as_tensor(np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels))
    if labels.ndim != 1 or len(labels) != n or labels.is_floating_point() or labels.dtype == torch.bool:
        raise CamError(
            f"labels must be {n} integer class indices, one per image of the context batch; "
            f"got dtype {labels.dtype} and shape {tuple(labels.shape)}."
        )
    if bool((labels < 0).any()):
        raise CamError("labels must be non-negative class indices.")
    return images, labels.to(torch.int64)


def _feature_cuts(feature_cut: FeatureCut, model_x: nn.Module, model_y: nn.Module):
    if isinstance(feature_cut, tuple):
        if len(feature_cut) != 2:
            raise CamError("feature_cut as a tuple must hold two layers: (X's cut, Y's cut).")
        return feature_cut
    if feature_cut is None:
        return default_feature_cut(model_x), default_feature_cut(model_y)
    return feature_cut, feature_cut


def _features(hooks: LayerHooks, model: nn.Module) -> torch.Tensor:
    if hooks.features is None:
        raise CamError(
            f"the feature cut {hooks.feature_cut[0]!r} did not run in the {type(model).__name__}'s "
            "forward pass; name a layer that the forward uses (the final classifier, e.g. 'fc')."
        )
    return hooks.features


def _label_embeddings(embeddings, labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """E_y: one row per image, float64 (one-hot of the labels unless embeddings are given)."""
    if embeddings is None:
        classes = int(logits.shape[1])
        if int(labels.max()) >= classes:
            raise CamError(
                f"label {int(labels.max())} is out of range for a {classes}-class model; the labels "
                "must be class indices of the models being explained."
            )
        return F.one_hot(labels, classes).to(torch.float64)
    matrix = getattr(embeddings, "matrix", embeddings)
    matrix = torch.as_tensor(np.array(matrix.detach().cpu() if isinstance(matrix, torch.Tensor) else matrix))
    if matrix.ndim != 2 or matrix.is_complex() or matrix.dtype == torch.bool:
        raise CamError(
            f"class embeddings must be a (classes, d) real matrix, got shape {tuple(matrix.shape)}."
        )
    if int(labels.max()) >= len(matrix):
        raise CamError(
            f"label {int(labels.max())} has no class embedding (the embeddings have {len(matrix)} "
            "rows); give one row per class of the dataset."
        )
    return matrix.to(torch.float64)[labels]


def _same_weights(model_x: nn.Module, model_y: nn.Module) -> bool:
    """True when both models hold the same parameters and buffers (then nothing is distilled)."""
    if model_x is model_y:
        return True
    state_x, state_y = model_x.state_dict(), model_y.state_dict()
    if state_x.keys() != state_y.keys():
        return False
    return all(
        state_x[key].shape == state_y[key].shape
        and state_x[key].dtype == state_y[key].dtype
        and torch.equal(state_x[key], state_y[key].to(state_x[key].device))
        for key in state_x
    )
