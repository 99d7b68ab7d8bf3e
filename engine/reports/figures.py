"""The HTML report's figures, drawn with matplotlib (no pyplot, no display, no global state) and
returned as PNG bytes: the overlay grid, FSS/RS per layer (or over epochs) with their 5-95 %
bands, and each evidence kind's plot as its registry record describes it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.events import Evidence, MetricsRow, ProbeFrame
from engine.evidence.registry import IntervalPlot, LinePlot, evidence_kinds
from engine.overlay import overlay_weight
from engine.vocab import (
    FALLBACK_COLOURS,
    MAP_KEYS,
    MAP_TITLES,
    METRIC_COLOURS,
    METRIC_PLOTS,
    OPTIONAL_MAP_KEYS,
    metric_label,
    metric_plot,
)

__all__ = ["epoch_bands", "evidence_intervals", "layer_bands", "map_keys", "overlay_grid"]

DPI = 110
CELL_INCHES = 1.15
SCALE_INCHES = 0.62  # room under the overlay grid for its colour scale


def map_keys(frame: ProbeFrame) -> list[str]:
    """The frame's maps in display order: the standard ones, then the optional ones present."""
    return [key for key in (*MAP_KEYS, *OPTIONAL_MAP_KEYS) if key in frame.maps]


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def overlay_grid(frame: ProbeFrame) -> bytes:
    """One row per probe image: the input (object outline where a mask exists), then every map
    overlaid in the inferno colormap; column titles on top, index and label on the left."""
    keys = map_keys(frame)
    n, cols = len(frame.images), 1 + len(keys)
    width, height = 0.9 + cols * CELL_INCHES, 0.45 + n * CELL_INCHES + SCALE_INCHES
    figure = Figure(figsize=(width, height))
    axes = np.asarray(figure.subplots(n, cols, squeeze=False))
    figure.subplots_adjust(
        left=0.9 / width,
        right=0.995,
        top=1 - 0.4 / height,
        bottom=SCALE_INCHES / height,
        wspace=0.04,
        hspace=0.04,
    )
    maps_left = (0.9 + CELL_INCHES) / width  # under the map columns, not the input column
    _colour_scale(figure, left=maps_left, width=1 - maps_left, height=height)
    indices = frame.indices if frame.indices is not None else np.arange(n)
    for row in range(n):
        image = np.asarray(frame.images[row])
        label = int(frame.labels[row])
        name = frame.class_names[label] if 0 <= label < len(frame.class_names) else "unknown"
        for col, key in enumerate(["input", *keys]):
            ax = axes[row, col]
            ax.imshow(image, interpolation="nearest")
            if key == "input":
                if frame.masks is not None and np.asarray(frame.masks[row]).any():
                    ax.contour(
                        np.asarray(frame.masks[row], dtype=float), levels=[0.5], colors="cyan", linewidths=0.7
                    )
                ax.text(
                    -0.06,
                    0.5,
                    f"#{int(indices[row])}\n{name}",
                    transform=ax.transAxes,
                    ha="right",
                    va="center",
                    fontsize=7,
                )
            else:
                heat = np.clip(np.nan_to_num(np.asarray(frame.maps[key][row], dtype=np.float64)), 0.0, 1.0)
                ax.imshow(
                    heat,
                    cmap="inferno",
                    vmin=0.0,
                    vmax=1.0,
                    alpha=overlay_weight(heat),
                    interpolation="bilinear",
                )
            if row == 0:
                ax.set_title(MAP_TITLES.get(key, key), fontsize=7)
            ax.set_axis_off()
    return _png(figure)


def _colour_scale(figure: Figure, left: float, width: float, height: float) -> None:
    """The maps' colour scale under the grid's map columns: inferno from 0 to 1 (each map is
    min-max scaled on its own image, engine.cam.base)."""
    ax = figure.add_axes((left + 0.02 * width, 0.36 / height, 0.96 * width, 0.11 / height))
    values = np.linspace(0.0, 1.0, 256)
    ax.imshow(values[None, :], cmap="inferno", aspect="auto", extent=(0.0, 1.0, 0.0, 1.0))
    ax.set_yticks([])
    ax.set_xticks([0.0, 0.25, 0.5, 0.75, 1.0])
    ax.tick_params(labelsize=7, length=2, pad=1)
    ax.set_xlabel("map value (min-max scaled per map); overlays grow more opaque with it", fontsize=7)
    ax.xaxis.set_label_coords(0.5, -1.9)  # below the tick labels


def _series(rows: Sequence[MetricsRow], x_of) -> dict[str, dict[str, list]]:
    """metric -> {"x", "mean", "low", "high"} in the order of ``rows``."""
    out: dict[str, dict[str, list]] = {}
    for row in rows:
        series = out.setdefault(row.metric, {"x": [], "mean": [], "low": [], "high": []})
        series["x"].append(x_of(row))
        for field, value in (("mean", row.mean), ("low", row.low), ("high", row.high)):
            series[field].append(np.nan if value is None else float(value))
    return out


