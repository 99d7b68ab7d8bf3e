"""Ctrl+Left / Ctrl+Right step the shown epoch everywhere in the window, even in a spin box (the
epoch box too), which would otherwise take them to move its text cursor by a word."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QWidget

__all__ = ["EPOCH_KEYS", "EpochKeys"]

EPOCH_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}


class EpochKeys(QObject):
    """An event filter on every spin box under a widget: Ctrl+Left/Right call ``step(-1 or +1)``."""

    def __init__(self, step: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._step = step
        self._roots: list[QWidget] = []

    def watch(self, root: QWidget) -> None:
        """Filter the keys of every spin box under ``root``, and of any made later (a form that
        rebuilds its boxes) once it gets the focus; a box is filtered once however often."""
        for box in root.findChildren(QAbstractSpinBox):
            self._filter(box)
        if not self._roots:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                app.focusChanged.connect(self._on_focus)
        if root not in self._roots:
            self._roots.append(root)

    def _filter(self, box: QAbstractSpinBox) -> None:
        box.installEventFilter(self)
        for editor in box.findChildren(QLineEdit):  # the box's own text field gets keys first
            editor.installEventFilter(self)

    @Slot(QWidget, QWidget)
    def _on_focus(self, _old: QWidget | None, now: QWidget | None) -> None:
        box = now.parentWidget() if isinstance(now, QLineEdit) else now
        if isinstance(box, QAbstractSpinBox) and self._under_root(box):
            self._filter(box)

    def _under_root(self, widget: QObject | None) -> bool:
        """Whether ``widget`` lies under a watched root (a floating dock's boxes too)."""
        while widget is not None:
            if any(widget is root for root in self._roots):
                return True
            widget = widget.parent()
        return False

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
