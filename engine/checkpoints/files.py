"""Reading checkpoint files without running their code: safetensors, or PyTorch pickles through
``torch.load(weights_only=True)``, unwrapped to a plain state dict (``{"state_dict": ...}``-style
wrappers, ``module.``/``_orig_mod.``/``model.`` prefixes). A pickle that would run code is
refused unless the caller trusts it.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from engine.checkpoints.card import CheckpointError, UnsafeCheckpointError, is_safetensors

__all__ = ["read_state_dict"]

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
_PREFIXES = ("module.", "_orig_mod.", "model.")
_LIST_LIMIT = 8


def read_state_dict(path: Path, data: bytes, trust: bool) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file's content, unwrapped and with prefixes stripped."""
    return _state_dict(path, _read_object(path, data, trust))


def _unsafe_message(path: Path, reason: str) -> str:
    return (
        f"{path} is a pickle that would run code when loaded ({reason}), e.g. a whole model saved "
        "with torch.save(model). KD Lens loads only weights. Convert it once, where you trust the "
        "file: m = torch.load(path, weights_only=False); torch.save(m.state_dict(), 'weights.pt') "
        "(or safetensors.torch.save_file(m.state_dict(), 'weights.safetensors')). "
        "Or, if you trust its source, load it with trust=True (--trust)."
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
            ".safetensors files and PyTorch state dicts saved with torch.save"
        )
    try:
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


def _state_dict(path: Path, content: Any) -> dict[str, torch.Tensor]:
    """Unwrap ``{"state_dict": ...}``-style wrappers and whole modules, strip ``module.`` prefixes."""
    for _ in range(4):
        if isinstance(content, nn.Module):  # only reachable with trust=True
            content = content.state_dict()
        if not isinstance(content, Mapping):
            raise CheckpointError(f"{path} holds a {type(content).__name__}, not a state dict of tensors")
        wrapped = [key for key in _WRAPPER_KEYS if isinstance(content.get(key), (Mapping, nn.Module))]
        if not wrapped:
            break
        content = content[wrapped[0]]
    state = {key: value for key, value in content.items() if isinstance(value, torch.Tensor)}
    if not state:
        keys = ", ".join(map(str, list(content)[:_LIST_LIMIT]))
        raise CheckpointError(
            f"{path} holds no tensors (keys: {keys or 'none'}); expected a state dict, or one "
            "under 'state_dict' or 'model'"
        )
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            if all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
                stripped = True
    return state
