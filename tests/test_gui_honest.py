"""The window tells the truth (issue 13): a pinned pixel never shows stale values, a failed open
never damages the open run, the job's state and time left are honest, explained files are
labelled only as the user labels them, and the keyboard works where the sheet says it does."""

from __future__ import annotations

import time

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import CLASS_NAMES, make_frame, write_run_dir
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QStyle

from engine.events import CheckpointWritten, JobFinished, LogLine, Progress, StopToken
from gui.actions import ACTIONS, PANEL_KEYS, shortcuts_text
from gui.model.options import SIGNED
from gui.model.run_model import RunModel
from gui.model.status import TRAIN, eta_text
from gui.panels import display

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def _open(window, qtbot, run):
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        assert window.open_run(run)
    qtbot.wait(100)


def _click_pixel(qtbot, inspector, key: str, row: int, col: int) -> None:
    view = inspector.plots.views[key]
    scene = view.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    point = inspector.plots.mapFromScene(scene)
    qtbot.mouseClick(inspector.plots.viewport(), Qt.MouseButton.LeftButton, pos=point)


def _shown(value: float, signed: bool = False) -> str:
    return display.format_value(float(value), signed)


# -- item 2: a pinned pixel is never stale -------------------------------------------------------
def test_a_pinned_pixel_follows_the_slider_the_image_and_the_mode(window, qtbot, tmp_path):
    _open(window, qtbot, write_run_dir(tmp_path / "run", epochs=3, n=4))
    inspector, frames = window.panels["inspector"], window.model.history.frames
    window.model.inspect(1)
    qtbot.wait(50)  # the inspector's dock is raised and laid out
    _click_pixel(qtbot, inspector, "distilled", 5, 7)
    assert inspector.pixel == (5, 7) and "pinned" in inspector.readout.text()
    assert _shown(frames[3].maps["gradcam_student"][1, 5, 7]) in inspector.readout.text()
    # the slider moves: the readout shows the new epoch's values, not epoch 3's
    window.panels["slider"].set_epoch(2)
    text = inspector.readout.text()
    assert "epoch 2" in text and _shown(frames[2].maps["gradcam_student"][1, 5, 7]) in text
    assert _shown(frames[3].maps["gradcam_student"][1, 5, 7]) not in text
    # another image: still pinned, its values
    window.model.inspect(3)
    assert inspector.pixel == (5, 7)
    assert _shown(frames[2].maps["residual"][3, 5, 7]) in inspector.readout.text()
    # another mode: the signed value at layer resolution (4 x 4 here), with a sign
    inspector.controls.mode.setCurrentIndex(inspector.controls.mode.findData(SIGNED))
    assert _shown(frames[2].signed["residual"][3, 1, 1], signed=True) in inspector.readout.text()
    assert all(marker.isVisible() for marker in inspector.plots.markers.values())
    # an image without that pixel releases the pin; clicking the pinned pixel again releases it
    small = make_frame(4, n=1, size=4)
    window.model.add_explained(str(tmp_path / "small.png"), small)
    assert inspector.pixel is None and "Hover over" in inspector.readout.text()
    window.model.inspect(0)
    _click_pixel(qtbot, inspector, "input", 2, 2)
    _click_pixel(qtbot, inspector, "input", 2, 2)
    assert inspector.pixel is None


def test_the_readout_names_maps_for_people_and_shows_enough_digits(qtbot):
    from gui.panels.inspector import Inspector

    model = RunModel()
    inspector = Inspector(model)
    qtbot.addWidget(inspector)
    frame = make_frame(1, n=2, size=16)
    frame.signed["residual"][0] *= 1e-6  # tiny signed values must not read as 0.000
    inspector.show_image(frame, 0)
    inspector.controls.mode.setCurrentIndex(inspector.controls.mode.findData(SIGNED))
    inspector.pin((5, 7))
    text = inspector.readout.text()
    assert "Grad-CAM teacher" in text and "gradcam_teacher" not in text
    tiny = float(frame.signed["residual"][0, 1, 1])
    assert f"{tiny:+.3e}" in text
    assert display.format_value(2.5e-5, signed=True) == "+2.500e-05"
    assert display.format_value(0.5) == "0.5000" and display.format_value(float("nan")) == "n/a"


