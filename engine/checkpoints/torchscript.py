"""TorchScript archives as KD Lens models: no architecture name needed, layers by qualified name.

The archive's module is wrapped in a :class:`~engine.models.ScriptedModel` (hooks can see into
it), its spec read off the model itself (:func:`~engine.models.derive_spec`) under the name
``torchscript:<absolute path>`` and registered for this process. A sidecar card may name the
layers (``extra``: ``cam_layer``, ``metric_taps``, ``feature_cut``) and the classes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from engine.checkpoints.card import CheckpointError, ModelCard
from engine.checkpoints.files import read_torchscript
from engine.models import ModelSpec, ScriptedModel, derive_spec, register_spec

__all__ = ["TORCHSCRIPT_PREFIX", "load_torchscript"]

TORCHSCRIPT_PREFIX = "torchscript:"
_LAYER_SETTINGS = ("cam_layer", "metric_taps", "feature_cut")


def load_torchscript(
    path: Path, data: bytes, card: ModelCard | None, num_classes: int | None
) -> tuple[ScriptedModel, ModelCard, ModelSpec]:
    """The archive's model (CPU, eval mode), its card and its registered spec."""
    model = ScriptedModel(read_torchscript(path, data)).eval()
    name = f"{TORCHSCRIPT_PREFIX}{path.resolve()}"
    settings = {k: v for k, v in (card.extra if card else {}).items() if k in _LAYER_SETTINGS}
    spec = register_spec(derive_spec(model, name, settings))
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, spec.input_size, spec.input_size))
    classes = int(logits.shape[-1])
    if num_classes is not None and num_classes != classes:
        raise CheckpointError(
            f"{path} is a TorchScript model with {classes} classes, not {num_classes}; check the "
            "class count or the file"
        )
    if card is None:
        card = ModelCard(name, classes, (), spec.input_size, extra={"card": "defaults"})
    else:
        names = card.class_names if len(card.class_names) == classes else ()
        card = dataclasses.replace(card, arch=name, num_classes=classes, class_names=names)
    card = dataclasses.replace(card, extra={**card.extra, "format": "torchscript"})
    return model, card, spec
