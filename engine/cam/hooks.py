"""``LayerHooks``: capture a model's layer activations (and its features) for one CAM, then undo.

Inside the ``with`` block the model is in eval mode and its parameters do not require grad:
a CAM needs gradients with respect to activations only, never parameters, so nothing can leak
into training and the backward pass stops at the target layer. Each hooked activation is made
a graph leaf of its own; ``gradients`` differentiates an objective with
``torch.autograd.grad``, so no ``.grad`` is ever written. On exit (also after an exception)
the hooks are removed and every submodule's train/eval mode and every parameter's
``requires_grad`` are put back exactly as they were.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from engine.cam.base import CamError, resolve_layer

__all__ = ["LayerHooks"]


class LayerHooks:
    """Context manager over ``model`` capturing the outputs of ``layers`` (names or modules).

    ``feature_cut``: a layer whose *input*, flattened per sample, is kept as ``features``
    (UniCAM's f_M). ``track_gradients``: when True (and grad mode is on) each hooked output is
    a leaf that :meth:`gradients` can differentiate with respect to; the model continues with a
    copy of it, so an in-place operation after the layer cannot change the captured values.
    A layer that runs more than once per forward keeps its last output. Captured tensors are
    dropped on exit: read them inside the block.
    """

    def __init__(
        self,
        model: nn.Module,
        layers: Sequence[str | nn.Module] = (),
        *,
        feature_cut: str | nn.Module | None = None,
        track_gradients: bool = True,
    ) -> None:
        self.model = model
        self.layers = [resolve_layer(model, layer) for layer in layers]
        self.feature_cut = None if feature_cut is None else resolve_layer(model, feature_cut)
        self.track_gradients = track_gradients
        self.activations: dict[str, torch.Tensor] = {}
        self.features: torch.Tensor | None = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._modes: list[tuple[nn.Module, bool]] = []
        self._requires_grad: list[tuple[nn.Parameter, bool]] = []

    def __enter__(self) -> LayerHooks:
        self._modes = [(module, module.training) for module in self.model.modules()]
        self._requires_grad = [(p, p.requires_grad) for p in self.model.parameters()]
        try:
            self.model.eval()
            for parameter, _ in self._requires_grad:
                parameter.requires_grad_(False)
            for name, module in self.layers:
                self._handles.append(module.register_forward_hook(self._capture_output(name)))
            if self.feature_cut is not None:
                self._handles.append(self.feature_cut[1].register_forward_pre_hook(self._capture_input))
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._release()

    def _release(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        for module, training in self._modes:
            module.training = training
        for parameter, requires_grad in self._requires_grad:
            parameter.requires_grad_(requires_grad)
        self._modes, self._requires_grad = [], []
        self.activations = {}
        self.features = None

    def _capture_output(self, name: str):
        def hook(module: nn.Module, args, output):
            if not isinstance(output, torch.Tensor):
                raise CamError(
                    f"layer {name!r} returns a {type(output).__name__}, not a tensor; pick a layer "
                    "whose output is a feature map (e.g. a whole block such as 'layer4.1')."
                )
            if self.track_gradients and torch.is_grad_enabled():
                leaf = output if output.requires_grad else output.detach().requires_grad_(True)
                self.activations[name] = leaf
                return leaf.clone()
            self.activations[name] = output.detach().clone()
            return None

        return hook

    def _capture_input(self, module: nn.Module, args) -> None:
        if not args or not isinstance(args[0], torch.Tensor):
            raise CamError(
                f"the feature cut {self.feature_cut[0]!r} gets no tensor input; name the layer whose "
                "input is the pooled penultimate features (the final classifier, e.g. 'fc')."
            )
        x = args[0]
        self.features = x.reshape(x.shape[0], -1)

    def activation(self, layer: str | nn.Module) -> torch.Tensor:
        """The captured output of ``layer`` in the last forward pass."""
        name = layer if isinstance(layer, str) else resolve_layer(self.model, layer)[0]
        if name not in self.activations:
            raise CamError(
                f"layer {name!r} did not run in the forward pass of the {type(self.model).__name__}; "
                "pick a layer that the model's forward actually uses."
            )
        return self.activations[name]

    def gradients(
        self, objective: torch.Tensor, layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """d objective / d activation for each hooked layer (or ``layers``), via autograd.grad."""
        names = [name for name, _ in self.layers] if layers is None else list(layers)
        captured = [self.activation(name) for name in names]
        if not objective.requires_grad:
            raise CamError(
                f"the CAM objective does not depend on layer(s) {', '.join(map(repr, names))}; "
                "pick a layer that comes before the model's classifier and feature cut."
            )
        grads = torch.autograd.grad(objective, captured, allow_unused=True)
        for name, grad in zip(names, grads, strict=True):
            if grad is None:
                raise CamError(
                    f"the CAM objective does not depend on layer {name!r}; pick a layer that comes "
                    "before the model's classifier and feature cut."
                )
        return dict(zip(names, grads, strict=True))
