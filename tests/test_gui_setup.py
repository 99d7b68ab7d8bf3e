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


# -- item 8: each preset starts in a new folder; a data folder's problems are named at once -------
def test_the_folder_field_does_not_carry_over_between_presets(window, qtbot, tmp_path):
    setup = window.panels["setup"]
    setup.set_preset("kd-gain")
    setup.out_dir.setText(str(tmp_path / "mine"))
    setup.set_preset("cue-failure")
    assert setup.out_dir.text() == "" and setup.chosen_job(lambda _what: False).out_dir == ""
    # a typed folder that now holds the run started in it is not offered again
    setup.set_preset(CUSTOM)
    setup.out_dir.setText(str(tmp_path / "run"))
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window._begin_run(str(tmp_path / "run"), fx.fake_training(epochs=1, steps=1), "fake run")
    assert setup.out_dir.text() == ""


def _image_folder(root, classes: dict[str, int], split: str = "train"):
    from PIL import Image

    for name, count in classes.items():
        (root / split / name).mkdir(parents=True, exist_ok=True)
        for index in range(count):
            Image.new("RGB", (8, 8), (index * 40, 0, 0)).save(root / split / name / f"{index}.png")
    return root


def test_a_data_folder_is_looked_at_when_it_is_chosen(qtbot, tmp_path):
    from gui.model.run_model import RunModel

    panel = SetupPanel(RunModel())
    qtbot.addWidget(panel)
    panel.set_preset(CUSTOM)
    form = panel.dataset
    form.source.setCurrentIndex(form.source.findData("folder"))
    assert "Choose the image folder" in panel.chosen_job(lambda _w: False).problem
    one_class = _image_folder(tmp_path / "one", {"cat": 3})
    with qtbot.waitSignal(form.folder_checked, timeout=5000) as checked:
        form.folder.setText(str(one_class))
        form.folder.edit.editingFinished.emit()
    assert "at least two are needed" in checked.args[0] and not form.note.isHidden()
    assert "at least two are needed" in panel.chosen_job(lambda _w: False).problem
    mismatch = _image_folder(
        _image_folder(tmp_path / "two", {"cat": 3, "dog": 3}), {"cat": 2, "cow": 2}, "test"
    )
    with qtbot.waitSignal(form.folder_checked, timeout=5000) as checked:
        form.folder.setText(str(mismatch))
        form.folder.edit.editingFinished.emit()
    assert "differ from the training split" in checked.args[0]
    (tmp_path / "bad" / "train" / "cat").mkdir(parents=True)
    _image_folder(tmp_path / "bad", {"dog": 3})
    for index in range(3):
        (tmp_path / "bad" / "train" / "cat" / f"{index}.jpg").write_bytes(b"not an image")
    with qtbot.waitSignal(form.folder_checked, timeout=5000) as checked:
        form.folder.setText(str(tmp_path / "bad"))
        form.folder.edit.editingFinished.emit()
    assert "none can be read" in checked.args[0]
    good = _image_folder(_image_folder(tmp_path / "good", {"cat": 3, "dog": 3}), {"cat": 1, "dog": 1}, "test")
    with qtbot.waitSignal(form.folder_checked, timeout=5000) as checked:
        form.folder.setText(str(good))
        form.folder.edit.editingFinished.emit()
    assert checked.args[0] is None and form.note.isHidden()
    job = panel.chosen_job(lambda _w: False)
    assert job.problem is None and job.config["dataset"]["source"] == str(good)