# -- item 4: a failed open never damages the open run ---------------------------------------
def test_opening_a_folder_that_is_no_run_leaves_the_open_run_intact(window, qtbot, tmp_path):
    good = write_run_dir(tmp_path / "good", epochs=3, n=4)
    _open(window, qtbot, good)
    frame, epoch = window.panels["grid"].frame, window.panels["slider"].epoch
    curves = len(window.model.history.curves["student"].epoch_x)
    rows = len(window.model.history.metrics_rows())
    bad = tmp_path / "not-a-run"
    bad.mkdir()
    assert not window.open_run(bad)
    assert not window.bridge.busy  # nothing was started
    assert "is not a KD Lens run folder" in window.model.last_error
    assert window.model.run_dir == str(good) and window.panels["grid"].frame is frame
    assert window.panels["slider"].epoch == epoch and len(window.model.history.metrics_rows()) == rows
    assert len(window.model.history.curves["student"].epoch_x) == curves
    assert window.panels["metrics"].series["FSS(S,T)"].mean.getData()[0].size == 3
    assert window.settings.recent() == [str(good)]  # only good folders enter Recent
    assert window.windowTitle() == "KD Lens — good"


def test_a_run_that_fails_while_opening_leaves_the_open_run_intact(window, qtbot, tmp_path):
    good = write_run_dir(tmp_path / "good", epochs=2, n=4)
    _open(window, qtbot, good)
    damaged = write_run_dir(tmp_path / "damaged", epochs=2, n=4)
    (damaged / "probe" / "epoch_0002.npz").write_bytes(b"not an npz")
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000) as done:
        assert window.open_run(damaged)
    assert done.args[0] is None and window.model.last_error
    assert window.model.run_dir == str(good) and sorted(window.model.history.frames) == [1, 2]
    assert window.panels["grid"].frame is not None and window.settings.recent() == [str(good)]
    assert window.model.status.startswith("Could not open damaged")
    assert window.model.explain_block_reason() is None  # explaining still uses the good run


