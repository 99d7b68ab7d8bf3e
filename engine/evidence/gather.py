"""All the evidence of one teacher / student / base trio on held-out data, as training (at its
evidence cadence), analysis and studies compute it: localisation (where the data have object
masks), ROAD faithfulness with UniCAM's two claims, and the cascading-randomisation sanity check.

Each image set is class-balanced and seeded; UniCAM maps come from context batches of 16
(:mod:`engine.evidence.maps`). The sets are disjoint from nothing they are scored against:
the maps and the scores use the same held-out images, and no class embedding is computed from
them (embeddings come in from the caller, made from training data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from engine.data.imageset import ImageSet, balanced_indices
from engine.distributed.group import Ranks
from engine.errors import KDLensError
from engine.events import Evidence, StopToken
from engine.evidence.faithfulness import PERCENTILES, FaithfulnessResult, faithfulness
from engine.evidence.localisation import LocalisationResult, localisation
from engine.evidence.maps import explain_set
from engine.evidence.sanity import SanityStep, cascading_randomisation
from engine.models import ModelSpec
from engine.vocab import DISTILLED, MAP_KEYS

__all__ = [
    "EvidenceInputError",
    "EvidenceOptions",
    "EvidenceResult",
    "claim_summary",
    "evidence_sets",
    "gather_evidence",
]

NEEDS_MASKS = "localisation needs object masks (the synthetic shapes have them); this data set has none"


@dataclass(frozen=True)
class EvidenceOptions:
    """How much evidence: image counts, ROAD's removal percentiles and the maps it scores (None:
    every map; a random map is always the baseline), context batch size."""

    localisation_images: int = 256
    faithfulness_images: int = 64
    sanity_images: int = 16
    percentiles: tuple[int, ...] = PERCENTILES
    faithfulness_maps: tuple[str, ...] | None = None
    batch_size: int = 16
    seed: int = 0


@dataclass(frozen=True)
class EvidenceResult:
    localisation: LocalisationResult | None
    faithfulness: FaithfulnessResult | None
    sanity: list[SanityStep]
    notes: dict[str, str] = field(default_factory=dict)
    sets: dict[str, list[int]] = field(default_factory=dict)  # which held-out images each part used

    def events(self, epoch: int) -> list[Evidence]:
        """The result as events (what training streams and a run folder stores)."""
        out = []
        if self.localisation is not None:
            out.append(
                Evidence(epoch, "localisation", self.localisation.as_dict(), tuple(self.localisation.rows()))
            )
        elif "localisation" in self.notes:
            out.append(Evidence(epoch, "localisation", {"note": self.notes["localisation"]}, ()))
        if self.faithfulness is not None:
            out.append(
                Evidence(epoch, "faithfulness", self.faithfulness.as_dict(), tuple(self.faithfulness.rows()))
            )
        if self.sanity:
            rows = tuple(row for step in self.sanity for row in step.rows())
            out.append(Evidence(epoch, "sanity", {"map": DISTILLED, "reference": "gradcam_student"}, rows))
        return out


class EvidenceInputError(KDLensError, ValueError):
    """An evidence set too small for the data's classes."""


def evidence_sets(data: ImageSet, options: EvidenceOptions) -> dict[str, np.ndarray]:
    """The held-out positions each part of the evidence scores: seeded and class-balanced.

    Every set needs two images of each class at least: a UniCAM context batch of images that all
    differ in class has a constant label geometry, and its objective is undefined."""
    labels, seed = data.clean_labels, options.seed
    smallest = 2 * data.num_classes
    for name, count in (
        ("localisation", options.localisation_images),
        ("faithfulness", options.faithfulness_images),
        ("sanity", options.sanity_images),
    ):
        if 0 < count < smallest:
            raise EvidenceInputError(
                f"the {name} set of {count} images is too small for {data.num_classes} classes: UniCAM's "
                f"context batches need two images of a class at least; use {smallest} or more (or 0 to skip)."
            )
    wanted = {
        "localisation": (options.localisation_images if data.masks is not None else 0, seed + 11),
        "faithfulness": (options.faithfulness_images, seed + 12),
        "sanity": (options.sanity_images, seed + 13),
    }
    return {
        part: balanced_indices(labels, min(n, len(data)), part_seed)
        for part, (n, part_seed) in wanted.items()
        if n > 0
    }


