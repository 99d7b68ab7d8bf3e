"""Faithfulness of the maps by ROAD (SPEC §10; the maths in :mod:`engine.evidence.road`), as an
evidence kind.

For a model M, an image x with true class y and a map m: remove the k % most relevant pixels by m
(imputed from their neighbours), and separately the k % least relevant; the score is the mean over
k of (drop of M's probability of y when the most relevant are removed − drop when the least
relevant are removed). Higher: the map points at evidence M uses. A random map is the baseline.

UniCAM's claim as a test: the distilled map should point at evidence the student uses more than
the base does, ROAD(S, distilled) − ROAD(B, distilled) > 0, and the residual map at evidence the
base uses more, ROAD(B, residual) − ROAD(S, residual) > 0; each with its bootstrap interval over
images and a verdict. An analysis scores every map at nine levels; training the claims' maps at
three (its ``evidence_percentiles``), to stay quick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.events import Evidence, StopToken
from engine.evidence.intervals import Interval, bootstrap_mean, paired_difference, verdict
from engine.evidence.registry import (
    Claim,
    EvidenceKind,
    IntervalPlot,
    Option,
    Outcome,
    claim_study_values,
    register_evidence,
    study_number,
    summary_claims,
)
from engine.vocab import DISTILLED, MAP_KEYS, RESIDUAL, interval_text, map_short, map_title

__all__ = ["CLAIMS", "FAITHFULNESS", "PERCENTILES", "RANDOM_MAP", "FaithfulnessResult", "faithfulness"]

PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
RANDOM_MAP = "random"
SCORE = (
    "mean over k of (p(true class) after removing the k % least relevant pixels - after removing the "
    "k % most relevant), ROAD noisy linear imputation (grad-cam package)"
)

#: name -> (map, model that should use it, model that should not, what a positive value means)
CLAIMS = {
    DISTILLED: (
        DISTILLED,
        "student",
        "base",
        "removing the distilled regions hurts the student more than the base",
    ),
    RESIDUAL: (
        RESIDUAL,
        "base",
        "student",
        "removing the residual regions hurts the base more than the student",
    ),
}


def _difference_text(claim: str) -> str:
    key, uses, lacks, _ = CLAIMS[claim]
    return f"ROAD({uses}, {key} map) - ROAD({lacks}, {key} map)"


@dataclass(frozen=True)
class FaithfulnessResult:
    """ROAD scores per (map, model) with intervals, and the two claims with verdicts."""

    scores: dict[tuple[str, str], np.ndarray]  # (map, role) -> per-image score
    intervals: dict[tuple[str, str], Interval]
    claims: dict[str, tuple[Interval, str, str]]  # claim -> (difference interval, verdict, meaning)
    percentiles: tuple[int, ...]

    def rows(self) -> list[dict]:
        """Rows of ``faithfulness.csv``: map, model, score, ci_low, ci_high, n."""
        out = []
        for (key, role), interval in self.intervals.items():
            d = interval.as_dict()
            out.append(
                {
                    "map": key,
                    "model": role,
                    "score": d["mean"],
                    "ci_low": d["ci_low"],
                    "ci_high": d["ci_high"],
                    "n": d["n"],
                }
            )
        return out

    def as_dict(self) -> dict:
        return {
            "score": SCORE,
            "percentiles": list(self.percentiles),
            "claims": {
                name: {
                    "difference": _difference_text(name),
                    **interval.as_dict(),
                    "verdict": verdict_text,
                    "meaning_if_positive": meaning,
                }
                for name, (interval, verdict_text, meaning) in self.claims.items()
            },
        }


def faithfulness(
    models: Mapping[str, Any],
    normalized: Any,
    labels: Any,
    maps: Mapping[str, np.ndarray],
    *,
    percentiles: Sequence[int] = PERCENTILES,
    seed: int = 0,
    stop: StopToken | None = None,
) -> FaithfulnessResult:
    """ROAD of every map kind (plus a seeded random map) for every model, and UniCAM's claims."""
    from engine.evidence.road import road_scores

    some = next(iter(maps.values()))
    kinds = dict(maps) | {RANDOM_MAP: np.random.default_rng(seed + 1).random(some.shape).astype(np.float32)}
    scores: dict[tuple[str, str], np.ndarray] = {}
    for key, value in kinds.items():
        for role, score in road_scores(
            models, normalized, labels, value, percentiles=percentiles, seed=seed, stop=stop
        ).items():
            scores[(key, role)] = score
    intervals = {pair: bootstrap_mean(values, seed=seed) for pair, values in scores.items()}
    claims = {}
    for name, (key, uses, lacks, meaning) in CLAIMS.items():
        if (key, uses) in scores and (key, lacks) in scores:
            interval = paired_difference(scores[(key, uses)], scores[(key, lacks)], seed=seed)
            claims[name] = (interval, verdict(interval), meaning)
    return FaithfulnessResult(scores, intervals, claims, tuple(percentiles))


