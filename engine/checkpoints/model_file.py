"""The user's own architectures from a Python model file (``--model-file my_models.py``).

The contract: the file defines ``build(arch: str, num_classes: int) -> torch.nn.Module``, a
freshly initialised model (no downloads). It may define ``layers(arch: str) -> dict`` with any of
``cam_layer``, ``metric_taps``, ``feature_cut``, ``input_size``; whatever it leaves out is read off
the model (:func:`engine.models.derive_spec`).

Loading the file runs its code with the user's permissions, so it happens only with
``trust_code=True`` (``--trust-code`` on the command line; the window asks first). Each file is
run once per process (again when it changes on disk).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from torch import nn

from engine.checkpoints.card import CheckpointError, UntrustedCodeError
from engine.errors import require_path
from engine.models import ModelSpec, default_feature_cut, derive_spec, register_spec

__all__ = ["ModelFile", "open_model_file"]


@dataclass(frozen=True)
class ModelFile:
    """A loaded model file: its ``build`` and optional ``layers`` functions."""

    path: Path
    module: ModuleType

    def build(self, arch: str, num_classes: int) -> nn.Module:
        """``build(arch, num_classes)`` of the file, checked to return an ``nn.Module``."""
        try:
            model = self.module.build(arch, num_classes)
        except Exception as error:  # noqa: BLE001 - the user's code may raise anything
            raise CheckpointError(
                f"build({arch!r}, {num_classes}) in the model file {self.path} failed: "
                f"{type(error).__name__}: {error}"
            ) from error
        if not isinstance(model, nn.Module):
            raise CheckpointError(
                f"build({arch!r}, {num_classes}) in the model file {self.path} returned a "
                f"{type(model).__name__}, not a torch.nn.Module"
            )
        return model

    def layers(self, arch: str) -> dict[str, Any]:
        """The file's ``layers(arch)`` settings, or {} when it defines none."""
        function = getattr(self.module, "layers", None)
        if function is None:
            return {}
        try:
            settings = function(arch)
        except Exception as error:  # noqa: BLE001 - the user's code may raise anything
            raise CheckpointError(
                f"layers({arch!r}) in the model file {self.path} failed: {error}"
            ) from error
        if settings is None:
            return {}
        if not isinstance(settings, Mapping):
            raise CheckpointError(
                f"layers({arch!r}) in the model file {self.path} must return a dict (cam_layer, "
                f"metric_taps, feature_cut, input_size), not a {type(settings).__name__}"
            )
        return dict(settings)

    def class_count_layer(self, arch: str) -> str:
        """Where the class count can be read: the feature cut's ``.weight`` rows."""
        cut = self.layers(arch).get("feature_cut")
        return str(cut) if cut else default_feature_cut(self.build(arch, 2))

    def spec(self, arch: str, model: nn.Module) -> ModelSpec:
        """The spec of ``arch`` as built by this file, registered for this process."""
        return register_spec(derive_spec(model, arch, self.layers(arch)))


_OPENED: dict[tuple[str, int], ModelFile] = {}


def open_model_file(path: str | os.PathLike[str], trust_code: bool) -> ModelFile:
    """Run the model file at ``path`` (only when ``trust_code``) and return its functions."""
    source = require_path(
        Path(path).expanduser(),
        what="the model file",
        error=CheckpointError,
        instead="give the .py file that defines build(arch, num_classes) (--model-file)",
        missing="; check the path (--model-file)",
    )
    if source.suffix != ".py":
        raise CheckpointError(
            f"the model file {source} must be a Python file (.py) defining build(arch, num_classes)"
        )
    if not trust_code:
        raise UntrustedCodeError(
            f"the model file {source} is Python code: using it runs that code with your permissions. "
            "KD Lens runs it only when you say you trust it: pass trust_code=True "
            "(--trust-code on the command line; the window asks you to confirm)."
        )
    resolved = source.resolve()
    key = (str(resolved), resolved.stat().st_mtime_ns)
    if key not in _OPENED:
        _OPENED[key] = ModelFile(resolved, _run(resolved))
    return _OPENED[key]


def _run(path: Path) -> ModuleType:
    name = f"kdlens_model_file_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckpointError(f"the model file {path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling inside the file look themselves up here
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - the user's code may raise anything
        sys.modules.pop(name, None)
        raise CheckpointError(
            f"running the model file {path} failed: {type(error).__name__}: {error}"
        ) from error
    build: Callable | None = getattr(module, "build", None)
    if not callable(build):
        sys.modules.pop(name, None)
        raise CheckpointError(
            f"the model file {path} defines no build(arch, num_classes) function returning a "
            "torch.nn.Module; add one"
        )
    return module
