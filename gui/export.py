"""Export what is on screen: the heatmap figure (PNG at a chosen DPI, SVG; drawn by
``gui.figure``, not grabbed from the screen), the loss/accuracy and metric plots (PNG, SVG), the
maps (.npz, in the one frame codec of ``engine.frames``), the metrics (CSV, JSON) and a manifest
saying what was computed and how (run, epoch, context batch, display)."""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsItem

from engine.errors import KDLensError
from engine.events import MetricsRow, ProbeFrame
from engine.frames import write_probe_frame
from gui.figure import save_figure_png, save_figure_svg, white_page
from gui.model.options import DisplayOptions

DEFAULT_DPI = 200
SCREEN_DPI = 96.0  # what one pixel of a plot on screen counts for when a DPI is chosen


class ExportError(KDLensError):
    """The export folder cannot be written, or there is nothing to export."""


class NothingToExportError(ExportError):
    """No heatmap frame yet."""


NOTHING_TO_EXPORT = (
    "Nothing to export yet: the heatmaps, plots and metrics can be exported once the first epoch's "
    "heatmaps are shown."
)


def export_figure(
    frame: ProbeFrame, options: DisplayOptions, png_path: Path, svg_path: Path, dpi: int
) -> None:
    """The heatmap figure as a PNG at ``dpi`` and as an SVG (one layout, see ``gui.figure``)."""
    if not save_figure_png(png_path, frame, options, dpi):
        raise ExportError(f"could not write {png_path}; check the folder is writable")
    save_figure_svg(svg_path, frame, options)
    if not svg_path.is_file():
        raise ExportError(f"could not write {svg_path}; check the folder is writable")


def export_plot(layout: pg.GraphicsLayout, png_path: Path, svg_path: Path, dpi: int) -> None:
    """One plot with its legend (a pyqtgraph layout on screen) as a PNG at ``dpi`` and an SVG."""
    scene = layout.scene()
    source = layout.sceneBoundingRect()
    axes = [item for item in scene.items() if isinstance(item, pg.AxisItem)]
    modes = [axis.cacheMode() for axis in axes]
    for axis in axes:  # draw the axes themselves, not their cached screen pixels
        axis.setCacheMode(QGraphicsItem.CacheMode.NoCache)
    try:
        scale = dpi / SCREEN_DPI
        image = white_page(int(source.width() * scale), int(source.height() * scale), dpi)
        painter = QPainter(image)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            scene.render(painter, QRectF(0, 0, image.width(), image.height()), source)
        finally:
            painter.end()
        if not image.save(str(png_path), "PNG"):
            raise ExportError(f"could not write {png_path}; check the folder is writable")
        generator = QSvgGenerator()
        generator.setFileName(str(svg_path))
        generator.setResolution(int(SCREEN_DPI))
        generator.setSize(QSize(int(source.width()), int(source.height())))
        generator.setViewBox(QRectF(0, 0, source.width(), source.height()))
        painter = QPainter(generator)
        try:
            scene.render(painter, QRectF(0, 0, source.width(), source.height()), source)
        finally:
            painter.end()
    finally:
        for axis, mode in zip(axes, modes, strict=True):
            axis.setCacheMode(mode)


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
    config: Any = None,
    options: DisplayOptions,
    plots: dict[str, pg.GraphicsLayout] | None = None,
    dpi: int = DEFAULT_DPI,
) -> list[Path]:
    """Write the heatmap figure, the plots that have data (``plots``: file stem -> layout), the
    maps, the metrics and ``manifest.json`` (with the run's ``config``, as the model read it)
    into ``folder`` (created if missing); returns the files written. Raises
    :class:`NothingToExportError` before any heatmap frame exists."""
    if frame is None:
        raise NothingToExportError(NOTHING_TO_EXPORT)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {folder}: {exc.strerror}") from None
    written: list[Path] = []
    tag = f"epoch_{frame.epoch:04d}"
    png, svg, npz = (
        folder / f"heatmaps_{tag}.png",
        folder / f"heatmaps_{tag}.svg",
        folder / f"maps_{tag}.npz",
    )
    export_figure(frame, options, png, svg, dpi)
    write_probe_frame(npz, frame)
    written += [png, svg, npz]
    for stem, layout in (plots or {}).items():
        plot_png, plot_svg = folder / f"{stem}.png", folder / f"{stem}.svg"
        export_plot(layout, plot_png, plot_svg, dpi)
        written += [plot_png, plot_svg]
    if rows:
        csv_path, json_path = folder / "metrics.csv", folder / "metrics.json"
        export_metrics(rows, csv_path, json_path)
        written += [csv_path, json_path]
    manifest = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": run_dir,
        "config": config,
        "epoch": frame.epoch,
        "maps": sorted(frame.maps),
        "probe_indices": None if frame.indices is None else np.asarray(frame.indices).tolist(),
        "frame_flags": _plain(frame.flags),
        "display": asdict(options),
        "figure_dpi": dpi,
        "metrics_rows": len(rows),
        "files": [p.name for p in written],
        "notes": "maps: per-image min-max normalised Grad-CAM/UniCAM; raw: unnormalised; "
        "signed: before ReLU. Metrics: mean and 5-95 % band over class-balanced subsamples (SPEC §4).",
    }
    manifest_path = folder / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return [*written, manifest_path]


def _plain(value: Any) -> Any:
    """JSON-safe copy of frame flags (numpy scalars and arrays become lists and numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