# ---- the evidence kind -------------------------------------------------------------------------


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    positions = context.sets.get("faithfulness")
    if positions is None:
        return None
    wanted = (DISTILLED, RESIDUAL) if context.training else MAP_KEYS  # training: the claims' maps
    maps = context.explain(positions, maps=wanted)
    if not context.group.leader:
        return None
    result = faithfulness(
        context.trio,
        context.prepare(context.data.images[positions]),
        context.labels[positions],
        maps,
        percentiles=settings["percentiles"],
        seed=context.seed,
        stop=context.stop,
    )
    return Outcome(result.as_dict(), result.rows(), images=positions.tolist())


def _claims(summary: Mapping[str, Any]) -> list[Claim]:
    return summary_claims("faithfulness", summary)


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [map_title(r["map"]), r["model"], interval_text(r["score"], r["ci_low"], r["ci_high"]), r["n"]]
        for r in table.rows
    ]
    return ["map", "model", "ROAD [95 % interval]", "n"], rows


def _plot(table: Evidence) -> IntervalPlot | None:
    if not table.rows:
        return None
    keys = list(dict.fromkeys(r["map"] for r in table.rows))
    cell = {(r["map"], r["model"]): (r["score"], r["ci_low"], r["ci_high"]) for r in table.rows}
    models = list(dict.fromkeys(r["model"] for r in table.rows))
    return IntervalPlot(
        title="Faithfulness: ROAD score per map and model",
        categories=tuple(map_title(k) for k in keys),
        short=tuple(map_short(k) for k in keys),
        series={m: [cell.get((k, m), (None, None, None)) for k in keys] for m in models},
        y_label="ROAD score (p LeRF − p MoRF)",
        reference=0.0,
    )


def _study(table: Evidence) -> dict[str, tuple[float, bool]]:
    values = {f"ROAD {r['map']} on {r['model']}": (study_number(r["score"]), False) for r in table.rows}
    return values | claim_study_values("faithfulness", _claims(table.summary))


FAITHFULNESS = register_evidence(
    EvidenceKind(
        name="faithfulness",
        title="Faithfulness (ROAD)",
        description=(
            "Whether removing what a map points at hurts the model that should use it: "
            f"{SCORE}; higher is more faithful, a random map is the baseline."
        ),
        run=_run,
        columns=("map", "model", "score", "ci_low", "ci_high", "n"),
        table=_table,
        options=(
            Option("n", 64, "held-out images for ROAD", training=16),
            Option(
                "percentiles",
                PERCENTILES,
                "pixel percentages removed, e.g. 10,20,...,90",
                training=(20, 50, 80),
                low=1,
                high=99,
                many=True,
                train_key="evidence_percentiles",
            ),
        ),
        claims=_claims,
        plot=_plot,
        study=_study,
        seed_offset=12,
    )
)
