"""What an analysis of given checkpoints is asked to do (`kdlens-cli analyze`, the window's Analyze
form), and every check of it that needs no file to be read.

:class:`AnalyzeConfig` is the one flat, user-facing record (its fields are the command line's
flags; the manifest stores it). Each stage of :func:`engine.jobs.analyze.analyze_job` takes only
its own small, typed part of it (:class:`Checkpoints`, :class:`Reading`, :class:`SetSizes`,
:class:`MapChoice`), and the evidence kinds their own options (:mod:`engine.evidence.registry`).
This module imports no torch: the command line checks a config before the heavy imports.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import KDLensError, require_path
from engine.evidence.registry import (
    EvidenceInputError,
    analysis_key,
    evidence_kinds,
    flat_settings,
    resolve_settings,
)
from engine.vocab import ANALYZED_ROLES, IMAGE_SIZES

__all__ = [
    "AnalyzeConfig",
    "AnalyzeInputError",
    "Checkpoints",
    "MapChoice",
    "Reading",
    "SetSizes",
    "parse_triple",
]

MAX_SEED = 2**31 - 1
OBJECTIVES = ("label", "unique")
ONE_HOT = ("one-hot", "onehot", "")


class AnalyzeInputError(KDLensError):
    """The checkpoints, data or options of an analysis do not fit together."""


@dataclass(frozen=True)
class Checkpoints:
    """What the loading stage reads: each role's file, architecture and key (a checkpoint holding
    several models), and what it may run (pickles with ``trust``, a model file with ``trust_code``)."""

    paths: Mapping[str, str]
    archs: Mapping[str, str | None]
    keys: Mapping[str, str | None]
    trust: bool = False
    model_file: str | None = None
    trust_code: bool = False


@dataclass(frozen=True)
class Reading:
    """How the data are read and fed: the split, the image size (None: the student's) and the
    normalisation (None: what the checkpoints state)."""

    data: str
    split: str | None
    image_size: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None


@dataclass(frozen=True)
class SetSizes:
    """The probe set (the UniCAM context batch), the metrics set, its subsamples, the seed, and the
    metric taps asked for (empty: each model's stages)."""

    probe: int
    metrics_n: int
    repeats: int
    seed: int
    layers: tuple[str, ...] = ()
    fss_v: bool = False


@dataclass(frozen=True)
class MapChoice:
    """UniCAM's class embeddings and objective, where teacher prototypes come from, and whether
    the teacher|student maps are drawn too."""

    embeddings: str
    objective: str
    prototype_split: str
    teacher_maps: bool


@dataclass(frozen=True)
class AnalyzeConfig:
    teacher: str
    student: str
    base: str
    data: str
    out: str
    split: str | None = "test"
    arch_teacher: str | None = None
    arch_student: str | None = None
    layers: tuple[str, ...] = ()
    probe: int = 16
    metrics_n: int = 256
    repeats: int = 10
    seed: int = 0
    embeddings: str = "one-hot"
    objective: str = "label"
    image_size: int | None = None
    device: str | None = None
    trust: bool = False
    # bring your own models: a Python model file (runs only with trust_code), and which model of a
    # checkpoint holding several (a KD trainer's student / teacher) each role loads
    model_file: str | None = None
    trust_code: bool = False
    key_teacher: str | None = None
    key_student: str | None = None
    key_base: str | None = None
    extra: dict = field(default_factory=dict)
    # evidence (SPEC §10): on or off, and each kind's options by their setting, e.g.
    # {"faithfulness_n": 64} (engine.evidence.registry; absent: the kind's default)
    evidence: bool = True
    evidence_options: Mapping[str, Any] = field(default_factory=dict)
    fss_v: bool = False
    teacher_maps: bool = False
    prototype_split: str = "train"
    # the inputs' normalisation (3 values each); None: what the checkpoints or their run folder state
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    # ---- the stages' parts -------------------------------------------------------------------
    def checkpoints(self) -> Checkpoints:
        return Checkpoints(
            paths={role: getattr(self, role) for role in ANALYZED_ROLES},
            archs={"teacher": self.arch_teacher, "student": self.arch_student, "base": self.arch_student},
            keys={role: getattr(self, f"key_{role}") for role in ANALYZED_ROLES},
            trust=self.trust,
            model_file=self.model_file,
            trust_code=self.trust_code,
        )

    def reading(self) -> Reading:
        return Reading(self.data, self.split, self.image_size, self.mean, self.std)

    def set_sizes(self) -> SetSizes:
        return SetSizes(self.probe, self.metrics_n, self.repeats, self.seed, tuple(self.layers), self.fss_v)

    def map_choice(self) -> MapChoice:
        return MapChoice(self.embeddings, self.objective, self.prototype_split, self.teacher_maps)

    def evidence_settings(self) -> dict[str, dict[str, Any]]:
        """Each evidence kind's options: ``evidence_options`` over the kinds' defaults."""
        try:
            return resolve_settings(self.evidence_options, training=False)
        except EvidenceInputError as exc:
            raise AnalyzeInputError(str(exc)) from None

    # ---- as stored and as given --------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """Plain values for ``manifest.json``: every field, the evidence options as settings of
        their own (``faithfulness_n``: 64), each with the value used."""
        data = asdict(self)
        del data["evidence_options"]
        return data | flat_settings(resolve_settings(self.evidence_options, training=False), training=False)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> AnalyzeConfig:
        """From a plain mapping (the window's form, a manifest): the evidence options may be given
        as settings of their own; fields this version does not know are refused."""
        values = dict(values)
        keys = [analysis_key(kind, option) for kind in evidence_kinds() for option in kind.options]
        options = {key: values.pop(key) for key in keys if key in values}
        values["evidence_options"] = {**options, **dict(values.get("evidence_options") or {})}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise AnalyzeInputError(f"unknown analysis setting(s) {', '.join(unknown)}")
        values["layers"] = tuple(values.get("layers") or ())
        return cls(**values)

    # ---- checks before any file is read ------------------------------------------------------
    def check(self) -> None:
        """Every option's kind and range, and that given files exist: one message naming the flag.
        Reads no file and imports no torch, so a mistyped path is answered at once."""
        for name in ("teacher", "student", "base", "data", "out"):
            value = getattr(self, name)
            if not isinstance(value, (str, Path)) or not str(value):
                raise AnalyzeInputError(f"{_flag(name)} must be a path, got {value!r}")
        for role in ANALYZED_ROLES:
            require_path(
                Path(getattr(self, role)).expanduser(), what=f"the {role} checkpoint (--{role})",
                error=AnalyzeInputError, instead="give the checkpoint file", missing="; check the path",
            )  # fmt: skip
        if str(self.data) != "shapes" and not Path(self.data).expanduser().exists():
            raise AnalyzeInputError(
                f"--data {self.data} does not exist; give 'shapes', an image folder, a CIFAR folder or a "
                "CSV/TSV image list"
            )
        _whole(self, "probe", 4, why=" (UniCAM needs a context batch of at least 4)")
        _whole(self, "metrics_n", 4, why=" (distance correlation needs n >= 4)")
        _whole(self, "repeats", 1, why=" (the subsamples behind the 5-95 % band)")
        _whole(self, "seed", 0, MAX_SEED)
        if self.image_size is not None:
            _whole(self, "image_size", *IMAGE_SIZES, why=" pixels")
        self.evidence_settings()
        for name, value in (("model_file", self.model_file), ("embeddings", self.embeddings)):
            if value is None or (name == "embeddings" and value in (*ONE_HOT, "prototypes")):
                continue
            require_path(
                Path(value).expanduser(), what=_flag(name), error=AnalyzeInputError,
                instead="give the file", missing="; check the path",
            )  # fmt: skip
        if self.objective not in OBJECTIVES:
            raise AnalyzeInputError(f"{_flag('objective')} must be label or unique, got {self.objective!r}")
        if (self.mean is None) != (self.std is None):
            raise AnalyzeInputError("--mean and --std go together: give both (3 values each) or neither")
        if self.mean is not None:
            parse_triple(self.mean, "--mean")
            if min(parse_triple(self.std, "--std")) <= 0:
                raise AnalyzeInputError(f"--std values must be above 0, got {tuple(self.std)}")


def _flag(name: str) -> str:
    return f"{name} (--{name.replace('_', '-')})"


def _whole(config: Any, name: str, low: int, high: int | None = None, why: str = "") -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnalyzeInputError(f"{_flag(name)} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        limit = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise AnalyzeInputError(f"{_flag(name)} must be {limit}{why}, got {value}")


def parse_triple(value: str | Sequence[float], flag: str) -> tuple[float, float, float]:
    """Three finite numbers (R, G, B) from ``"0.5,0.5,0.5"``, ``"0.5"`` (all three) or a sequence."""
    parts = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    try:
        numbers = [float(p) for p in parts if not isinstance(p, bool)]
    except (TypeError, ValueError):
        numbers = []
    if len(numbers) == 1:
        numbers *= 3
    if len(numbers) != 3 or len(parts) not in (1, 3) or not all(math.isfinite(n) for n in numbers):
        raise AnalyzeInputError(
            f"{flag} takes 3 finite numbers (R,G,B), e.g. {flag} 0.485,0.456,0.406; got {value!r}"
        )
    return (numbers[0], numbers[1], numbers[2])
