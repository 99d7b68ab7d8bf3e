"""Save and load model checkpoints safely (SPEC §6, §7).

KD Lens writes safetensors plus a JSON sidecar (same stem, ``.json``) holding a
:class:`ModelCard`, both atomically; such a checkpoint loads with no other argument. It reads
safetensors, or PyTorch state dicts through ``torch.load(weights_only=True)``, unwrapping
``{"state_dict": ...}``/``{"model": ...}`` and ``module.`` prefixes. A file that would run code
when unpickled is refused unless the caller trusts it. A checkpoint that does not fit its
architecture gets one error listing every problem, the class count first.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pickle
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.errors import KDLensError
from engine.models import build_model, get_spec, list_architectures

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckpointError",
    "CheckpointMismatchError",
    "LoadedModel",
    "ModelCard",
    "UnsafeCheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "sidecar_path",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CARD_FORMAT = "kdlens.model_card"
_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net")
_PREFIXES = ("module.", "_orig_mod.", "model.")
_LIST_LIMIT = 8


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class CheckpointError(KDLensError):
    """A checkpoint file is missing, unreadable, or not what KD Lens needs."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that would run code when loaded (a whole ``nn.Module``, a custom class)."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint whose tensors do not fit the architecture; every problem is in one message."""

    def __init__(self, message: str, missing: list[str], unexpected: list[str], shapes: list[str]) -> None:
        super().__init__(message)
        self.missing, self.unexpected, self.shape_mismatches = missing, unexpected, shapes


@dataclass(frozen=True)
class ModelCard:
    """What a checkpoint is: its architecture, classes, and how its inputs were normalised.

    ``class_names`` may be empty (unknown); otherwise it has ``num_classes`` entries.
    ``extra`` holds JSON-serialisable notes (role, epoch, training config, ...).
    """

    arch: str
    num_classes: int
    class_names: tuple[str, ...] = ()
    input_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "class_names", tuple(str(name) for name in self.class_names))
            object.__setattr__(self, "mean", tuple(float(value) for value in self.mean))
            object.__setattr__(self, "std", tuple(float(value) for value in self.std))
        except (TypeError, ValueError) as error:
            raise CheckpointError(
                f"invalid model card: class names, mean or std unreadable ({error})"
            ) from None
        problems = []
        if not isinstance(self.arch, str) or not self.arch:
            problems.append("arch must be a non-empty name")
        if not _is_count(self.num_classes, 2):
            problems.append(f"num_classes must be an integer >= 2, not {self.num_classes!r}")
        elif self.class_names and len(self.class_names) != self.num_classes:
            problems.append(f"{len(self.class_names)} class names given for {self.num_classes} classes")
        if not _is_count(self.input_size, 1):
            problems.append(f"input_size must be a positive integer, not {self.input_size!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std, default=0) <= 0:
            problems.append("mean and std need 3 values each (RGB), std > 0")
        if problems:
            raise CheckpointError(f"invalid model card: {'; '.join(problems)}")

    def to_json(self) -> str:
        """The card as indented JSON (the sidecar's content)."""
        payload = {"format": _CARD_FORMAT, "version": 1, **dataclasses.asdict(self)}
        try:
            return json.dumps(payload, indent=2) + "\n"
        except TypeError as error:
            raise CheckpointError(f"model card extra must be JSON-serialisable: {error}") from error

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Parse a card written by :meth:`to_json`; unknown keys are ignored."""
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as error:
            raise CheckpointError(f"the model card is not valid JSON ({error})") from error
        if not isinstance(payload, dict) or "arch" not in payload or "num_classes" not in payload:
            raise CheckpointError("the model card needs at least 'arch' and 'num_classes'")
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{key: value for key, value in payload.items() if key in names})


@dataclass(frozen=True)
class LoadedModel:
    """A model built from a checkpoint, in eval mode, with its card and where it came from."""

    model: nn.Module
    card: ModelCard
    path: Path


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of a checkpoint: same folder and stem, ``.json``."""
    return Path(path).with_suffix(".json")


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write ``model``'s weights as safetensors at ``path`` and its card beside it, both atomically.

    The card is also stored in the safetensors header, so the weights file alone stays usable.
    """
    target = Path(path)
    if target.suffix != ".safetensors":
        raise CheckpointError(f"KD Lens saves checkpoints as .safetensors; rename {target.name!r}")
    state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    classifier = state.get(f"{get_spec(card.arch).feature_cut}.weight")
    if classifier is not None and classifier.shape[0] != card.num_classes:
        raise CheckpointError(
            f"the card says {card.num_classes} classes, the model has {classifier.shape[0]}"
        )
    text = card.to_json()
    atomic_write_bytes(target, safetensors.torch.save(state, metadata={_CARD_FORMAT: text}))
    atomic_write_text(sidecar_path(target), text)
    return target


def _read_card(path: Path, data: bytes) -> ModelCard | None:
    """The sidecar's card, else the one stored in a safetensors header, else None."""
    sidecar = sidecar_path(path)
    if sidecar.is_file() and sidecar != path:
        try:
            return ModelCard.from_json(sidecar.read_text(encoding="utf-8"))
        except (CheckpointError, OSError, UnicodeDecodeError) as error:
            raise CheckpointError(f"cannot use the sidecar {sidecar}: {error}. Fix or delete it.") from error
    if _is_safetensors(data):
        header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
        text = header.get("__metadata__", {}).get(_CARD_FORMAT)
        if text:
            return ModelCard.from_json(text)
    return None


def _is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    size = struct.unpack("<Q", data[:8])[0]
    if data[8:9] != b"{" or size > len(data) - 8:
        return False
    try:
        return isinstance(json.loads(data[8 : 8 + size]), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


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
    if _is_safetensors(data):
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


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LIST_LIMIT])
    return shown + (f", ... and {len(keys) - _LIST_LIMIT} more" if len(keys) > _LIST_LIMIT else "")


