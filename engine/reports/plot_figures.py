"""Plots drawn with matplotlib (no pyplot, no global state), one pair of axes at a time, so the
HTML report (several panels side by side, :mod:`engine.reports.figures`) and the window's exports
(one plot per file at a paper's column width, :func:`plot_figure`) draw with the same code:
curves with bands (:class:`~engine.reports.plot_specs.CurvePlot`), means with 95 % intervals
at categories (``IntervalPlot``) and curves with 95 % bands (``LinePlot``) of the evidence
registry."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.evidence.registry import IntervalPlot, LinePlot, MatrixPlot, series_colour
from engine.reports.figure_style import COLUMN, FigureStyle, band, make_portable, text_inches
from engine.reports.plot_specs import CurvePlot, Plot
from engine.vocab import FALLBACK_COLOURS

__all__ = ["Plot", "draw_curves", "draw_intervals", "draw_lines", "draw_matrix", "draw_plot", "plot_figure"]

REFERENCE_LINE = {"color": "#666", "linestyle": "--", "linewidth": 0.8}


def draw_curves(ax: Axes, plot: CurvePlot, style: FigureStyle) -> None:
    """Each curve (markers at its points) with its band, the reference line, title, x label, grid
    and ticks: categorical (layer taps) or whole numbers (epochs)."""
    for curve in plot.curves:
        ax.plot(
            curve.x,
            curve.y,
            marker=curve.marker or None,
            markersize=style.marker,
            linewidth=style.line,
            linestyle="--" if curve.dashed else "-",
            label=curve.label,
            color=curve.colour,
        )
        if curve.low is not None and curve.high is not None:
            band(ax, curve.x, curve.low, curve.high, curve.colour, style)
    if plot.reference is not None:
        ax.axhline(plot.reference, color="#888", linewidth=0.7, linestyle="--")
    ax.set_title(plot.title, fontsize=style.title)
    ax.set_xlabel(plot.x_label, fontsize=style.label)
    ax.tick_params(labelsize=style.tick)
    ax.grid(**style.grid)
    if plot.categories is not None:
        count = len(plot.categories)
        ax.set_xticks(range(count), plot.categories, rotation=20 if count > 3 else 0)
    elif plot.integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if plot.y_range is not None:
        ax.set_ylim(*plot.y_range)


def _triple(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) arrays of a series of (mean, low, high) with None as NaN."""
    return tuple(  # type: ignore[return-value]
        np.array([np.nan if v[i] is None else v[i] for v in values], float) for i in range(3)
    )


def draw_intervals(ax: Axes, spec: IntervalPlot, style: FigureStyle, labels=None) -> None:
    """Means with 95 % error bars, the series side by side at each category, and the dashed
    reference (chance, zero). ``labels``: the category names to show (default: the full ones)."""
    width = 0.7 / max(1, len(spec.series))
    spare = iter(FALLBACK_COLOURS * 8)
    for number, (name, values) in enumerate(spec.series.items()):
        x = np.arange(len(spec.categories)) + (number - (len(spec.series) - 1) / 2) * width
        mean, low, high = _triple(values)
        ok = np.isfinite(low) & np.isfinite(high)
        error = np.vstack([np.where(ok, mean - low, 0.0), np.where(ok, high - mean, 0.0)])
        colour = series_colour(spec, name) or next(spare)
        # error-bar markers a little larger than a curve's (4 pt in the report)
        size = style.marker * 8 / 7
        ax.errorbar(x, mean, yerr=error, fmt="o", markersize=size, capsize=3, color=colour, label=name)
    ax.set_xticks(
        range(len(spec.categories)), labels or spec.categories, rotation=25, ha="right", fontsize=style.tick
    )
    ax.axhline(spec.reference, label=spec.reference_label or None, **REFERENCE_LINE)
    if spec.y_range is not None:
        ax.set_ylim(*spec.y_range)
    ax.grid(axis="y", **style.grid)


def draw_lines(ax: Axes, spec: LinePlot, style: FigureStyle) -> None:
    """Curves over x with their 95 % bands."""
    spare = iter(FALLBACK_COLOURS * 8)
    for name, (x, mean, low, high) in spec.series.items():
        colour = series_colour(spec, name) or next(spare)
        values = [np.array([np.nan if v is None else v for v in part], float) for part in (mean, low, high)]
        line = {} if not style.portable else {"linewidth": style.line}
        ax.plot(x, values[0], marker="o", markersize=style.marker, label=name, color=colour, **line)
        band(ax, x, values[1], values[2], colour, style)
    ax.set_xlabel(spec.x_label, fontsize=style.label)
    ax.grid(**style.grid)


