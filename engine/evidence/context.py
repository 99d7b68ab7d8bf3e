"""What every kind of evidence runs on (:mod:`engine.evidence.registry`): the teacher / student /
base trio, the held-out images, how they are fed to the models, and the seeded, class-balanced
set of held-out images each kind scores (SPEC §10).

Each set needs two images of each class at least: a UniCAM context batch of images that all
differ in class has a constant label geometry, and its objective is undefined. No class
embedding is computed from these images (embeddings come in from the caller, made from
training data).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.data.imageset import ImageSet
from engine.data.sampling import paired_indices
from engine.distributed.group import Group, LocalGroup
from engine.events import StopToken
from engine.evidence.registry import EvidenceInputError, evidence_kinds, flag, get_kind, training_key
from engine.models import ModelSpec

__all__ = ["EvidenceContext", "MetricsMatrices", "evidence_sets"]

TRIO = ("teacher", "student", "base")
ROLES = ("teacher", "student", "base", "assistant")  # every model a context may hold, in order
FORWARD_BATCH = 128  # images per forward pass of :meth:`EvidenceContext.logits`
SMALLEST_SET = 4  # two classes with two images each: the smallest context batch with a label geometry


def evidence_sets(
    data: ImageSet, settings: Mapping[str, Mapping[str, Any]], seed: int, *, training: bool = False
) -> dict[str, np.ndarray]:
    """Kind -> the held-out positions it scores, for every kind with a set (an ``n`` option) and
    a size above 0; kinds that need masks get none on data without them. Seeded per kind, and
    class-balanced with two images of a class at least, whatever the class count
    (:func:`engine.data.sampling.paired_indices`)."""
    out = {}
    for kind in evidence_kinds():
        option = next((o for o in kind.options if o.name == "n"), None)
        if option is None:
            continue
        count = int(settings[kind.name]["n"])
        if 0 < count < SMALLEST_SET:
            name = training_key(kind, option) if training else flag(kind, option)
            raise EvidenceInputError(
                f"the {kind.name} set of {count} images is too small: UniCAM's context batches need two "
                f"classes with two images each; set {name} to {SMALLEST_SET} or more (or 0 to skip it)."
            )
        if count == 0 or (kind.needs_masks and data.masks is None):
            continue
        out[kind.name] = paired_indices(data.clean_labels, min(count, len(data)), seed + kind.seed_offset)
    return out


@dataclass(frozen=True)
class MetricsMatrices:
    """What the FSS/RS stage measured, for kinds that read it instead of running the models again
    (the layer map, the one-vs-rest RS per class): each role's N x N distance matrices per tap
    (``stats.DistanceMatrix``), its taps in order, the metrics set's labels and the index tensors
    of the class-balanced subsamples the metrics used."""

    distances: Mapping[str, Mapping[str, Any]]
    taps: Mapping[str, list[str]]
    labels: np.ndarray
    draws: list[torch.Tensor]


@dataclass
class EvidenceContext:
    """The trio, its held-out ``data`` ([0, 1] images) and ``prepare`` (images -> the models'
    normalised inputs on their device), UniCAM's ``embeddings`` and ``objective``, the seed, the
    stop token, and the ``group`` of processes sharing the work (context batches are dealt out
    over its ranks; rank 0 keeps the results). ``kd_temperature``: the run's KD temperature when
    its loss has one (training passes it; an analysis has no run, None)."""

    models: Mapping[str, nn.Module]
    specs: Mapping[str, ModelSpec]
    data: ImageSet
    prepare: Callable[[torch.Tensor], torch.Tensor]
    settings: Mapping[str, Mapping[str, Any]]
    seed: int = 0
    embeddings: Any = None
    objective: str = "label"
    batch_size: int = 16
    stop: StopToken | None = None
    group: Group = field(default_factory=LocalGroup)
    training: bool = False
    kd_temperature: float | None = None
    metrics: MetricsMatrices | None = None  # the FSS/RS stage's matrices, where it ran
    sets: dict[str, np.ndarray] = field(init=False)
    _logits: dict[bytes, dict[str, np.ndarray]] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.sets = evidence_sets(self.data, self.settings, self.seed, training=self.training)

    def embedded_sets(self) -> list[np.ndarray]:
        """The sets of the kinds that score their images with the class embeddings (UniCAM):
        teacher prototypes are never made from these images (SPEC §10)."""
        return [positions for name, positions in self.sets.items() if get_kind(name).uses_embeddings]

    @property
    def device(self) -> torch.device:
        """The models' device (where their work is timed)."""
        return next(next(iter(self.models.values())).parameters()).device

    @property
    def trio(self) -> dict[str, nn.Module]:
        return {role: self.models[role] for role in TRIO if role in self.models}

    @property
    def labels(self) -> torch.Tensor:
        return self.data.clean_labels

    def explain(self, positions: np.ndarray, maps: tuple[str, ...] | None = None):
        """Every map of the held-out images at ``positions``, each explained in its class-balanced
        context batch (:func:`engine.evidence.maps.explain_set`); every rank must call it, rank 0
        gets the maps. ``maps``: keep only these keys."""
        from engine.evidence.maps import explain_set

        result = explain_set(
            self.trio,
            self.specs,
            self.prepare(self.data.images[positions]),
            self.labels[positions],
            self.data.class_names,
            batch_size=self.batch_size,
            seed=self.seed,
            embeddings=self.embeddings,
            objective=self.objective,
            stop=self.group.collective_stop(self.stop),
            group=self.group,
        )
        if maps is None:
            return result.maps
        return {key: value for key, value in result.maps.items() if key in maps}

    def logits(self, positions: np.ndarray) -> dict[str, np.ndarray]:
        """Role -> (n, classes) float64 logits of the held-out images at ``positions`` for every
        model held (teacher, student, base, assistant), one batched pass each in eval mode without
        gradients; cached by positions, so kinds that score the same set (agreement and
        calibration) share one pass."""
        key = np.asarray(positions, dtype=np.int64).tobytes()
        if key not in self._logits:
            from engine.cam.hooks import eval_mode

            out: dict[str, list[np.ndarray]] = {role: [] for role in ROLES if role in self.models}
            with torch.no_grad(), ExitStack() as modes:
                for role in out:
                    modes.enter_context(eval_mode(self.models[role]))
                for start in range(0, len(positions), FORWARD_BATCH):
                    if self.stop is not None:
                        self.stop.check()
                    inputs = self.prepare(self.data.images[positions[start : start + FORWARD_BATCH]])
                    for role, parts in out.items():
                        parts.append(self.models[role](inputs).double().cpu().numpy())
            self._logits[key] = {role: np.concatenate(parts) for role, parts in out.items()}
        return self._logits[key]
