"""Compare runs: several run folders (or a study's seeds) overlaid, one colour per run, with their
loss, held-out accuracy and FSS/RS curves; the teacher's over its own epochs, the base's and the
student's over the KD epochs. Smoothing and a log scale for the losses are options. The list on
the left switches runs on and off; a double-click opens a run in the main view.

Runs come from "Add…" or a dropped folder here, the File menu's "Compare runs…" and the Study
panel's "Compare these seeds" (both through the run model's ``compare_requested``); a folder
stands for a run, a study's seeds or every run inside it. The state is a Qt-free
:class:`~gui.model.compare.CompareModel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QColor, QDragEnterEvent, QDropEvent, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.model.compare import CompareModel
from gui.model.run_model import RunModel
from gui.panels.compare_plots import ComparePlots
from gui.panels.wheel_guard import guard_wheel

__all__ = ["ComparePanel"]

HINT = (
    "Add run folders, a study folder (its seeds) or a folder of runs to overlay their curves "
    "(File > Compare runs…, or drop folders here)."
)
PATH_ROLE = Qt.ItemDataRole.UserRole


class ComparePanel(QWidget):
    """Run list and options on the left, the overlaid plots on the right."""

    reveal_requested = Signal()

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.compare = CompareModel()
        self.setAcceptDrops(True)
        self.runs = QListWidget()
        self.runs.setToolTip("Tick to show a run; double-click to open it in the main view")
        self.runs.itemChanged.connect(self._on_item)
        self.runs.itemDoubleClicked.connect(lambda item: model.request_open(item.data(PATH_ROLE)))
        self.smoothing = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=0.99, singleStep=0.1)
        self.smoothing.setToolTip(
            "Smoothing of every curve (0: none; as TensorBoard's, start-up bias removed)"
        )
        self.log_scale = QCheckBox("Log-scale losses")
        self.metric = QComboBox()
        self.layer = QComboBox()
        self.note = QLabel(HINT)
        self.note.setWordWrap(True)
        self.plots = ComparePlots()
        layout = QHBoxLayout(self)
        layout.addLayout(self._side(), 0)
        layout.addWidget(self.plots, 1)
        for signal in (
            self.smoothing.valueChanged,
            self.log_scale.toggled,
            self.metric.activated,
            self.layer.activated,
        ):
            signal.connect(lambda *_args: self._on_options())
        self.compare.changed.connect(self._show)
        model.events.compare_requested.connect(self.add_runs)
        model.events.finished.connect(lambda _result: self._reload_if_compared(model.run_dir))
        guard_wheel(self)

    def _side(self) -> QVBoxLayout:
        buttons = QGridLayout()
        choices = (
            ("Add…", "Add a run folder, a study folder or a folder of runs", self._ask),
            ("Remove", "Remove the selected run from the comparison", self._remove),
            ("Reload", "Read the runs again (one that trained on)", self._reload),
            ("Clear", "Remove every run", self.compare.clear),
        )
        for index, (text, tip, slot) in enumerate(choices):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, act=slot: act())
            buttons.addWidget(button, index // 2, index % 2)
        side = QVBoxLayout()
        side.addLayout(buttons)
        side.addWidget(self.runs, 1)
        side.addWidget(self.note)
        for label, widget in (("Smoothing", self.smoothing), ("Metric", self.metric), ("Layer", self.layer)):
            row = QHBoxLayout()
            row.addWidget(QLabel(label))
            row.addWidget(widget, 1)
            side.addLayout(row)
        side.addWidget(self.log_scale)
        holder = QWidget()
        holder.setLayout(side)
        holder.setMaximumWidth(170)
        outer = QVBoxLayout()
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(holder)
        return outer

    # -- the runs --------------------------------------------------------------------------
    def add_runs(self, folders: list[str]) -> None:
        """Overlay the runs the folders stand for, and come to the front."""
        problems = self.compare.add([str(folder) for folder in folders])
        self.note.setText("\n".join(problems) if problems else (HINT if not self.compare.runs else ""))
        self.note.setStyleSheet("color: #a33;" if problems else "")
        self.reveal_requested.emit()

    def _ask(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add runs to compare (a run, a study or a folder of runs)"
        )
        if folder:
            self.add_runs([folder])

    def _remove(self) -> None:
        item = self.runs.currentItem()
        if item is not None:
            self.compare.remove(item.data(PATH_ROLE))

    def _reload(self) -> None:
        problems = self.compare.reload()
        self.note.setText("\n".join(problems))

    def _reload_if_compared(self, run_dir: str | None) -> None:
        if run_dir and any(run.curves.path == str(Path(run_dir)) for run in self.compare.runs):
            self._reload()

    def _on_item(self, item: QListWidgetItem) -> None:
        self.compare.set_shown(item.data(PATH_ROLE), item.checkState() == Qt.CheckState.Checked)

    def _on_options(self) -> None:
        self.compare.set_options(
            self.smoothing.value(), self.log_scale.isChecked(), self.metric.currentText() or None,
            self.layer.currentText() or None,
        )  # fmt: skip

    # -- drawing ---------------------------------------------------------------------------
    def _show(self) -> None:
        self.runs.blockSignals(True)
        self.runs.clear()
        for run in self.compare.runs:
            item = QListWidgetItem(_swatch(run.colour), run.curves.name)
            item.setData(PATH_ROLE, run.curves.path)
            item.setToolTip(run.curves.path + "".join(f"\n{notice}" for notice in run.curves.notices))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if run.shown else Qt.CheckState.Unchecked)
            self.runs.addItem(item)
        self.runs.blockSignals(False)
        _fill(self.metric, self.compare.metric_names(), self.compare.metric)
        _fill(self.layer, self.compare.layers(), self.compare.layer)
        self.plots.draw(self.compare)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folders = [url.toLocalFile() for url in event.mimeData().urls() if Path(url.toLocalFile()).is_dir()]
        if folders:
            self.add_runs(folders)
            event.acceptProposedAction()


def _swatch(colour: str) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


def _fill(box: QComboBox, names: list[str], current: str | None) -> None:
    """Offer ``names`` without emitting, keeping ``current`` (else the last) chosen."""
    box.blockSignals(True)
    box.clear()
    box.addItems(names)
    if names:
        box.setCurrentText(current if current in names else names[-1])
    box.blockSignals(False)
