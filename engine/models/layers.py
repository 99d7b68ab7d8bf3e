"""Looking inside a model by layer name: every layer, one layer, the classifier (SPEC §3)."""

from __future__ import annotations

import difflib

from torch import nn

from engine.models.scripted import SCRIPT_NAME, ScriptedModel, is_scripted_linear
from engine.models.spec import UnknownLayerError

__all__ = ["default_feature_cut", "get_layer", "layer_names", "named_layers"]


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


def default_feature_cut(model: nn.Module) -> str:
    """The name of the model's last ``nn.Linear``: UniCAM's features are that layer's input."""
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
