"""Export what is on screen: the heatmap figure (PNG, SVG), the maps (.npz, in the one frame codec
of ``engine.frames``), the metrics (CSV, JSON) and a manifest saying what was computed and how
(run, epoch, context batch, display)."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QWidget

from engine.errors import KDLensError
from engine.events import MetricsRow, ProbeFrame
from engine.frames import write_probe_frame
from gui.model.options import DisplayOptions


class ExportError(KDLensError):
    """The export folder cannot be written."""


def export_figure(widget: QWidget, png_path: Path, svg_path: Path) -> None:
    """The figure as shown: pixels (PNG) and vectors with the heatmaps embedded as images (SVG)."""
    if not widget.grab().save(str(png_path), "PNG"):
        raise ExportError(f"could not write {png_path}; check the folder is writable")
    generator = QSvgGenerator()
    generator.setFileName(str(svg_path))
    generator.setSize(widget.size())
    generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    generator.setTitle("KD Lens heatmaps")
    painter = QPainter(generator)
    try:
        widget.render(painter)
    finally:
        painter.end()
    if not svg_path.is_file():
        raise ExportError(f"could not write {svg_path}; check the folder is writable")


def export_metrics(rows: list[MetricsRow], csv_path: Path, json_path: Path) -> None:
    fields = ["epoch", "layer", "metric", "mean", "low", "high", "samples"]
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    values = [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in asdict(r).items()}
        for r in rows
    ]
    json_path.write_text(json.dumps(values, indent=1) + "\n", encoding="utf-8")


def export_all(
    folder: str | Path,
    *,
    frame: ProbeFrame | None,
    rows: list[MetricsRow],
    run_dir: str | None,
    options: DisplayOptions,
    figure_widget: QWidget,
) -> list[Path]:
    """Write figure, maps, metrics and ``manifest.json`` into ``folder``; returns the files written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {folder}: {exc.strerror}") from None
    written: list[Path] = []
    tag = f"epoch_{frame.epoch:04d}" if frame is not None else "no_frame"
    if frame is not None:
        png, svg, npz = (
            folder / f"heatmaps_{tag}.png",
            folder / f"heatmaps_{tag}.svg",
            folder / f"maps_{tag}.npz",
        )
        export_figure(figure_widget, png, svg)
        write_probe_frame(npz, frame)
        written += [png, svg, npz]
    if rows:
        csv_path, json_path = folder / "metrics.csv", folder / "metrics.json"
        export_metrics(rows, csv_path, json_path)
        written += [csv_path, json_path]
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": run_dir,
        "config": _run_config(run_dir),
        "epoch": None if frame is None else frame.epoch,
        "maps": sorted(frame.maps) if frame is not None else [],
        "probe_indices": None
        if frame is None or frame.indices is None
        else np.asarray(frame.indices).tolist(),
        "frame_flags": {} if frame is None else _plain(frame.flags),
        "display": asdict(options),
        "metrics_rows": len(rows),
        "files": [p.name for p in written],
        "notes": "maps: per-image min-max normalised Grad-CAM/UniCAM; raw: unnormalised; "
        "signed: before ReLU. Metrics: mean and 5-95 % band over class-balanced subsamples (SPEC §4).",
    }
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return [*written, manifest_path]


def _run_config(run_dir: str | None) -> Any:
    if run_dir is None:
        return None
    path = Path(run_dir) / "config.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """JSON-safe copy of frame flags (numpy scalars and arrays become lists and numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
