"""The KD loss and its hyper-parameters, built from the engine's loss registry.

The registry (``engine.losses.KD_LOSSES``) arrives as plain data from ``gui.jobs.choices``; each
loss's hyper-parameters become spin boxes with the registry's default, range and meaning, so a
newly registered loss appears here with no change to the window.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel

from gui.panels.wheel_guard import guard_wheel

DEFAULT_LOSS = "hinton"
_OPEN_STEP = 1e-3  # the smallest value offered above an excluded lower bound (e.g. T > 0)
_NO_LIMIT = 1e6


class KDLossForm(QGroupBox):
    """Loss name combo plus one spin box per hyper-parameter of the chosen loss."""

    def __init__(self) -> None:
        super().__init__("Distillation")
        self.loss = QComboBox()
        self.loss.addItem(DEFAULT_LOSS)
        self.loss.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.loss.setMinimumContentsLength(12)
        self.loss.setToolTip("The KD loss of the student (the base trains on labels alone)")
        self.description = QLabel("Reading the engine's list of losses…")
        self.description.setWordWrap(True)
        self.params: dict[str, QDoubleSpinBox] = {}
        self._losses: dict[str, dict[str, Any]] = {}
        self._form = QFormLayout(self)
        self._form.addRow("KD loss", self.loss)
        self._form.addRow(self.description)
        self.loss.currentTextChanged.connect(self._on_loss)

    def set_losses(self, losses: dict[str, dict[str, Any]]) -> None:
        """Offer the registry's losses (``read_choices()["losses"]``)."""
        current = self.loss.currentText() or DEFAULT_LOSS
        self._losses = dict(losses)
        self.loss.blockSignals(True)
        self.loss.clear()
        self.loss.addItems(list(self._losses))
        self.loss.setCurrentText(current if current in self._losses else DEFAULT_LOSS)
        self.loss.blockSignals(False)
        self._on_loss(self.loss.currentText())

    @Slot(str)
    def _on_loss(self, name: str) -> None:
        """Rebuild the hyper-parameter rows for ``name``, filled with its defaults."""
        for box in self.params.values():
            self._form.removeRow(box)
        self.params = {}
        record = self._losses.get(name)
        if record is None:
            return
        self.description.setText(record.get("description", ""))
        for key, spec in record["hyperparameters"].items():
            box = QDoubleSpinBox()
            box.setDecimals(4)
            low = spec["low"] if spec["low"] is not None else -_NO_LIMIT
            box.setRange(low + (_OPEN_STEP if spec["low_open"] else 0.0), spec["high"] or _NO_LIMIT)
            box.setSingleStep(0.05 if spec["high"] is not None and spec["high"] <= 1 else 1.0)
            box.setValue(spec["default"])
            box.setToolTip(spec.get("help", ""))
            self._form.addRow(key, box)
            self.params[key] = box
        guard_wheel(self)  # the new boxes too: no value changes under a passing wheel

    def value(self) -> dict[str, Any]:
        """``{"loss": name, "params": {...}}`` as ``KDConfig.from_dict`` reads it."""
        return {"loss": self.loss.currentText(), "params": {k: box.value() for k, box in self.params.items()}}
