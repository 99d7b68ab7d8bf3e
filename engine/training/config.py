"""The training configuration: one frozen, JSON round-trippable :class:`TrainConfig` (SPEC §5).

It is written as a human-readable ``config.json`` in every run directory, so a run can be read,
repeated and resumed. Only structural checks live here (names, ranges); the checks that need
data or checkpoints (architecture exists, folder exists, class counts agree) run in
:func:`engine.training.setup.prepare_run` before any training starts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import json_object
from engine.evidence.registry import (
    EvidenceInputError,
    evidence_kinds,
    flat_settings,
    option_defaults,
    resolve_settings,
    training_key,
)
from engine.losses import LossConfigError, get_kd_loss
from engine.training.fields import (
    ConfigError,
    check_keys,
    check_positive,
    check_required,
    check_types,
)
from engine.vocab import IMAGE_SIZES

__all__ = [
    "ConfigError",
    "DatasetConfig",
    "KDConfig",
    "OptimizerConfig",
    "RoleConfig",
    "TrainConfig",
]

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")
MAX_SEED = 2**31 - 1  # seeds are offset and multiplied (per phase, per step) and must stay in range
DEVICE_FORM = re.compile(r"cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class RoleConfig:
    """One role: an architecture trained for ``epochs``, or a checkpoint to ``load`` instead.

    ``max_steps`` caps the steps per epoch (quick runs); ``lr`` overrides the shared learning rate.
    """

    arch: str
    epochs: int = 10
    load: str | None = None
    lr: float | None = None
    max_steps: int | None = None


@dataclass(frozen=True)
class DatasetConfig:
    """``source`` is ``"shapes"`` (synthetic, ``shapes`` holds ShapesConfig fields) or a folder
    in the ImageFolder layout with ``train/`` and ``test/``."""

    source: str = "shapes"
    image_size: int = 32
    shapes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:  # JSON-native values, so a config equals its round trip
        plain = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(self.shapes).items()}
        object.__setattr__(self, "shapes", plain)


@dataclass(frozen=True)
class KDConfig:
    """The KD loss by its registry name (:data:`engine.losses.KD_LOSSES`) and the
    hyper-parameters that differ from the loss's defaults."""

    loss: str = "hinton"
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(self.params))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KDConfig:
        """Also reads the flat form of earlier run folders (``temperature``/``alpha``/``beta``
        beside ``loss``): values the loss does not take, or null, are dropped."""
        data = dict(data)
        legacy = {k: data.pop(k) for k in _LEGACY_KD_KEYS if k in data}
        check_keys(cls, data, "kd")
        params = dict(data.get("params") or {})
        if legacy:
            try:
                known = get_kd_loss(str(data.get("loss", cls.loss))).hyperparameters
            except LossConfigError:
                known = {}
            params = {k: v for k, v in legacy.items() if v is not None and k in known} | params
        return cls(loss=str(data.get("loss", cls.loss)), params=params)

    def resolved(self) -> dict[str, float]:
        """The loss's defaults overridden by ``params`` (raises ConfigError on a bad value)."""
        try:
            return get_kd_loss(self.loss).resolve(self.params)
        except LossConfigError as exc:
            raise ConfigError(f"kd: {exc}") from None


