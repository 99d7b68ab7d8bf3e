"""The one epoch slider (with exact-epoch entry) that drives every panel, live or in replay."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget


class EpochSlider(QWidget):
    """Slider over the epochs that have data; ``epoch_changed`` fires on every move.

    While "Follow live" is on, a newly streamed epoch moves the slider to it; moving the slider
    by hand to an earlier epoch turns following off, going back to the last epoch turns it on.
    """

    epoch_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._epochs: list[int] = []
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setToolTip("Epoch shown in every panel (Left/Right keys step through epochs)")
        self._slider.setRange(0, 0)
        self._slider.setEnabled(False)
        self._spin = QSpinBox()
        self._spin.setToolTip("Type an exact epoch to jump to it")
        self._spin.setRange(0, 0)
        self._spin.setEnabled(False)
        self._spin.setKeyboardTracking(False)
        self._follow = QCheckBox("Follow live")
        self._follow.setChecked(True)
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

    @property
    def epoch(self) -> int | None:
        return self._epochs[self._slider.value()] if self._epochs else None

    @property
    def following(self) -> bool:
        return self._follow.isChecked()

    def set_epochs(self, epochs: list[int]) -> None:
        """Offer these epochs; keeps the current one unless following live (then the last)."""
        current = self.epoch
        self._epochs = sorted(epochs)
        enabled = bool(self._epochs)
        self._slider.blockSignals(True)
        self._slider.setRange(0, max(len(self._epochs) - 1, 0))
        self._slider.setEnabled(enabled)
        self._spin.setEnabled(enabled)
        self._spin.blockSignals(True)
        if enabled:
            self._spin.setRange(self._epochs[0], self._epochs[-1])
        self._spin.blockSignals(False)
        self._slider.blockSignals(False)
        self._count.setText(f"of {self._epochs[-1]}" if enabled else "no epochs yet")
        target = self._epochs[-1] if enabled and (self.following or current is None) else current
        if target is not None and target in self._epochs:
            self.set_epoch(target, force=target != current)

    def set_epoch(self, epoch: int, force: bool = False) -> None:
        """Show ``epoch`` (or the nearest epoch with data); emits ``epoch_changed`` when it moved."""
        if not self._epochs:
            return
        index = min(range(len(self._epochs)), key=lambda i: abs(self._epochs[i] - epoch))
        moved = index != self._slider.value() or force
        self._slider.blockSignals(True)
        self._slider.setValue(index)
        self._slider.blockSignals(False)
        self._spin.blockSignals(True)
        self._spin.setValue(self._epochs[index])
        self._spin.blockSignals(False)
        if moved:
            self.epoch_changed.emit(self._epochs[index])

    @Slot()
    def step(self, delta: int) -> None:
        if self._epochs:
            self._slider.setValue(max(0, min(len(self._epochs) - 1, self._slider.value() + delta)))

    @Slot(int)
    def _on_slider(self, index: int) -> None:
        if not self._epochs:
            return
        self._follow.setChecked(index == len(self._epochs) - 1)
        self._spin.blockSignals(True)
        self._spin.setValue(self._epochs[index])
        self._spin.blockSignals(False)
        self.epoch_changed.emit(self._epochs[index])

    @Slot(int)
    def _on_spin(self, epoch: int) -> None:
        if self._epochs:
            self._follow.setChecked(epoch >= self._epochs[-1])
            self.set_epoch(epoch)
