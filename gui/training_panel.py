"""Training view: live loss and accuracy curves per role, and the start/pause/cancel buttons."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from gui.history import RunHistory

ROLE_COLOURS = {
    "teacher": (31, 119, 180),
    "assistant": (148, 103, 189),
    "base": (127, 127, 127),
    "student": (214, 39, 40),
}
ROLE_NAMES = {
    "teacher": "teacher (T)",
    "assistant": "assistant (A)",
    "base": "base (B)",
    "student": "student (S)",
}


def _pen(role: str, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> pg.QtGui.QPen:
    return pg.mkPen(ROLE_COLOURS.get(role, (0, 0, 0)), width=2, style=style)


class TrainingPanel(QWidget):
    """Curves are created once per role and then only fed with ``setData`` (STYLE.md)."""

    def __init__(self, actions: list[QAction], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        buttons = QHBoxLayout()
        for action in actions:
            button = QToolButton()
            button.setDefaultAction(action)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            buttons.addWidget(button)
        self.state = QLabel("Idle — press Start to train the demo (teacher, base, then student with KD).")
        buttons.addWidget(self.state, 1)
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.accuracy_plot = pg.PlotWidget(title="Accuracy — dashed: held-out")
        for plot, label in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy")):
            plot.setBackground("w")
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("bottom", "epoch")
            plot.setLabel("left", label)
            # accuracy rises towards the top right, loss falls towards the bottom right
            plot.addLegend(
                offset=(-10, -10) if plot is self.accuracy_plot else (-10, 10),
                labelTextSize="8pt",
                labelTextColor=(40, 40, 40),
                brush=pg.mkBrush(255, 255, 255, 220),  # readable over the curves it covers
                pen=pg.mkPen(200, 200, 200),
            )
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
        self.accuracy_plot.setYRange(0, 1)
        self.epoch_lines = [pg.InfiniteLine(angle=90, pen=pg.mkPen((0, 120, 215), width=1)) for _ in range(2)]
        self.loss_plot.addItem(self.epoch_lines[0])
        self.accuracy_plot.addItem(self.epoch_lines[1])
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.train_curves: dict[str, pg.PlotDataItem] = {}
        self.heldout_curves: dict[str, pg.PlotDataItem] = {}
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(plots, 1)

    def clear(self) -> None:
        for plot in (self.loss_plot, self.accuracy_plot):
            for curve in list(plot.listDataItems()):
                plot.removeItem(curve)
            plot.plotItem.legend.clear()
        self.loss_curves, self.train_curves, self.heldout_curves = {}, {}, {}

    def set_epoch(self, epoch: int) -> None:
        for line in self.epoch_lines:
            line.setValue(epoch)

    def refresh(self, history: RunHistory) -> None:
        """Push the history's buffers into the curves (called at most a few times per second)."""
        for role, curves in history.curves.items():
            if role not in self.loss_curves:
                name = ROLE_NAMES.get(role, role)
                self.loss_curves[role] = self.loss_plot.plot(pen=_pen(role), name=name)
                self.train_curves[role] = self.accuracy_plot.plot(
                    pen=_pen(role), name=name, symbol="o", symbolSize=5
                )
                self.heldout_curves[role] = self.accuracy_plot.plot(
                    pen=_pen(role, Qt.PenStyle.DashLine), symbol="t", symbolSize=5
                )
            # step losses while an epoch runs; epoch means once the run is replayed from disk
            if curves.step_x:
                self.loss_curves[role].setData(np.asarray(curves.step_x), np.asarray(curves.step_loss))
            else:
                self.loss_curves[role].setData(np.asarray(curves.epoch_x), np.asarray(curves.epoch_loss))
            x = np.asarray(curves.epoch_x)
            self.train_curves[role].setData(x, np.asarray(curves.train_accuracy))
            held = np.asarray(curves.heldout_accuracy, dtype=np.float64)
            self.heldout_curves[role].setData(x, held, connect="finite")
