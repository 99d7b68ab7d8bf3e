"""The HTML report's figures, drawn with matplotlib (no pyplot, no display, no global state) and
returned as PNG bytes: the overlay grid, FSS/RS per layer (or over epochs) with their 5-95 %
bands, and each evidence kind's plot as its registry record describes it.

The drawing is shared with the window's exported figures: plots come from
:mod:`engine.reports.plot_figures` (as data: :mod:`engine.reports.plot_specs`), grids from
:mod:`engine.reports.heatmap_figure`; the report draws them in its own style
(:data:`engine.reports.figure_style.REPORT`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from engine.events import Evidence, MetricsRow, ProbeFrame
from engine.render import lookup_table, overlay
from engine.reports.figure_style import REPORT
from engine.reports.heatmap_figure import ColourScale, HeatmapGrid, heatmap_figure
from engine.reports.plot_figures import draw_curves, draw_plot
from engine.reports.plot_specs import CurvePlot, epoch_plots, evidence_plots, layer_plots
from engine.vocab import MAP_KEYS, MAP_TITLES, OPTIONAL_MAP_KEYS

__all__ = ["epoch_bands", "evidence_intervals", "layer_bands", "map_keys", "overlay_grid"]

DPI = 110
CELL_INCHES = 1.15


def map_keys(frame: ProbeFrame) -> list[str]:
    """The frame's maps in display order: the standard ones, then the optional ones present."""
    return [key for key in (*MAP_KEYS, *OPTIONAL_MAP_KEYS) if key in frame.maps]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def overlay_grid(frame: ProbeFrame) -> bytes:
    """One row per probe image: the input (object outline where a mask exists), then every map
    overlaid by the one overlay rule; column titles on top, index and label on the left."""
    keys = map_keys(frame)
    indices = frame.indices if frame.indices is not None else np.arange(len(frame.images))
    cells, labels, outlines = [], [], {}
    for row, picture in enumerate(np.asarray(frame.images, dtype=np.uint8)):
        label = int(frame.labels[row])
        name = frame.class_names[label] if 0 <= label < len(frame.class_names) else "unknown"
        labels.append(f"#{int(indices[row])}\n{name}")
        heats = [np.clip(np.nan_to_num(np.asarray(frame.maps[k][row], dtype=np.float64)), 0, 1) for k in keys]
        cells.append([picture, *(overlay(picture, heat) for heat in heats)])
        if frame.masks is not None:
            outlines[(row, 0)] = np.asarray(frame.masks[row])
    scale = ColourScale(
        lookup_table(),
        [(v, f"{v:g}") for v in (0.0, 0.25, 0.5, 0.75, 1.0)],
        "map value (min-max scaled per map); overlays grow more opaque with it",
    )
    titles = ["Input", *(MAP_TITLES.get(key, key) for key in keys)]
    grid = HeatmapGrid(cells, labels, titles, scale, outlines=outlines, scale_columns=(1, len(keys)))
    return _png(heatmap_figure(grid, REPORT, cell=CELL_INCHES))


def _bands(plots: Sequence[CurvePlot]) -> bytes | None:
    """The metric plots side by side, each with its legend inside (where it covers least)."""
    if not any(plot.curves for plot in plots):
        return None
    figure = Figure(figsize=(12.5, 3.6))
    axes = figure.subplots(1, len(plots))
    for ax, plot in zip(axes, plots, strict=True):
        draw_curves(ax, plot, REPORT)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=REPORT.legend, loc="best")
    axes[0].set_ylabel("R* (mean, 5-95 % band)", fontsize=REPORT.label)
    figure.tight_layout()
    return _png(figure)


def layer_bands(rows: Sequence[MetricsRow]) -> bytes | None:
    """FSS, RS and conditional RS per layer tap (one epoch's rows), each with its band."""
    return _bands(layer_plots(rows))


def epoch_bands(rows: Sequence[MetricsRow], layer: str) -> bytes | None:
    """The same panels over epochs at one layer tap (a training run)."""
    if len({row.epoch for row in rows if row.layer == layer}) < 2:
        return None
    return _bands(epoch_plots(rows, layer))


def evidence_intervals(tables: Mapping[str, Evidence]) -> bytes | None:
    """One panel per evidence kind present that has a plot (its registry record's), three a row:
    means with their 95 % intervals against chance or zero, curves with bands, or heatmaps."""
    plots = list(evidence_plots(tables).values())
    if not plots:
        return None
    columns = min(3, len(plots))  # three panels a row: the page stays readable with every kind
    lines = -(-len(plots) // columns)
    figure = Figure(figsize=(4.3 * columns, 3.7 * lines))
    axes = np.atleast_1d(figure.subplots(lines, columns)).ravel()
    for ax in axes[len(plots) :]:
        ax.set_axis_off()
    for ax, spec in zip(axes, plots, strict=False):
        draw_plot(ax, spec, REPORT)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=REPORT.legend, loc="best")
    figure.tight_layout()
    return _png(figure)
