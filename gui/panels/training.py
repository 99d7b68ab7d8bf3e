"""Training view: live loss and accuracy curves per role, what the job does now, and the
start/pause/cancel buttons."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QVBoxLayout

from gui.model.history import RunHistory
from gui.model.run_model import RunModel
from gui.panels.plots import EpochPlotPanel, style_plot

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


class TrainingPanel(EpochPlotPanel):
    """Curves are created once per role and then only fed with ``setData`` (STYLE.md)."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__(model, model.events.curves)
        buttons = QHBoxLayout()
        for name in ("start", "pause", "cancel"):
            if actions and name in actions:
                button = QToolButton()
                button.setDefaultAction(actions[name])
                button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
                buttons.addWidget(button)
        self.state = QLabel("Idle — press Start to train the demo (teacher, base, then student with KD).")
        buttons.addWidget(self.state, 1)
        self.loss_plot = pg.PlotWidget(title="Training loss")
        self.accuracy_plot = pg.PlotWidget(title="Accuracy — dashed: held-out")
        for plot, label in ((self.loss_plot, "loss"), (self.accuracy_plot, "accuracy")):
            plot.setBackground("w")
            # accuracy rises towards the top right, loss falls towards the bottom right
            offset = (-10, -10) if plot is self.accuracy_plot else (-10, 10)
            self.epoch_lines.append(style_plot(plot.getPlotItem(), y_label=label, legend_offset=offset))
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
        self.accuracy_plot.setYRange(0, 1)
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.train_curves: dict[str, pg.PlotDataItem] = {}
        self.heldout_curves: dict[str, pg.PlotDataItem] = {}
        plots = QHBoxLayout()
        plots.addWidget(self.loss_plot)
        plots.addWidget(self.accuracy_plot)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(plots, 1)
        model.events.status.connect(self.state.setText)
        model.events.paused.connect(self._on_paused)

    def _on_paused(self, paused: bool) -> None:
        self.state.setText("Paused — press Resume (Ctrl+P) to continue." if paused else self.model.status)

    def clear(self) -> None:
        for plot in (self.loss_plot, self.accuracy_plot):
            for curve in list(plot.listDataItems()):
                plot.removeItem(curve)
            plot.plotItem.legend.clear()
        self.loss_curves, self.train_curves, self.heldout_curves = {}, {}, {}

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
            if np.isfinite(held).any():
                self.heldout_curves[role].setData(x, held, connect="finite")
            else:  # a role without a held-out split: nothing to draw (and no NaN bounds)
                self.heldout_curves[role].setData([], [])
