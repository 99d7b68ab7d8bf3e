"""One kind of evidence's plot in the window: means with 95 % error bars at categories
(:class:`IntervalPlot`) or curves with bands (:class:`LinePlot`), as its registry record describes
it. Made to be read in a small tab: the legend sits in its own row below the plot (never over the
data), what the y axis shows is the title's second line (a rotated axis title is clipped in a
short plot), and category labels take the longest form that fits without overlapping (full names,
wrapped, short, wrapped short)."""

from __future__ import annotations

import html
import os

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QResizeEvent
from PySide6.QtWidgets import QSizePolicy

from engine.evidence.registry import IntervalPlot, LinePlot, MatrixPlot, series_colour
from engine.vocab import FALLBACK_COLOURS, rgb
from gui.panels.axis import plain_axes
from gui.panels.evidence_matrix import MatrixView

__all__ = ["EvidencePlot", "category_labels"]

REFERENCE = (90, 90, 90)
MIN_PLOT_HEIGHT = 180
FILL_LIMIT = 0.75  # pyqtgraph hides every label of an axis whose labels fill more than 80 % of it


def _wrapped(label: str) -> str:
    """The label on two lines, broken at the space nearest its middle (unchanged without one)."""
    spaces = [i for i, ch in enumerate(label) if ch == " "]
    if not spaces:
        return label
    cut = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return label[:cut] + "\n" + label[cut + 1 :]


def _width(metrics: QFontMetricsF, label: str) -> float:
    return max(metrics.horizontalAdvance(line) for line in label.split("\n"))


def category_labels(
    categories: tuple[str, ...], short: tuple[str, ...] | None, pixels: float, metrics: QFontMetricsF
) -> tuple[str, ...]:
    """The longest labels that fit ``pixels`` of axis: each within its category's share (with a
    margin) and all together within what pyqtgraph still draws."""
    forms = [categories, tuple(map(_wrapped, categories))]
    if short:
        forms += [short, tuple(map(_wrapped, short))]
    share = pixels / max(1, len(categories))
    for labels in forms:
        widths = [_width(metrics, label) for label in labels]
        if max(widths, default=0) <= share - 8 and sum(widths) <= FILL_LIMIT * pixels:
            return labels
    return forms[-1]


def column_labels(labels: list[str], pixels: float, metrics: QFontMetricsF) -> tuple[tuple[str, ...], str]:
    """A matrix's column labels and the axis title above them: the labels as they are when each
    fits its column, else without the prefix they all share (``blocks.0`` .. ``blocks.3`` read
    ``0`` .. ``3`` under the title ``blocks.…``), so neighbours never run into each other."""
    share = pixels / max(1, len(labels))
    named = [label for label in labels if label]
    if max((_width(metrics, label) for label in named), default=0) <= share - 4:
        return tuple(labels), ""
    prefix = os.path.commonprefix(named) if len(named) > 1 else ""
    if not prefix:
        return tuple(labels), ""
    return tuple(label[len(prefix) :] for label in labels), f"{prefix}…"


