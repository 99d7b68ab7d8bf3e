"""Ctrl+Left / Ctrl+Right step the shown epoch everywhere in the window, even in a spin box (the
epoch box too), which would otherwise take them to move its text cursor by a word."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit, QWidget

__all__ = ["EPOCH_KEYS", "EpochKeys"]

EPOCH_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}


class EpochKeys(QObject):
    """An event filter on every spin box under a widget: Ctrl+Left/Right call ``step(-1 or +1)``."""

    def __init__(self, step: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._step = step

    def watch(self, root: QWidget) -> None:
        """Filter the keys of every spin box under ``root`` (again after a form rebuilt its boxes:
        a box is filtered once however often it is watched)."""
        for box in root.findChildren(QAbstractSpinBox):
            box.installEventFilter(self)
            for editor in box.findChildren(QLineEdit):  # the box's own text field gets keys first
                editor.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if (
            event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and isinstance(event, QKeyEvent)
            and event.modifiers() == Qt.KeyboardModifier.ControlModifier
            and event.key() in EPOCH_KEYS
        ):
            if event.type() == QEvent.Type.KeyPress:
                self._step(EPOCH_KEYS[Qt.Key(event.key())])
            event.accept()  # the box keeps the key (no word move) and steps the epoch once
            return True
        return super().eventFilter(watched, event)
