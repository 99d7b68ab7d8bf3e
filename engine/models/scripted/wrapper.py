"""A loaded TorchScript model that forward hooks can see into (:class:`ScriptedModel`).

``ScriptedModel`` holds the archive's module as ``_script`` (its parameters, buffers, device and
train/eval flags) and, beside it, one :class:`ScriptedLayer` per submodule at the same dotted
name (``layer4.1``, ``fc``, ...). Hooks go on those layers, as on any ``nn.Module``. While none is
hooked, a forward is the archive's own compiled forward. When some are, the forward runs as a
:class:`~engine.models.scripted.program.Program`: the compiled code cut at the calls of the
hooked layers (and of their ancestors), which then run through their ``ScriptedLayer`` so that
their hooks fire, may replace the output, and the rest of the model continues from it.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from engine.models.scripted.program import Program, compile_program, script_submodule
from engine.models.spec import ModelError

__all__ = ["SCRIPT_NAME", "ScriptedLayer", "ScriptedModel", "is_scripted_linear"]

SCRIPT_NAME = "_script"  # where the archive's module sits inside the wrapper (hidden from layer lists)


class ScriptedLayer(nn.Module):
    """One submodule of a TorchScript model, as hooks see it. Calling it runs that submodule."""

    def __init__(self, owner: ScriptedModel, path: str, type_name: str) -> None:
        super().__init__()
        object.__setattr__(self, "_owner", owner)  # not a child: the owner holds this layer
        self.path = path
        self.type_name = type_name

    def forward(self, *args: Any) -> Any:
        return self._owner.run_layer(self.path, args)

    def extra_repr(self) -> str:
        return f"{self.type_name}, TorchScript"

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Re-initialise this layer's own weights as torch does for its type (convolutions, linear
        and batch-norm layers; other layers hold none), e.g. for a cascading randomisation test."""
        module = script_submodule(self._owner.script, self.path)
        if self.type_name.startswith(("Conv", "Linear")):  # drawn on the host, then copied: any device alike
            weight = torch.empty(module.weight.shape)
            nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            module.weight.copy_(weight)
            if getattr(module, "bias", None) is not None:
                fan_in = math.prod(module.weight.shape[1:])
                bound = 1 / math.sqrt(fan_in) if fan_in else 0.0
                module.bias.copy_(torch.empty(module.bias.shape).uniform_(-bound, bound))
        elif self.type_name.startswith("BatchNorm"):
            for name, value in (("running_mean", 0), ("running_var", 1), ("num_batches_tracked", 0)):
                buffer = getattr(module, name, None)
                if buffer is not None:
                    buffer.fill_(value)
            if getattr(module, "weight", None) is not None:
                module.weight.fill_(1)
                module.bias.zero_()


class ScriptedModel(nn.Module):
    """A TorchScript module with hookable stand-ins for its submodules (see the module docs)."""

    def __init__(self, script: torch.jit.ScriptModule) -> None:
        super().__init__()
        if not isinstance(script, torch.jit.ScriptModule):
            raise ModelError(f"expected a TorchScript module, got a {type(script).__name__}")
        self.add_module(SCRIPT_NAME, script)
        self._programs: dict[tuple[str, frozenset[str]], Program] = {}
        self.type_name = script.original_name
        for path, module in script.named_modules():
            if not path:
                continue
            *parents, name = path.split(".")
            holder: nn.Module = self
            for part in parents:
                holder = holder.get_submodule(part)
            if holder is self and name == SCRIPT_NAME:
                raise ModelError(f"this TorchScript model has a layer named {SCRIPT_NAME!r}; rename it")
            holder.add_module(name, ScriptedLayer(self, path, module.original_name))

    @property
    def script(self) -> torch.jit.ScriptModule:
        return self.get_submodule(SCRIPT_NAME)

    def forward(self, *args: Any) -> Any:
        return self.run_layer("", args)

    def run_layer(self, path: str, args: tuple) -> Any:
        """Run the submodule at ``path`` ("" for the whole model), cut open where hooks wait."""
        module = script_submodule(self.script, path)
        active = self._active_below(path)
        if not active:
            return module(*args)
        key = (path, active)
        if key not in self._programs:
            self._programs[key] = compile_program(module, active)
        prefix = f"{path}." if path else ""
        return self._programs[key].run(module, lambda child, a: self.get_submodule(prefix + child)(*a), args)

    def _active_below(self, path: str) -> frozenset[str]:
        """Paths (relative to ``path``) of hooked layers under it, each with its ancestors."""
        prefix = f"{path}." if path else ""
        active: set[str] = set()
        for name, layer in self.named_modules():
            if not isinstance(layer, ScriptedLayer) or not name.startswith(prefix) or name == path:
                continue
            if layer._forward_hooks or layer._forward_pre_hooks:
                parts = name[len(prefix) :].split(".")
                active.update(".".join(parts[: i + 1]) for i in range(len(parts)))
        return frozenset(active)

    def __deepcopy__(self, memo: dict) -> ScriptedModel:
        """A copy with its own weights, modes and hooks; compiled pieces are rebuilt on demand.

        torch's deepcopy of a ScriptModule clones parameters with autograd on, so they would no
        longer be leaves; the clone is taken without it and the requires_grad flags restored.
        """
        with torch.no_grad():
            script = copy.deepcopy(self.script, memo)
        for new, old in zip(script.parameters(), self.script.parameters(), strict=True):
            new.requires_grad_(old.requires_grad)
        clone = ScriptedModel(script)
        memo[id(self)] = clone
        for (_, new), (_, old) in zip(clone.named_modules(), self.named_modules(), strict=True):
            new.training = old.training
            for name, value in vars(old).items():
                if name.startswith(("_forward", "_backward")) and isinstance(value, dict):
                    setattr(new, name, copy.deepcopy(value, memo))
        return clone

    def extra_repr(self) -> str:
        return f"TorchScript {self.type_name}"


def is_scripted_linear(module: nn.Module) -> bool:
    """True for the stand-in of a TorchScript ``nn.Linear``."""
    return isinstance(module, ScriptedLayer) and module.type_name == "Linear"
