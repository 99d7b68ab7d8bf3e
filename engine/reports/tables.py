"""The HTML report's tables (:mod:`engine.reports.html`): the claims of every evidence kind with
coloured verdicts, FSS/RS per layer, and each kind's table as its registry record draws it
(:mod:`engine.evidence.registry`), each value with its interval. Every text is escaped; numbers
(with their intervals) are right-aligned."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from engine.events import Evidence, MetricsRow
from engine.evidence.registry import claims_of, evidence_kinds
from engine.vocab import interval_text

__all__ = ["claims_table", "escape", "evidence_tables", "latest_evidence", "metrics_table", "table"]

VERDICT_CLASS = {"supported": "supported", "not supported": "refuted", "inconclusive": "inconclusive"}


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    try:
        return f"{float(value):+.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _verdict(text: str) -> str:
    return f'<span class="{VERDICT_CLASS.get(text, "inconclusive")}">{escape(text)}</span>'


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|n/a)( \[[^\]]*\]| \(no interval\))?")


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[str]], raw: Sequence[bool] = ()) -> str:
    """A table (no header row when ``headers`` is None); cells are escaped unless ``raw[i]`` says
    the column holds markup made here; numbers (with their intervals) are right-aligned."""
    head = (
        ""
        if headers is None
        else "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr></thead>"
    )
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            markup = i < len(raw) and raw[i]
            numeric = not markup and _NUMBER.fullmatch(str(cell)) is not None
            cells.append(f"<td{' class=num' if numeric else ''}>{cell if markup else escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def claims_table(tables: dict[str, Evidence]) -> str:
    """Every kind's claims: the difference, its 95 % interval, the verdict and what it means."""
    rows = [
        [f"{c.kind} ({c.name})", c.difference, c.interval_text(), _verdict(c.verdict), c.meaning]
        for c in claims_of(tables)
    ]
    if not rows:
        return '<p class="note">No claims were tested (the evidence was skipped or not computed yet).</p>'
    headers = ("claim", "difference", "mean [95 % interval]", "verdict", "what a positive value means")
    return table(headers, rows, raw=(False, False, False, True, False))


def metrics_table(rows: Sequence[MetricsRow]) -> str:
    layers = list(dict.fromkeys(row.layer for row in rows))
    cell = {(row.metric, row.layer): row for row in rows}
    out = []
    for metric in dict.fromkeys(row.metric for row in rows):
        picked = [cell.get((metric, layer)) for layer in layers]
        out.append([metric, *(interval_text(r.mean, r.low, r.high) if r else "" for r in picked)])
    samples = max((row.samples for row in rows), default=0)
    note = f'<p class="note">mean [5 %, 95 %] over class-balanced subsamples of {samples} images.</p>'
    return note + table(["metric", *layers], out)


def _cell(value: Any, is_verdict: bool) -> str:
    if value is None:
        return "n/a"
    if is_verdict:
        return _verdict(value) if value else ""
    return _num(value) if isinstance(value, float) else str(value)


def evidence_tables(tables: dict[str, Evidence]) -> str:
    """One section per kind present: its title, what it measures and its table (or why it has none)."""
    parts = []
    for kind in evidence_kinds():
        shown = tables.get(kind.name)
        if shown is None:
            continue
        if "note" in shown.summary:
            parts.append(f'<p class="note">{escape(kind.title)}: {escape(shown.summary["note"])}.</p>')
            continue
        headers, rows = kind.table(shown)
        verdicts = [h == "verdict" for h in headers]
        cells = [[_cell(c, v) for c, v in zip(r, verdicts, strict=True)] for r in rows]
        lead = f"<p><b>{escape(kind.headline(shown.summary))}</b></p>" if kind.headline else ""
        parts.append(
            f"<h3>{escape(kind.title)}</h3>"
            + f'<p class="note">{escape(kind.description)}</p>'
            + lead
            + table(headers, cells, raw=verdicts)
        )
    return "".join(parts) or '<p class="note">No evidence in this folder.</p>'


def latest_evidence(evidence: Sequence[Evidence]) -> dict[str, Evidence]:
    """The latest table of each kind."""
    out: dict[str, Evidence] = {}
    for table in evidence:
        if table.kind not in out or table.epoch >= out[table.kind].epoch:
            out[table.kind] = table
    return out
