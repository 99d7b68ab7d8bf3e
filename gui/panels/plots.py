"""What the plot panels over epochs share: a plot box (a hint while it has no data, the plot with
its legend below it once it has), a vertical line at the shown epoch, stable ranges, and
coalesced redraws (many model changes, one redraw a short while later; none while the panel is
hidden during a job: it catches up when shown or when the job ends).

Why stable ranges and cached axes: redrawing a plot's axes, tick labels and grid costs tens of
milliseconds per repaint, which is what made the window late while training streamed. Axes are
cached as pixels (``gui.panels.axis.PlainAxis``) and a range only grows in "nice" steps, so most
redraws repaint the curves alone.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QWidget

from engine.reports.plot_specs import Plot
from gui.model.evented import Emitter
from gui.model.history import RunHistory
from gui.model.run_model import RunModel
from gui.panels.axis import plain_axes
from gui.panels.plot_data import run_plots

__all__ = ["EpochPlotPanel", "PlotBox", "nice_ceiling"]

REDRAW_MS = 200
EPOCH_LINE = (0, 120, 215)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k at or above ``value`` (> 0)."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


class PlotBox(QStackedWidget):
    """One plot over epochs with its legend below it (never over the data); a short hint instead
    of empty axes until it has data."""

    def __init__(self, title: str, y_label: str, hint: str, legend_columns: int = 3) -> None:
        super().__init__()
        self.title = title
        self.hint = QLabel(hint)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #666; background: white; padding: 12px;")
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("w")
        self.plot: pg.PlotItem = self.canvas.addPlot(row=0, col=0, axisItems=plain_axes("left", "bottom"))
        self.plot.setTitle(title, size="9pt", color="#333")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.set_x_label("epoch")
        if y_label:
            self.plot.setLabel("left", y_label, **{"font-size": "8pt"})
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.disableAutoRange()
        self.plot.setClipToView(True)
        self.legend = pg.LegendItem(
            colCount=legend_columns,
            labelTextSize="7.5pt",
            labelTextColor=(40, 40, 40),
            verSpacing=-8,
            horSpacing=2,
        )
        self.canvas.addItem(self.legend, row=1, col=0)
        self.canvas.ci.setContentsMargins(2, 2, 2, 2)
        self.canvas.ci.setSpacing(0)
        self.epoch_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(EPOCH_LINE, width=1))
        self.epoch_line.setVisible(False)  # until an epoch is shown
        self.plot.addItem(self.epoch_line, ignoreBounds=True)
        self.addWidget(self.hint)
        self.addWidget(self.canvas)
        # boxes share their row equally; a long title must not widen one and squeeze the others
        for widget in (self, self.hint, self.canvas):
            widget.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        self._range: tuple[float, float, float, float] | None = None
        self._categories: tuple[str, ...] | None = None

    @property
    def has_data(self) -> bool:
        return self.currentWidget() is self.canvas

    def set_has_data(self, has_data: bool) -> None:
        self.setCurrentWidget(self.canvas if has_data else self.hint)

    def set_x_label(self, text: str) -> None:
        self.plot.setLabel("bottom", text, **{"font-size": "8pt"})

    def fit(self, x_high: float, y_low: float, y_high: float, x_limit: float | None = None) -> None:
        """Show epochs 0..x_high and values y_low..y_high, widened to nice bounds; the range only
        changes (and the axes only redraw) when the data leaves it. ``x_limit``: the run's last
        epoch when known, so the epoch axis is fixed from the start."""
        x = x_limit if x_limit and x_limit >= x_high else nice_ceiling(x_high)
        if self._categories is not None:  # back from a per-layer view: numeric ticks again
            self._categories = None
            self.plot.getAxis("bottom").setTicks(None)
        self._show(0.0, x, y_low, y_high)

    def fit_categories(self, names: tuple[str, ...], y_low: float, y_high: float) -> None:
        """x is 0..n-1, one tick per name (the layer taps), and y as :meth:`fit` shows it."""
        if names != self._categories:
            self._categories = names
            self.plot.getAxis("bottom").setTicks([list(enumerate(names)), []])
        self._show(-0.5, len(names) - 0.5, y_low, y_high, x_padding=0.0)

    def _show(
        self, x_low: float, x_high: float, y_low: float, y_high: float, x_padding: float = 0.02
    ) -> None:
        top = nice_ceiling(y_high) if y_high > 0 else 0.0
        bottom = -nice_ceiling(-y_low) if y_low < 0 else 0.0
        if top <= bottom:
            top = bottom + 1.0
        wanted = (x_low, x_high, bottom, top)
        if wanted != self._range:
            self._range = wanted
            self.plot.setXRange(x_low, x_high, padding=x_padding)
            self.plot.setYRange(bottom, top, padding=0.04)

    def reset(self) -> None:
        for item in list(self.plot.listDataItems()):
            self.plot.removeItem(item)
        for item in list(self.plot.items):
            if isinstance(item, pg.FillBetweenItem):
                self.plot.removeItem(item)
        self.legend.clear()
        self._range, self._categories = None, None
        self.plot.getAxis("bottom").setTicks(None)
        self.set_x_label("epoch")
        self.epoch_line.setVisible(False)
        self.set_has_data(False)


def last_epoch(config: dict | None, roles: tuple[str, ...]) -> float | None:
    """The most epochs any of ``roles`` trains for in the run's configuration (None: unknown)."""
    if not config:
        return None
    epochs = [
        entry.get("epochs")
        for role in roles
        if isinstance(entry := config.get(role), dict) and entry.get("load") is None
    ]
    known = [e for e in epochs if isinstance(e, int) and e > 0]
    return float(max(known)) if known else None


