"""Localisation with intervals (SPEC §10): the share of each map's mass inside the object mask,
per image, on data whose objects are known (the synthetic shapes), against the chance line of the
mask's own area share; and the paired differences that say something about KD:

* distilled − residual: do the student's own features (what it has that the base lacks) sit on
  the object more than what the base kept for itself?
* Grad-CAM student − Grad-CAM base: does KD move the student's evidence onto the object?
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.evidence.intervals import Interval, bootstrap_mean, paired_difference, verdict
from engine.metrics import localisation_share
from engine.vocab import DISTILLED, MAP_TITLES, RESIDUAL, gradcam_key

__all__ = ["DIFFERENCES", "LocalisationResult", "localisation"]

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
