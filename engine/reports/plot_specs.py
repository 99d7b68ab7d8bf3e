"""Plots as plain data: curves (with optional bands) over epochs or over named layer taps. The
report and the window's exports build these from their rows and draw them with
:mod:`engine.reports.plot_figures`; the evidence kinds' plots are the registry's own
``IntervalPlot`` / ``LinePlot``. No matplotlib here, no Qt, no torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.events import Evidence, MetricsRow
from engine.evidence.registry import IntervalPlot, LinePlot, MatrixPlot, evidence_kinds
from engine.vocab import FALLBACK_COLOURS, METRIC_COLOURS, METRIC_PLOTS, metric_label, metric_plot

__all__ = [
    "METRIC_Y_LABELS",
    "Curve",
    "CurvePlot",
    "Plot",
    "epoch_plots",
    "evidence_plots",
    "layer_plots",
    "metric_plots",
]

#: What the y axis of each metric plot shows (R*: the bias-corrected distance correlation, SPEC §4).
METRIC_Y_LABELS = {"fss": "FSS, LP (R*)", "rs": "RS (R* with the classes)", "conditional": "RS(M1|M2) (sR*)"}


@dataclass(frozen=True)
class Curve:
    """One line: ``x``, ``y`` and, when both are given, a band from ``low`` to ``high``; ``key``
    names what it shows (a metric's name) where ``label`` is what a legend says."""

    label: str
    x: np.ndarray
    y: np.ndarray
    colour: str
    low: np.ndarray | None = None
    high: np.ndarray | None = None
    dashed: bool = False
    marker: str = "o"  # a matplotlib marker; "" for none
    key: str = ""


@dataclass(frozen=True)
class CurvePlot:
    """Curves on one pair of axes. ``categories``: x is 0..n-1 and these are their names (layer
    taps); else x is numeric (``integer_x``: epochs). ``reference``: a dashed horizontal line."""

    title: str
    curves: tuple[Curve, ...]
    x_label: str
    y_label: str
    categories: tuple[str, ...] | None = None
    integer_x: bool = True
    y_range: tuple[float, float] | None = None
    reference: float | None = None

    @property
    def empty(self) -> bool:
        return not any(np.isfinite(curve.y).any() for curve in self.curves)


Plot = CurvePlot | IntervalPlot | LinePlot | MatrixPlot  # whatever a panel exports or the report draws


def _number(value: float | None) -> float:
    return np.nan if value is None else float(value)


def metric_plots(
    rows: Sequence[MetricsRow],
    x_of: Callable[[MetricsRow], float],
    x_label: str,
    categories: Sequence[str] | None = None,
) -> list[CurvePlot]:
    """One :class:`CurvePlot` per metric plot of :data:`engine.vocab.METRIC_PLOTS` (FSS, RS,
    conditional RS), in that order, each metric a curve with its 5-95 % band; x from ``x_of``."""
    series: dict[str, list[MetricsRow]] = {}
    for row in rows:
        series.setdefault(row.metric, []).append(row)
    spare = iter(FALLBACK_COLOURS * 8)  # metrics without a colour of their own, plot by plot
    colours = {
        metric: METRIC_COLOURS.get(metric) or next(spare)
        for group, _title, _hint in METRIC_PLOTS
        for metric in series
        if metric_plot(metric) == group
    }
    plots = []
    for group, title, _hint in METRIC_PLOTS:
        curves = tuple(
            Curve(
                metric_label(metric),
                np.asarray([x_of(r) for r in chosen], dtype=float),
                np.asarray([_number(r.mean) for r in chosen], dtype=float),
                colours[metric],
                low=np.asarray([_number(r.low) for r in chosen], dtype=float),
                high=np.asarray([_number(r.high) for r in chosen], dtype=float),
                key=metric,
            )
            for metric, chosen in series.items()
            if metric_plot(metric) == group
        )
        names = None if categories is None else tuple(categories)
        plots.append(
            CurvePlot(title, curves, x_label, METRIC_Y_LABELS[group], categories=names, reference=0.0)
        )
    return plots


def layer_plots(rows: Sequence[MetricsRow]) -> list[CurvePlot]:
    """FSS, RS and conditional RS per layer tap, from one epoch's rows (taps in row order)."""
    layers = list(dict.fromkeys(row.layer for row in rows))
    return metric_plots(rows, lambda row: layers.index(row.layer), "layer tap", layers)


def epoch_plots(rows: Sequence[MetricsRow], layer: str) -> list[CurvePlot]:
    """The same plots over epochs at one layer tap."""
    chosen = sorted((row for row in rows if row.layer == layer), key=lambda row: row.epoch)
    return metric_plots(chosen, lambda row: row.epoch, f"epoch (layer {layer})")


def evidence_plots(tables: Mapping[str, Evidence]) -> dict[str, IntervalPlot | LinePlot | MatrixPlot]:
    """kind -> its plot (the registry record's), for every table that can draw one, in registry
    order (a table with a ``note`` could not run: no plot)."""
    plots: dict[str, IntervalPlot | LinePlot | MatrixPlot] = {}
    for kind in evidence_kinds():
        table = tables.get(kind.name)
        spec = None if table is None or "note" in table.summary else kind.plot(table)
        if spec is not None:
            plots[kind.name] = spec
    return plots