def gather_evidence(
    models: Mapping[str, nn.Module],
    specs: Mapping[str, ModelSpec],
    data: ImageSet,
    normalize,
    *,
    options: EvidenceOptions = EvidenceOptions(),
    embeddings=None,
    objective: str = "label",
    stop: StopToken | None = None,
    ranks: Ranks | None = None,
) -> EvidenceResult:
    """Localisation, faithfulness and sanity of ``models`` (roles teacher, student, base) on the
    held-out ``data``; ``normalize`` turns its [0, 1] images into the models' inputs.

    ``ranks``: every rank calls this; the UniCAM context batches of the localisation and
    faithfulness sets are spread over the ranks, the rest is rank 0's (the others get an empty
    result)."""
    leader = ranks is None or ranks.leader
    map_stop = stop if ranks is None else None  # every rank must reach every gather
    labels = data.clean_labels
    seed, notes = options.seed, {}
    chosen = evidence_sets(data, options)
    trio = {role: models[role] for role in ("teacher", "student", "base") if role in models}

    local = None
    if data.masks is None:
        notes["localisation"] = NEEDS_MASKS
    elif "localisation" in chosen:
        idx = chosen["localisation"]
        maps = explain_set(
            trio, specs, normalize(data.images[idx]), labels[idx], data.class_names,
            batch_size=options.batch_size, seed=seed, embeddings=embeddings, objective=objective,
            stop=map_stop, ranks=ranks,
        )  # fmt: skip
        if leader:
            local = localisation(
                {k: v for k, v in maps.maps.items() if k in MAP_KEYS}, data.masks[idx].numpy(), seed
            )

    faithful = None
    if "faithfulness" in chosen:
        idx = chosen["faithfulness"]
        images = normalize(data.images[idx])
        maps = explain_set(
            trio, specs, images, labels[idx], data.class_names,
            batch_size=options.batch_size, seed=seed, embeddings=embeddings, objective=objective,
            stop=map_stop, ranks=ranks,
        )  # fmt: skip
        if not leader:
            return EvidenceResult(None, None, [], notes, {part: idx.tolist() for part, idx in chosen.items()})
        wanted = MAP_KEYS if options.faithfulness_maps is None else options.faithfulness_maps
        kinds = {k: v for k, v in maps.maps.items() if k in wanted}
        faithful = faithfulness(
            trio, images, labels[idx], kinds, percentiles=options.percentiles, seed=seed, stop=stop
        )

    sanity: list[SanityStep] = []
    if not leader:
        return EvidenceResult(None, None, [], notes, {part: idx.tolist() for part, idx in chosen.items()})
    if "sanity" in chosen and "student" in trio and "base" in trio:
        idx = chosen["sanity"]
        student, base = trio["student"], trio["base"]
        sanity = cascading_randomisation(
            student, base, specs["student"], specs["base"], normalize(data.images[idx]), labels[idx],
            batch_size=options.batch_size, seed=seed, stop=stop,
        )  # fmt: skip
    return EvidenceResult(
        local, faithful, sanity, notes, {part: idx.tolist() for part, idx in chosen.items()}
    )


def claim_summary(result: EvidenceResult) -> dict[str, str]:
    """One line per claim: 'supported', 'not supported' or 'inconclusive' (for logs and studies)."""
    out = {}
    if result.faithfulness is not None:
        for name, (interval, verdict_text, _meaning) in result.faithfulness.claims.items():
            out[f"faithfulness {name}"] = (
                f"{verdict_text} ({interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}])"
            )
    if result.localisation is not None:
        for name, (interval, verdict_text, _claim) in result.localisation.differences.items():
            out[f"localisation {name}"] = (
                f"{verdict_text} ({interval.mean:+.3f} [{interval.low:+.3f}, {interval.high:+.3f}])"
            )
    return out