def data_bounds(*arrays: np.ndarray) -> tuple[float, float] | None:
    """(min, max) over the finite values of the arrays, or None when there is none."""
    finite = [a[np.isfinite(a)] for a in arrays if a.size]
    values = np.concatenate(finite) if finite else np.empty(0)
    return (float(values.min()), float(values.max())) if values.size else None


class EpochPlotPanel(QWidget):
    """Base of a panel of plots over epochs: subclasses fill ``boxes`` and implement
    ``refresh(history)``, ``clear()`` and ``file_plots()``; ``changed`` is the model event that
    calls for a redraw."""

    def __init__(self, model: RunModel, changed: Emitter) -> None:
        super().__init__()
        self.model = model
        self.boxes: list[PlotBox] = []
        self._dirty = False
        self._timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        changed.connect(self.schedule)
        model.events.cleared.connect(self.clear)
        model.events.epoch.connect(lambda epoch, _frame: self.set_epoch(epoch))
        model.events.busy.connect(lambda busy: busy or self._catch_up())

    @property
    def epoch_lines(self) -> list[pg.InfiniteLine]:
        return [box.epoch_line for box in self.boxes]

    def refresh(self, history: RunHistory) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def plot_files(self) -> dict[str, PlotBox]:
        """The panel's plots by the file stem an export writes each to."""
        raise NotImplementedError

    def file_plots(self) -> dict[str, Plot]:
        """What the panel's plots show now, as plain data, by file stem (plots with data only).
        By default the run's plots (:func:`gui.panels.plot_data.run_plots`) that
        :meth:`plot_files` names."""
        wanted = self.plot_files()
        return {stem: plot for stem, plot in run_plots(self.model).items() if stem in wanted}

    def export_plots(self) -> dict[str, Plot]:
        """The plots as file figures (for ``gui.export.export_all``): drawn from the run's data by
        the report's code, whatever the window's size."""
        return self.file_plots()

    def set_epoch(self, epoch: int) -> None:
        for line in self.epoch_lines:
            line.setValue(epoch)
            line.setVisible(True)

    def schedule(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._catch_up()

    def _catch_up(self) -> None:
        if self._dirty:
            self._timer.start(0)

    def _redraw(self) -> None:
        if self.isVisible() or not self.model.busy:
            self._dirty = False
            self.refresh(self.model.history)
