"""A grid of heatmaps as a matplotlib figure, from plain data: every cell an RGB picture (a map
already drawn over its image by the caller's rule), row labels on the left, column titles on top,
object outlines where masks exist, and the colour scale under the grid. The HTML report (one row
per probe image) and the window's export (one row per map, as the window shows them) lay out
their grids with this one function.

Cells are enlarged by whole pixels to at least :data:`MIN_CELL_PX` and drawn without
smoothing, so a PNG, an SVG and a PDF show the same sharp pixels whatever the viewer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from engine.reports.figure_style import FigureStyle, make_portable, text_inches

__all__ = ["MIN_CELL_PX", "ColourScale", "HeatmapGrid", "heatmap_figure"]

MIN_CELL_PX = 128
GAP = 0.04  # inches between cells


@dataclass(frozen=True)
class ColourScale:
    """The colours a map value takes, low to high (256 x 3, values 0-255), ticks along the bar as
    (position in [0, 1], label) and the bar's caption."""

    colours: np.ndarray
    ticks: Sequence[tuple[float, str]]
    caption: str


@dataclass(frozen=True)
class HeatmapGrid:
    """``cells[row][column]``: (H, W, 3) uint8 pictures; ``outlines``: (row, column) -> an (H, W)
    mask whose edge is drawn in cyan (the object, on the input pictures)."""

    cells: Sequence[Sequence[np.ndarray]]
    row_labels: Sequence[str]
    column_titles: Sequence[str]
    scale: ColourScale
    title: str = ""
    outlines: Mapping[tuple[int, int], np.ndarray] = field(default_factory=dict)
    scale_columns: tuple[int, int] | None = None  # the columns the scale spans (default: all)


def _text_inches(texts: Sequence[str], points: float) -> float:
    return max((text_inches(text, points) for text in texts), default=0.0)