# -- item 5: the screen tells the truth about the run ------------------------------------------
def _teacher_first(stop: StopToken):
    """A fake run whose teacher trains for a while before anything else (no frames yet)."""
    for step in range(1, 200):
        stop.check()
        yield Progress("teacher", 1 + step // 50, step % 50 + 1, 50, step, 400, loss=1.0)
        yield LogLine("tick")
        time.sleep(0.01)
    yield JobFinished(summary={}, stopped=False)


def test_while_the_teacher_trains_the_grid_and_status_say_so(window, qtbot, tmp_path):
    window._begin_run(str(tmp_path / "run"), _teacher_first, "teacher first")
    qtbot.waitUntil(lambda: window.model.training_role == "teacher", timeout=10_000)
    qtbot.wait(100)
    assert window.model.job == TRAIN
    assert "Training the teacher" in window.panels["grid"]._empty.toPlainText()
    assert "Press" not in window.panels["grid"]._empty.toPlainText()
    bar = window.panels["status_bar"]
    assert (
        bar.state.text().startswith("Training teacher")
        and "Idle" not in window.panels["training"].state.text()
    )
    assert bar.eta.text() == "ETA estimating…"
    assert window.windowTitle() == "KD Lens — run"
    # pause: the action says Resume with a play icon, the status says Paused
    pause = window.actions["pause"]
    pause_icon = pause.icon().cacheKey()
    with qtbot.waitSignal(window.bridge.paused_changed):
        pause.trigger()
    assert pause.text() == "&Resume" and pause.icon().cacheKey() != pause_icon
    assert window.model.status.startswith("Paused") and bar.state.text().startswith("Paused")
    with qtbot.waitSignal(window.bridge.paused_changed):
        pause.trigger()
    assert pause.text() == "&Pause" and not window.model.status.startswith("Paused")
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.bridge.cancel()
    assert window.model.status.startswith("Stopped")


def test_a_teacher_phase_frame_is_a_preview_until_the_first_kd_frame(window, qtbot):
    model = window.model
    model.begin_job(TRAIN, None)
    teacher = make_frame(0, n=4)
    teacher = type(teacher)(
        **{**teacher.__dict__, "maps": {"gradcam_teacher": teacher.maps["gradcam_teacher"]},
           "flags": {"phase": "teacher", "teacher_epoch": 3}}
    )  # fmt: skip
    model.apply(teacher)
    model.show_frame(teacher)
    assert window.panels["grid"].frame is teacher and window.panels["slider"].epoch is None
    assert window.panels["grid"].row_item("gradcam_teacher").isVisible()
    assert not window.panels["grid"].row_item("distilled").isVisible()
    assert "Teacher phase (after teacher epoch 3)" in window.panels["grid"].caption.text()
    kd = make_frame(1, n=4)
    model.apply(kd)
    model.show_frame(kd)
    assert (
        window.panels["grid"].frame is kd
        and window.panels["slider"].epoch == 1
        and window.panels["grid"].row_item("distilled").isVisible()
    )
    assert sorted(model.history.frames) == [1] and sorted(model.history.teacher_frames) == [0]


def test_the_time_left_is_the_engines_measurement_or_says_estimating():
    step = dict(role="teacher", epoch=2, step=5, steps_per_epoch=94, done=100, total=2830)
    assert eta_text(Progress(**step)) == "ETA estimating…"
    assert eta_text(Progress(**step, phase_eta_seconds=147)) == "teacher: 2m 27s left · total ETA estimating…"
    assert eta_text(Progress(**step, eta_seconds=789, phase_eta_seconds=5)) == "ETA 13m 09s"


def test_after_an_explanation_the_status_says_it_was_explained(window, qtbot, tmp_path, monkeypatch):
    _open(window, qtbot, write_run_dir(tmp_path / "run", epochs=2, n=4))
    image = tmp_path / "cat.png"
    from PIL import Image

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image)
    explained = _explained_frame(image)
    monkeypatch.setattr("gui.jobs.factories.explain_factory", lambda *a, **k: _yields(explained))
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=10_000):
        assert window.explain_image(image)
        assert window.model.status == "Explaining cat.png…"
    assert window.model.status.startswith("Explained cat.png") and window.model.explaining is None
    assert window.actions["open_image"].isEnabled()


# -- item 6: explained files are labelled honestly ---------------------------------------------
def _explained_frame(path, label: int = -1, target=None):
    frame = make_frame(2, n=1, size=16)
    flags = {
        "image_path": str(path),
        "target": target,
        "explained_class": CLASS_NAMES[target] if target is not None else "each model's prediction",
        "original_size": [30, 20],
    }
    return type(frame)(**{**frame.__dict__, "labels": np.asarray([label]), "flags": flags})


def _yields(*events):
    def job(stop):
        yield from events

    return job


