"""Model checkpoints (SPEC §6, §7): ``card`` (what a checkpoint is, errors), ``files`` (reading
files without running their code), ``loading`` (save and load with fit checks)."""

from engine.checkpoints.card import (
    CheckpointError,
    CheckpointMismatchError,
    ModelCard,
    UnsafeCheckpointError,
    sidecar_path,
)
from engine.checkpoints.loading import LoadedModel, load_checkpoint, save_checkpoint

__all__ = [
    "CheckpointError",
    "CheckpointMismatchError",
    "LoadedModel",
    "ModelCard",
    "UnsafeCheckpointError",
    "load_checkpoint",
    "save_checkpoint",
    "sidecar_path",
]
