"""Metrics view: FSS and RS of the chosen layer over epochs, each with its 5-95 % band, and the
distilled vs residual RS. Curves and bands are created once per metric, then fed by ``setData``."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout

from gui.model.history import RunHistory
from gui.model.run_model import RunModel
from gui.panels.plots import EpochPlotPanel, style_plot

METRIC_COLOURS = {
    "FSS(S,T)": (214, 39, 40),
    "FSS(B,T)": (127, 127, 127),
    "FSS(S,B)": (148, 103, 189),
    "FSS(A,T)": (31, 119, 180),
    "FSS(S,A)": (255, 127, 14),
    "RS(T)": (31, 119, 180),
    "RS(S)": (214, 39, 40),
    "RS(B)": (127, 127, 127),
    "RS(A)": (148, 103, 189),
    "RS(S|B)": (214, 39, 40),
    "RS(B|S)": (127, 127, 127),
}
FALLBACK_COLOURS = [(44, 160, 44), (23, 190, 207), (188, 189, 34), (140, 86, 75)]
PLOTS = (
    ("fss", "Feature similarity FSS"),
    ("rs", "Relevance to the classes RS"),
    ("conditional", "Distilled vs residual RS"),
)
RS_LABELS = {"RS(S|B)": "RS(S|B) distilled", "RS(B|S)": "RS(B|S) residual"}


def plot_for(metric: str) -> str:
    if metric.startswith("FSS"):
        return "fss"
    return "conditional" if "|" in metric else "rs"


class _Series:
    """One metric's mean curve and its 5-95 % band."""

    def __init__(self, plot: pg.PlotItem, metric: str, colour: tuple[int, int, int]) -> None:
        self.mean = plot.plot(
            pen=pg.mkPen(colour, width=2),
            name=RS_LABELS.get(metric, metric),
            symbol="o",
            symbolSize=5,
            symbolBrush=colour,
        )
        self.low = pg.PlotDataItem(pen=pg.mkPen(None))
        self.high = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self.low, self.high, brush=pg.mkBrush(*colour, 50))
        plot.addItem(self.low)
        plot.addItem(self.high)
        plot.addItem(self.band)


class MetricsPanel(EpochPlotPanel):
    """FSS / RS plots for one layer at a time; a vertical line marks the slider's epoch."""

    layer_changed = Signal(str)

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__(model, model.events.metrics)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Layer tap whose metrics are plotted")
        self.layer_box.setMinimumContentsLength(10)
        self.note = QLabel("FSS and RS appear after each epoch (mean over subsamples, shaded: 5–95 %).")
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer_box)
        top.addWidget(self.note, 1)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plot_items: dict[str, pg.PlotItem] = {}
        for column, (key, title) in enumerate(PLOTS):
            plot = self.plots.addPlot(row=0, col=column, title=title)
            self.epoch_lines.append(style_plot(plot))
            self.plot_items[key] = plot
        self.series: dict[str, _Series] = {}
        self._history: RunHistory | None = None
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.plots, 1)
        self.layer_box.currentTextChanged.connect(self._on_layer)

    @property
    def layer(self) -> str:
        return self.layer_box.currentText()

    def clear(self) -> None:
        for plot in self.plot_items.values():
            for item in list(plot.items):
                if not isinstance(item, pg.InfiniteLine):
                    plot.removeItem(item)
            plot.legend.clear()
        self.series = {}
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.blockSignals(False)

    def refresh(self, history: RunHistory) -> None:
        """Show the history's metrics for the selected layer (the last layer by default)."""
        self._history = history
        layers = history.layers()
        known = [self.layer_box.itemText(i) for i in range(self.layer_box.count())]
        if layers != known:
            current = self.layer
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            self.layer_box.addItems(layers)
            self.layer_box.setCurrentText(current if current in layers else (layers[-1] if layers else ""))
            self.layer_box.blockSignals(False)
        for metric in history.metric_names():
            if metric not in self.series:
                colour = METRIC_COLOURS.get(
                    metric, FALLBACK_COLOURS[len(self.series) % len(FALLBACK_COLOURS)]
                )
                self.series[metric] = _Series(self.plot_items[plot_for(metric)], metric, colour)
            epochs, mean, low, high = history.metric_series(metric, self.layer)
            series = self.series[metric]
            series.mean.setData(epochs, mean, connect="finite")
            # the band is drawn only where both bounds are defined (n/a values are NaN)
            finite = np.isfinite(low) & np.isfinite(high)
            series.low.setData(epochs[finite], low[finite])
            series.high.setData(epochs[finite], high[finite])

    @Slot(str)
    def _on_layer(self, layer: str) -> None:
        if self._history is not None:
            self.refresh(self._history)
        self.layer_changed.emit(layer)
