"""Reading checkpoint files without running their code.

- **State dicts**: safetensors, or PyTorch pickles through ``torch.load(weights_only=True)``
  (``argparse.Namespace`` allowed too: timm and torchdistill store their command line beside
  the weights). A pickle that would run code is refused unless the caller trusts it.
- **Wrappers** are unwrapped: ``state_dict``, ``model_state_dict``, ``model``, ``net`` and
  ``module`` keys, and the ``student`` / ``teacher`` of KD trainers, as keys or as name prefixes
  (``student.conv1.weight``); ``key`` or the role picks one when both are there. DeiT's released
  checkpoints are ``{"model": state_dict}`` (a distilled one with ``dist_token`` and
  ``head_dist``, the names timm's distilled models use), beside ``optimizer``, ``epoch`` and
  ``args``.
- **Prefixes** shared by every name are stripped: ``module.`` (DataParallel), ``_orig_mod.``
  (``torch.compile``), ``model.`` (Lightning).
- **TorchScript archives** are recognised and loaded with ``torch.jit.load``, which reads
  compiled TorchScript, never Python code.
"""

from __future__ import annotations

import argparse
import io
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from engine.checkpoints.card import (
    AmbiguousCheckpointError,
    CheckpointError,
    UnsafeCheckpointError,
    is_safetensors,
)

__all__ = ["is_torchscript", "read_state_dict", "read_torchscript"]

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")
_KD_MODELS = ("student", "teacher")  # what KD trainers save side by side
_PREFIXES = ("module.", "_orig_mod.", "model.")
_SAFE_EXTRAS = [argparse.Namespace]  # plain attribute bags; their values are still checked
_LIST_LIMIT = 8


def read_state_dict(
    path: Path, data: bytes, trust: bool, *, key: str | None = None, role: str | None = None
) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file's content, unwrapped and with prefixes stripped.

    ``key`` names the entry (or name prefix) holding the model, dotted for nested ones
    (``"state_dict.student"``); without it a KD trainer's ``student``/``teacher`` is chosen by
    ``role`` when both are present.
    """
    return _state_dict(path, _read_object(path, data, trust), key, role)


def is_torchscript(data: bytes) -> bool:
    """True for a TorchScript archive (``torch.jit.save``): a zip holding compiled code."""
    if data[:4] != b"PK\x03\x04":
        return False
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except zipfile.BadZipFile:
        return False
    return any("code/__torch__/" in name for name in names)


def read_torchscript(path: Path, data: bytes) -> torch.jit.ScriptModule:
    """The module of a TorchScript archive, on the CPU."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, still supported
            module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except (RuntimeError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is a TorchScript archive torch cannot load ({reason})") from error
    if not isinstance(module, torch.jit.ScriptModule):
        raise CheckpointError(f"{path} holds a TorchScript function, not a model (a ScriptModule)")
    return module


def _unsafe_message(path: Path, reason: str) -> str:
    return (
        f"{path} is a pickle that would run code when loaded ({reason}), e.g. a whole model saved "
        "with torch.save(model). KD Lens loads only weights. Convert it once, where you trust the "
        "file: m = torch.load(path, weights_only=False); torch.save(m.state_dict(), 'weights.pt') "
        "(or safetensors.torch.save_file(m.state_dict(), 'weights.safetensors')). "
        "Or, if you trust its source, let it run: trust=True in Python, or kdlens-cli analyze --trust "
        "(training loads weights only)."
    )


def _read_object(path: Path, data: bytes, trust: bool) -> Any:
    """The raw content of a checkpoint file: a tensor dict, or whatever torch.load returns."""
    if is_safetensors(data):
        try:
            return safetensors.torch.load(data)
        except Exception as error:  # safetensors raises its own untyped errors
            raise CheckpointError(f"{path} is a corrupt or truncated safetensors file ({error})") from error
    if data[8:9] == b"{":
        raise CheckpointError(
            f"{path} is a truncated safetensors file (its header is cut short); save it again"
        )
    if data[:4] != b"PK\x03\x04" and data[:1] != b"\x80":
        raise CheckpointError(
            f"{path} is not a checkpoint KD Lens can read (starts with {data[:8]!r}); it reads "
            ".safetensors files, PyTorch state dicts saved with torch.save, and TorchScript archives"
        )
    try:
        with torch.serialization.safe_globals(_SAFE_EXTRAS):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=not trust)
    except pickle.UnpicklingError as error:
        text = str(error)
        if not trust and "Weights only load failed" in text:
            detail = text.split("WeightsUnpickler error:")[-1].split(" was not")[0].split(".\n")[0]
            raise UnsafeCheckpointError(_unsafe_message(path, detail.strip())) from error
        raise CheckpointError(f"{path} is corrupt or truncated ({text.splitlines()[0]})") from error
    except (RuntimeError, EOFError, ValueError, KeyError, AttributeError, ModuleNotFoundError) as error:
        reason = str(error).splitlines()[0].split(". ")[0] if str(error) else type(error).__name__
        raise CheckpointError(
            f"{path} is corrupt, truncated or unreadable ({reason}); save it again"
        ) from error


