"""What the plot panels over epochs share: the look of a plot, a vertical line at the shown epoch,
and coalesced redraws (many model changes, one redraw a short while later; none while the
panel is hidden during a job: it catches up when shown or when the job ends)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QWidget

from gui.model.evented import Emitter
from gui.model.history import RunHistory
from gui.model.run_model import RunModel

__all__ = ["EpochPlotPanel", "style_plot"]

REDRAW_MS = 150
EPOCH_LINE = (0, 120, 215)


def style_plot(plot: pg.PlotItem, *, y_label: str = "", legend_offset=(-10, 10)) -> pg.InfiniteLine:
    """White-background look, grid, an epoch axis and a readable legend; returns the plot's line
    marking the shown epoch."""
    plot.showGrid(x=True, y=True, alpha=0.3)
    plot.setLabel("bottom", "epoch")
    if y_label:
        plot.setLabel("left", y_label)
    plot.addLegend(
        offset=legend_offset,
        labelTextSize="8pt",
        labelTextColor=(40, 40, 40),
        brush=pg.mkBrush(255, 255, 255, 220),  # readable over the curves it covers
        pen=pg.mkPen(200, 200, 200),
    )
    line = pg.InfiniteLine(angle=90, pen=pg.mkPen(EPOCH_LINE, width=1))
    plot.addItem(line)
    return line


class EpochPlotPanel(QWidget):
    """Base of a panel of plots over epochs: subclasses fill ``epoch_lines`` and implement
    ``refresh(history)`` and ``clear()``; ``changed`` is the model event that calls for a redraw."""

    def __init__(self, model: RunModel, changed: Emitter) -> None:
        super().__init__()
        self.model = model
        self.epoch_lines: list[pg.InfiniteLine] = []
        self._dirty = False
        self._timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        changed.connect(self.schedule)
        model.events.cleared.connect(self.clear)
        model.events.epoch.connect(lambda epoch, _frame: self.set_epoch(epoch))
        model.events.busy.connect(lambda busy: busy or self._catch_up())

    def refresh(self, history: RunHistory) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        for line in self.epoch_lines:
            line.setValue(epoch)

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
