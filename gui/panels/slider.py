"""The one epoch slider (with exact-epoch entry) that drives every panel, live or in replay.

It offers the model's epochs and shows the model's epoch; moving it (or typing an epoch) asks
the model to show that epoch. "Follow live" is the model's ``following``: a newly streamed
epoch is shown at once. Moving by hand to an earlier epoch stops following; going back to the
last epoch follows again.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from gui.model.run_model import RunModel


class EpochSlider(QWidget):
    """Slider over the epochs that have data."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self._epochs: list[int] = []
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setToolTip("Epoch shown in every panel (Ctrl+Left / Ctrl+Right step through epochs)")
        self._slider.setRange(0, 0)
        self._slider.setEnabled(False)
        self._spin = QSpinBox()
        self._spin.setToolTip("Type an exact epoch to jump to it")
        self._spin.setRange(0, 0)
        self._spin.setEnabled(False)
        self._spin.setKeyboardTracking(False)
        self._follow = QCheckBox("Follow live")
        self._follow.setChecked(model.following)
        self._follow.setToolTip("Jump to each new epoch as training streams it")
        self._count = QLabel("no epochs yet")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Epoch"))
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._spin)
        layout.addWidget(self._count)
        layout.addWidget(self._follow)
        self._slider.valueChanged.connect(self._on_slider)
        self._spin.valueChanged.connect(self._on_spin)
        self._follow.toggled.connect(model.set_following)
        if actions:  # the window's previous / next epoch actions (and Ctrl+Left / Right) step it
            actions["prev_epoch"].triggered.connect(lambda _checked=False: self.step(-1))
            actions["next_epoch"].triggered.connect(lambda _checked=False: self.step(1))
        model.events.epochs.connect(self.set_epochs)
        model.events.epoch.connect(lambda epoch, _frame: self._show(epoch))

    @property
    def epoch(self) -> int | None:
        return self._epochs[self._slider.value()] if self._epochs else None

    @property
    def following(self) -> bool:
        return self._follow.isChecked()

    def set_epochs(self, epochs: list[int]) -> None:
        """Offer these epochs (the shown one stays where it is until the model moves it)."""
        current = self.epoch
        self._epochs = sorted(epochs)
        enabled = bool(self._epochs)
        for widget in (self._slider, self._spin):
            widget.blockSignals(True)
            widget.setEnabled(enabled)
        self._slider.setRange(0, max(len(self._epochs) - 1, 0))
        if enabled:
            self._spin.setRange(self._epochs[0], self._epochs[-1])
        for widget in (self._slider, self._spin):
            widget.blockSignals(False)
        self._count.setText(f"of {self._epochs[-1]}" if enabled else "no epochs yet")
        if current in self._epochs:
            self._show(current)

    def set_epoch(self, epoch: int) -> None:
        """Ask the model to show ``epoch`` (or the nearest epoch with data); "Follow live" stays
        on only when that is the last epoch."""
        self.model.select_epoch(epoch)
        if self._epochs and self.model.epoch is not None:
            self._follow.setChecked(self.model.epoch >= self._epochs[-1])

    @Slot()
    def step(self, delta: int) -> None:
        if self._epochs:
            self._slider.setValue(max(0, min(len(self._epochs) - 1, self._slider.value() + delta)))

    def _show(self, epoch: int) -> None:
        """Put the slider and the box on ``epoch`` without asking the model again."""
        if epoch not in self._epochs:
            return
        for widget, value in ((self._slider, self._epochs.index(epoch)), (self._spin, epoch)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)

    @Slot(int)
    def _on_slider(self, index: int) -> None:
        if self._epochs:
            self._follow.setChecked(index == len(self._epochs) - 1)
            self.model.select_epoch(self._epochs[index])

    @Slot(int)
    def _on_spin(self, epoch: int) -> None:
        if self._epochs:
            self._follow.setChecked(epoch >= self._epochs[-1])
            self.model.select_epoch(epoch)
