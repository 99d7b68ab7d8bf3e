"""Export what is on screen as files fit for a paper: the heatmap figure and every plot the
window shows (loss, accuracy, FSS/RS, each kind of evidence), each as a PNG at the chosen DPI, an
SVG and a PDF drawn by the HTML report's matplotlib code at a fixed size (a paper's column, the
heatmaps its full width: :mod:`engine.reports.figure_style`), never grabbed from the screen, so
the window's size changes nothing; the maps (.npz, in the one frame codec of ``engine.frames``),
the metrics (CSV, JSON) and a manifest saying what was computed and how (run, epoch, context
batch, display, figure sizes)."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from engine.atomic import FileWriteError
from engine.errors import KDLensError
from engine.events import MetricsRow, ProbeFrame
from engine.frames import write_probe_frame
from engine.reports.figure_files import FIGURE_FORMATS, save_figure
from engine.reports.figure_style import COLUMN, TWO_COLUMN
from engine.reports.plot_figures import plot_figure
from engine.reports.plot_specs import Plot
from gui.figure import heatmaps_figure
from gui.model.options import DisplayOptions

__all__ = ["DEFAULT_DPI", "ExportError", "NothingToExportError", "export_all", "export_figures"]

DEFAULT_DPI = 200


class ExportError(KDLensError):
    """The export folder cannot be written, or there is nothing to export."""


class NothingToExportError(ExportError):
    """No heatmap frame yet."""


NOTHING_TO_EXPORT = (
    "Nothing to export yet: the heatmaps, plots and metrics can be exported once the first epoch's "
    "heatmaps are shown."
)


def export_figures(
    folder: Path, frame: ProbeFrame, options: DisplayOptions, plots: Mapping[str, Plot], dpi: int
) -> list[Path]:
    """The heatmap figure and every plot (file stem -> plot data) as PNG, SVG and PDF."""
    try:
        written = save_figure(
            heatmaps_figure(frame, options), folder, f"heatmaps_epoch_{frame.epoch:04d}", dpi
        )
        for stem, spec in plots.items():
            written += save_figure(plot_figure(spec, COLUMN), folder, stem, dpi)
    except FileWriteError as exc:
        raise ExportError(f"{exc}; check the folder is writable") from None
    return written


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
    plots: Mapping[str, Plot] | None = None,
    dpi: int = DEFAULT_DPI,
) -> list[Path]:
    """Write the heatmap figure, the plots that have data (``plots``: file stem -> plot data, as
    the panels' ``export_plots()`` give them), the maps, the metrics and ``manifest.json`` (with
    the run's ``config``, as the model read it) into ``folder`` (created if missing); returns the
    files written. Raises :class:`NothingToExportError` before any heatmap frame exists."""
    if frame is None:
        raise NothingToExportError(NOTHING_TO_EXPORT)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the export folder {folder}: {exc.strerror}") from None
    written = export_figures(folder, frame, options, plots or {}, dpi)
    npz = folder / f"maps_epoch_{frame.epoch:04d}.npz"
    write_probe_frame(npz, frame)
    written.append(npz)
    if rows:
        csv_path, json_path = folder / "metrics.csv", folder / "metrics.json"
        export_metrics(rows, csv_path, json_path)
        written += [csv_path, json_path]
    manifest_path = folder / "manifest.json"
    manifest = _manifest(frame, rows, run_dir, config, options, dpi, [*written, manifest_path])
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return [*written, manifest_path]


def _manifest(
    frame: ProbeFrame, rows: list[MetricsRow], run_dir, config, options, dpi: int, files: list[Path]
) -> dict[str, Any]:
    """What was exported and how: the run, the epoch, the probe set, the display and the figures."""
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_dir": run_dir,
        "config": config,
        "epoch": frame.epoch,
        "maps": sorted(frame.maps),
        "probe_indices": None if frame.indices is None else np.asarray(frame.indices).tolist(),
        "frame_flags": _plain(frame.flags),
        "display": asdict(options),
        "figures": {
            "formats": list(FIGURE_FORMATS),
            "png_dpi": dpi,
            "plot_size_inches": [COLUMN.width, COLUMN.height],
            "heatmaps_width_inches": TWO_COLUMN.width,
        },
        "metrics_rows": len(rows),
        "files": [p.name for p in files],
        "notes": "maps: per-image min-max normalised Grad-CAM/UniCAM; raw: unnormalised; "
        "signed: before ReLU. Metrics: mean and 5-95 % band over class-balanced subsamples of the "
        "metrics set.",
    }


def _plain(value: Any) -> Any:
    """JSON-safe copy of frame flags (numpy scalars and arrays become lists and numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
