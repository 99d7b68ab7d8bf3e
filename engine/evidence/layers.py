"""Which student layer carries which teacher layer: the layer x layer map (SPEC §11), as an
evidence kind read off the FSS/RS stage's own N x N distance matrices (no extra forward pass).

For taps i of model M1 and j of model M2: R*(F_i^M1, F_j^M2), on the very class-balanced
subsamples the metrics use, so the cells of aligned taps equal the per-layer FSS the metrics
report; and linear CKA, debiased (the unbiased HSIC of Song et al. 2012, as in Kornblith et al.
2019's debiased CKA): the same U-centred inner product applied to Gram matrices K = F Fᵀ. U-centring
ignores terms that depend on the row or the column alone, and -½ D² differs from K by such terms
(D² the squared distances), so Ũ(K) = -½ Ũ(D²) and CKA is R* computed on the squared distances.

Pairs: teacher x student, teacher x base (the two maps shown side by side on one scale), student
x base, and teacher x assistant where there is one. ``layers.csv``: ``pair``, ``row`` (the first
model's tap), ``column`` (the second's), ``measure`` (``R*`` or ``CKA``), ``mean``, ``p5``,
``p95`` (the 5-95 % band over subsamples), ``n`` (images per subsample).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.events import Evidence
from engine.evidence.registry import EvidenceKind, MatrixPlot, Outcome, register_evidence, study_number
from engine.vocab import ROLE_LETTERS, interval_text

__all__ = ["LAYERS", "PAIRS", "layer_map"]

#: (rows, columns): the teacher's taps down, the other model's across.
PAIRS = (("teacher", "student"), ("teacher", "base"), ("base", "student"), ("teacher", "assistant"))
MEASURES = ("R*", "CKA")
NEEDS = "the layer x layer map is read off the FSS/RS metrics, which this run did not compute"


def pair_name(first: str, second: str) -> str:
    return f"{ROLE_LETTERS[first]} x {ROLE_LETTERS[second]}"


def layer_map(matrices, roles_present) -> list[dict[str, Any]]:
    """The rows of ``layers.csv`` from the metrics' :class:`engine.evidence.context.MetricsMatrices`."""
    from engine import stats
    from engine.metric_kinds import summarize

    pairs = [(a, b) for a, b in PAIRS if a in roles_present and b in roles_present]
    taps = {role: list(dict.fromkeys(matrices.taps[role])) for role in roles_present}
    values: dict[tuple, list[float]] = {}
    for ix in matrices.draws:
        n = len(ix)
        for measure in MEASURES:
            u = {}
            for role in roles_present:
                for tap in taps[role]:
                    sub = matrices.distances[role][tap].values[ix][:, ix]
                    u[role, tap] = stats.u_centered(sub if measure == "R*" else sub * sub, check=False)
            own = {key: (m * m).sum() for key, m in u.items()}
            for a, b in pairs:
                for row in taps[a]:
                    for column in taps[b]:
                        ab = (u[a, row] * u[b, column]).sum()
                        value = stats.correlation_from_sums(ab, own[a, row], own[b, column], n)
                        values.setdefault((pair_name(a, b), row, column, measure), []).append(float(value))
    size = len(matrices.draws[0]) if matrices.draws else 0
    rows = []
    for (pair, row, column, measure), samples in values.items():
        mean, low, high = summarize(samples)
        cells = _cells(mean, low, high)
        rows.append({"pair": pair, "row": row, "column": column, "measure": measure, **cells, "n": size})
    return rows


def _cells(mean: float, low: float, high: float) -> dict[str, float | None]:
    def plain(value: float) -> float | None:
        return round(float(value), 6) if np.isfinite(value) else None

    return {"mean": plain(mean), "p5": plain(low), "p95": plain(high)}


# ---- the evidence kind -------------------------------------------------------------------------


def _run(context, settings: Mapping[str, Any]) -> Outcome | None:
    if not context.group.leader:
        return None
    if context.metrics is None:
        return Outcome(note=NEEDS)
    roles = [role for role in ROLE_LETTERS if role in context.metrics.distances]
    rows = layer_map(context.metrics, roles)
    summary = {
        "taps": {role: list(dict.fromkeys(context.metrics.taps[role])) for role in roles},
        "measures": {
            "R*": "bias-corrected squared distance correlation of the two layers' features",
            "CKA": "linear CKA, debiased (unbiased HSIC, Song et al. 2012)",
        },
        "band": "mean and 5-95 % band over the metrics' class-balanced subsamples",
    }
    return Outcome(summary, rows)


def _table(table: Evidence) -> tuple[list[str], list[list[Any]]]:
    """One line per pair, measure and row tap; its cells "column tap: mean [5 %, 95 %]"."""
    lines: dict[tuple, list[str]] = {}
    for r in table.rows:
        cell = f"{r['column']}: {interval_text(r['mean'], r['p5'], r['p95'])}"
        lines.setdefault((r["pair"], r["measure"], r["row"]), []).append(cell)
    width = max((len(cells) for cells in lines.values()), default=0)
    rows = [[*key, *cells, *[""] * (width - len(cells))] for key, cells in lines.items()]
    return ["models", "measure", "row layer", *(f"column layer {i + 1}" for i in range(width))], rows


def matrix(table: Evidence, pair: str, measure: str) -> tuple[list[str], list[str], list[list[Any]]]:
    """(row taps, column taps, mean values) of one pair and measure."""
    picked = [r for r in table.rows if r["pair"] == pair and r["measure"] == measure]
    rows = list(dict.fromkeys(r["row"] for r in picked))
    columns = list(dict.fromkeys(r["column"] for r in picked))
    cell = {(r["row"], r["column"]): r["mean"] for r in picked}
    return rows, columns, [[cell.get((row, column)) for column in columns] for row in rows]


def _plot(table: Evidence) -> MatrixPlot | None:
    pairs = [pair_name(*p) for p in PAIRS[:2] if any(r["pair"] == pair_name(*p) for r in table.rows)]
    if not pairs:
        return None
    return MatrixPlot(
        title="Layer x layer R* (rows: the teacher's taps)",
        panels={pair: matrix(table, pair, "R*") for pair in pairs},
        value_label="R* (bias-corrected dCor²)",
    )


LAYERS = register_evidence(
    EvidenceKind(
        name="layers",
        title="Layer x layer map",
        description=(
            "R* between every layer tap of the teacher and every tap of the student and of the base, read "
            "off the metrics' distance matrices on their subsamples (aligned taps equal the per-layer FSS), "
            "with linear CKA (debiased) beside it; the two maps share one scale."
        ),
        run=_run,
        columns=("pair", "row", "column", "measure", "mean", "p5", "p95", "n"),
        table=_table,
        plot=_plot,
        study=lambda t: {
            f"layers R* {r['pair']} {r['row']} x {r['column']}": (study_number(r["mean"]), False)
            for r in t.rows
            if r["measure"] == "R*"
        },
        uses_embeddings=False,
        place="metrics",
    )
)
