"""The exported heatmap figure (SPEC §8 "Export"): the shown frame as the window draws it, laid
out and drawn by the report's grid code (:mod:`engine.reports.heatmap_figure`, matplotlib) at a
paper's full width, so the PNG, the SVG and the PDF show the same thing whatever the window's
size.

It is a figure, not a screen grab: one row per map (the input first), one column per probe image
titled with its true class, every map drawn over its image as the screen draws it (colormap,
opacity, per-image or shared scale, signed view), object outlines where masks exist, and the
colour scale in use under the grid. Plain data in, no Qt.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from engine.events import ProbeFrame
from engine.reports.figure_style import TWO_COLUMN, FigureStyle
from engine.reports.heatmap_figure import ColourScale, HeatmapGrid, heatmap_figure
from gui.model.options import DisplayOptions
from gui.model.status import label_name
from gui.panels import display

__all__ = ["heatmap_grid", "heatmaps_figure"]


def _scale(options: DisplayOptions) -> ColourScale:
    """The colour bar of the scale in use, with the window's own labels for its ends."""
    title, top, middle, bottom = display.scale_labels(options)
    lut = display.lookup_table(display.colormap_for(options))
    ticks = [(0.0, bottom), *([(0.5, middle)] if middle else []), (1.0, top)]
    caption = f"{title}; maps drawn over the input, opacity up to {options.opacity:.0%}"
    return ColourScale(np.asarray(lut[:, :3]), ticks, caption)


def heatmap_grid(frame: ProbeFrame, options: DisplayOptions) -> HeatmapGrid:
    """The frame as the window's grid shows it: the input row, then one row per map."""
    pictures = [display.input_image(frame, index) for index in range(len(frame.images))]
    keys = [key for key, _ in display.columns_for(frame) if key in frame.maps]
    lut = display.lookup_table(display.colormap_for(options))
    rows = [pictures]
    for key in keys:
        stack, levels = display.map_stack(frame, key, options)
        rows.append(
            [display.blend(p, stack[i], levels, lut, options.opacity) for i, p in enumerate(pictures)]
        )
    titles = [label_name(int(label), frame.class_names) for label in np.asarray(frame.labels).tolist()]
    outlines = {}
    if frame.masks is not None:
        outlines = {(0, c): np.asarray(frame.masks[c]) for c in range(len(pictures))}
    return HeatmapGrid(
        cells=rows,
        row_labels=["Input", *(display.map_title(key) for key in keys)],
        column_titles=titles,
        scale=_scale(options),
        title=f"Heatmaps at epoch {frame.epoch}" if frame.epoch else "Heatmaps",
        outlines=outlines,
    )


def heatmaps_figure(frame: ProbeFrame, options: DisplayOptions, style: FigureStyle = TWO_COLUMN) -> Figure:
    """The exported heatmap figure, ``style.width`` inches wide."""
    return heatmap_figure(heatmap_grid(frame, options), style)
