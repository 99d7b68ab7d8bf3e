"""The sanity check as an evidence kind (Adebayo et al., NeurIPS 2018, cascading randomisation;
SPEC §10; the maths in :mod:`engine.evidence.randomisation`): the student's stages are
re-initialised from the top down, and at each step the rank correlation of its distilled map
with the original is reported, per image, with the student's Grad-CAM beside it. A faithful map
decorrelates as the weights are destroyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.events import Evidence
from engine.evidence.registry import EvidenceKind, LinePlot, Option, Outcome, register_evidence
from engine.vocab import DISTILLED, gradcam_key, interval_text, map_title

__all__ = ["SANITY", "SANITY_SUMMARY"]

SANITY_SUMMARY = {"map": DISTILLED, "reference": gradcam_key("student")}


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    positions = context.sets.get("sanity")
    trio = context.trio
    if positions is None or not context.group.leader or "student" not in trio or "base" not in trio:
        return None
    from engine.evidence.randomisation import cascading_randomisation

    steps = cascading_randomisation(
        trio["student"],
        trio["base"],
        context.specs["student"],
        context.specs["base"],
        context.prepare(context.data.images[positions]),
        context.labels[positions],
        batch_size=context.batch_size,
        seed=context.seed,
        stop=context.stop,
    )
    rows = [row for step in steps for row in step.rows()]
    return Outcome(dict(SANITY_SUMMARY), rows, images=positions.tolist())


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    rows = [
        [
            r["step"],
            r["randomised"],
            map_title(r["map"]),
            interval_text(r["spearman"], r["ci_low"], r["ci_high"]),
            r["n"],
        ]
        for r in table.rows
    ]
    return ["step", "re-initialised", "map", "Spearman [95 % interval]", "n"], rows


def _plot(table: Evidence) -> LinePlot | None:
    if not table.rows:
        return None
    series = {}
    for key in dict.fromkeys(r["map"] for r in table.rows):
        picked = [r for r in table.rows if r["map"] == key]
        series[map_title(key)] = tuple(
            [r[field] for r in picked] for field in ("step", "spearman", "ci_low", "ci_high")
        )
    return LinePlot(
        title="Sanity: rank correlation with the original map",
        series=series,
        x_label="stages re-initialised, top down",
        y_label="Spearman rank correlation",
    )


SANITY = register_evidence(
    EvidenceKind(
        name="sanity",
        title="Sanity check (cascading randomisation)",
        description=(
            "The student's stages re-initialised from the top down: the rank correlation of its "
            "distilled map (and its Grad-CAM) with the original, per step. A faithful map decorrelates."
        ),
        run=_run,
        columns=("step", "randomised", "map", "spearman", "ci_low", "ci_high", "n"),
        table=_table,
        options=(Option("n", 16, "held-out images for the sanity check", earlier="probe_size"),),
        plot=_plot,
        study=lambda _table: {},
        summary_file=False,
        default_summary=SANITY_SUMMARY,
        seed_offset=13,
    )
)
