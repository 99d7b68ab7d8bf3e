"""Model checkpoints (SPEC §6, §7): ``card`` (what a checkpoint is, errors), ``files`` (reading
files without running their code: state dicts, trainers' wrappers, TorchScript), ``model_file``
(the user's own architectures, behind a trust flag), ``torchscript`` (archives as models),
``loading`` (save and load with fit checks)."""

from engine.checkpoints.card import (
    AmbiguousCheckpointError,
    CheckpointError,
    CheckpointMismatchError,
    ModelCard,
    UnsafeCheckpointError,
    UntrustedCodeError,
    sidecar_path,
)
from engine.checkpoints.loading import LoadedModel, load_checkpoint, save_checkpoint

__all__ = [
    "AmbiguousCheckpointError",
    "CheckpointError",
    "CheckpointMismatchError",
    "LoadedModel",
    "ModelCard",
    "UnsafeCheckpointError",
    "UntrustedCodeError",
    "load_checkpoint",
    "save_checkpoint",
    "sidecar_path",
]
