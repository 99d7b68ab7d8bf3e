"""Class activation maps: Grad-CAM per model and UniCAM distilled/residual maps (SPEC §3).

Shaped like the ``grad-cam`` package: a hooks helper (:mod:`engine.cam.hooks`), a shared base
(:mod:`engine.cam.base`) and one short module per method.
"""

from engine.cam.base import CamError, CamResult, UnicamResult, default_cam_layer, resolve_layer
from engine.cam.grad_cam import grad_cam
from engine.cam.hooks import LayerHooks
from engine.cam.unicam import OBJECTIVES, distilled_and_residual, unicam

__all__ = [
    "OBJECTIVES",
    "CamError",
    "CamResult",
    "LayerHooks",
    "UnicamResult",
    "default_cam_layer",
    "distilled_and_residual",
    "grad_cam",
    "resolve_layer",
    "unicam",
]
