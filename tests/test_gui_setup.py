"""The Setup panel a scientist trusts (issue 21): the wheel never changes a setting the user did not
click into, the Custom preset trains a teacher at least as long as its students, every preset
starts in a new folder of its own, and a data folder's problems are named when it is chosen."""

from __future__ import annotations

import gui_fixtures as fx
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QWidget

from gui.panels.setup import CUSTOM, SetupPanel
from gui.panels.wheel_guard import GUARDED

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window

LOSSES = {
    "hinton": {
        "description": "Hinton KD",
        "hyperparameters": {
            "temperature": {"default": 4.0, "low": 0.0, "high": None, "low_open": True, "help": "T"},
            "alpha": {"default": 0.9, "low": 0.0, "high": 1.0, "low_open": False, "help": "a"},
        },
    }
}


def _wheel(widget: QWidget, notches: int = -3) -> None:
    """Turn the wheel over ``widget``'s centre, as a mouse does."""
    local = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        local,
        QPointF(widget.mapToGlobal(local)),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def _value(widget: QWidget) -> object:
    for name in ("value", "currentIndex"):
        if hasattr(widget, name):
            return getattr(widget, name)()
    raise AssertionError(type(widget))


def test_the_wheel_over_any_field_of_the_setup_panel_changes_nothing(window, qtbot):
    setup = window.panels["setup"]
    setup.set_choices({"architectures": {}, "timm": [], "losses": LOSSES, "devices": ["cpu"]})
    setup.set_preset(CUSTOM)
    window.panels.reveal("setup")
    qtbot.wait(50)
    fields = [w for w in setup.findChildren(QWidget) if isinstance(w, GUARDED) and w.isVisible()]
    assert len(fields) >= 12 and setup.kd.params["temperature"] in fields
    before = [_value(w) for w in fields]
    for widget in fields:
        _wheel(widget, -3)
        _wheel(widget, +3)
    assert [_value(w) for w in fields] == before
    assert setup.kd.params["temperature"].value() == pytest.approx(4.0)
    # once clicked into (focused), the wheel works as before
    box = setup.kd.params["temperature"]
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    _wheel(box, +1)
    assert box.value() > 4.0


def test_a_newly_chosen_loss_gets_guarded_fields_too(qtbot):
    from gui.model.run_model import RunModel

    panel = SetupPanel(RunModel())
    qtbot.addWidget(panel)
    panel.set_choices({"architectures": {}, "timm": [], "losses": LOSSES, "devices": ["cpu"]})
    panel.set_preset(CUSTOM)
    panel.show()
    box = panel.kd.params["alpha"]
    _wheel(box, -2)
    assert box.value() == pytest.approx(0.9)