_LEGACY_KD_KEYS = ("temperature", "alpha", "beta")


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs. Base and student share the recipe; only KD differs.

    ``probe_every_steps``: also emit probe frames every k steps of the KD phase (None: epoch ends
    only). ``metrics_every``: FSS/RS every k KD epochs (and always at the last one).
    ``probe``/``metrics`` switch the live explanations off (the benchmark's baseline).
    ``evidence``: localisation (``evidence_localisation`` held-out images, where masks exist), ROAD
    faithfulness (``evidence_faithfulness`` images; ROAD of the distilled and residual maps and the
    random baseline, removing 100 - p % of the pixels for p in ``evidence_percentiles``: during
    training three levels and the claims' maps, where the analysis report scores every map at nine
    levels, to keep training fast) and the sanity check, at the last KD epoch and
    every ``evidence_every`` KD epochs (0: the last only). ``evidence_options``: each evidence
    kind's options (:mod:`engine.evidence.registry`) by their field, e.g.
    ``{"evidence_faithfulness": 8}``; ``config.json`` lists them as fields of their own.
    """

    teacher: RoleConfig = RoleConfig("large_cnn", epochs=16)  # at least as long as its students
    base: RoleConfig = RoleConfig("small_cnn", epochs=8)
    student: RoleConfig = RoleConfig("small_cnn", epochs=8)
    assistant: RoleConfig | None = None
    dataset: DatasetConfig = DatasetConfig()
    kd: KDConfig = KDConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    batch_size: int = 64
    augment: bool = True
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    probe_size: int = 16
    metrics_size: int = 256
    metrics_repeats: int = 10
    probe_every_steps: int | None = None
    metrics_every: int = 1
    probe: bool = True
    metrics: bool = True
    evidence: bool = True
    evidence_every: int = 0
    evidence_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every evidence option present (the kinds' defaults where not given), so a configuration
        equals its JSON round trip; lists from JSON become the tuples they were."""
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(self.evidence_options).items()}
        object.__setattr__(self, "evidence_options", {**option_defaults(training=True), **given})

    def evidence_settings(self) -> dict[str, dict[str, Any]]:
        """Each evidence kind's options: ``evidence_options`` over the kinds' training defaults."""
        try:
            return resolve_settings(self.evidence_options, training=True)
        except EvidenceInputError as exc:
            raise ConfigError(str(exc)) from None

    def roles(self) -> dict[str, RoleConfig]:
        """Role name -> its configuration, in training order (teacher, assistant, base, student)."""
        out = {"teacher": self.teacher}
        if self.assistant is not None:
            out["assistant"] = self.assistant
        out["base"], out["student"] = self.base, self.student
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain values; the evidence options as fields of their own, each with its value."""
        data = dataclasses.asdict(self)
        data["dataset"]["shapes"] = dict(self.dataset.shapes)
        data["kd"]["params"] = dict(self.kd.params)
        del data["evidence_options"]
        return data | flat_settings(self.evidence_settings(), training=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        data = dict(data)
        options = {}
        for kind in evidence_kinds():
            for option in kind.options:
                key = training_key(kind, option)
                if key in data:
                    options[key] = data.pop(key)
                elif option.earlier in data:  # a run folder from before the option had a field
                    options[key] = data[option.earlier]
        data["evidence_options"] = {**options, **dict(data.get("evidence_options") or {})}
        check_keys(cls, data, "config")
        nested = {
            "teacher": RoleConfig,
            "base": RoleConfig,
            "student": RoleConfig,
            "assistant": RoleConfig,
            "dataset": DatasetConfig,
            "kd": KDConfig,
            "optimizer": OptimizerConfig,
        }
        for key, kind in nested.items():
            value = data.get(key)
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"config field {key!r} must be an object, got {value!r}")
            if kind is KDConfig:
                data[key] = KDConfig.from_dict(value)
                continue
            check_keys(kind, value, key)
            check_required(kind, value, key)
            data[key] = kind(**value)
        config = cls(**data)
        config.validate()
        return config

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json_object(text, "the training configuration", ConfigError))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the training configuration {path}: {exc.strerror}") from None
        return cls.from_json(text)

    def validate(self) -> None:
        """Structural checks that need no data; raises :class:`ConfigError`."""
        check_types(self, "")
        for name, part in (*self.roles().items(), ("dataset", self.dataset), ("optimizer", self.optimizer)):
            check_types(part, f"{name}.")
        if not isinstance(self.kd.loss, str):
            raise ConfigError(f"kd.loss must be a string (the KD loss's name), got {self.kd.loss!r}")
        self._check_roles()
        self.kd.resolved()  # the loss exists and takes these hyper-parameters
        self._check_optimizer()
        self._check_run()
        self.evidence_settings()

    def _check_roles(self) -> None:
        for name, role in self.roles().items():
            if role.lr is not None:
                check_positive(f"{name}.lr", role.lr, "or null (the optimizer's lr)")
            if role.load is None and (not isinstance(role.epochs, int) or role.epochs < 1):
                raise ConfigError(f"{name}.epochs must be a positive integer, got {role.epochs!r}")
            if role.max_steps is not None and role.max_steps < 1:
                raise ConfigError(f"{name}.max_steps must be at least 1 or null")
        trained = [r for r in (self.base, self.student) if r.load is None]
        if len(trained) == 2 and self.base.epochs != self.student.epochs:
            raise ConfigError(
                f"base and student must train for the same epochs so that KD is the only difference "
                f"(got {self.base.epochs} and {self.student.epochs})"
            )
        if self.base.load is None and self.student.load is None and self.base.arch != self.student.arch:
            raise ConfigError(
                f"the base must have the student's architecture (base {self.base.arch!r}, "
                f"student {self.student.arch!r})"
            )

    def _check_optimizer(self) -> None:
        if self.optimizer.name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer.name!r}; choose sgd or adamw")
        if self.optimizer.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.optimizer.schedule!r}; choose cosine or constant")
        check_positive("optimizer.lr", self.optimizer.lr)
        momentum, decay = self.optimizer.momentum, self.optimizer.weight_decay
        if not (math.isfinite(momentum) and 0 <= momentum < 1):
            raise ConfigError(
                f"optimizer.momentum must be at least 0 and below 1 (e.g. 0.9), got {momentum!r}"
            )
        if not (math.isfinite(decay) and decay >= 0):
            raise ConfigError(
                f"optimizer.weight_decay must be 0 or a small positive number (e.g. 5e-4), got {decay!r}"
            )

    def _check_run(self) -> None:
        """The data's size, the seed, the device and the sizes and cadences of the explanations."""
        low, high = IMAGE_SIZES
        if not low <= self.dataset.image_size <= high:
            raise ConfigError(
                f"dataset.image_size must be {low}..{high} pixels, got {self.dataset.image_size}; images "
                "are resized to it on load"
            )
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed}")
        if not DEVICE_FORM.fullmatch(self.device):
            raise ConfigError(f'device {self.device!r} is not known; use "cpu", "cuda" or "cuda:<index>"')
        if self.metrics_repeats < 1:
            raise ConfigError(
                "metrics_repeats must be at least 1 (the subsamples behind the 5-95 % band), "
                f"got {self.metrics_repeats}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.probe_size < 4 or self.metrics_size < 4:
            raise ConfigError(
                "probe_size and metrics_size need at least 4 images (UniCAM and R* need n >= 4)"
            )
        if self.metrics_every < 1:
            raise ConfigError(f"metrics_every must be at least 1, got {self.metrics_every}")
        if self.probe_every_steps is not None and self.probe_every_steps < 1:
            raise ConfigError("probe_every_steps must be at least 1 or null")
        if self.threads is not None and self.threads < 1:
            raise ConfigError("threads must be at least 1 or null")
        every = self.evidence_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ConfigError(
                f"evidence_every must be a whole number >= 0 (0: the last epoch only), got {every!r}"
            )
