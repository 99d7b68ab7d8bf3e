"""One role of the setup panel: train it or load its checkpoint, its architecture (searchable)
and epochs. Checkpoints of every format the engine reads are offered: safetensors (with or
without KD Lens's card), PyTorch state dicts as trainers save them (.pt, .pth, .ckpt, .bin,
.pth.tar) and TorchScript archives."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gui.panels.arch_choice import ArchChoice

__all__ = ["CHECKPOINT_FILTER", "DEFAULT_EPOCHS", "RoleRow"]

#: A custom run's epochs: the (larger) teacher trains at least as long as its students.
DEFAULT_EPOCHS = {"teacher": 16, "assistant": 12, "base": 8, "student": 8}

CHECKPOINT_FILTER = (
    "Checkpoints (*.safetensors *.pt *.pth *.ckpt *.bin *.tar *.pth.tar);;TorchScript (*.pt *.pth *.zip);;"
    "All files (*)"
)


class RoleRow:
    """One role's widgets: train or load, architecture, epochs, checkpoint to load."""

    def __init__(self, role: str, grid: QGridLayout, row: int, parent: QWidget) -> None:
        self.role = role
        self.enabled = QCheckBox(role)
        self.enabled.setChecked(role != "assistant")
        self.enabled.setEnabled(role == "assistant")
        self.enabled.setToolTip("The assistant (T -> A -> S chain) is optional; the others are needed")
        self.mode = QComboBox()
        self.mode.addItems(["train", "load"])
        self.mode.setToolTip(f"Train the {role} here, or load its checkpoint")
        self.arch = ArchChoice(f"Architecture of the {role}")
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(DEFAULT_EPOCHS.get(role, 8))
        self.epochs.setToolTip(
            "Epochs (base and student must match; a teacher trained less than its students is often "
            "weaker than the base, and KD then compares against a weak teacher)"
        )
        self.path = QLineEdit()
        self.path.setPlaceholderText("checkpoint (.safetensors, .pt, .pth, .ckpt, .bin, TorchScript)")
        self.path.setMinimumWidth(80)
        browse = QPushButton("…")
        browse.setFixedWidth(32)
        browse.setToolTip(f"Pick the {role}'s checkpoint")
        browse.clicked.connect(lambda _checked=False: self._browse(parent))
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(5)
        # two lines per role, so the form fits a narrow dock (1280 px screens) without clipping
        for column, widget in enumerate((self.enabled, self.mode, self.arch, self.epochs)):
            grid.addWidget(widget, row, column)
        checkpoint = QHBoxLayout()
        checkpoint.addWidget(self.path, 1)
        checkpoint.addWidget(browse)
        grid.addLayout(checkpoint, row + 1, 1, 1, 3)
        self.mode.currentTextChanged.connect(self._sync)
        self._sync()

    def _browse(self, parent: QWidget) -> None:
        path, _ = QFileDialog.getOpenFileName(parent, f"{self.role} checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.path.setText(path)
            self.mode.setCurrentText("load")

    def _sync(self) -> None:
        loading = self.mode.currentText() == "load"
        self.path.setEnabled(loading)
        self.epochs.setEnabled(not loading)

    def to_dict(self) -> dict[str, Any] | None:
        if not self.enabled.isChecked():
            return None
        load = self.path.text().strip() if self.mode.currentText() == "load" else None
        return {"arch": self.arch.arch(), "epochs": self.epochs.value(), "load": load or None}
