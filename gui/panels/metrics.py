"""Metrics view: FSS and RS of the chosen layer over epochs, each with its 5-95 % band, and the
distilled vs residual RS. Curves and bands are created once per metric, then fed by ``setData``.
The caption says how often the run computes them (its ``metrics_every``) and on what."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from engine.vocab import FALLBACK_COLOURS, METRIC_COLOURS, METRIC_PLOTS, metric_label, metric_plot, rgb
from gui.model.history import RunHistory
from gui.model.run_model import RunModel
from gui.panels.plots import EpochPlotPanel, PlotBox, data_bounds, last_epoch


class _Series:
    """One metric's mean curve and its 5-95 % band."""

    def __init__(self, box: PlotBox, metric: str, colour: tuple[int, int, int]) -> None:
        plot = box.plot
        self.mean = plot.plot(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour)
        box.legend.addItem(self.mean, metric_label(metric))
        self.low = pg.PlotDataItem(pen=pg.mkPen(None))
        self.high = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self.low, self.high, brush=pg.mkBrush(*colour, 50))
        plot.addItem(self.low)
        plot.addItem(self.high)
        plot.addItem(self.band)


def cadence_text(config: dict | None, epochs: list[int]) -> str:
    """'FSS and RS every 10 KD epochs and at the last one (...)', from the run's configuration,
    else from the epochs the rows arrived at."""
    if config and isinstance(config.get("metrics_every"), int):
        every = config["metrics_every"]
        when = "after every KD epoch" if every == 1 else f"every {every} KD epochs and after the last one"
        size, repeats = config.get("metrics_size"), config.get("metrics_repeats")
        on = f" on {size} held-out images" if size else ""
        spread = f", mean of {repeats} class-balanced subsamples" if repeats else ""
        return f"FSS and RS are computed {when}{on}{spread}; shaded: 5–95 %."
    if len(epochs) >= 2:
        steps = sorted({b - a for a, b in zip(epochs, epochs[1:], strict=False)})
        return f"FSS and RS rows arrived every {steps[0]} epoch(s) here; shaded: 5–95 % over subsamples."
    return "FSS and RS appear as the run computes them (mean over subsamples; shaded: 5–95 %)."


class MetricsPanel(EpochPlotPanel):
    """FSS / RS plots for one layer at a time; a vertical line marks the slider's epoch."""

    layer_changed = Signal(str)

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__(model, model.events.metrics)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Layer tap whose metrics are plotted")
        self.layer_box.setMinimumContentsLength(10)
        self.note = QLabel(cadence_text(None, []))
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer"))
        top.addWidget(self.layer_box)
        top.addWidget(self.note, 1)
        self.plot_boxes: dict[str, PlotBox] = {}
        plots = QHBoxLayout()
        for key, title, hint in METRIC_PLOTS:
            box = self.plot_boxes[key] = PlotBox(
                title, "", hint, legend_columns=3 if key != "conditional" else 2
            )
            plots.addWidget(box, 1)
        self.boxes = list(self.plot_boxes.values())
        self.plot_items: dict[str, pg.PlotItem] = {key: box.plot for key, box in self.plot_boxes.items()}
        self.series: dict[str, _Series] = {}
        self._history: RunHistory | None = None
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(plots, 1)
        self.layer_box.currentTextChanged.connect(self._on_layer)
        model.events.run.connect(lambda _run: self.note.setText(cadence_text(model.run_config(), [])))

    @property
    def layer(self) -> str:
        return self.layer_box.currentText()

    def plot_files(self) -> dict[str, PlotBox]:
        """The metric plots, by stems that name the layer shown."""
        layer = self.layer.replace(".", "_") or "layer"
        return {
            f"metrics_fss_{layer}": self.plot_boxes["fss"],
            f"metrics_rs_{layer}": self.plot_boxes["rs"],
            f"metrics_distilled_residual_{layer}": self.plot_boxes["conditional"],
        }

    def clear(self) -> None:
        for box in self.boxes:
            box.reset()
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
        drawn: dict[str, list[np.ndarray]] = {key: [] for key in self.plot_boxes}
        x_high = 0.0
        for metric in history.metric_names():
            key = metric_plot(metric)
            if metric not in self.series:
                colour = rgb(
                    METRIC_COLOURS.get(metric, FALLBACK_COLOURS[len(self.series) % len(FALLBACK_COLOURS)])
                )
                self.series[metric] = _Series(self.plot_boxes[key], metric, colour)
            epochs, mean, low, high = history.metric_series(metric, self.layer)
            series = self.series[metric]
            series.mean.setData(epochs, mean, connect="finite")
            # the band is drawn only where both bounds are defined (n/a values are NaN)
            finite = np.isfinite(low) & np.isfinite(high)
            series.low.setData(epochs[finite], low[finite])
            series.high.setData(epochs[finite], high[finite])
            drawn[key] += [mean, low[finite], high[finite]]
            x_high = max(x_high, float(epochs.max()) if epochs.size else 0.0)
        limit = last_epoch(self.model.run_config(), ("base", "student"))
        for key, box in self.plot_boxes.items():
            bounds = data_bounds(*drawn[key])
            box.set_has_data(bounds is not None)
            if bounds is not None:
                box.fit(x_high, bounds[0], bounds[1], limit)
        self.note.setText(cadence_text(self.model.run_config(), history.epochs()))

    @Slot(str)
    def _on_layer(self, layer: str) -> None:
        if self._history is not None:
            self.refresh(self._history)
        self.layer_changed.emit(layer)
