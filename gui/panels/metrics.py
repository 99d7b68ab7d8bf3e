"""Metrics view: FSS and RS, each with its 5-95 % band, and the distilled vs residual RS, in two
views: over epochs at the chosen layer tap (a training run), or per layer tap at the shown epoch
(an analysis report, which has one epoch; a training run can switch to it). Both views are the
plots the report and the exports draw (:mod:`gui.panels.plot_data`); curves and bands are created
once per metric, then fed by ``setData``. The caption says how often the run computes them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QSizePolicy,
    QVBoxLayout,
)

from engine.reports.plot_specs import Curve, CurvePlot, Plot
from engine.vocab import METRIC_PLOTS, rgb
from gui.model.history import RunHistory
from gui.model.run_model import RunModel
from gui.panels.plot_data import (
    METRIC_STEMS,
    metric_epochs,
    metric_plots_at,
    metric_plots_over_epochs,
)
from gui.panels.plots import EpochPlotPanel, PlotBox, data_bounds, last_epoch
from gui.panels.wheel_guard import guard_wheel

OVER_EPOCHS, PER_LAYER = "epochs", "layers"


class _Series:
    """One metric's mean curve and its 5-95 % band."""

    def __init__(self, box: PlotBox, label: str, colour: tuple[int, int, int]) -> None:
        plot = box.plot
        self.mean = plot.plot(pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour)
        box.legend.addItem(self.mean, label)
        self.low = pg.PlotDataItem(pen=pg.mkPen(None))
        self.high = pg.PlotDataItem(pen=pg.mkPen(None))
        self.band = pg.FillBetweenItem(self.low, self.high, brush=pg.mkBrush(*colour, 50))
        plot.addItem(self.low)
        plot.addItem(self.high)
        plot.addItem(self.band)

    def show(self, curve: Curve) -> list[np.ndarray]:
        """Draw ``curve``; the values drawn (for the plot's range)."""
        self.mean.setData(curve.x, curve.y, connect="finite")
        # the band is drawn only where both bounds are defined (n/a values are NaN)
        low, high = curve.low, curve.high
        finite = np.isfinite(low) & np.isfinite(high)
        self.low.setData(curve.x[finite], low[finite])
        self.high.setData(curve.x[finite], high[finite])
        return [curve.y, low[finite], high[finite]]


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
    if len(epochs) == 1:
        return "FSS and RS at each layer tap (mean over subsamples; shaded: 5–95 %)."
    return "FSS and RS appear as the run computes them (mean over subsamples; shaded: 5–95 %)."


