"""The real main window driven by fake jobs and stored run folders: streaming into every panel,
click-to-inspect, replay of a run folder, errors, export, quitting, settings, drag and drop."""

from __future__ import annotations

import json

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import LAYERS, fake_training, metric_value, running_threads, write_run_dir
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from engine.frames import read_probe_frame
from gui import app as gui_app

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def _run_fake(window, qtbot, tmp_path, **kwargs):
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window._begin_run(str(tmp_path / "run"), fake_training(**kwargs), "fake run")
    qtbot.wait(200)  # the plots refresh on a short timer


def test_streamed_run_fills_every_panel(window, qtbot, tmp_path):
    _run_fake(window, qtbot, tmp_path, epochs=3, steps=4, n=4)
    assert window.panels["slider"].epoch == 3 and window.panels["grid"].frame.epoch == 3
    np.testing.assert_array_equal(
        window.panels["grid"].cell_image("distilled", 1), window.model.history.frames[3].maps["distilled"][1]
    )
    _, y = window.panels["metrics"].series["FSS(S,T)"].mean.getData()
    np.testing.assert_allclose(y, [metric_value("FSS(S,T)", LAYERS[-1], e) for e in (1, 2, 3)])
    _, acc = window.panels["training"].train_curves["student"].getData()
    np.testing.assert_allclose(acc, [0.6, 0.7, 0.8])
    assert "fake run starting" in window.panels["log"].toPlainText()
    assert window.actions["start"].isEnabled() and not window.actions["cancel"].isEnabled()
    # the slider drives every panel back to epoch 1
    window.panels["slider"].set_epoch(1)
    np.testing.assert_array_equal(
        window.panels["grid"].cell_image("residual", 2), window.model.history.frames[1].maps["residual"][2]
    )
    assert (
        window.panels["metrics"].epoch_lines[0].value() == 1
        and window.panels["training"].epoch_lines[0].value() == 1
    )


def test_clicking_a_probe_image_opens_it_in_the_inspector(window, qtbot, tmp_path):
    _run_fake(window, qtbot, tmp_path, epochs=1, steps=1, n=4)
    window.panels.dock("inspector").hide()
    grid = window.panels["grid"]
    scene_point = grid.cell_center(row=4, index=2)  # the distilled map of probe image #2
    viewport_point = grid.view_widget.mapFromScene(QPointF(scene_point.x(), scene_point.y()))
    qtbot.mouseClick(grid.view_widget.viewport(), Qt.MouseButton.LeftButton, pos=viewport_point)
    qtbot.waitUntil(lambda: window.panels.dock("inspector").isVisible(), timeout=3000)
    assert window.panels["inspector"].index == 2 and grid.selected == 2
    frame = window.model.history.frames[1]
    np.testing.assert_array_equal(
        window.panels["inspector"].map_item("distilled").image, frame.maps["distilled"][2]
    )
    assert "probe image #2" in window.panels["inspector"].title.text()


def test_opening_a_run_folder_replays_it(window, qtbot, tmp_path):
    run = write_run_dir(tmp_path / "stored", epochs=3, n=4)
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000) as done:
        window.open_run(run)
    assert done.args[0].out_dir == str(run) and not done.args[0].stopped
    qtbot.wait(200)
    assert sorted(window.model.history.frames) == [1, 2, 3] and window.panels["grid"].frame.epoch == 3
    window.panels["slider"].set_epoch(2)
    np.testing.assert_array_equal(
        window.panels["grid"].cell_image("gradcam_base", 0),
        window.model.history.frames[2].maps["gradcam_base"][0],
    )
    x, _ = window.panels["metrics"].series["RS(B|S)"].mean.getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    assert window.settings.recent()[0] == str(run)


def test_an_interrupted_run_can_be_continued(window, qtbot, tmp_path, monkeypatch):
    run = write_run_dir(tmp_path / "interrupted", epochs=2, finished=False)
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000) as done:
        window.open_run(run)
    assert done.args[0].stopped and window.actions["continue_run"].isEnabled()
    started = []
    monkeypatch.setattr(
        "gui.jobs.factories.resume_factory", lambda run_dir: started.append(run_dir) or fake_training(1, 1)
    )
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.actions["continue_run"].trigger()
    assert started == [str(run)] and not window.actions["continue_run"].isEnabled()


def test_opening_a_folder_that_is_no_run_shows_a_readable_error(window, qtbot, tmp_path):
    assert not window.open_run(tmp_path)  # checked first: no job starts
    assert "is not a KD Lens run folder" in window.model.last_error
    _run_fake(window, qtbot, tmp_path, epochs=1, steps=1)  # the app keeps working
    assert window.panels["grid"].frame is not None


def test_engine_error_is_shown_and_the_app_keeps_running(window, qtbot, tmp_path):
    _run_fake(window, qtbot, tmp_path, epochs=2, steps=4, raise_at=5)
    assert window.model.last_error == "the fake dataset folder has no test/ split; add one"
    assert window.actions["start"].isEnabled()