def _holds_model(value: object) -> bool:
    return isinstance(value, (Mapping, nn.Module))


def _state_dict(path: Path, content: Any, key: str | None, role: str | None) -> dict[str, torch.Tensor]:
    """Unwrap wrappers and whole modules, pick one of several models, strip shared prefixes."""
    parts = [part for part in (key or "").split(".") if part]
    for _ in range(8):
        if isinstance(content, nn.Module):  # only reachable with trust=True
            content = content.state_dict()
        if not isinstance(content, Mapping):
            raise CheckpointError(f"{path} holds a {type(content).__name__}, not a state dict of tensors")
        if parts and _holds_model(content.get(parts[0])):
            content = content[parts.pop(0)]
            continue
        kd_models = [name for name in _KD_MODELS if _holds_model(content.get(name))]
        if kd_models and not parts:
            content = content[_choose(path, kd_models, role)]
            continue
        wrapped = [name for name in _WRAPPER_KEYS if _holds_model(content.get(name))]
        if not wrapped:
            break
        content = content[wrapped[0]]
    state = {name: value for name, value in content.items() if isinstance(value, torch.Tensor)}
    if not state:
        keys = ", ".join(map(str, list(content)[:_LIST_LIMIT]))
        raise CheckpointError(
            f"{path} holds no tensors (keys: {keys or 'none'}); expected a state dict, or one "
            "under 'state_dict' or 'model'"
        )
    state = _strip_prefixes(state)
    if parts:
        state = _select_prefix(path, state, ".".join(parts), key or "")
    else:
        kd_prefixes = sorted({name.split(".")[0] for name in state} & set(_KD_MODELS))
        if kd_prefixes:
            state = _select_prefix(path, state, _choose(path, kd_prefixes, role), "")
    return _strip_prefixes(state)


def _choose(path: Path, names: list[str], role: str | None) -> str:
    """One of a KD trainer's models: the only one, else the one named by the role."""
    if len(names) == 1:
        return names[0]
    if role in names:
        return role
    raise AmbiguousCheckpointError(
        f"{path} holds several models ({', '.join(names)}); say which one to load with "
        f"key={names[0]!r} (on the command line --key-teacher, --key-student or --key-base "
        f"{names[0]})",
        list(names),
    )


def _select_prefix(path: Path, state: dict, prefix: str, key: str) -> dict[str, torch.Tensor]:
    chosen = {name[len(prefix) + 1 :]: v for name, v in state.items() if name.startswith(prefix + ".")}
    if not chosen:
        groups = sorted({name.split(".")[0] for name in state})
        shown = ", ".join(groups[:_LIST_LIMIT]) + (", ..." if len(groups) > _LIST_LIMIT else "")
        raise CheckpointError(
            f"{path} has no model under {key or prefix!r}; its top-level names are: {shown}. "
            "Check the key (--key-teacher / --key-student / --key-base)."
        )
    return chosen


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if all(name.startswith(prefix) for name in state):
                state = {name[len(prefix) :]: value for name, value in state.items()}
                stripped = True
    return state