class MetricsPanel(EpochPlotPanel):
    """FSS / RS plots over epochs at one layer (a vertical line marks the slider's epoch), or per
    layer tap at the shown epoch."""

    layer_changed = Signal(str)

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__(model, model.events.metrics)
        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Layer tap whose metrics are plotted over epochs")
        self.layer_box.setMinimumContentsLength(10)
        self.over_epochs = QRadioButton("Over epochs")
        self.over_epochs.setToolTip("FSS and RS of the chosen layer tap at every epoch with metrics")
        self.per_layer = QRadioButton("Per layer")
        self.per_layer.setToolTip("FSS and RS of every layer tap at the shown epoch")
        self.view_buttons = QButtonGroup(self)
        for button in (self.over_epochs, self.per_layer):
            self.view_buttons.addButton(button)
        self.over_epochs.setChecked(True)
        self._chosen_view: str | None = None  # None: follow the data (one epoch: per layer)
        self.note = QLabel(cadence_text(None, []))
        self.note.setWordWrap(True)
        self.note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        for widget in (self.over_epochs, self.per_layer, QLabel("Layer"), self.layer_box):
            top.addWidget(widget)
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
        self.per_layer.toggled.connect(self._on_view)
        guard_wheel(self)  # a passing wheel does not change the layer
        model.events.run.connect(lambda _run: self.note.setText(cadence_text(model.run_config(), [])))

    @property
    def layer(self) -> str:
        return self.layer_box.currentText()

    @property
    def view(self) -> str:
        """:data:`OVER_EPOCHS` or :data:`PER_LAYER`, as shown now."""
        return PER_LAYER if self.per_layer.isChecked() else OVER_EPOCHS

    def plot_files(self) -> dict[str, PlotBox]:
        return {self._stem(key): box for key, box in self.plot_boxes.items()}

    def file_plots(self) -> dict[str, Plot]:
        """The three plots of the view shown, by stems that name the layer tap or the epoch."""
        return {
            self._stem(key): plot for key, plot in self._plots(self.model.history).items() if not plot.empty
        }

    def _stem(self, key: str) -> str:
        if self.view == PER_LAYER:
            epoch = self._shown_metrics_epoch(self.model.history)
            return f"{METRIC_STEMS[key]}_per_layer" + ("" if not epoch else f"_epoch_{epoch:04d}")
        return f"{METRIC_STEMS[key]}_{self.layer.replace('.', '_') or 'layer'}"

    def clear(self) -> None:
        for box in self.boxes:
            box.reset()
        self.series = {}
        self._chosen_view = None
        self.layer_box.blockSignals(True)
        self.layer_box.clear()
        self.layer_box.blockSignals(False)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if self.view == PER_LAYER:
            for line in self.epoch_lines:
                line.setVisible(False)
            self.schedule()

    def refresh(self, history: RunHistory) -> None:
        """Show the history's metrics in the chosen view (the last layer by default)."""
        self._history = history
        self._sync_layers(history)
        self._sync_view(history)
        per_layer = self.view == PER_LAYER
        limit = last_epoch(self.model.run_config(), ("base", "student"))
        for key, plot in self._plots(history).items():
            box = self.plot_boxes[key]
            drawn = [value for curve in plot.curves for value in self._series_of(box, curve).show(curve)]
            bounds = data_bounds(*drawn)
            box.set_has_data(bounds is not None)
            box.set_x_label(plot.x_label)
            box.epoch_line.setVisible(not per_layer and self.model.epoch is not None)
            if bounds is not None and plot.categories is not None:
                box.fit_categories(plot.categories, bounds[0], bounds[1])
            elif bounds is not None:
                x_high = max((float(np.nanmax(c.x)) for c in plot.curves if c.x.size), default=0.0)
                box.fit(x_high, bounds[0], bounds[1], limit)
        self.layer_box.setEnabled(not per_layer)
        self.note.setText(self._where(history) + cadence_text(self.model.run_config(), history.epochs()))

    def _where(self, history: RunHistory) -> str:
        """'Each layer tap at epoch 20. ' in the per-layer view of a training run."""
        epoch = self._shown_metrics_epoch(history)
        return f"Each layer tap at epoch {epoch}. " if self.view == PER_LAYER and epoch else ""

    def _plots(self, history: RunHistory) -> dict[str, CurvePlot]:
        if self.view == PER_LAYER:
            return metric_plots_at(history, self.model.epoch)
        return metric_plots_over_epochs(history, self.layer)

    def _shown_metrics_epoch(self, history: RunHistory) -> int | None:
        epochs = [e for e in metric_epochs(history) if self.model.epoch is None or e <= self.model.epoch]
        return max(epochs) if epochs else None

    def _series_of(self, box: PlotBox, curve: Curve) -> _Series:
        """The metric's curve and band, made once and fed by ``setData`` after."""
        if curve.key not in self.series:
            self.series[curve.key] = _Series(box, curve.label, rgb(curve.colour))
        return self.series[curve.key]

    def _sync_layers(self, history: RunHistory) -> None:
        layers = history.layers()
        known = [self.layer_box.itemText(i) for i in range(self.layer_box.count())]
        if layers != known:
            current = self.layer
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            self.layer_box.addItems(layers)
            self.layer_box.setCurrentText(current if current in layers else (layers[-1] if layers else ""))
            self.layer_box.blockSignals(False)

    def _sync_view(self, history: RunHistory) -> None:
        """One epoch with metrics (an analysis report): nothing to draw over epochs, so per layer;
        otherwise the user's choice, else over epochs."""
        single = len(metric_epochs(history)) == 1
        self.over_epochs.setEnabled(not single)
        wanted = PER_LAYER if single else (self._chosen_view or OVER_EPOCHS)
        button = self.per_layer if wanted == PER_LAYER else self.over_epochs
        if not button.isChecked():
            self.per_layer.blockSignals(True)
            button.setChecked(True)
            self.per_layer.blockSignals(False)

    @Slot(bool)
    def _on_view(self, per_layer: bool) -> None:
        self._chosen_view = PER_LAYER if per_layer else OVER_EPOCHS
        if self._history is not None:
            self.refresh(self._history)

    @Slot(str)
    def _on_layer(self, layer: str) -> None:
        if self._history is not None:
            self.refresh(self._history)
        self.layer_changed.emit(layer)
