"""``index.html``: a report you can open anywhere, offline (SPEC §9, §10).

One self-contained file: the figures (matplotlib, :mod:`engine.reports.figures`) are inline PNGs,
the style sheet is inline, and nothing is fetched from anywhere (system fonts, no scripts). It
shows the key facts (models, data, sets, device), UniCAM's claims with their verdicts, the
overlay grid, FSS/RS per layer with the 5-95 % bands, and the evidence tables. Every text from
a file is escaped. An analysis writes it with its report (:func:`write_analysis_html`); a
finished training run gets one on request (:func:`write_run_html`, ``kdlens-cli report``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine import __version__
from engine.atomic import atomic_write_text
from engine.events import Evidence, MetricsRow, ProbeFrame
from engine.evidence.registry import evidence_kinds
from engine.reports.facts import analysis_facts, probe_rows, run_facts
from engine.reports.tables import (
    VERDICT_CLASS,
    claims_table,
    escape,
    evidence_tables,
    latest_evidence,
    metrics_table,
    table,
)
from engine.vocab import VERDICT_COLOURS

__all__ = ["INDEX", "render_html", "write_analysis_html", "write_html", "write_run_html"]

INDEX = "index.html"
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;
max-width:1280px;padding:0 16px;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.1em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#666;margin-top:0}table{border-collapse:collapse;margin:.6em 0 1em;font-size:.88em}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.6em 0}figcaption{color:#555;font-size:.9em}
img{max-width:100%;height:auto;border:1px solid #eee}.note{color:#555;font-size:.92em}
code{background:#f4f4f6;padding:0 3px;border-radius:3px}
""" + "".join(
    f".{css}{{color:{VERDICT_COLOURS[text]};font-weight:600}}" for text, css in VERDICT_CLASS.items()
)


def _figure(png: bytes | None, alt: str, caption: str) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def render_html(
    *,
    title: str,
    facts: Sequence[tuple[str, str]],
    frame: ProbeFrame | None,
    rows: Sequence[MetricsRow],
    evidence: Sequence[Evidence],
    files: Sequence[str] = (),
    caption: str = "",
) -> str:
    """The whole page as a string (every text escaped, every figure inline)."""
    from engine.reports.figures import evidence_intervals  # matplotlib: imported when a page is drawn

    tables = latest_evidence(evidence)
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">KD Lens {escape(__version__)} · written {time.strftime("%Y-%m-%d %H:%M")}</p>',
        "<h2>Key facts</h2>",
        table(None, [[k, v] for k, v in facts]),
        "<h2>Claims and verdicts</h2>",
        '<p class="note">A claim is stated only when its 95 % interval excludes zero: <span class=supported>'
        "supported</span> / <span class=refuted>not supported</span>; otherwise <span class=inconclusive>"
        "inconclusive</span>.</p>",
        claims_table(tables),
        *_heatmaps(frame, caption),
        *_metrics(rows),
        "<h2>Evidence</h2>",
        _figure(
            evidence_intervals(tables),
            "evidence intervals",
            "Each kind of evidence: means with 95 % bootstrap intervals over images (dashed: chance or "
            "zero), or curves with their 95 % bands.",
        ),
        evidence_tables(tables),
    ]
    if files:
        links = "".join(f'<li><a href="{escape(name)}">{escape(name)}</a></li>' for name in files)
        body += ["<h2>Files in this folder</h2>", f"<ul>{links}</ul>"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
        + "\n".join(part for part in body if part)
        + "\n</body></html>\n"
    )


def _heatmaps(frame: ProbeFrame | None, caption: str) -> list[str]:
    """The overlay grid of the probe images and each model's predictions of them."""
    from engine.reports.figures import overlay_grid

    if frame is None:
        return []
    return [
        "<h2>Heatmaps</h2>",
        _figure(
            overlay_grid(frame),
            "overlay grid",
            caption
            or "Each probe image (the UniCAM context batch), then every map overlaid (inferno, opacity "
            "growing with the value); cyan: the object's outline where masks exist.",
        ),
        table(["#", "label", *[f"{role} predicts" for role in frame.predictions]], probe_rows(frame)),
    ]


def _metrics(rows: Sequence[MetricsRow]) -> list[str]:
    """FSS / RS per layer at the last epoch with metrics, and over epochs at the deepest tap."""
    from engine.reports.figures import epoch_bands, layer_bands

    last = max((row.epoch for row in rows), default=None)
    shown = [row for row in rows if row.epoch == last]
    if not shown:
        return []
    deepest = shown[-1].layer
    epoch_note = f" at epoch {last}" if last else ""
    return [
        f"<h2>FSS and RS per layer{escape(epoch_note)}</h2>",
        _figure(layer_bands(shown), "FSS and RS per layer", "Mean over subsamples with the 5-95 % band."),
        _figure(
            epoch_bands(rows, deepest),
            "FSS and RS over epochs",
            f"Over epochs at {deepest}, with the 5-95 % band.",
        ),
        metrics_table(shown),
    ]


def _listing(folder: Path) -> list[str]:
    names = [
        "metrics.csv",
        "metrics.json",
        *(f"{kind.name}.csv" for kind in evidence_kinds()),
        "manifest.json",
        "config.json",
        "metrics.jsonl",
        "evidence.jsonl",
        "history.jsonl",
    ]
    return [name for name in names if (folder / name).is_file()]


def write_html(folder: str | Path, page: str) -> Path:
    """Write ``page`` as the folder's ``index.html`` (atomically)."""
    return atomic_write_text(Path(folder) / INDEX, page)


def write_analysis_html(
    out: str | Path,
    frame: ProbeFrame,
    rows: Sequence[MetricsRow],
    evidence: Sequence[Evidence] | None,
    manifest: dict[str, Any],
) -> Path:
    """An analysis report's ``index.html``; ``evidence``: its tables, or None (not computed)."""
    out = Path(out)
    tables = list(evidence or ())
    page = render_html(
        title=f"KD Lens analysis: {out.resolve().name}",
        facts=analysis_facts(manifest),
        frame=frame,
        rows=rows,
        evidence=tables,
        files=_listing(out),
    )
    return write_html(out, page)


def write_run_html(run_dir: str | Path) -> Path:
    """A training run's ``index.html``: its last epoch's probe frame, its metrics over epochs and
    per layer, its latest evidence, and its configuration's key facts."""
    from engine.runs.folder import RunDir
    from engine.vocab import KD_ROLES

    run = RunDir(run_dir)
    run.require_run()
    frames = [(epoch, path) for epoch, step, path in run.probe_files() if step is None]
    frame = None
    for _epoch, path in reversed(frames):  # the last epoch with base and student maps
        candidate = run.read_probe(path)
        if set(KD_ROLES) <= set(candidate.predictions):
            frame = candidate
            break
    page = render_html(
        title=f"KD Lens run: {run.path.resolve().name}",
        facts=run_facts(run),
        frame=frame,
        rows=run.read_metrics(),
        evidence=run.read_evidence(),
        files=_listing(run.path),
        caption="" if frame is None else f"The probe images at epoch {frame.epoch}, then every map overlaid.",
    )
    return write_html(run.path, page)
