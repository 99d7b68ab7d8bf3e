"""The HTML report's tables (:mod:`engine.reports.html`): UniCAM's claims with coloured verdicts,
FSS/RS per layer, and the evidence tables, each value with its interval. Every text is escaped;
numbers (with their intervals) are right-aligned."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from engine.events import Evidence, MetricsRow
from engine.vocab import MAP_TITLES

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


def _interval(mean: Any, low: Any, high: Any) -> str:
    if mean is None:
        return "n/a"
    if low is None or high is None:
        return f"{_num(mean)} (no interval)"
    return f"{_num(mean)} [{_num(low)}, {_num(high)}]"


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


def _title(key: Any) -> str:
    return MAP_TITLES.get(str(key), str(key))


def claims_table(tables: dict[str, Evidence]) -> str:
    rows = []
    for name, c in (
        tables.get("faithfulness").summary.get("claims", {}) if "faithfulness" in tables else {}
    ).items():
        rows.append(
            [
                f"faithfulness ({name})",
                c.get("difference", ""),
                _interval(c["mean"], c["ci_low"], c["ci_high"]),
                _verdict(c["verdict"]),
                c.get("meaning_if_positive", ""),
            ]
        )
    local = tables.get("localisation")
    for name, d in (local.summary.get("differences", {}) if local is not None else {}).items():
        rows.append(
            [
                f"localisation ({name})",
                name,
                _interval(d["mean"], d["ci_low"], d["ci_high"]),
                _verdict(d["verdict"]),
                d.get("claim", ""),
            ]
        )
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
        out.append([metric, *(_interval(r.mean, r.low, r.high) if r else "" for r in picked)])
    samples = max((row.samples for row in rows), default=0)
    note = f'<p class="note">mean [5 %, 95 %] over class-balanced subsamples of {samples} images.</p>'
    return note + table(["metric", *layers], out)


def evidence_tables(tables: dict[str, Evidence]) -> str:
    parts = []
    local = tables.get("localisation")
    if local is not None and "note" in local.summary:
        parts.append(f'<p class="note">Localisation: {escape(local.summary["note"])}.</p>')
    elif local is not None:
        verdicts = {name: _verdict(d["verdict"]) for name, d in local.summary.get("differences", {}).items()}
        parts.append(
            "<h3>Localisation</h3>"
            + table(
                ["map", "share on the object [95 % interval]", "chance", "n", "verdict"],
                [
                    [
                        _title(r["map"]),
                        _interval(r["mean"], r["ci_low"], r["ci_high"]),
                        "" if r["map"] in verdicts else _num(r["chance"]),
                        str(r["n"]),
                        verdicts.get(r["map"], ""),
                    ]
                    for r in local.rows
                ],
                raw=(False, False, False, False, True),
            )
        )
    faithful = tables.get("faithfulness")
    if faithful is not None:
        parts.append(
            "<h3>Faithfulness (ROAD)</h3>"
            + f'<p class="note">{escape(faithful.summary.get("score", ""))}</p>'
            + table(
                ["map", "model", "ROAD [95 % interval]", "n"],
                [
                    [
                        _title(r["map"]),
                        r["model"],
                        _interval(r["score"], r["ci_low"], r["ci_high"]),
                        str(r["n"]),
                    ]
                    for r in faithful.rows
                ],
            )
        )
    sanity = tables.get("sanity")
    if sanity is not None:
        parts.append(
            "<h3>Sanity check (cascading randomisation)</h3>"
            + table(
                ["step", "re-initialised", "map", "Spearman [95 % interval]", "n"],
                [
                    [
                        str(r["step"]),
                        r["randomised"],
                        _title(r["map"]),
                        _interval(r["spearman"], r["ci_low"], r["ci_high"]),
                        str(r["n"]),
                    ]
                    for r in sanity.rows
                ],
            )
        )
    return "".join(parts) or '<p class="note">No evidence in this folder.</p>'


def latest_evidence(evidence: Sequence[Evidence]) -> dict[str, Evidence]:
    """The latest table of each kind."""
    out: dict[str, Evidence] = {}
    for table in evidence:
        if table.kind not in out or table.epoch >= out[table.kind].epoch:
            out[table.kind] = table
    return out
