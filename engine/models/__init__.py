"""The architectures KD Lens knows and how to look inside a model (SPEC §3, §4, §6).

``registry`` (the one table: torchvision, the CIFAR KD zoo, small CNNs; ``timm:<name>`` through
timm, with timm's options as ``timm:<name>?key=value&...``: ``timm_table``, ``timm_options``),
``spec`` (:class:`ModelSpec`, errors), ``layers`` (layers by dotted name), ``token_maps`` (the one
rule turning transformer tokens and channels-last stages into (n, C, h, w) maps), ``two_heads``
(distilled models' class and distillation heads), ``derive`` (specs read off models without a
table entry), ``scripted`` (TorchScript models that hooks can see into). Every name below is
importable from ``engine.models``; importing it does not import timm.
"""

from engine.models.derive import derive_spec
from engine.models.layers import classifier_layer, default_feature_cut, get_layer, layer_names
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
from engine.models.timm_table import TIMM_EXAMPLES, NotAConvNetError, timm_architectures
from engine.models.token_maps import MapRule, feature_map, fixed_size_problem, map_rule
from engine.models.two_heads import distillation_heads, split_heads

__all__ = [
    "ARCHITECTURES",
    "TIMM_EXAMPLES",
    "MapRule",
    "ModelError",
    "ModelSpec",
    "NotAConvNetError",
    "ScriptedModel",
    "StagedCNN",
    "UnknownArchitectureError",
    "UnknownLayerError",
    "build_model",
    "classifier_layer",
    "default_feature_cut",
    "derive_spec",
    "distillation_heads",
    "feature_map",
    "fixed_size_problem",
    "get_layer",
    "get_spec",
    "is_builtin",
    "layer_names",
    "list_architectures",
    "map_rule",
    "register_spec",
    "split_heads",
    "timm_architectures",
]
