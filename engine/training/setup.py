"""Everything a run checks and prepares before its first step, so a bad configuration fails
before any training: the data splits, the architectures, the checkpoints to load (and their
class counts), and the fixed probe, metrics and context sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.checkpoints import ModelCard, load_checkpoint
from engine.data.errors import DataError
from engine.data.imageset import ImageSet, normalize
from engine.data.sampling import describe_set, paired_indices
from engine.data.shapes import ShapesConfig
from engine.data.sources import find_source, open_run_splits
from engine.errors import require_path
from engine.models import ModelSpec, build_model, fixed_size_problem, get_spec
from engine.training.config import ConfigError, TrainConfig
from engine.training.fields import check_kind

__all__ = ["RunData", "check_device", "load_run_data", "make_card", "prepare_models", "choose_sets"]


@dataclass(frozen=True)
class RunData:
    """The splits of a run: teacher training data, base/student training data, the clean
    held-out split, and further held-out splits reported at the end (e.g. "cue-flipped")."""

    teacher_train: ImageSet
    student_train: ImageSet
    heldout: ImageSet
    extra_heldout: dict[str, ImageSet] = field(default_factory=dict)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.student_train.class_names

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def mean(self) -> tuple[float, ...]:
        return tuple(self.student_train.mean)

    @property
    def std(self) -> tuple[float, ...]:
        return tuple(self.student_train.std)

    def normalized(self, images: torch.Tensor) -> torch.Tensor:
        return normalize(images, self.mean, self.std)


def check_device(name: str) -> torch.device:
    """The run's device, when this machine has it (``cpu``, ``cuda`` or ``cuda:<index>``)."""
    device = torch.device(name)  # the name's form is checked by TrainConfig.validate
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            have = f"{count} CUDA GPU(s)" if count else "no usable CUDA GPU"
            raise ConfigError(
                f'device {name!r} is not available: this machine has {have}; set "device": "cpu" '
                "(or a GPU it has) and start again"
            )
    return device


def shapes_config(config: TrainConfig) -> ShapesConfig:
    """The ShapesConfig a run uses: its ``dataset.shapes`` fields over the defaults."""
    known = {f.name for f in fields(ShapesConfig)}
    unknown = sorted(set(config.dataset.shapes) - known)
    if unknown:
        raise ConfigError(f"unknown shapes field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    for f in fields(ShapesConfig):
        if f.name in config.dataset.shapes:
            check_kind(f"dataset.shapes.{f.name}", config.dataset.shapes[f.name], str(f.type))
    values: dict[str, Any] = {"image_size": config.dataset.image_size, "seed": config.seed}
    for key, value in config.dataset.shapes.items():
        values[key] = tuple(value) if isinstance(value, list) else value
    return ShapesConfig(**values)


def load_run_data(config: TrainConfig) -> RunData:
    """The splits named by ``config.dataset`` (through the one table of data sources); missing
    folders raise a DataError (a KDLensError)."""
    source = config.dataset.source
    shapes = shapes_config(config) if find_source(source).kind == "shapes" else None
    splits = open_run_splits(source, config.dataset.image_size, config.seed, shapes=shapes)
    return RunData(splits.teacher, splits.train, splits.test, splits.extra)


def make_card(arch: str, data: RunData, role: str, **extra: Any) -> ModelCard:
    return ModelCard(
        arch=arch,
        num_classes=data.num_classes,
        class_names=tuple(data.class_names),
        input_size=int(data.student_train.image_size),
        mean=tuple(data.mean),
        std=tuple(data.std),
        extra={"role": role, **extra},
    )


def prepare_models(config: TrainConfig, data: RunData) -> tuple[dict[str, nn.Module], dict[str, ModelSpec]]:
    """Models (fresh or loaded) and specs per role; raises before training when any is unusable.

    Base and student are built from the same seed so they start from identical weights.
    """
    roles = config.roles()
    specs = {role: get_spec(cfg.arch) for role, cfg in roles.items()}  # unknown architecture -> error
    models: dict[str, nn.Module] = {}
    for role, cfg in roles.items():
        if cfg.load is None:
            continue
        path = require_path(
            Path(cfg.load).expanduser(),
            what=f"the {role} checkpoint",
            error=ConfigError,
            instead=f"set {role}.load to the checkpoint file in it (e.g. checkpoints/teacher.safetensors of "
            "a run folder)",
            missing=f"; fix {role}.load or train it",
        )
        loaded = load_checkpoint(path, arch=cfg.arch)
        classes = int(loaded.card.num_classes)
        if classes != data.num_classes:
            raise ConfigError(
                f"the {role} checkpoint {path} has {classes} classes but the data has {data.num_classes} "
                f"({', '.join(data.class_names)}); use a checkpoint trained on these classes"
            )
        models[role] = loaded.model
    for role, cfg in roles.items():
        if role in models:
            continue
        seed = config.seed if role in ("base", "student") else config.seed + 1000 + list(roles).index(role)
        torch.manual_seed(seed)
        models[role] = build_model(cfg.arch, data.num_classes)
    for role, model in models.items():
        problem = fixed_size_problem(model, int(config.dataset.image_size))
        if problem:
            raise ConfigError(f"{role} ({roles[role].arch}): {problem}")
    device = torch.device(config.device)
    for model in models.values():
        model.to(device)
    return models, specs


def choose_sets(config: TrainConfig, data: RunData) -> dict[str, Any]:
    """Seeded held-out indices: the probe set, the metrics set and the context batch that opened
    images are explained inside (the probe size minus one), each class-balanced with two images
    of a class at least (:func:`engine.data.sampling.paired_indices`, whatever the class count).
    A held-out split smaller than a set asks for shrinks it; ``notes`` says what shrank, once."""
    labels, n = data.heldout.clean_labels, len(data.heldout)
    wanted = {
        "probe": (config.probe_size, config.probe, config.seed),
        "metrics": (config.metrics_size, config.metrics, config.seed + 1),
        "context": (config.probe_size - 1, config.probe, config.seed + 2),
    }
    sets: dict[str, Any] = {"split": "heldout"}
    notes = []
    for name, (asked, used, seed) in wanted.items():
        size = max(MIN_SET, min(asked, n))
        try:
            picked = paired_indices(labels, size, seed) if n >= MIN_SET else np.zeros(0, dtype=np.int64)
        except DataError as exc:
            picked = np.zeros(0, dtype=np.int64)
            if used:
                raise ConfigError(f"the held-out split cannot give a {name} set: {exc}") from None
        if used and len(picked) < MIN_SET:
            raise ConfigError(
                f"the held-out split has {n} images; the {name} set needs {MIN_SET} at least (UniCAM and R* "
                f'need n >= 4). Add held-out images (a test/ folder), or set "{name}": false'
            )
        sets[name] = picked.tolist()
        if used and name != "context" and len(picked) < asked:
            notes.append(f"{name} set: {len(picked)} images ({name}_size {asked}; {n} held-out images)")
        if used and name != "context" and len(np.unique(labels[picked].numpy())) < data.num_classes:
            notes.append(f"{name} set: {describe_set(labels, picked, data.num_classes)}")
    sets |= {"class_names": list(data.class_names), "mean": list(data.mean), "std": list(data.std)}
    return sets | ({"notes": notes} if notes else {})


MIN_SET = 4  # UniCAM's context batch and R* need four images at least