def test_an_opened_file_has_no_label_unless_the_user_gives_one(window, qtbot, tmp_path):
    requests = []
    window.model.events.explain_requested.disconnect(window.explain_image)
    window.model.events.explain_requested.connect(lambda *args: requests.append(args))
    window.model.add_explained(str(tmp_path / "cat.png"), _explained_frame(tmp_path / "cat.png"))
    inspector = window.panels["inspector"]
    title = inspector.title.text()
    assert "label: none given" in title and "explains: each model's prediction" in title
    assert "Centre-cropped to the model's square input (16×16 px; the file is 30×20 px)" in title
    assert "circle" not in title.split("explains")[0]
    assert inspector.predictions.text().count("predicted:") == 3
    assert inspector.file_box.isVisibleTo(inspector)
    assert [inspector.file_box.target.itemText(i) for i in range(inspector.file_box.target.count())] == [
        "each model's prediction",
        *CLASS_NAMES,
    ]
    inspector.file_box.target.setCurrentIndex(3)  # triangle
    inspector.file_box.target.activated.emit(3)
    inspector.file_box.label_box.setCurrentIndex(2)  # square
    inspector.file_box.label_box.activated.emit(2)
    assert requests == [(str(tmp_path / "cat.png"), 2, None), (str(tmp_path / "cat.png"), 2, 1)]
    window.model.add_explained(str(tmp_path / "cat.png"), _explained_frame(tmp_path / "cat.png", 1, 2))
    assert "label: square" in inspector.title.text() and "explains: triangle" in inspector.title.text()
    # a probe image keeps its true label; the grid shows '?' for an unknown one
    probe = make_frame(1, n=4)
    unknown = type(probe)(**{**probe.__dict__, "labels": np.asarray([-1, 0, 1, 2])})
    window.panels["grid"].show_frame(unknown)
    assert window.panels["grid"].names.names[0] == "?"


def test_open_image_is_disabled_with_a_reason_until_explaining_is_possible(
    window, qtbot, tmp_path, monkeypatch
):
    action = window.actions["open_image"]
    assert not action.isEnabled() and "Open a run folder or train the demo first" in action.toolTip()
    started = []

    def fake_factory(run_dir, image_path, epoch=None, *, target=None, label=None, in_child=False):
        started.append((epoch, in_child))
        return _yields(_explained_frame(image_path))

    monkeypatch.setattr("gui.jobs.factories.explain_factory", fake_factory)
    window._begin_run(str(tmp_path / "run"), _teacher_first, "teacher first")
    qtbot.waitUntil(lambda: window.model.training_role is not None, timeout=10_000)
    assert not action.isEnabled() and "first epoch" in action.toolTip()
    window.model.apply(CheckpointWritten("base", 1, "b"))
    window.model.apply(CheckpointWritten("student", 1, "s"))
    assert action.isEnabled() and "last committed epoch (1)" in action.toolTip()
    from PIL import Image

    image = tmp_path / "dog.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=10_000):
        assert window.explain_image(image)
        assert not action.isEnabled() and "being explained" in action.toolTip()
    assert started[0] == (1, True)  # during training: in a child process, at the committed epoch
    assert window.panels["inspector"].source == "dog.png"
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.bridge.cancel()


def test_a_file_that_is_no_image_is_named_plainly(window, qtbot, tmp_path):
    _open(window, qtbot, write_run_dir(tmp_path / "run", epochs=1, n=4))
    text = tmp_path / "notes.png"
    text.write_text("hello")
    assert not window.explain_image(text)
    assert window.model.last_error == (
        "notes.png: this file is not an image PIL can read; open a PNG, JPEG, BMP, TIFF, WebP or GIF file."
    )
    assert "Error" not in window.model.last_error


