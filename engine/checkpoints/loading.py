"""Save and load model checkpoints safely (SPEC §6, §7).

KD Lens writes safetensors plus a JSON sidecar holding a :class:`ModelCard`, both atomically.
It reads safetensors, PyTorch state dicts (wrapped and prefixed as trainers save them) and
TorchScript archives (:mod:`engine.checkpoints.files`). Architectures come from the registry
(torchvision, the CIFAR KD zoo, ``timm:<name>``), from the user's trusted model file
(:mod:`engine.checkpoints.model_file`), or, for TorchScript, from the archive itself. A
checkpoint that does not fit its architecture gets one error listing every problem, the class
count first.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from engine.atomic import atomic_write_bytes, atomic_write_text
from engine.checkpoints.card import (
    CARD_FORMAT,
    CheckpointError,
    CheckpointMismatchError,
    ModelCard,
    read_card,
    sidecar_path,
)
from engine.checkpoints.files import is_torchscript, read_state_dict
from engine.checkpoints.model_file import open_model_file
from engine.checkpoints.torchscript import load_torchscript
from engine.errors import require_path
from engine.models import ModelSpec, ScriptedModel, build_model, get_spec, is_builtin, list_architectures
from engine.models.spec import canonical

__all__ = ["LoadedModel", "load_checkpoint", "save_checkpoint"]

_LIST_LIMIT = 8


@dataclass(frozen=True)
class LoadedModel:
    """A model built from a checkpoint, in eval mode, with its card, where it came from and its
    spec (also answered by ``get_spec(card.arch)``)."""

    model: nn.Module
    card: ModelCard
    path: Path
    spec: ModelSpec | None = None


def save_checkpoint(model: nn.Module, path: str | os.PathLike[str], card: ModelCard) -> Path:
    """Write ``model``'s weights as safetensors at ``path`` and its card beside it, both atomically.

    The card is also stored in the safetensors header, so the weights file alone stays usable.
    """
    target = Path(path)
    if isinstance(model, ScriptedModel):
        raise CheckpointError("a TorchScript model keeps its own archive; KD Lens does not rewrite it")
    if target.suffix != ".safetensors":
        raise CheckpointError(f"KD Lens saves checkpoints as .safetensors; rename {target.name!r}")
    state = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    classifier = state.get(f"{get_spec(card.arch).feature_cut}.weight")
    if classifier is not None and classifier.shape[0] != card.num_classes:
        raise CheckpointError(
            f"the card says {card.num_classes} classes, the model has {classifier.shape[0]}"
        )
    text = card.to_json()
    atomic_write_bytes(target, safetensors.torch.save(state, metadata={CARD_FORMAT: text}))
    atomic_write_text(sidecar_path(target), text)
    return target


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
    ours = expected[classifier].shape[0] if classifier in expected else None
    if ours is not None and classifier in state and state[classifier].shape[0] != ours:
        lines.append(f"checkpoint has {state[classifier].shape[0]} classes, model expects {ours}")
    if shapes:
        lines.append(f"{len(shapes)} shape mismatches: {_listing(shapes)}")
    if missing:
        lines.append(f"{len(missing)} missing keys (in the model, not the checkpoint): {_listing(missing)}")
    if unexpected:
        lines.append(
            f"{len(unexpected)} unexpected keys (in the checkpoint, not the model): {_listing(unexpected)}"
        )
    lines.extend(_distillation_token_hint(arch, missing, unexpected))
    message = (
        f"{path} does not fit {arch}{f' with {ours} classes' if ours else ''}:\n  - "
        + "\n  - ".join(lines)
        + "\nCheck the architecture (arch / --arch) and the class count (num_classes), "
        "or that this file belongs to this model."
    )
    raise CheckpointMismatchError(message, missing, unexpected, shapes)


def _distillation_token_hint(arch: str, missing: list[str], unexpected: list[str]) -> list[str]:
    """DeiT's distilled checkpoints carry a distillation token and head (``dist_token``,
    ``head_dist.*``); a model without them (or the reverse) is the usual mix-up."""
    if "dist_token" in unexpected:
        return [
            f"the checkpoint has a distillation token (dist_token, head_dist), {arch} has none: load it "
            "as a distilled model, timm:deit_*_distilled_* (e.g. timm:deit_tiny_distilled_patch16_224)"
        ]
    if "dist_token" in missing:
        return [
            f"{arch} has a distillation token (dist_token, head_dist), the checkpoint has none: load it "
            "as the model without one (its name without _distilled)"
        ]
    return []


def load_checkpoint(
    path: str | os.PathLike[str],
    arch: str | None = None,
    num_classes: int | None = None,
    trust: bool = False,
    map_location: str | torch.device = "cpu",
    *,
    key: str | None = None,
    role: str | None = None,
    model_file: str | os.PathLike[str] | None = None,
    trust_code: bool = False,
) -> LoadedModel:
    """Build the checkpoint's model, load its weights, and return it in eval mode with its card.

    ``arch`` and ``num_classes`` override the sidecar's card; without a card ``arch`` is
    required and ``num_classes`` is read off the classifier's weight. ``trust=True`` allows
    pickles that run code (only for files from a trusted source). ``key`` / ``role`` pick one
    model of a checkpoint holding several (a KD trainer's ``student`` and ``teacher``).
    ``model_file``: a Python file whose ``build(arch, num_classes)`` makes architectures KD Lens
    does not know; it runs only with ``trust_code=True``. A TorchScript archive needs no ``arch``.
    """
    source = require_path(
        Path(path),
        what="checkpoint",
        error=CheckpointError,
        instead="check the path",
        missing="; check the path",
    )
    data = source.read_bytes()
    if not data:
        raise CheckpointError(f"checkpoint {source} is empty (0 bytes); it was not saved completely")
    card = read_card(source, data)
    if is_torchscript(data):
        model, card, spec = load_torchscript(source, data, card, num_classes)
        return LoadedModel(model.to(map_location).eval(), card, source, spec)
    state = read_state_dict(source, data, trust, key=key, role=role)
    arch = arch or (card.arch if card else None)
    if arch is None:
        raise CheckpointError(
            f"{source} has no sidecar ({sidecar_path(source).name}) naming its architecture; "
            f"pass arch (--arch), one of: {', '.join(list_architectures())}; or timm:<name>; or your "
            "own, built by a model file (--model-file)"
        )
    user = None if is_builtin(arch) or model_file is None else open_model_file(model_file, trust_code)
    name = arch if user else get_spec(arch).name  # an unknown name without a model file stops here
    card_fits = card is not None and canonical(card.arch) == canonical(name)
    if num_classes is None and card_fits:
        num_classes = card.num_classes
    if num_classes is None:
        cut = user.class_count_layer(name) if user else get_spec(name).feature_cut
        classifier = state.get(f"{cut}.weight")
        if classifier is None or classifier.ndim not in (2, 4):
            raise CheckpointError(
                f"cannot tell the class count of {source}: it has no {cut}.weight as "
                f"{arch} would; check the architecture or pass num_classes"
            )
        num_classes = int(classifier.shape[0])
    model = user.build(name, num_classes) if user else build_model(name, num_classes)
    spec = user.spec(name, model) if user else get_spec(name)
    _check_fit(source, spec.name, model, state)
    model.load_state_dict(state, strict=False)  # fit already checked; strict would trip on old BN
    if card is None:
        card = ModelCard(spec.name, num_classes, (), spec.input_size, extra={"card": "defaults"})
    elif not card_fits or card.num_classes != num_classes:
        names = card.class_names if len(card.class_names) == num_classes else ()
        card = dataclasses.replace(card, arch=spec.name, num_classes=num_classes, class_names=names)
    return LoadedModel(model.to(map_location).eval(), card, source, spec)