def draw_matrix(ax: Axes, spec: MatrixPlot, style: FigureStyle) -> None:
    """The heatmaps side by side on one axes and one colour scale (a blank column between them),
    each named above its block; the colour bar beside."""
    blocks, ticks, names = [], [], []
    rows = list(next(iter(spec.panels.values()))[0])
    for name, (_rows, columns, values) in spec.panels.items():
        if blocks:
            blocks.append(np.full((len(rows), 1), np.nan))
            ticks.append("")
        start = sum(block.shape[1] for block in blocks)
        names.append((start + (len(columns) - 1) / 2, name))
        blocks.append(np.array([[np.nan if v is None else v for v in row] for row in values], float))
        ticks += list(columns)
    grid = np.hstack(blocks)
    finite = grid[np.isfinite(grid)]
    low, high = spec.scale or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    # cells as vector patches, not an embedded picture: every SVG reader draws them (ImageMagick's
    # own reader leaves embedded pictures out); centres on whole numbers, the first row on top
    edges = (np.arange(grid.shape[1] + 1) - 0.5, np.arange(grid.shape[0] + 1) - 0.5)
    image = ax.pcolormesh(
        *edges,
        np.ma.masked_invalid(grid),
        cmap=colormaps["viridis"].with_extremes(bad="white"),  # a reader may outline an empty cell
        vmin=low,
        vmax=high,
        edgecolors="face",
        linewidth=0.3,
    )
    ax.set_ylim(grid.shape[0] - 0.5, -0.5)
    ax.set_xticks(range(len(ticks)), ticks, rotation=45, ha="right", fontsize=style.tick)
    ax.set_yticks(range(len(rows)), rows, fontsize=style.tick)
    top = ax.secondary_xaxis("top")  # each block's name above it, under the title
    top.set_xticks([x for x, _ in names], [name for _, name in names], fontsize=style.label)
    top.tick_params(length=0)
    bar = ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    bar.solids.set_rasterized(False)  # matplotlib embeds a bar of many colours as a picture
    bar.solids.set_edgecolor("face")  # each band's edge its own colour: no seams, no reader's default
    bar.solids.set_linewidth(0.3)
    bar.set_label(spec.value_label, fontsize=style.label)
    bar.ax.tick_params(labelsize=style.tick)


def draw_plot(ax: Axes, spec: Plot, style: FigureStyle) -> None:
    """Any plot on ``ax``, with its title and y label (no legend: the caller places it)."""
    if isinstance(spec, MatrixPlot):
        draw_matrix(ax, spec, style)
        ax.set_title(spec.title, fontsize=style.title)
        return
    if isinstance(spec, CurvePlot):
        draw_curves(ax, spec, style)
    elif isinstance(spec, IntervalPlot):
        draw_intervals(ax, spec, style, labels=_fitting_labels(spec, style))
    else:
        draw_lines(ax, spec, style)
    ax.set_title(spec.title, fontsize=style.title)
    ax.set_ylabel(spec.y_label, fontsize=style.label)
    ax.tick_params(labelsize=style.tick)


def _fitting_labels(spec: IntervalPlot, style: FigureStyle) -> tuple[str, ...]:
    """The full category names in the report; in a column-wide file the short ones when the full
    ones would crowd the axis."""
    if spec.short and style.portable and style.width < 5 and max(map(len, spec.categories)) > 12:
        return tuple(spec.short)
    return tuple(spec.categories)


def plot_figure(spec: Plot, style: FigureStyle = COLUMN) -> Figure:
    """One plot as a figure of exactly ``style.width`` x ``style.height`` inches, its legend below
    the axes (never over the data), everything inside the figure."""
    figure = Figure(figsize=(style.width, style.height), layout="constrained")
    figure.get_layout_engine().set(w_pad=0.03, h_pad=0.03)
    ax = figure.subplots()
    draw_plot(ax, spec, style)
    if not isinstance(spec, MatrixPlot):  # a matrix's rows are named by its ticks, its values by its bar
        ax.set_ylabel(_wrapped(spec.y_label, style.height - 1.0, style.label), fontsize=style.label)
    ax.set_title(_wrapped(spec.title, style.width - 1.0, style.title), fontsize=style.title)
    _keep_reference_in_view(ax, spec)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        figure.legend(
            handles,
            labels,
            loc="outside lower center",
            ncol=_legend_columns(labels, style),
            fontsize=style.legend,
            frameon=False,
            handlelength=1.8,
            columnspacing=1.0,
        )
    if style.portable:
        make_portable(figure)
    return figure


def _wrapped(label: str, inches: float, points: float) -> str:
    """``label`` on two lines when longer than ``inches``: broken before a parenthesis or at a
    colon where there is one, else at the space nearest its middle."""
    if text_inches(label, points) <= inches:
        return label
    spaces = [i for i, ch in enumerate(label) if ch == " "]
    preferred = [i for i in spaces if label[i + 1 : i + 2] == "(" or label[i - 1 : i] == ":"]
    if not (preferred or spaces):
        return label
    cut = min(preferred or spaces, key=lambda i: abs(i - len(label) / 2))
    return label[:cut] + "\n" + label[cut + 1 :]


def _legend_columns(labels: list[str], style: FigureStyle) -> int:
    """As many columns (at most 3) as fit the figure's width: each entry is its handle, the gaps
    (about 3.6 em) and its text."""
    entry = max(text_inches(label, style.legend) for label in labels) + 3.6 * style.legend / 72.0
    return max(1, min(3, len(labels), int(style.width / entry)))


def _keep_reference_in_view(ax: Axes, spec: Plot) -> None:
    """A reference line outside the data's range would be drawn outside the axes once clipping
    is off: widen the y range to hold it."""
    reference = getattr(spec, "reference", None)
    if reference is None or getattr(spec, "y_range", None) is not None:
        return
    low, high = ax.get_ylim()
    if not low <= reference <= high:
        span = max(high, reference) - min(low, reference)
        ax.set_ylim(min(low, reference) - 0.04 * span, max(high, reference) + 0.04 * span)