def _check_fit(path: Path, arch: str, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise one :class:`CheckpointMismatchError` naming every way ``state`` does not fit ``model``."""
    expected = model.state_dict()
    # Old checkpoints lack BatchNorm's step counter; the model's own zero is right for them.
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key}: checkpoint {tuple(state[key].shape)}, model {tuple(expected[key].shape)}"
        for key in expected
        if key in state and state[key].shape != expected[key].shape
    ]
    if not (missing or unexpected or shapes):
        return
    lines = []
    classifier = f"{get_spec(arch).feature_cut}.weight"
    if classifier in state and state[classifier].shape[:1] != expected[classifier].shape[:1]:
        ours, theirs = expected[classifier].shape[0], state[classifier].shape[0]
        lines.append(f"checkpoint has {theirs} classes, model expects {ours}")
    if shapes:
        lines.append(f"{len(shapes)} shape mismatches: {_listing(shapes)}")
    if missing:
        lines.append(f"{len(missing)} missing keys (in the model, not the checkpoint): {_listing(missing)}")
    if unexpected:
        lines.append(
            f"{len(unexpected)} unexpected keys (in the checkpoint, not the model): {_listing(unexpected)}"
        )
    message = (
        f"{path} does not fit {arch} with {expected[classifier].shape[0]} classes:\n  - "
        + "\n  - ".join(lines)
        + "\nCheck the architecture (arch / --arch) and the class count (num_classes), "
        "or that this file belongs to this model."
    )
    raise CheckpointMismatchError(message, missing, unexpected, shapes)


def load_checkpoint(
    path: str | os.PathLike[str],
    arch: str | None = None,
    num_classes: int | None = None,
    trust: bool = False,
    map_location: str | torch.device = "cpu",
) -> LoadedModel:
    """Build the checkpoint's model, load its weights, and return it in eval mode with its card.

    ``arch`` and ``num_classes`` override the sidecar's card; without a card ``arch`` is
    required and ``num_classes`` is read off the classifier's weight. ``trust=True`` allows
    pickles that run code (only for files from a trusted source).
    """
    source = Path(path)
    if not source.is_file():
        what = "is a folder, not a file" if source.is_dir() else "does not exist"
        raise CheckpointError(f"checkpoint {source} {what}; check the path")
    data = source.read_bytes()
    if not data:
        raise CheckpointError(f"checkpoint {source} is empty (0 bytes); it was not saved completely")
    state = _state_dict(source, _read_object(source, data, trust))
    card = _read_card(source, data)
    arch = arch or (card.arch if card else None)
    if arch is None:
        raise CheckpointError(
            f"{source} has no sidecar ({sidecar_path(source).name}) naming its architecture; "
            f"pass arch (--arch), one of: {', '.join(list_architectures())}"
        )
    spec = get_spec(arch)
    card_fits = card is not None and card.arch.strip().lower().replace("-", "_") == spec.name
    if num_classes is None and card_fits:
        num_classes = card.num_classes
    if num_classes is None:
        classifier = state.get(f"{spec.feature_cut}.weight")
        if classifier is None or classifier.ndim != 2:
            raise CheckpointError(
                f"cannot tell the class count of {source}: it has no {spec.feature_cut}.weight as "
                f"{arch} would; check the architecture or pass num_classes"
            )
        num_classes = int(classifier.shape[0])
    model = build_model(spec.name, num_classes)
    _check_fit(source, spec.name, model, state)
    model.load_state_dict(state, strict=False)  # fit already checked; strict would trip on old BN
    if card is None:
        card = ModelCard(spec.name, num_classes, (), spec.input_size, extra={"card": "defaults"})
    elif not card_fits or card.num_classes != num_classes:
        names = card.class_names if len(card.class_names) == num_classes else ()
        card = dataclasses.replace(card, arch=spec.name, num_classes=num_classes, class_names=names)
    return LoadedModel(model.to(map_location).eval(), card, source)