# -- item 9: keyboard ----------------------------------------------------------------------------
def test_ctrl_left_right_step_epochs_even_in_the_epoch_box(window, qtbot, tmp_path):
    _open(window, qtbot, write_run_dir(tmp_path / "run", epochs=3, n=4))
    window.activateWindow()
    spin = window.panels["slider"]._spin
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=3000)
    assert window.panels["slider"].epoch == 3
    qtbot.keyClick(spin, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    assert window.panels["slider"].epoch == 2 and window.panels["grid"].frame.epoch == 2
    qtbot.keyClick(spin, Qt.Key.Key_Left, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(spin, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert window.panels["slider"].epoch == 2
    window.panels["grid"].view_widget.setFocus()  # elsewhere: the window's shortcut
    qtbot.keyClick(window.panels["grid"].view_widget, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert window.panels["slider"].epoch == 3


def test_left_right_on_the_grid_move_the_selected_image(window, qtbot, tmp_path):
    _open(window, qtbot, write_run_dir(tmp_path / "run", epochs=1, n=4))
    grid = window.panels["grid"]
    window.model.inspect(1)
    grid.view_widget.setFocus()
    qtbot.keyClick(grid.view_widget, Qt.Key.Key_Right)
    assert window.model.inspected == 2 and grid.selected == 2 and window.panels["inspector"].index == 2
    qtbot.keyClick(grid.view_widget, Qt.Key.Key_Left)
    qtbot.keyClick(grid.view_widget, Qt.Key.Key_Left)
    qtbot.keyClick(grid.view_widget, Qt.Key.Key_Left)
    assert window.model.inspected == 0  # stops at the first image


def test_the_shortcuts_sheet_lists_only_what_works(window):
    lines = shortcuts_text().splitlines()
    by_key = {}
    for action in window.actions.values():
        if not action.shortcut().isEmpty():
            by_key[action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)] = action
    panel_keys = {keys for keys, _ in PANEL_KEYS}
    for line in lines:
        key, what = line.split("\t")
        assert key in by_key or key in panel_keys, line
        if key in by_key:
            assert by_key[key].text().replace("&", "") == what
    assert len(lines) == sum(1 for spec in ACTIONS if spec.shortcut) + len(PANEL_KEYS)
    window.panels["grid"].show_frame(make_frame(1, n=4))
    window.panels["grid"].view.scaleBy((0.25, 0.25))
    zoomed = window.panels["grid"].view.viewRange()
    window.actions["reset_zoom"].trigger()
    assert window.panels["grid"].view.viewRange() != zoomed


@pytest.mark.parametrize("name", ["Setup", "Inspector"])
def test_every_dock_can_be_brought_back_from_the_view_menu(window, name):
    dock = window.panels.dock(name.lower())
    dock.close()
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    toggles = [a for a in view_menu.actions() if a.text() == name]
    assert toggles
    toggles[0].trigger()
    assert dock.isVisible()


def test_pause_icon_is_the_play_icon_when_paused(window):
    from gui.actions import show_paused

    show_paused(window.actions["pause"], window, True)
    play = window.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay)
    assert window.actions["pause"].icon().pixmap(16).toImage() == play.pixmap(16).toImage()


def test_the_engine_says_estimating_until_a_phase_has_a_measured_epoch(tmp_path):
    """The time left the window shows comes from the engine: per phase, from that phase's own
    measured steps (a few, issue 21) or finished epochs; the whole job's only once no unmeasured
    phase is left. Two steps an epoch: the first epoch of each phase is too short to measure."""
    from dataclasses import replace

    from engine.jobs.demo import demo_config
    from engine.jobs.train import train_job
    from engine.training.config import RoleConfig

    config = demo_config(quick=True)
    config = replace(config, teacher=RoleConfig("large_cnn", epochs=2, max_steps=2))
    progress = [e for e in train_job(config, tmp_path / "run") if isinstance(e, Progress)]
    teacher = [p for p in progress if p.role == "teacher"]
    student = [p for p in progress if p.role == "student"]
    assert all(p.eta_seconds is None for p in teacher)  # the KD phase has not run yet
    assert all(p.phase_eta_seconds is None for p in teacher if p.epoch == 1)
    assert all(p.phase_eta_seconds is not None and p.phase_eta_seconds >= 0 for p in teacher if p.epoch == 2)
    assert all(p.eta_seconds is None for p in student if p.epoch == 1)
    assert all(
        p.eta_seconds is not None and p.eta_seconds == p.phase_eta_seconds for p in student if p.epoch == 2
    )


def test_an_explanation_during_training_runs_in_a_child_process_with_its_class(tmp_path):
    from gui.jobs import factories

    # building the factory must not clash with the child runner's own arguments
    job = factories.explain_factory(tmp_path, tmp_path / "x.png", 3, target=2, label=1, in_child=True)
    assert callable(job)
