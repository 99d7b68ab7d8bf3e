"""For an opened image file: the class to explain and the file's true label. A file has no label
unless the user gives one; picking either asks the model to explain the file again with them.
Hidden for a probe image; disabled, with the reason in the tooltip, while explaining is not
possible."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QFormLayout, QWidget

from engine.events import ProbeFrame
from gui.model.run_model import RunModel

__all__ = ["EACH_PREDICTION", "FileChoices"]

EACH_PREDICTION = "each model's prediction"
TARGET_TIP = "The class whose evidence the maps show (Grad-CAM's class and UniCAM's guide)"
LABEL_TIP = "The image's true class, if you know it (a file has none by itself)"
NO_LABEL = "unknown (none given)"


class FileChoices(QWidget):
    """'Explain class' and 'True label' combo boxes over the frame's class names."""

    def __init__(self, model: RunModel) -> None:
        super().__init__()
        self.model = model
        self.path: str | None = None  # the explained file's path
        self.target = QComboBox()
        self.target.setToolTip(TARGET_TIP)
        self.label_box = QComboBox()
        self.label_box.setToolTip(LABEL_TIP)
        for box in (self.target, self.label_box):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
            box.activated.connect(self._on_choice)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Explain class", self.target)
        form.addRow("True label", self.label_box)
        self.setVisible(False)
        model.events.explainable.connect(self._on_explainable)

    def show_file(self, frame: ProbeFrame | None, path: str | None) -> None:
        """Offer the choices for the explained file at ``path`` (its frame), or hide (None)."""
        self.path = path
        self.setVisible(frame is not None)
        if frame is None:
            return
        target = frame.flags.get("target")
        label = int(frame.labels[0]) if len(frame.labels) else -1
        for box, first, chosen in (
            (self.target, EACH_PREDICTION, target if isinstance(target, int) else -1),
            (self.label_box, NO_LABEL, label),
        ):
            box.blockSignals(True)
            box.clear()
            box.addItem(first, -1)
            for number, class_name in enumerate(frame.class_names):
                box.addItem(class_name, number)
            box.setCurrentIndex(max(box.findData(chosen), 0))
            box.blockSignals(False)

    def _on_explainable(self, reason: str | None) -> None:
        for box, tip in ((self.target, TARGET_TIP), (self.label_box, LABEL_TIP)):
            box.setEnabled(reason is None)
            box.setToolTip(tip if reason is None else f"{tip} — not now: {reason}")

    @Slot(int)
    def _on_choice(self, _index: int) -> None:
        """The user picked a class to explain or a label: explain the file again with them."""
        if self.path is None:
            return
        target, label = self.target.currentData(), self.label_box.currentData()
        chosen = None if target is None or target < 0 else int(target)
        given = None if label is None or label < 0 else int(label)
        self.model.request_explain(self.path, chosen, given)
