"""Hooks into a model, always released: forward-output capture, eval mode, and ``LayerHooks``.

Every forward hook KD Lens registers goes through :func:`output_hooks` (CAMs here, the FSS/RS
feature pass in :mod:`engine.metrics`, attention transfer in training), and every temporary
switch to eval mode through :func:`eval_mode`; both put the model back exactly as it was, also
after an exception. Layer outputs are handed on as feature maps (n, C, h, w) by the one rule of
:mod:`engine.models.token_maps` (a ViT's class and distillation tokens dropped and its patch
tokens folded into their grid, a Swin's channels moved first), so CAMs, metrics, KD losses and
the sanity check all see the same maps.

``LayerHooks`` captures a model's layer activations (and its features) for one CAM. Inside the
``with`` block the model is in eval mode and its parameters do not require grad: a CAM needs
gradients with respect to activations only, never parameters, so nothing can leak into
training and the backward pass stops at the target layer. Each hooked activation is made a
graph leaf of its own; ``gradients`` differentiates an objective with ``torch.autograd.grad``,
so no ``.grad`` is ever written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

import torch
from torch import nn

from engine.cam.base import CamError, resolve_layer
from engine.models.token_maps import MapRule, feature_map, map_rule

__all__ = ["LayerHooks", "eval_mode", "first_tensor", "output_hooks"]

OutputHook = Callable[[str, object], "torch.Tensor | None"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode inside the block; afterwards every submodule's train/eval flag as it was."""
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def output_hooks(
    model: nn.Module, layers: Sequence[str | nn.Module], on_output: OutputHook, *, raw: bool = False
) -> Iterator[None]:
    """Call ``on_output(name, map)`` after each forward of each layer, inside the block only.

    ``map``: the layer's output as feature maps (:mod:`engine.models.token_maps`; a plain CNN's
    output as it is). With ``raw`` the output itself is passed and a non-None return value
    replaces it (how ``LayerHooks`` makes a leaf).
    """
    rule = map_rule(model)
    handles = []
    try:
        for layer in layers:
            name, module = resolve_layer(model, layer)
            hook = _raw_hook(name, on_output) if raw else _map_hook(name, rule, on_output)
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _raw_hook(name: str, on_output: OutputHook):
    return lambda _module, _args, out: on_output(name, out)


def _map_hook(name: str, rule: MapRule, on_output: OutputHook):
    def hook(module: nn.Module, _args, out) -> None:
        on_output(name, feature_map(rule, module, out))

    return hook


def first_tensor(output: object) -> object:
    """A layer's output tensor (the first element when a layer returns a tuple)."""
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def _frozen_parameters(model: nn.Module) -> Iterator[None]:
    states = [(p, p.requires_grad) for p in model.parameters()]
    for parameter, _ in states:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, requires_grad in states:
            parameter.requires_grad_(requires_grad)


class LayerHooks:
    """Context manager over ``model`` capturing the outputs of ``layers`` (names or modules).

    ``feature_cut``: a layer whose *input*, flattened per sample, is kept as ``features``
    (UniCAM's f_M). ``track_gradients``: when True (and grad mode is on) each hooked output is
    a leaf that :meth:`gradients` can differentiate with respect to; the model continues with a
    copy of it, so an in-place operation after the layer cannot change the captured values.
    A layer that runs more than once per forward keeps its last output (``outputs``, as the
    layer gave it); :meth:`activation` and :meth:`gradients` give it and its gradient as feature
    maps (n, C, h, w) by the model's rule (:func:`engine.models.token_maps.map_rule`). Captured
    tensors are dropped on exit: read them inside the block.
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
        self.rule = map_rule(model)
        self.outputs: dict[str, torch.Tensor] = {}
        self.features: torch.Tensor | None = None
        self._stack: ExitStack | None = None

    def __enter__(self) -> LayerHooks:
        with ExitStack() as stack:
            stack.enter_context(eval_mode(self.model))
            stack.enter_context(_frozen_parameters(self.model))
            names = [name for name, _ in self.layers]
            stack.enter_context(output_hooks(self.model, names, self._capture, raw=True))
            if self.feature_cut is not None:
                handle = self.feature_cut[1].register_forward_pre_hook(self._capture_input)
                stack.callback(handle.remove)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        stack, self._stack = self._stack, None
        self.outputs = {}
        self.features = None
        if stack is not None:
            stack.close()

    def _capture(self, name: str, output: object) -> object:
        """Keep the layer's output (of a tuple, its first tensor, e.g. PiT's stages give (maps,
        class tokens)); with gradients tracked the model continues with a copy of a leaf."""
        rest = output[1:] if isinstance(output, tuple) and output else None
        tensor = output[0] if rest is not None else output
        if not isinstance(tensor, torch.Tensor):
            raise CamError(
                f"layer {name!r} returns a {type(output).__name__}, not a tensor; pick a layer "
                "whose output is a feature map (e.g. a whole block such as 'layer4.1')."
            )
        if self.track_gradients and torch.is_grad_enabled():
            leaf = tensor if tensor.requires_grad else tensor.detach().requires_grad_(True)
            self.outputs[name] = leaf
            return leaf.clone() if rest is None else (leaf.clone(), *rest)
        self.outputs[name] = tensor.detach().clone()
        return None

    def _capture_input(self, module: nn.Module, args) -> None:
        if not args or not isinstance(args[0], torch.Tensor):
            raise CamError(
                f"the feature cut {self.feature_cut[0]!r} gets no tensor input; name the layer whose "
                "input is the pooled penultimate features (the final classifier, e.g. 'fc')."
            )
        x = args[0]
        self.features = x.reshape(x.shape[0], -1)

    def activation(self, layer: str | nn.Module) -> torch.Tensor:
        """The captured output of ``layer`` in the last forward pass, as feature maps."""
        name = layer if isinstance(layer, str) else resolve_layer(self.model, layer)[0]
        return self._as_map(name, self._output(name))

    def _output(self, name: str) -> torch.Tensor:
        if name not in self.outputs:
            raise CamError(
                f"layer {name!r} did not run in the forward pass of the {type(self.model).__name__}; "
                "pick a layer that the model's forward actually uses."
            )
        return self.outputs[name]

    def _as_map(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        module = dict(self.layers).get(name) or resolve_layer(self.model, name)[1]
        return feature_map(self.rule, module, tensor)

    def gradients(
        self, objective: torch.Tensor, layers: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """d objective / d activation for each hooked layer (or ``layers``), via autograd.grad, as
        feature maps: the map rule only selects and reorders values, so the map of the gradient
        with respect to the output is the gradient with respect to the map."""
        names = [name for name, _ in self.layers] if layers is None else list(layers)
        captured = [self._output(name) for name in names]
        if not objective.requires_grad:
            raise CamError(
                f"the CAM objective does not depend on layer(s) {', '.join(map(repr, names))}; "
                "pick a layer that comes before the model's classifier and feature cut."
            )
        # the backward never runs under autocast (it keeps each forward op's own dtype)
        with torch.autocast("cuda", enabled=False), torch.autocast("cpu", enabled=False):
            grads = torch.autograd.grad(objective, captured, allow_unused=True)
        for name, grad in zip(names, grads, strict=True):
            if grad is None:
                raise CamError(
                    f"the CAM objective does not depend on layer {name!r}; pick a layer that comes "
                    "before the model's classifier and feature cut."
                )
        return {name: self._as_map(name, grad) for name, grad in zip(names, grads, strict=True)}
