"""A :class:`ModelSpec` for a model KD Lens has no table entry for (a TorchScript archive, a class
from the user's model file), read off the model itself by watching forward passes.

The model runs on a small random batch at 32, 64, 128 and 224 px; the input size is the smallest
at which it runs and its last feature map keeps at least 4 x 4 cells (else the one with the
largest last map). From the layers' outputs at that size:

- **feature cut**: the last ``nn.Linear`` (TorchScript: ``Linear``) whose output is the logits,
  else the last layer mapping flat features to the logits;
- **metric taps**: for each feature-map resolution (n, C, h, w with h*w > 1), the last layer to
  finish at it (not counting the work a down-sampling block does before its stride), ordered by
  when that layer finished; the last four are kept;
- **CAM layer**: the tap at the last resolution.

Anything given in ``overrides`` is kept as given (a model file's ``layers(arch)``).
Hooks are registered here directly: ``engine.cam`` sits above this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from engine.models.layers import named_layers
from engine.models.scripted import ScriptedModel, is_scripted_linear
from engine.models.spec import ModelError, ModelSpec

__all__ = ["PROBE_SIZES", "derive_spec"]

PROBE_SIZES = (32, 64, 128, 224)
_MIN_CELLS = 4
_FIELDS = ("cam_layer", "feature_cut", "metric_taps", "input_size")


@dataclass(frozen=True)
class _Seen:
    name: str
    inputs: tuple[int, ...] | None  # shape of the first tensor argument
    output: tuple[int, ...] | None  # shape of the output, when it is a tensor
    linear: bool


def derive_spec(model: nn.Module, name: str, overrides: Mapping[str, Any] | None = None) -> ModelSpec:
    """The spec of ``model`` under ``name``, read off forward passes (see the module docs)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise ModelError(
            f"unknown layer setting(s) {', '.join(unknown)} for {name}; use {', '.join(_FIELDS)}"
        )
    if set(_FIELDS) <= set(overrides):
        return _spec(name, overrides)
    sizes = (int(overrides["input_size"]),) if "input_size" in overrides else PROBE_SIZES
    runs: list[tuple[int, list[_Seen], tuple[int, ...]]] = []
    failures = []
    for size in sizes:
        try:
            seen, logits = _watch(model, size)
        except Exception as error:  # noqa: BLE001 - a model may reject some sizes; that is the probe
            failures.append(f"{size} px: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
            continue
        runs.append((size, seen, logits))
        if _cells(_taps(seen)[-1:], seen) >= _MIN_CELLS:
            break
    if not runs:
        raise ModelError(
            f"{name} did not run on a (2, 3, s, s) image batch at any of {', '.join(map(str, sizes))} px "
            f"({'; '.join(failures)}); KD Lens explains image classifiers that take one RGB batch"
        )
    size, seen, logits = max(runs, key=lambda run: (_cells(_taps(run[1])[-1:], run[1]), -run[0]))
    found = {"input_size": size, "feature_cut": _feature_cut(seen, logits, name)}
    taps = _taps(seen)
    if not taps:
        raise ModelError(
            f"{name} has no layer that outputs feature maps (n, C, h, w) at {size} px, so there is no "
            "place for a CAM; KD Lens explains convolutional classifiers"
        )
    found["metric_taps"] = tuple(taps[-4:])
    found["cam_layer"] = taps[-1]
    return _spec(name, {**found, **overrides})


def _spec(name: str, values: Mapping[str, Any]) -> ModelSpec:
    taps = values["metric_taps"]
    taps = (taps,) if isinstance(taps, str) else tuple(str(t) for t in taps)
    return ModelSpec(
        name, str(values["cam_layer"]), str(values["feature_cut"]), taps, int(values["input_size"])
    )


def _watched(model: nn.Module) -> dict[str, nn.Module]:
    """The layers to watch: all, or for a TorchScript model its stages, blocks and Linear layers
    (each watched layer cuts the compiled forward in two, so fewer is faster)."""
    layers = named_layers(model)
    if not isinstance(model, ScriptedModel):
        return layers
    return {n: m for n, m in layers.items() if n.count(".") < 2 or is_scripted_linear(m)}


def _watch(model: nn.Module, size: int) -> tuple[list[_Seen], tuple[int, ...]]:
    """One eval-mode forward of a random (2, 3, size, size) batch; what each watched layer saw."""
    seen: list[_Seen] = []

    def record(name: str, module: nn.Module):
        def hook(_module, args, output) -> None:
            first = next((a for a in args if isinstance(a, torch.Tensor)), None)
            seen.append(
                _Seen(
                    name,
                    tuple(first.shape) if first is not None else None,
                    tuple(output.shape) if isinstance(output, torch.Tensor) else None,
                    isinstance(module, nn.Linear) or is_scripted_linear(module),
                )
            )

        return hook

    handles = [module.register_forward_hook(record(n, module)) for n, module in _watched(model).items()]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with torch.no_grad():
            logits = model.eval()(torch.rand(2, 3, size, size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != 2:
        raise ModelError(f"the model returned {type(logits).__name__}, not logits of shape (n, classes)")
    return seen, tuple(logits.shape)


def _feature_cut(seen: list[_Seen], logits: tuple[int, ...], name: str) -> str:
    to_logits = [s for s in seen if s.output == logits and s.inputs is not None and len(s.inputs) == 2]
    linear = [s for s in to_logits if s.linear]
    chosen = (linear or to_logits)[-1:] or None
    if chosen is None:
        raise ModelError(
            f"{name} has no layer that maps flat features to its {logits[1]} logits (an nn.Linear "
            "classifier); name its feature cut explicitly (the layer whose input is the features)"
        )
    return chosen[0].name


def _taps(seen: list[_Seen]) -> list[str]:
    """For each feature-map resolution, the last layer to finish at it, in the order they finished.

    Work a down-sampling block does at the old resolution (a stage's first 1x1 expansion before
    its strided conv) does not count: a layer inside a block that starts at the layer's
    resolution and ends at another is skipped.
    """
    shifts = [(s.name + ".", _side(s.inputs), _side(s.output)) for s in seen]
    last: dict[tuple[int, int], str] = {}
    for entry in seen:
        side, before = _side(entry.output), _side(entry.inputs)
        if side is None or side[0] * side[1] <= 1 or (before and side[0] * side[1] > before[0] * before[1]):
            continue  # no map, a single cell, or an up-sampling (e.g. an adaptive pool to 7 x 7)
        if any(entry.name.startswith(p) and start == side and end != side for p, start, end in shifts):
            continue
        last.pop(side, None)  # re-inserted: the order follows the latest finish
        last[side] = entry.name
    return list(last.values())


def _side(shape: tuple[int, ...] | None) -> tuple[int, int] | None:
    return shape[2:] if shape is not None and len(shape) == 4 else None


def _cells(names: list[str], seen: list[_Seen]) -> int:
    """The smaller side of the last feature map among ``names`` (0 when there is none)."""
    for entry in reversed(seen):
        if entry.name in names and entry.output is not None and len(entry.output) == 4:
            return min(entry.output[2:])
    return 0