def test_export_writes_figure_maps_metrics_and_manifest(window, qtbot, tmp_path):
    _run_fake(window, qtbot, tmp_path, epochs=2, steps=1)
    written = {p.name for p in window.export_to(tmp_path / "export")}
    assert {
        "heatmaps_epoch_0002.png",
        "heatmaps_epoch_0002.svg",
        "maps_epoch_0002.npz",
        "metrics.csv",
        "metrics.json",
        "manifest.json",
    } <= written
    exported = read_probe_frame(tmp_path / "export" / "maps_epoch_0002.npz")  # the one frame codec
    stored = window.model.history.frames[2]
    np.testing.assert_array_equal(exported.maps["distilled"], stored.maps["distilled"])
    assert exported.flags == stored.flags
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["epoch"] == 2 and manifest["frame_flags"]["context_batch"] == [1, 2, 3, 4]
    rows = json.loads((tmp_path / "export" / "metrics.json").read_text())
    assert len(rows) == 2 * 16 and (tmp_path / "export" / "heatmaps_epoch_0002.png").stat().st_size > 1000


def test_closing_during_training_stops_after_the_step_and_closes(window, qtbot, tmp_path):
    from test_gui_flow import answer_quit

    window._begin_run(str(tmp_path / "run"), fake_training(epochs=100, steps=4, delay=0.01), "long run")
    qtbot.waitUntil(lambda: len(window.model.history.summaries) >= 1, timeout=10_000)
    answer_quit(True, [])  # the window asks first (issue 21 item 8)
    window.close()
    assert window.isVisible()  # not yet: the job stops after its current step first
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert window.model.last_result.stopped and running_threads() == []


def test_settings_are_remembered_between_launches(qtbot, settings, tmp_path, monkeypatch):
    from gui.main_window import MainWindow

    fx.without_engine_choices(monkeypatch)
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.panels["inspector"].controls.colormap.setCurrentText("viridis")
    first.panels["inspector"].controls.opacity.setValue(30)
    first.settings.add_recent(str(tmp_path / "a"))
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.model.options.colormap == "viridis" and second.model.options.opacity == pytest.approx(0.3)
    assert second.panels["inspector"].controls.colormap.currentText() == "viridis"
    assert [a.text() for a in second.recent_menu.actions()] == [str(tmp_path / "a")]


def test_dropping_a_run_folder_opens_it(window, qtbot, tmp_path):
    run = write_run_dir(tmp_path / "dropped", epochs=2)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(run))])
    event = QDropEvent(
        QPoint(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.dropEvent(event)
    assert sorted(window.model.history.frames) == [1, 2]


def test_explaining_an_image_without_a_run_says_what_to_do(window, tmp_path):
    window.explain_image(tmp_path / "cat.png")
    assert "Open a run folder or train the demo first" in window.model.last_error


def test_shortcuts_are_set_for_the_main_actions(window):
    for name in ("start", "pause", "cancel", "open_run", "open_image", "export", "quit"):
        assert not window.actions[name].shortcut().isEmpty(), name
        assert window.actions[name].toolTip()


def test_no_display_prints_one_line_and_exits_1(capsys):
    assert gui_app.display_problem(False, environ={}, platform="linux") == gui_app.NO_DISPLAY
    assert gui_app.display_problem(True, environ={}, platform="linux") is None
    assert gui_app.display_problem(False, environ={"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert gui_app.display_problem(False, environ={}, platform="darwin") is None


def test_main_without_display_exits_1_with_one_line(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(gui_app.sys, "platform", "linux")
    assert gui_app.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no display found" in err


def test_a_new_panel_is_one_widget_and_one_line_and_the_window_keeps_none(qtbot, settings, monkeypatch):
    """A panel listed in PANELS is built, held by the layout, reached by name, exported when it
    has plots and brought to the front when it asks; the window holds no panel or dock itself."""
    from PySide6.QtCore import Signal
    from PySide6.QtWidgets import QWidget

    from gui import layout
    from gui.main_window import MainWindow

    class ToyPanel(QWidget):
        reveal_requested = Signal()

        def __init__(self, model, actions=None) -> None:
            super().__init__()
            self.model = model

        def export_plots(self) -> dict[str, object]:
            return {"toy_plot": object()}

    monkeypatch.setattr(layout, "PANELS", (*layout.PANELS, layout.PanelSpec("toy", ToyPanel, "tab", "Toy")))
    fx.without_engine_choices(monkeypatch)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    toy = window.panels["toy"]
    assert isinstance(toy, ToyPanel) and set(window.panels) == {spec.name for spec in layout.PANELS}
    assert "toy_plot" in window.panels.export_plots()
    assert not toy.isVisible()  # the training tab is in front
    toy.reveal_requested.emit()
    assert toy.isVisible()
    held = {id(widget) for widget in (*window.panels.values(), *window.panels.docks.values())}
    assert not [name for name, value in vars(window).items() if id(value) in held]
    window.shutdown_jobs()