def _bands(rows: Sequence[MetricsRow], x_of, x_label: str, ticks: list[str] | None) -> bytes | None:
    series = _series(rows, x_of)
    if not series:
        return None
    figure = Figure(figsize=(12.5, 3.6))
    axes = figure.subplots(1, len(METRIC_PLOTS))
    spare = iter(FALLBACK_COLOURS * 8)
    for ax, (group, title, _hint) in zip(axes, METRIC_PLOTS, strict=True):
        for metric, s in series.items():
            if metric_plot(metric) != group:
                continue
            x = np.asarray(s["x"], dtype=float)
            colour = METRIC_COLOURS.get(metric) or next(spare)
            label = metric_label(metric)
            ax.plot(x, s["mean"], marker="o", markersize=3.5, linewidth=1.6, label=label, color=colour)
            ax.fill_between(x, s["low"], s["high"], color=colour, alpha=0.18, linewidth=0)
        ax.axhline(0.0, color="#888", linewidth=0.7, linestyle="--")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
        if ticks is not None:
            ax.set_xticks(range(len(ticks)), ticks, rotation=20 if len(ticks) > 3 else 0)
        else:  # epochs
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    axes[0].set_ylabel("R* (mean, 5-95 % band)", fontsize=8)
    figure.tight_layout()
    return _png(figure)


def layer_bands(rows: Sequence[MetricsRow]) -> bytes | None:
    """FSS, RS and conditional RS per layer tap (one epoch's rows), each with its band."""
    layers = list(dict.fromkeys(row.layer for row in rows))
    return _bands(rows, lambda row: layers.index(row.layer), "layer tap", layers)


def epoch_bands(rows: Sequence[MetricsRow], layer: str) -> bytes | None:
    """The same panels over epochs at one layer tap (a training run)."""
    chosen = [row for row in rows if row.layer == layer]
    if len({row.epoch for row in chosen}) < 2:
        return None
    return _bands(chosen, lambda row: row.epoch, f"epoch (layer {layer})", None)


def _errorbars(ax, spec: IntervalPlot) -> None:
    """Means with 95 % error bars, the series side by side at each category."""
    width = 0.7 / max(1, len(spec.series))
    spare = iter(FALLBACK_COLOURS * 8)
    for number, (name, values) in enumerate(spec.series.items()):
        x = np.arange(len(spec.categories)) + (number - (len(spec.series) - 1) / 2) * width
        mean, low, high = (
            np.array([np.nan if v[i] is None else v[i] for v in values], float) for i in range(3)
        )
        ok = np.isfinite(low) & np.isfinite(high)
        error = np.vstack([np.where(ok, mean - low, 0.0), np.where(ok, high - mean, 0.0)])
        colour = spec.colours.get(name) or next(spare)
        ax.errorbar(x, mean, yerr=error, fmt="o", markersize=4, capsize=3, color=colour, label=name)
    ax.set_xticks(range(len(spec.categories)), spec.categories, rotation=25, ha="right", fontsize=7)
    line = {"color": "#666", "linestyle": "--", "linewidth": 0.8}
    ax.axhline(spec.reference, label=spec.reference_label or None, **line)
    if spec.y_range is not None:
        ax.set_ylim(*spec.y_range)
    ax.grid(axis="y", alpha=0.25)


def _lines(ax, spec: LinePlot) -> None:
    """Curves over x with their 95 % bands."""
    spare = iter(FALLBACK_COLOURS * 8)
    for name, (x, mean, low, high) in spec.series.items():
        colour = spec.colours.get(name) or next(spare)
        values = [np.array([np.nan if v is None else v for v in part], float) for part in (mean, low, high)]
        ax.plot(x, values[0], marker="o", markersize=3.5, label=name, color=colour)
        ax.fill_between(x, values[1], values[2], color=colour, alpha=0.18, linewidth=0)
    ax.set_xlabel(spec.x_label, fontsize=8)
    ax.grid(alpha=0.25)


def evidence_intervals(tables: Mapping[str, Evidence]) -> bytes | None:
    """One panel per evidence kind present that has a plot (its registry record's), side by side:
    means with their 95 % intervals against chance or zero, or curves with bands."""
    plots = []
    for kind in evidence_kinds():
        table = tables.get(kind.name)
        spec = None if table is None or "note" in table.summary else kind.plot(table)
        if spec is not None:
            plots.append(spec)
    if not plots:
        return None
    figure = Figure(figsize=(4.3 * len(plots), 3.7))
    axes = np.atleast_1d(figure.subplots(1, len(plots)))
    for ax, spec in zip(axes, plots, strict=True):
        (_errorbars if isinstance(spec, IntervalPlot) else _lines)(ax, spec)
        ax.set_title(spec.title, fontsize=9)
        ax.set_ylabel(spec.y_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _png(figure)
