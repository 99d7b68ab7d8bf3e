"""A path typed or picked: a line edit with a "…" button opening a file or folder dialog."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

__all__ = ["PathField"]


class PathField(QWidget):
    """``kind`` "file" (with ``filters``) or "folder"; ``picked(str)`` when the dialog chose one."""

    picked = Signal(str)

    def __init__(self, title: str, placeholder: str, kind: str = "file", filters: str = "All files (*)"):
        super().__init__()
        self.title, self.kind, self.filters = title, kind, filters
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setMinimumWidth(80)
        self.edit.setToolTip(title)
        browse = QPushButton("…")
        browse.setFixedWidth(32)
        browse.setToolTip(f"Pick: {title}")
        browse.clicked.connect(lambda _checked=False: self.browse())
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(browse)

    def browse(self) -> None:
        if self.kind == "folder":
            path = QFileDialog.getExistingDirectory(self, self.title, self.edit.text())
        else:
            path, _ = QFileDialog.getOpenFileName(self, self.title, self.edit.text(), self.filters)
        if path:
            self.edit.setText(path)
            self.picked.emit(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name, so it stands in for a QLineEdit)
        self.edit.setText(text)