def _mosaic(grid: HeatmapGrid, gap: float) -> tuple[np.ndarray, int, int]:
    """Every cell in one RGB picture, white between them: (picture, pixels per cell's width, pixels
    between cells). Cells are enlarged by a whole factor to at least :data:`MIN_CELL_PX`."""
    height, width = np.asarray(grid.cells[0][0]).shape[:2]
    factor = max(1, -(-MIN_CELL_PX // max(1, min(height, width))))
    cell_h, cell_w, space = height * factor, width * factor, max(1, round(gap * width * factor))
    rows, cols = len(grid.cells), len(grid.cells[0])
    mosaic = np.full((rows * (cell_h + space) - space, cols * (cell_w + space) - space, 3), 255, np.uint8)
    for r, row in enumerate(grid.cells):
        for c, picture in enumerate(row):
            big = np.repeat(np.repeat(np.asarray(picture, np.uint8)[..., :3], factor, axis=0), factor, axis=1)
            top, left = r * (cell_h + space), c * (cell_w + space)
            mosaic[top : top + cell_h, left : left + cell_w] = big
    return mosaic, cell_w, space


def heatmap_figure(grid: HeatmapGrid, style: FigureStyle, cell: float | None = None) -> Figure:
    """The grid as a figure ``style.width`` wide (or as wide as cells of ``cell`` inches need),
    as tall as its rows need: one picture of every cell, labels around it, the scale under it."""
    cols = len(grid.cells[0])
    height_px, width_px = np.asarray(grid.cells[0][0]).shape[:2]
    aspect = height_px / max(1, width_px)
    left = _text_inches(grid.row_labels, style.tick) + 0.12
    fixed = cell is None  # the figure is style.width wide; else as wide as its cells make it
    estimate = (style.width - left - 0.15) / cols - GAP if fixed else cell
    titles_wide = _text_inches(grid.column_titles, style.tick)
    tilted = titles_wide > estimate + GAP  # titles wider than their column: tilted, not overlapping
    last_title = _text_inches(grid.column_titles[-1:], style.tick)
    overhang = 0.72 * last_title - estimate / 2 + 0.05 if tilted else (last_title - estimate) / 2 + 0.04
    right = max(0.15, overhang)  # room for the last title and the scale's last tick label
    if fixed:
        cell = (style.width - left - right) / cols - GAP
    mosaic, cell_px, space_px = _mosaic(grid, GAP / cell)
    if fixed:  # whole pixels moved the gaps a little: fill the width exactly
        cell = (style.width - left - right) * cell_px / mosaic.shape[1]
    step = 1.0 + space_px / cell_px  # a cell and its gap, in cell widths
    lines = max(t.count("\n") + 1 for t in grid.column_titles)
    header = 0.08 + (0.22 if grid.title else 0.0) + (0.72 * titles_wide + 0.04 if tilted else 0.16 * lines)
    grid_w, grid_h = mosaic.shape[1] / cell_px * cell, mosaic.shape[0] / cell_px * cell
    width = style.width if fixed else left + grid_w + right
    height = header + grid_h + 0.62
    figure = Figure(figsize=(width, height))
    ax = figure.add_axes((left / width, 1 - (header + grid_h) / height, grid_w / width, grid_h / height))
    span_x, span_y = mosaic.shape[1] / cell_px, mosaic.shape[0] / cell_px  # in cell widths
    ax.imshow(mosaic, interpolation="nearest", extent=(0, span_x, span_y, 0))
    ax.set_xlim(0, span_x)
    ax.set_ylim(span_y, 0)
    ax.set_axis_off()
    _labels(ax, grid, style, step, aspect, tilted)
    for (r, c), mask in grid.outlines.items():
        _outline(ax, np.asarray(mask), c * step, r * (aspect + step - 1.0), aspect)
    if grid.title:
        figure.text(left / width, 1 - 0.06 / height, grid.title, ha="left", va="top", fontsize=style.title)
    first, last = grid.scale_columns or (0, cols - 1)
    bar_left = left + first * step * cell
    bar_width = ((last - first) * step + 1.0) * cell
    _colour_scale(
        figure, grid.scale, (bar_left / width, 0.36 / height, bar_width / width, 0.1 / height), style
    )
    if style.portable:
        make_portable(figure)
    return figure


def _labels(ax, grid: HeatmapGrid, style: FigureStyle, step: float, aspect: float, tilted: bool) -> None:
    """Column titles over the first row, row labels left of the first column (in cell widths)."""
    row_step = aspect + step - 1.0
    tilt = {"rotation": 45, "ha": "left", "rotation_mode": "anchor"} if tilted else {"ha": "center"}
    for c, title in enumerate(grid.column_titles):
        ax.text(c * step + 0.5, -0.06, title, va="bottom", fontsize=style.tick, **tilt)
    for r, label in enumerate(grid.row_labels):
        ax.text(-0.06, r * row_step + aspect / 2, label, ha="right", va="center", fontsize=style.tick)


def _outline(ax, mask: np.ndarray, x0: float, y0: float, aspect: float) -> None:
    """The edge of ``mask`` over the cell whose top left corner is (x0, y0), in cyan."""
    if not mask.any():
        return
    height, width = mask.shape
    xs = x0 + (np.arange(width) + 0.5) / width
    ys = y0 + (np.arange(height) + 0.5) / height * aspect
    ax.contour(xs, ys, mask.astype(float), levels=[0.5], colors="cyan", linewidths=0.7)


def _colour_scale(figure: Figure, scale: ColourScale, box: tuple[float, float, float, float], style) -> None:
    """The colours from low to high with their tick labels and caption, under the grid."""
    ax = figure.add_axes(box)
    colours = np.asarray(scale.colours, dtype=np.uint8)[None, :, :3]
    ax.imshow(colours, aspect="auto", extent=(0.0, 1.0, 0.0, 1.0), interpolation="nearest")
    ax.set_yticks([])
    ax.set_xticks([p for p, _ in scale.ticks], [t for _, t in scale.ticks])
    for label, (position, _) in zip(ax.get_xticklabels(), scale.ticks, strict=True):
        label.set_horizontalalignment("left" if position <= 0 else "right" if position >= 1 else "center")
    ax.tick_params(labelsize=style.tick, length=2, pad=1)
    ax.set_xlabel(scale.caption, fontsize=style.tick)
    ax.xaxis.set_label_coords(0.5, -1.9)  # below the tick labels
