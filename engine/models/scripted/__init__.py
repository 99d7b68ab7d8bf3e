"""TorchScript models made visible to hooks: ``wrapper`` (the model and its layer stand-ins) and
``program`` (the compiled forward cut at the watched layers)."""

from engine.models.scripted.wrapper import SCRIPT_NAME, ScriptedLayer, ScriptedModel, is_scripted_linear

__all__ = ["SCRIPT_NAME", "ScriptedLayer", "ScriptedModel", "is_scripted_linear"]
