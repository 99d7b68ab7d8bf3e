"""What KD Lens knows about an architecture (:class:`ModelSpec`) and the errors of model lookup."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import KDLensError

__all__ = ["ModelError", "ModelSpec", "UnknownArchitectureError", "UnknownLayerError", "canonical"]


class ModelError(KDLensError, ValueError):
    """A model cannot be built or looked into as asked; the message says how to fix it."""


class UnknownArchitectureError(ModelError):
    """An architecture name that is not in the registry."""


class UnknownLayerError(ModelError):
    """A layer name that the model does not have."""


@dataclass(frozen=True)
class ModelSpec:
    """What KD Lens needs to know about one architecture.

    ``cam_layer``: the layer whose output Grad-CAM/UniCAM maps are drawn on; ``feature_cut``:
    the classifier, whose *input* is UniCAM's features; ``metric_taps``: the stage outputs where
    FSS/RS are measured. Layers are named as in ``model.named_modules()``. ``input_size`` is
    the side in pixels the architecture is usually trained at.
    """

    name: str
    cam_layer: str
    feature_cut: str
    metric_taps: tuple[str, ...]
    input_size: int


def canonical(arch: str) -> str:
    """The lookup key of an architecture name: trimmed, lower case, ``-`` read as ``_``."""
    return str(arch).strip().lower().replace("-", "_")
