"""The HTML report's figures, drawn with matplotlib (no pyplot, no display, no global state) and
returned as PNG bytes: the overlay grid, FSS/RS per layer (or over epochs) with their 5-95 %
bands, and the evidence's intervals.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from engine.events import Evidence, MetricsRow, ProbeFrame
from engine.vocab import MAP_KEYS, MAP_TITLES, OPTIONAL_MAP_KEYS

__all__ = ["epoch_bands", "evidence_intervals", "layer_bands", "map_keys", "overlay_grid", "plot_group"]

DPI = 110
CELL_INCHES = 1.15
OVERLAY_ALPHA = 0.75  # as engine.render: opacity grows with the square root of the map's value
SCALE_INCHES = 0.62  # room under the overlay grid for its colour scale
MODEL_COLOURS = {"teacher": "#1f77b4", "student": "#d62728", "base": "#7f7f7f", "assistant": "#9467bd"}
PANELS = (
    ("FSS: how alike two models' features are", "FSS"),
    ("RS: how much features follow the classes", "RS"),
    ("Distilled RS(S|B) vs residual RS(B|S)", "conditional"),
)


def plot_group(metric: str) -> str | None:
    """Which panel a metric is drawn in (None: table only, e.g. LP and FSSv)."""
    if metric.startswith("FSS("):
        return "FSS"
    if metric.startswith("RS("):
        return "conditional" if "|" in metric else "RS"
    return None


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
                    alpha=OVERLAY_ALPHA * np.sqrt(heat),
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
    series = {m: s for m, s in _series(rows, x_of).items() if plot_group(m) is not None}
    if not series:
        return None
    figure = Figure(figsize=(12.5, 3.6))
    axes = figure.subplots(1, len(PANELS))
    for ax, (title, group) in zip(axes, PANELS, strict=True):
        for metric, s in series.items():
            if plot_group(metric) != group:
                continue
            x = np.asarray(s["x"], dtype=float)
            line = ax.plot(x, s["mean"], marker="o", markersize=3.5, linewidth=1.6, label=metric)[0]
            ax.fill_between(x, s["low"], s["high"], color=line.get_color(), alpha=0.18, linewidth=0)
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


def _errorbars(ax, labels: list[str], series: Mapping[str, list[tuple]], colours: Mapping[str, str]) -> None:
    width = 0.7 / max(1, len(series))
    for number, (name, values) in enumerate(series.items()):
        x = np.arange(len(labels)) + (number - (len(series) - 1) / 2) * width
        mean, low, high = (
            np.array([np.nan if v[i] is None else v[i] for v in values], float) for i in range(3)
        )
        ok = np.isfinite(low) & np.isfinite(high)
        error = np.vstack([np.where(ok, mean - low, 0.0), np.where(ok, high - mean, 0.0)])
        ax.errorbar(
            x,
            mean,
            yerr=error,
            fmt="o",
            markersize=4,
            capsize=3,
            color=colours.get(name, "#2ca02c"),
            label=name,
        )
    ax.set_xticks(range(len(labels)), labels, rotation=25, ha="right", fontsize=7)
    ax.tick_params(labelsize=7)
    ax.grid(axis="y", alpha=0.25)


def evidence_intervals(tables: Mapping[str, Evidence]) -> bytes | None:
    """Localisation shares (chance dashed), ROAD per map and model (zero dashed), and the sanity
    check's rank correlation per randomisation step, each with its 95 % interval."""
    panels = []
    local = tables.get("localisation")
    if local is not None and local.rows:
        panels.append("localisation")
    if "faithfulness" in tables and tables["faithfulness"].rows:
        panels.append("faithfulness")
    if "sanity" in tables and tables["sanity"].rows:
        panels.append("sanity")
    if not panels:
        return None
    figure = Figure(figsize=(4.3 * len(panels), 3.7))
    axes = np.atleast_1d(figure.subplots(1, len(panels)))
    for ax, panel in zip(axes, panels, strict=True):
        rows = tables[panel].rows
        if panel == "localisation":
            maps = [r for r in rows if " - " not in str(r["map"])]
            values = {"share on the object": [(r["mean"], r["ci_low"], r["ci_high"]) for r in maps]}
            _errorbars(ax, [MAP_TITLES.get(r["map"], r["map"]) for r in maps], values, {})
            ax.axhline(
                tables[panel].summary.get("chance", 0.0),
                color="#666",
                linestyle="--",
                linewidth=0.8,
                label="chance (mask area)",
            )
            ax.set_title("Localisation: share of each map on the object", fontsize=9)
        elif panel == "faithfulness":
            keys = list(dict.fromkeys(r["map"] for r in rows))
            cell = {(r["map"], r["model"]): (r["score"], r["ci_low"], r["ci_high"]) for r in rows}
            models = list(dict.fromkeys(r["model"] for r in rows))
            series = {m: [cell.get((k, m), (None, None, None)) for k in keys] for m in models}
            _errorbars(ax, [MAP_TITLES.get(k, k) for k in keys], series, MODEL_COLOURS)
            ax.axhline(0.0, color="#666", linestyle="--", linewidth=0.8)
            ax.set_title("Faithfulness: ROAD score per map and model", fontsize=9)
        else:
            for key in dict.fromkeys(r["map"] for r in rows):
                picked = [r for r in rows if r["map"] == key]
                x = [int(r["step"]) for r in picked]
                mean = [np.nan if r["spearman"] is None else r["spearman"] for r in picked]
                line = ax.plot(x, mean, marker="o", markersize=3.5, label=MAP_TITLES.get(key, key))[0]
                low = [np.nan if r["ci_low"] is None else r["ci_low"] for r in picked]
                high = [np.nan if r["ci_high"] is None else r["ci_high"] for r in picked]
                ax.fill_between(x, low, high, color=line.get_color(), alpha=0.18, linewidth=0)
            ax.set_xlabel("stages re-initialised, top down", fontsize=8)
            ax.set_title("Sanity: rank correlation with the original map", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.25)
        ax.legend(fontsize=7, loc="best")
    figure.tight_layout()
    return _png(figure)
