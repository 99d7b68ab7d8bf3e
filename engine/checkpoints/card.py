"""What a checkpoint is (its :class:`ModelCard`: architecture, classes, input normalisation) and
the errors of checkpoint handling. The card travels as a JSON sidecar (same stem, ``.json``)
and inside the safetensors header, so a KD Lens checkpoint loads with no other argument.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.data.imageset import IMAGENET_MEAN, IMAGENET_STD
from engine.errors import KDLensError, json_object
from engine.vocab import IMAGE_SIZES

__all__ = [
    "CARD_FORMAT",
    "AmbiguousCheckpointError",
    "CheckpointError",
    "CheckpointMismatchError",
    "ModelCard",
    "UnsafeCheckpointError",
    "UntrustedCodeError",
    "is_safetensors",
    "read_card",
    "sidecar_path",
]

CARD_FORMAT = "kdlens.model_card"


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class CheckpointError(KDLensError):
    """A checkpoint file is missing, unreadable, or not what KD Lens needs."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle that would run code when loaded (a whole ``nn.Module``, a custom class)."""


class UntrustedCodeError(CheckpointError):
    """A user model file (Python code) that was not marked as trusted, so it was not run."""


class AmbiguousCheckpointError(CheckpointError):
    """A checkpoint holding several models (a KD trainer's student and teacher) with none chosen."""

    def __init__(self, message: str, choices: list[str]) -> None:
        super().__init__(message)
        self.choices = choices


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
        low, high = IMAGE_SIZES
        if not _is_count(self.input_size, low) or self.input_size > high:
            problems.append(
                f"input_size must be a whole number of pixels from {low} to {high} (as --image-size), "
                f"not {self.input_size!r}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std, default=0) <= 0:
            problems.append("mean and std need 3 values each (RGB), std > 0")
        if problems:
            raise CheckpointError(f"invalid model card: {'; '.join(problems)}")

    def to_json(self) -> str:
        """The card as indented JSON (the sidecar's content)."""
        payload = {"format": CARD_FORMAT, "version": 1, **dataclasses.asdict(self)}
        try:
            return json.dumps(payload, indent=2) + "\n"
        except TypeError as error:
            raise CheckpointError(f"model card extra must be JSON-serialisable: {error}") from error

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        """Parse a card written by :meth:`to_json`; unknown keys are ignored."""
        payload = json_object(text, "the model card", CheckpointError)
        if "arch" not in payload or "num_classes" not in payload:
            raise CheckpointError("the model card needs at least 'arch' and 'num_classes'")
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{key: value for key, value in payload.items() if key in names})


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """The JSON sidecar of a checkpoint: same folder and stem, ``.json``."""
    return Path(path).with_suffix(".json")


def read_card(path: Path, data: bytes) -> ModelCard | None:
    """The sidecar's card, else the one stored in a safetensors header, else None."""
    sidecar = sidecar_path(path)
    if sidecar.is_file() and sidecar != path:
        try:
            return ModelCard.from_json(sidecar.read_text(encoding="utf-8"))
        except (CheckpointError, OSError, UnicodeDecodeError) as error:
            raise CheckpointError(f"cannot use the sidecar {sidecar}: {error}. Fix or delete it.") from error
    if is_safetensors(data):
        header = json.loads(data[8 : 8 + struct.unpack("<Q", data[:8])[0]])
        text = header.get("__metadata__", {}).get(CARD_FORMAT)
        if text:
            return ModelCard.from_json(text)
    return None


def is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    size = struct.unpack("<Q", data[:8])[0]
    if data[8:9] != b"{" or size > len(data) - 8:
        return False
    try:
        return isinstance(json.loads(data[8 : 8 + size]), dict)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
