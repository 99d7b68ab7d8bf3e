"""The analysis report folder (SPEC §9), written in one place.

Layout::

    metrics.csv / metrics.json    FSS/RS per layer with their 5-95 % bands (+ probe-set localisation)
    maps/probe_000.npz            one probe image's frame, in the one frame codec (engine.frames)
    overlays/probe_000.png        the input and every map overlaid, side by side
    <kind>.csv / <kind>.json      each evidence kind's rows and summary (engine.evidence.registry):
                                  localisation (share of each map on the object, chance, verdicts),
                                  faithfulness (ROAD per map and model, UniCAM's claims), sanity
                                  (cascading randomisation, rank correlation per step; csv only)
    manifest.json                 what was computed, from what, and how to reproduce it
    index.html                    all of it on one self-contained page (engine.reports.html)
"""

from __future__ import annotations

import csv
import io
import json
import platform
import shutil
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import __version__
from engine.atomic import atomic_rename, atomic_write_text, writable_folder
from engine.events import Evidence, MetricsRow, ProbeFrame
from engine.evidence.registry import get_kind
from engine.frames import slice_frame, write_probe_frame
from engine.metrics import localisation_share, summarize
from engine.render import figure_row, save_png
from engine.reports.folder import check_report_out
from engine.reports.html import write_analysis_html
from engine.vocab import MAP_KEYS

__all__ = ["METRIC_FIELDS", "probe_stem", "write_report"]

METRIC_FIELDS = ("layer", "metric", "mean", "p5", "p95", "subsample")


def probe_stem(position: int) -> str:
    """File stem of the ``position``-th probe image's map and overlay files."""
    return f"probe_{position:03d}"


def write_report(
    out: Path,
    frame: ProbeFrame,
    rows: list[MetricsRow],
    manifest: dict[str, Any],
    evidence: list[Evidence] | None = None,
) -> dict:
    """Write metrics, per-image maps and overlays of ``frame``, the ``evidence`` tables (None: not
    computed) and ``manifest`` (completed with versions, time and the files' meaning) into
    ``out``; return a short summary.

    ``out`` must be absent, empty or a previous report (:func:`check_report_out`). The report is
    written into a temporary folder next to it and then swapped in, so a previous report is
    replaced whole (no stale maps beside a new manifest) and a failed write leaves it as it was.
    """
    out = Path(out).expanduser()
    replacing = check_report_out(out)
    if replacing:
        writable_folder(out.parent, "the folder that holds the report folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    try:  # the folder keeps ``out``'s name inside the staging folder: index.html is titled by it
        summary = _write_report_files(staging / out.name, frame, rows, manifest, evidence)
        _swap_in(staging / out.name, out, replacing)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary


def _swap_in(new: Path, out: Path, replacing: bool) -> None:
    """Move the finished report ``new`` onto ``out``; a previous report (or an empty folder) is
    moved aside first and removed only once the new one is in place."""
    aside = None
    if out.exists():
        aside = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.old"
        atomic_rename(out, aside)
    atomic_rename(new, out)
    if aside is not None and replacing:
        shutil.rmtree(aside)
    elif aside is not None:
        aside.rmdir()  # it was empty


def _write_report_files(
    out: Path, frame: ProbeFrame, rows: list[MetricsRow], manifest: dict[str, Any], evidence
) -> dict:
    out.mkdir(parents=True)
    if evidence is not None:
        _write_evidence(out, evidence)
    localisation = _localisation(frame)
    atomic_write_text(out / "metrics.csv", _metrics_csv(rows))
    metrics_json = [dict(zip(METRIC_FIELDS, _values(r, _json_num), strict=True)) for r in rows]
    atomic_write_text(
        out / "metrics.json", json.dumps({"metrics": metrics_json, "localisation": localisation}, indent=2)
    )
    for position, index in enumerate(np.asarray(frame.indices)):
        stem = probe_stem(position)
        single = slice_frame(frame, [position])
        write_probe_frame(out / "maps" / f"{stem}.npz", single)
        label = frame.class_names[int(frame.labels[position])]
        preds = ", ".join(
            f"{role[0].upper()}:{frame.class_names[int(p[0].argmax())]}"
            for role, p in single.predictions.items()
        )
        picture = figure_row(
            single.images[0],
            {key: single.maps[key][0] for key in MAP_KEYS if key in single.maps},
            scale=max(1, 96 // frame.images.shape[1]),
            caption=f"#{index} label {label}; predicted {preds}",
        )
        save_png(picture, out / "overlays" / f"{stem}.png")
    full = {
        "kdlens": __version__,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **manifest,
        "maps_format": "maps/*.npz: one probe image each, engine.frames codec (decode_probe_frame)",
    }
    atomic_write_text(out / "manifest.json", json.dumps(full, indent=2, default=_plain))
    write_analysis_html(out, frame, rows, evidence, json.loads(json.dumps(full, default=_plain)))
    return {"metrics": len(rows), "probe_images": len(frame.indices), "localisation": localisation}


def _write_evidence(out: Path, evidence: list[Evidence]) -> None:
    """Each table as its kind's ``<kind>.csv`` (its columns) and ``<kind>.json`` (its summary);
    a kind that could not run left a note, which the manifest keeps."""
    for table in evidence:
        kind = get_kind(table.kind)
        if kind is None or "note" in table.summary:
            continue
        atomic_write_text(out / f"{kind.name}.csv", _csv(list(table.rows), kind.columns))
        if kind.summary_file:
            atomic_write_text(out / f"{kind.name}.json", json.dumps(table.summary, indent=2))


def _csv(rows: list[dict], fields: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "n/a" if row.get(key) is None else row[key] for key in fields})
    return buffer.getvalue()


def _localisation(frame: ProbeFrame) -> dict[str, dict[str, float | None]]:
    if frame.masks is None:
        return {}
    result = {}
    for name, maps in frame.maps.items():
        mean, low, high = summarize(localisation_share(maps, frame.masks))
        result[name] = {"mean": _json_num(mean), "p5": _json_num(low), "p95": _json_num(high)}
    return result


def _metrics_csv(rows: list[MetricsRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(METRIC_FIELDS)
    for row in rows:
        writer.writerow(_values(row, _csv_num))
    return buffer.getvalue()


def _values(row: MetricsRow, number) -> list:
    return [row.layer, row.metric, number(row.mean), number(row.low), number(row.high), row.samples]


def _csv_num(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.6f}"


def _json_num(value: float) -> float | None:
    return None if not np.isfinite(value) else round(float(value), 6)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"cannot store {type(value).__name__} in manifest.json")
