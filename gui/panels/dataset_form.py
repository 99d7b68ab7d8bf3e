"""The Setup panel's dataset: the built-in shapes or an image folder, and the image size. A chosen
folder is looked at at once (``gui.jobs.folder_check``, off the GUI thread): its problems (no
train/ folder, too few classes or images, unreadable classes, splits with other classes) are shown
under it and stop Start, instead of surfacing in the engine 15 s after Start."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QSpinBox

from gui.jobs.folder_check import FolderCheck
from gui.panels.path_field import PathField

__all__ = ["DatasetForm"]

CHECKING = "Looking at the folder…"


class DatasetForm(QGroupBox):
    """Source, folder and image size; ``problem()`` says what is wrong with the chosen folder."""

    folder_checked = Signal(object)  # problem text, or None: the chosen folder looks usable

    def __init__(self) -> None:
        super().__init__("Dataset")
        self.source = QComboBox()
        self.source.addItem("Synthetic shapes (built in)", "shapes")
        self.source.addItem("Image folder (train/ and test/)", "folder")
        self.source.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source.setMinimumContentsLength(14)
        self.folder = PathField("Image folder", "folder with train/<class>/… and test/<class>/…", "folder")
        self.folder.setEnabled(False)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #a33;")
        self.note.setVisible(False)
        self.image_size = QSpinBox()
        self.image_size.setRange(16, 512)
        self.image_size.setValue(32)
        self.image_size.setToolTip("Images are resized to this many pixels per side")
        form = QFormLayout(self)
        form.addRow("Source", self.source)
        form.addRow("Folder", self.folder)
        form.addRow(self.note)
        form.addRow("Image size", self.image_size)
        self._check = FolderCheck(self)
        self._check.checked.connect(self._on_checked)
        self._problem: str | None = None
        self.source.currentIndexChanged.connect(lambda _index: self._on_source())
        self.folder.edit.editingFinished.connect(self._look)
        self.folder.picked.connect(lambda _path: self._look())

    def source_text(self) -> str:
        """``shapes`` or the folder's path, as ``DatasetConfig.source`` reads it."""
        return "shapes" if self.source.currentData() == "shapes" else self.folder.text()

    def problem(self) -> str | None:
        """What is wrong with the chosen folder (None: nothing found, or the built-in shapes)."""
        if self.source.currentData() != "folder":
            return None
        if not self.folder.text():
            return "Choose the image folder (Dataset > Folder), or the built-in synthetic shapes."
        return self._problem

    def _on_source(self) -> None:
        self.folder.setEnabled(self.source.currentData() == "folder")
        self._look()

    def _look(self) -> None:
        path = self.folder.text()
        if self.source.currentData() != "folder" or not path:
            self._show(None)
            return
        self._problem = None
        self.note.setText(CHECKING)
        self.note.setStyleSheet("color: #555;")
        self.note.setVisible(True)
        self._check.check(path)

    def _on_checked(self, _path: str, problem: str | None) -> None:
        self._show(problem)
        self.folder_checked.emit(problem)

    def _show(self, problem: str | None) -> None:
        self._problem = problem
        self.note.setText(problem or "")
        self.note.setStyleSheet("color: #a33;")
        self.note.setVisible(problem is not None)
