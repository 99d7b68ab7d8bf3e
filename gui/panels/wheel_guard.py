"""No setting changes without focus: the mouse wheel over a spin box, a combo box or a slider of a
form changes it only once the user has clicked into it (keyboard focus); otherwise the wheel
scrolls the form, as the user meant. Without this, scrolling the Setup panel with the pointer over
a number box silently changed the KD temperature from 4.0 to 0.001.

How: each such widget takes focus only by click or Tab (``StrongFocus``, never by the wheel) and
gets an event filter that ignores a wheel event while the widget has no focus. Qt then hands the
ignored event to the widget's parents, so the scroll area around the form scrolls.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSlider, QAbstractSpinBox, QComboBox, QWidget

__all__ = ["GUARDED", "guard_wheel"]

GUARDED = (QAbstractSpinBox, QComboBox, QAbstractSlider)


class _WheelGuard(QObject):
    """Lets a wheel event through only to the widget that has keyboard focus."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.Wheel and isinstance(watched, QWidget) and not watched.hasFocus():
            event.ignore()  # not accepted: Qt offers it to the parents (the scroll area scrolls)
            return True
        return False


def guard_wheel(root: QWidget) -> None:
    """Guard ``root`` and every spin box, combo box and slider under it (call it again for widgets
    added later; guarding a widget twice is harmless)."""
    guard = root.findChild(_WheelGuard, "wheel_guard")
    if guard is None:
        guard = _WheelGuard(root)
        guard.setObjectName("wheel_guard")
    for widget in (root, *root.findChildren(QWidget)):
        if isinstance(widget, GUARDED):
            widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            widget.removeEventFilter(guard)
            widget.installEventFilter(guard)
