"""Training view: live loss and accuracy curves per role, what the job does now, and the
start/pause/cancel buttons.

Losses of different objectives are never drawn on one axis: the teacher and the base minimise
cross-entropy, the student (and an assistant) a KD loss that mixes cross-entropy with a scaled
divergence from the teacher, on another scale. Each gets its own plot."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout

from engine.vocab import ROLE_COLOURS, rgb
from gui.model.history import RunHistory
from gui.model.run_model import RunModel
from gui.panels.plots import EpochPlotPanel, PlotBox, data_bounds, last_epoch

ROLE_RGB = {role: rgb(colour) for role, colour in ROLE_COLOURS.items()}
KD_TRAINED = ("assistant", "student")  # roles whose loss has a KD term


def _pen(role: str, style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> pg.QtGui.QPen:
    return pg.mkPen(ROLE_RGB.get(role, (0, 0, 0)), width=2, style=style)


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
        # a label that changes 20 times a second must not re-layout the window each time
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        buttons.addWidget(self.state, 1)
        self.loss_box = PlotBox(
            "Cross-entropy loss (teacher, base)",
            "",
            "The cross-entropy of the teacher and the base appears here as they train.",
            legend_columns=2,
        )
        self.kd_box = PlotBox(
            "KD loss (student)",
            "",
            "The student's KD loss appears here once the base and the student train.",
            legend_columns=2,
        )
        self.accuracy_box = PlotBox(
            "Accuracy (dashed: held-out)",
            "",
            "Training and held-out accuracy appear after each epoch.",
            legend_columns=3,
        )
        self.boxes = [self.loss_box, self.kd_box, self.accuracy_box]
        self.loss_plot, self.kd_plot, self.accuracy_plot = (box.plot for box in self.boxes)
        self.loss_curves: dict[str, pg.PlotDataItem] = {}
        self.train_curves: dict[str, pg.PlotDataItem] = {}
        self.heldout_curves: dict[str, pg.PlotDataItem] = {}
        plots = QHBoxLayout()
        for box in self.boxes:
            plots.addWidget(box, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(plots, 1)
        model.events.status.connect(self.state.setText)
        model.events.run.connect(lambda _run: self._describe_kd())

    def _describe_kd(self) -> None:
        """The KD plot's title names the loss and its settings once the run's config is known."""
        config = self.model.run_config() or {}
        kd = config.get("kd") if isinstance(config.get("kd"), dict) else None
        if kd and kd.get("loss"):
            params = ", ".join(
                f"{k}={v:g}" for k, v in (kd.get("params") or {}).items() if isinstance(v, float | int)
            )
            self.kd_plot.setTitle(f"KD loss (student, {kd['loss']})", size="9pt", color="#333")
            self.kd_box.canvas.setToolTip(
                f"The student's loss: the {kd['loss']} KD loss{' with ' + params if params else ''}; "
                "it mixes cross-entropy with a scaled divergence from the teacher, so its scale "
                "differs from the cross-entropy of the teacher and the base."
            )

    def plot_files(self) -> dict[str, PlotBox]:
        return {
            "training_cross_entropy": self.loss_box,
            "training_kd_loss": self.kd_box,
            "training_accuracy": self.accuracy_box,
        }

    def clear(self) -> None:
        for box in self.boxes:
            box.reset()
        self.kd_plot.setTitle(self.kd_box.title, size="9pt", color="#333")
        self.loss_curves, self.train_curves, self.heldout_curves = {}, {}, {}

    def refresh(self, history: RunHistory) -> None:
        """Push the history's buffers into the curves (called at most a few times per second)."""
        if not self.loss_curves:
            self._describe_kd()
        losses: dict[PlotBox, list[np.ndarray]] = {self.loss_box: [], self.kd_box: []}
        x_high = 0.0
        for role, curves in history.curves.items():
            box = self.kd_box if role in KD_TRAINED else self.loss_box
            if role not in self.loss_curves:
                name = role
                self.loss_curves[role] = box.plot.plot(pen=_pen(role))
                box.legend.addItem(self.loss_curves[role], name)
                self.train_curves[role] = self.accuracy_plot.plot(
                    pen=_pen(role), symbol="o", symbolSize=5, symbolBrush=ROLE_RGB.get(role)
                )
                self.accuracy_box.legend.addItem(self.train_curves[role], name)
                self.heldout_curves[role] = self.accuracy_plot.plot(
                    pen=_pen(role, Qt.PenStyle.DashLine), symbol="t", symbolSize=5
                )
            x, y = curves.loss_curve()  # each epoch's steps, or its end-of-epoch loss
            self.loss_curves[role].setData(x, y)
            losses[box].append(y)
            x_high = max(x_high, float(x.max()) if x.size else 0.0)
            epochs = np.asarray(curves.epoch_x)
            self.train_curves[role].setData(epochs, np.asarray(curves.train_accuracy))
            held = np.asarray(curves.heldout_accuracy, dtype=np.float64)
            if np.isfinite(held).any():
                self.heldout_curves[role].setData(epochs, held, connect="finite")
            else:  # a role without a held-out split: nothing to draw (and no NaN bounds)
                self.heldout_curves[role].setData([], [])
        limit = last_epoch(self.model.run_config(), tuple(history.curves))
        for box, values in losses.items():
            bounds = data_bounds(*values)
            box.set_has_data(bounds is not None)
            if bounds is not None:
                box.fit(x_high, min(bounds[0], 0.0), bounds[1], limit)
        has_accuracy = any(curves.epoch_x for curves in history.curves.values())
        self.accuracy_box.set_has_data(has_accuracy)
        if has_accuracy:
            self.accuracy_box.fit(x_high, 0.0, 1.0, limit)
