"""Looking inside a model by layer name: every layer, one layer, the classifier (SPEC §3)."""

from __future__ import annotations

import difflib

from torch import nn

from engine.models.scripted import SCRIPT_NAME, ScriptedModel, is_scripted_linear
from engine.models.spec import UnknownLayerError

__all__ = ["classifier_layer", "default_feature_cut", "get_layer", "layer_names", "named_layers"]


def named_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every submodule by dotted name, as ``named_modules()`` spells them, root left out. A
    TorchScript model shows its hookable stand-ins, not the compiled modules behind them."""
    hidden = f"{SCRIPT_NAME}." if isinstance(model, ScriptedModel) else None
    return {
        name: module
        for name, module in model.named_modules()
        if name and not (hidden and (name == SCRIPT_NAME or name.startswith(hidden)))
    }


def layer_names(model: nn.Module) -> list[str]:
    """The names of every submodule, as ``named_modules()`` spells them (the root is left out)."""
    return list(named_layers(model))


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; an unknown name raises an error listing the closest ones."""
    modules = named_layers(model)
    if name and name in modules:
        return modules[name]
    names = list(modules)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
    if close:
        hint = f"close matches: {', '.join(close)}"
    else:
        top = sorted({candidate.split(".")[0] for candidate in names})
        hint = f"its top-level layers are: {', '.join(top)}"
    raise UnknownLayerError(
        f"the {type(model).__name__} has no layer {name!r}; {hint}. Pick a layer by its dotted name "
        f"(as in model.named_modules(), e.g. {names[-1] if names else 'layer4.1'})."
    )


def classifier_layer(model: nn.Module) -> str | None:
    """The name of a timm-style model's classifier (``get_classifier()``; of a two-head model such
    as a distilled DeiT or LeViT, the class head), or of the first ``nn.Linear`` inside it when it
    wraps some (LeViT's batch-norm + linear head); None for a model without ``get_classifier``."""
    getter = getattr(model, "get_classifier", None)
    if not callable(getter):
        return None
    try:
        classifier = getter()
    except Exception:  # noqa: BLE001 - a user's model may define it differently
        return None
    if isinstance(classifier, (tuple, list)):
        classifier = classifier[0] if classifier else None
    if not isinstance(classifier, nn.Module):
        return None
    if not isinstance(classifier, nn.Linear):
        inner = [m for m in classifier.modules() if isinstance(m, nn.Linear)]
        classifier = inner[0] if inner else classifier
    return next((name for name, module in model.named_modules() if module is classifier and name), None)


def default_feature_cut(model: nn.Module) -> str:
    """UniCAM's features are this layer's input: a timm model's classifier (its class head), else
    the model's last ``nn.Linear``."""
    timm_head = classifier_layer(model)
    if timm_head is not None:
        return timm_head
    linear = [
        name
        for name, module in named_layers(model).items()
        if isinstance(module, nn.Linear) or is_scripted_linear(module)
    ]
    if not linear:
        raise UnknownLayerError(
            f"the {type(model).__name__} has no nn.Linear classifier to cut features at; "
            "name a feature cut layer explicitly (its input is used as the features)"
        )
    return linear[-1]