class EvidencePlot(pg.GraphicsLayoutWidget):
    """A kind's plot, redrawn whole when its table changes (a table arrives a few times a run)."""

    def __init__(self) -> None:
        super().__init__()
        self.spec: IntervalPlot | LinePlot | MatrixPlot | None = None
        self.columns: list[str] = []  # a matrix's column labels, as its blocks name them
        self.setBackground("w")
        self.plot: pg.PlotItem = self.addPlot(row=0, col=0, axisItems=plain_axes("left", "bottom"))
        self.plot.showGrid(y=True, alpha=0.25)
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # 0.5 stays 0.5, not "500 m"
        self.tick_font = QFont()
        self.tick_font.setPointSizeF(8.0)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setStyle(tickFont=self.tick_font)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(False, False)
        self.setMinimumHeight(MIN_PLOT_HEIGHT)
        self.legend = pg.LegendItem(labelTextSize="8pt", labelTextColor=(40, 40, 40), horSpacing=16)
        self.legend.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)  # compact
        self.addItem(self.legend, row=1, col=0)
        self.ci.layout.setAlignment(self.legend, Qt.AlignmentFlag.AlignHCenter)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.ci.setSpacing(0)
        dashed = pg.mkPen(REFERENCE, width=1, style=Qt.PenStyle.DashLine)
        self.reference = pg.InfiniteLine(angle=0, pen=dashed)
        self.reference_sample = pg.PlotDataItem(pen=dashed)  # its legend entry
        self.plot.addItem(self.reference, ignoreBounds=True)
        self.matrix = MatrixView(self)
        self._items: list = []

    @property
    def tick_labels(self) -> list[str]:
        """The category labels the bottom axis shows now (empty for a numeric axis)."""
        ticks = self.plot.getAxis("bottom")._tickLevels
        return [label for _, label in ticks[0]] if ticks else []

    def clear_items(self) -> None:
        for item in self._items:
            self.plot.removeItem(item)
        self._items = []
        self.legend.clear()
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setTicks(None)

    def _add(self, item, name: str | None = None) -> None:
        self.plot.addItem(item)
        self._items.append(item)
        if name:
            self.legend.addItem(item, name)

    def show_spec(self, spec: IntervalPlot | LinePlot | MatrixPlot | None) -> None:
        self.clear_items()
        self.spec = spec
        self.setVisible(spec is not None)
        self.matrix.show(None)
        if spec is None:
            return
        if isinstance(spec, MatrixPlot):
            blocks = " | ".join(spec.panels)  # left to right
            subtitle = f"{blocks}: {spec.value_label}, one colour scale"
        else:
            spread = "95 % interval" if isinstance(spec, IntervalPlot) else "95 % band"
            subtitle = f"{spec.y_label} (mean, {spread})"
        second = f"<span style='font-size:8pt;color:#555'>{html.escape(subtitle)}</span>"
        self.plot.setTitle(f"{html.escape(spec.title)}<br>{second}", size="9pt", color="#333")
        spare = iter(FALLBACK_COLOURS * 8)
        if isinstance(spec, IntervalPlot):
            self._intervals(spec, spare)
        elif isinstance(spec, LinePlot):
            self._lines(spec, spare)
        else:
            self._matrix(spec)
        self.legend.setColumnCount(max(1, len(self.legend.items)))
        self.legend.setVisible(bool(self.legend.items))

    def _intervals(self, spec: IntervalPlot, spare) -> None:
        width = 0.7 / max(1, len(spec.series))
        for number, (name, values) in enumerate(spec.series.items()):
            x = np.arange(len(spec.categories)) + (number - (len(spec.series) - 1) / 2) * width
            mean, low, high = (
                np.array([np.nan if v[i] is None else v[i] for v in values], float) for i in range(3)
            )
            colour = rgb(series_colour(spec, name) or next(spare))
            ok = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
            bars = pg.ErrorBarItem(
                x=x[ok], y=mean[ok], top=high[ok] - mean[ok], bottom=mean[ok] - low[ok], beam=width * 0.4,
                pen=pg.mkPen(colour, width=2),
            )  # fmt: skip
            self._add(bars)
            shown = np.isfinite(mean)
            alone = len(spec.series) == 1  # its name is what the title's second line says
            points = pg.ScatterPlotItem(x=x[shown], y=mean[shown], brush=pg.mkBrush(colour), size=7)
            self._add(points, None if alone else name)
        self.reference.setVisible(True)
        self.reference.setValue(spec.reference)
        if spec.reference_label:
            self.legend.addItem(self.reference_sample, spec.reference_label)
        self.plot.setLabel("bottom", "")
        self.plot.setXRange(-0.6, len(spec.categories) - 0.4, padding=0)
        self._fit_labels()
        if spec.y_range is not None:
            self.plot.setYRange(*spec.y_range, padding=0.03)  # the end ticks keep their labels
        else:
            self.plot.enableAutoRange(axis="y")

    def _lines(self, spec: LinePlot, spare) -> None:
        self.reference.setVisible(False)
        self.plot.getAxis("bottom").setTicks(None)
        self.plot.getAxis("bottom").setHeight(None)
        self.plot.setLabel("bottom", spec.x_label, **{"font-size": "8pt"})
        for name, (x, mean, low, high) in spec.series.items():
            colour = rgb(series_colour(spec, name) or next(spare))
            x = np.asarray(x, dtype=float)
            values = [
                np.array([np.nan if v is None else v for v in part], float) for part in (mean, low, high)
            ]
            line = pg.PlotDataItem(x, values[0], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5)
            line.setSymbolBrush(pg.mkBrush(colour))
            self._add(line, name)
            lower, upper = pg.PlotDataItem(x, values[1]), pg.PlotDataItem(x, values[2])
            self._add(pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(*colour, 50)))
        self.plot.enableAutoRange()

    def _matrix(self, spec: MatrixPlot) -> None:
        """The blocks side by side as one image, its columns and rows named on the axes."""
        self.reference.setVisible(False)
        self.plot.setLabel("bottom", "")
        self.plot.getAxis("bottom").setHeight(None)
        columns, rows = self.matrix.show(spec)
        self.columns = columns
        self._fit_labels()
        self.plot.getAxis("left").setTicks([list(enumerate(rows)), []])
        self.plot.setXRange(-0.5, len(columns) - 0.5, padding=0)
        self.plot.setYRange(-0.5, len(rows) - 0.5, padding=0)

    def _fit_labels(self) -> None:
        """Category labels for the axis's width now (called again whenever the plot resizes)."""
        spec = getattr(self, "spec", None)  # pyqtgraph resizes the view while it is being made
        if not isinstance(spec, IntervalPlot | MatrixPlot):
            return
        axis = self.plot.getAxis("bottom")
        # the view's width less the left axis (the layout may not have caught up with a resize yet)
        pixels = max(120.0, self.width() - self.plot.getAxis("left").width() - 12.0)
        metrics = QFontMetricsF(self.tick_font)
        if isinstance(spec, MatrixPlot):  # less the colour bar beside the matrix
            labels, title = column_labels(self.columns, pixels - 60.0, metrics)
            self.plot.setLabel("bottom", title)
        else:
            labels = category_labels(spec.categories, spec.short, pixels, metrics)
        if labels != tuple(self.tick_labels) or isinstance(spec, MatrixPlot):  # its height was reset
            axis.setTicks([list(enumerate(labels)), []])
            lines = max((label.count("\n") + 1 for label in labels), default=1)
            axis.setHeight(lines * QFontMetricsF(self.tick_font).lineSpacing() + 14)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        """Small and fixed (a view's own hint follows its scene), so a scroll area holding the plot
        sizes it to the room there is, not to what was drawn before."""
        return QSize(400, MIN_PLOT_HEIGHT + 20)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._fit_labels()
