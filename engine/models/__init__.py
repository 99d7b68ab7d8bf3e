"""The architectures KD Lens knows and how to look inside a model (SPEC §3, §4, §6).

``registry`` (the one table: torchvision, the CIFAR KD zoo, small CNNs; ``timm:<name>`` through
timm), ``spec`` (:class:`ModelSpec`, errors), ``layers`` (layers by dotted name), ``derive``
(specs read off models without a table entry), ``scripted`` (TorchScript models that hooks can
see into). Every name below is importable from ``engine.models``.
"""

from engine.models.derive import derive_spec
from engine.models.layers import default_feature_cut, get_layer, layer_names
from engine.models.registry import (
    ARCHITECTURES,
    build_model,
    get_spec,
    is_builtin,
    list_architectures,
    register_spec,
)
from engine.models.scripted import ScriptedModel
from engine.models.small_cnn import StagedCNN
from engine.models.spec import ModelError, ModelSpec, UnknownArchitectureError, UnknownLayerError
from engine.models.timm_table import NotAConvNetError, timm_architectures

__all__ = [
    "ARCHITECTURES",
    "ModelError",
    "ModelSpec",
    "NotAConvNetError",
    "ScriptedModel",
    "StagedCNN",
    "UnknownArchitectureError",
    "UnknownLayerError",
    "build_model",
    "default_feature_cut",
    "derive_spec",
    "get_layer",
    "get_spec",
    "is_builtin",
    "layer_names",
    "list_architectures",
    "register_spec",
    "timm_architectures",
]
