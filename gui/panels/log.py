"""The log: every message of the run, warnings and errors marked, newest at the bottom."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPlainTextEdit

from gui.model.run_model import RunModel

MAX_LINES = 5000


class LogPanel(QPlainTextEdit):
    """Read-only text of the model's log messages."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.setMaximumBlockCount(MAX_LINES)
        model.events.log.connect(self.add)

    def add(self, message: str, level: str = "info") -> None:
        self.appendPlainText(message if level == "info" else f"[{level}] {message}")
