"""The architectures KD Lens knows, by name (SPEC §3, §4, §6), in one explicit table.

``ARCHITECTURES`` joins the tables where the entries are defined — torchvision classifiers, the
CIFAR KD zoo, the small CNNs — so PyInstaller sees every import and the GUI can list the choices.
``timm:<name>`` is resolved by timm's own registry (:mod:`engine.models.timm_table`).

Models with no table entry — a TorchScript archive, a class from the user's model file — get a
spec derived from the model itself (:mod:`engine.models.derive`) when they are loaded;
:func:`register_spec` records it for this process, so ``get_spec(card.arch)`` answers for them
too.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from torch import nn

from engine.models.cifar import CIFAR_ZOO
from engine.models.small_cnn import SMALL_CNNS
from engine.models.spec import ModelError, ModelSpec, UnknownArchitectureError, canonical
from engine.models.timm_table import TIMM_PREFIX, build_timm, is_timm_name, timm_architectures, timm_spec
from engine.models.torchvision_table import TORCHVISION

__all__ = [
    "ARCHITECTURES",
    "build_model",
    "get_spec",
    "is_builtin",
    "list_architectures",
    "register_spec",
]

Factory = Callable[[int], nn.Module]

#: name (canonical spelling) -> (factory(num_classes), spec), torchvision first, then the CIFAR
#: zoo, then the small CNNs.
ARCHITECTURES: dict[str, tuple[Factory, ModelSpec]] = {**TORCHVISION, **CIFAR_ZOO, **SMALL_CNNS}

_DERIVED: dict[str, ModelSpec] = {}


def list_architectures(include_timm: bool = False) -> list[str]:
    """Every architecture name in table order (torchvision, CIFAR zoo, small CNNs); with
    ``include_timm`` also every ``timm:<name>`` (over a thousand, none of them built to list)."""
    names = [spec.name for _, spec in ARCHITECTURES.values()]
    return names + timm_architectures() if include_timm else names


def is_builtin(arch: str) -> bool:
    """True when KD Lens can build ``arch`` by name: a table entry or a ``timm:<name>``."""
    return is_timm_name(arch) or canonical(arch) in ARCHITECTURES


def register_spec(spec: ModelSpec) -> ModelSpec:
    """Record the spec of a model loaded without a table entry (TorchScript, a model file)."""
    if canonical(spec.name) in ARCHITECTURES or is_timm_name(spec.name):
        raise ModelError(f"{spec.name!r} is a built-in architecture name; give the model another name")
    _DERIVED[canonical(spec.name)] = spec
    return spec


def get_spec(arch: str) -> ModelSpec:
    """The defaults (CAM layer, feature cut, metric taps, input size) of an architecture."""
    if is_timm_name(arch):
        return timm_spec(str(arch).strip())
    key = canonical(arch)
    if key in ARCHITECTURES:
        return ARCHITECTURES[key][1]
    if key in _DERIVED:
        return _DERIVED[key]
    names = list_architectures()
    close = difflib.get_close_matches(key, [canonical(n) for n in names], n=3, cutoff=0.5)
    shown = [next(n for n in names if canonical(n) == c) for c in close]
    hint = f"did you mean {', '.join(shown)}? " if shown else ""
    raise UnknownArchitectureError(
        f"unknown architecture {arch!r}; {hint}known architectures: {', '.join(names)}; or any timm "
        f"model as {TIMM_PREFIX}<name> (e.g. {TIMM_PREFIX}resnet26d), or your own from a model file "
        "(--model-file)"
    )


def build_model(arch: str, num_classes: int) -> nn.Module:
    """A freshly initialised ``arch`` with a ``num_classes``-way classifier (no pretrained weights).

    Initialisation draws from torch's global RNG: seed it first for reproducible weights.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        get_spec(arch)  # an unknown name is the first thing to report
        raise ModelError(f"a classifier needs at least 2 classes, got num_classes={num_classes!r}")
    if is_timm_name(arch):
        return build_timm(str(arch).strip(), num_classes)
    key = canonical(arch)
    if key not in ARCHITECTURES:
        spec = get_spec(arch)  # raises for unknown names
        raise ModelError(
            f"{spec.name} was loaded from a TorchScript archive or a model file; KD Lens cannot "
            "build a fresh one by name. Load it from its file again."
        )
    return ARCHITECTURES[key][0](num_classes)
