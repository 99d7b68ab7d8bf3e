"""Localisation with intervals (SPEC §10), as an evidence kind: the share of each map's mass inside
the object mask, per image, on data whose objects are known (the synthetic shapes), against the
chance line of the mask's own area share; and the paired differences that say something about KD:

* distilled − residual: do the student's own features (what it has that the base lacks) sit on
  the object more than what the base kept for itself?
* Grad-CAM student − Grad-CAM base: does KD move the student's evidence onto the object?
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import Evidence
from engine.evidence.intervals import Interval, bootstrap_mean, paired_difference, verdict
from engine.evidence.registry import (
    Claim,
    EvidenceKind,
    IntervalPlot,
    Option,
    Outcome,
    claim_from,
    register_evidence,
    study_number,
)
from engine.vocab import (
    DISTILLED,
    MAP_KEYS,
    MAP_TITLES,
    RESIDUAL,
    gradcam_key,
    interval_text,
    map_short,
    map_title,
)

__all__ = ["DIFFERENCES", "LOCALISATION", "NEEDS_MASKS", "LocalisationResult", "localisation"]

NEEDS_MASKS = "localisation needs object masks (the synthetic shapes have them); this data set has none"

#: (first, second) map keys whose paired difference is reported, with what a positive value means.
DIFFERENCES = (
    (DISTILLED, RESIDUAL, "distilled maps lie on the object more than residual maps"),
    (
        gradcam_key("student"),
        gradcam_key("base"),
        "the student's Grad-CAM lies on the object more than the base's",
    ),
)


@dataclass(frozen=True)
class LocalisationResult:
    """Per map: its share interval; the chance line (mean mask area share); paired differences."""

    shares: dict[str, Interval]
    chance: float
    differences: dict[str, tuple[Interval, str, str]]  # "a - b" -> (interval, verdict, claim)

    def rows(self) -> list[dict]:
        """Rows of ``localisation.csv``: map, mean, ci_low, ci_high, chance, n."""
        out = []
        for key, interval in self.shares.items():
            out.append({"map": key, **_cells(interval), "chance": round(self.chance, 6)})
        for name, (interval, _verdict, _claim) in self.differences.items():
            out.append({"map": name, **_cells(interval), "chance": 0.0})
        return out

    def as_dict(self) -> dict:
        return {
            "chance": self.chance,
            "maps": {k: {"title": MAP_TITLES.get(k, k), **v.as_dict()} for k, v in self.shares.items()},
            "differences": {
                name: {**interval.as_dict(), "verdict": verdict_text, "claim": claim}
                for name, (interval, verdict_text, claim) in self.differences.items()
            },
        }


def localisation(maps: dict[str, np.ndarray], masks: np.ndarray, seed: int = 0) -> LocalisationResult:
    """Bootstrap intervals (over images) of every map's share inside ``masks`` (n, H, W) bool."""
    from engine.metrics import localisation_share

    masks = np.asarray(masks, dtype=bool)
    shares = {key: localisation_share(value, masks) for key, value in maps.items()}
    chance = float(masks.reshape(len(masks), -1).mean(axis=1).mean())
    differences = {}
    for first, second, claim in DIFFERENCES:
        if first in shares and second in shares:
            interval = paired_difference(shares[first], shares[second], seed=seed)
            differences[f"{first} - {second}"] = (interval, verdict(interval), claim)
    intervals = {key: bootstrap_mean(value, seed=seed) for key, value in shares.items()}
    return LocalisationResult(intervals, chance, differences)


def _cells(interval: Interval) -> dict:
    d = interval.as_dict()
    return {"mean": d["mean"], "ci_low": d["ci_low"], "ci_high": d["ci_high"], "n": d["n"]}


# ---- the evidence kind -------------------------------------------------------------------------


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    if context.data.masks is None:
        return Outcome(note=NEEDS_MASKS)
    positions = context.sets.get("localisation")
    if positions is None:
        return None
    maps = context.explain(positions, maps=MAP_KEYS)
    if not context.group.leader:
        return None
    result = localisation(maps, context.data.masks[positions].numpy(), context.seed)
    return Outcome(result.as_dict(), result.rows(), images=positions.tolist())


def _is_difference(row: Mapping[str, Any]) -> bool:
    return " - " in str(row["map"])


def _claims(summary: Mapping[str, Any]) -> list[Claim]:
    return [
        claim_from("localisation", name, name, d, d.get("claim", ""))
        for name, d in summary.get("differences", {}).items()
    ]


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    verdicts = {c.name: c.verdict for c in _claims(table.summary)}
    rows = [
        [
            map_title(r["map"]),
            interval_text(r["mean"], r["ci_low"], r["ci_high"]),
            "" if _is_difference(r) else r["chance"],
            r["n"],
            verdicts.get(r["map"], ""),
        ]
        for r in table.rows
    ]
    return ["map", "share on the object [95 % interval]", "chance", "n", "verdict"], rows


def _plot(table: Evidence) -> IntervalPlot | None:
    maps = [r for r in table.rows if not _is_difference(r)]
    if not maps:
        return None
    return IntervalPlot(
        title="Localisation: share of each map on the object",
        categories=tuple(map_title(r["map"]) for r in maps),
        short=tuple(map_short(r["map"]) for r in maps),
        series={"share on the object": [(r["mean"], r["ci_low"], r["ci_high"]) for r in maps]},
        y_label="share on the object",
        reference=float(table.summary.get("chance", 0.0)),
        reference_label="chance (mask area)",
        y_range=(0.0, 1.0),
    )


def _study(table: Evidence) -> dict[str, tuple[float, bool]]:
    return {
        f"localisation {r['map']}": (
            study_number(r["mean"]),
            _is_difference(r),
        )
        for r in table.rows
    }


LOCALISATION = register_evidence(
    EvidenceKind(
        name="localisation",
        title="Localisation",
        description=(
            "The share of each map's mass on the object (data with object masks), with 95 % bootstrap "
            "intervals over images; chance is the mask's area share."
        ),
        run=_run,
        columns=("map", "mean", "ci_low", "ci_high", "chance", "n"),
        table=_table,
        options=(Option("n", 256, "held-out images for localisation (needs object masks)"),),
        claims=_claims,
        plot=_plot,
        study=_study,
        seed_offset=11,
        needs_masks=True,
    )
)
