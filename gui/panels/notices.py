"""What the open run says about itself beside its numbers, in a band over the heatmaps: e.g. "the
teacher is weaker than the base: KD results compare against a weak teacher" (the engine decides,
``engine.runs.notices``; training logs it too). Hidden while there is nothing to say."""

from __future__ import annotations

import html
from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

from gui.model.run_model import RunModel

__all__ = ["NoticeBar"]


class NoticeBar(QLabel):
    """One line per notice of the open run; hidden when it has none."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setStyleSheet(
            "QLabel { background: #fff4ce; color: #5c4400; border: 1px solid #e0c060; padding: 4px 8px; }"
        )
        self.setVisible(False)
        model.events.notices.connect(self.show_notices)

    def show_notices(self, notices: list[str]) -> None:
        lines = [f"⚠ <b>{html.escape(text[:1].upper() + text[1:], quote=False)}</b>" for text in notices]
        self.setText("<br>".join(lines))
        self.setVisible(bool(notices))
