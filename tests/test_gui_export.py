"""Exports are figures (issue 13, issue 21 item 1): the heatmap figure labels every row with its
map and every column with its class and draws each map over its image as the screen does; the
PNG is at the chosen DPI and a fixed width, with no selection box; plots export too; the folder
is created; nothing is exported before a heatmap exists. And plots read well: a hint instead of
empty axes, legends outside the data."""

from __future__ import annotations

import io

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import CLASS_NAMES, make_frame, write_run_dir
from PIL import Image

from engine.reports.figure_style import TWO_COLUMN
from gui.figure import heatmap_grid
from gui.model.options import DisplayOptions
from gui.model.run_model import RunModel
from gui.panels import display
from gui.panels.metrics import MetricsPanel, cadence_text
from gui.panels.training import TrainingPanel

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def _exported(window, qtbot, tmp_path, epochs=2, dpi=150):
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.open_run(write_run_dir(tmp_path / "run", epochs=epochs, n=6))
    qtbot.wait(300)
    folder = tmp_path / "deep" / "new" / "export"  # created, parents too
    written = {p.name: p for p in window.export_to(folder, dpi=dpi)}
    return folder, written


def test_the_heatmap_figure_labels_every_row_and_column_and_draws_as_the_screen(window, qtbot, tmp_path):
    folder, written = _exported(window, qtbot, tmp_path)
    frame, options = window.panels["grid"].frame, window.model.options
    grid = heatmap_grid(frame, options)
    keys = [key for key, _ in display.columns_for(frame) if key in frame.maps]
    assert list(grid.row_labels) == ["Input", *(display.map_title(k) for k in keys)]  # 6 rows
    assert list(grid.column_titles) == [CLASS_NAMES[i % 4] for i in range(6)]
    np.testing.assert_array_equal(grid.cells[0][2], frame.images[2])
    stack, levels = display.map_stack(frame, "distilled", options)
    lut = display.lookup_table(display.colormap_for(options))
    expected = display.blend(frame.images[1], stack[1], levels, lut, options.opacity)
    np.testing.assert_array_equal(grid.cells[1 + keys.index("distilled")][1], expected)
    text = written["heatmaps_epoch_0002.svg"].read_text()  # outlined text keeps each string as a comment
    for label in (*grid.row_labels, *CLASS_NAMES, "1 (max)", "0 (min)"):
        assert f"<!-- {label} -->" in text, label
    assert written["heatmaps_epoch_0002.pdf"].read_bytes().startswith(b"%PDF")


def test_the_png_is_a_figure_of_fixed_width_at_the_chosen_dpi(window, qtbot, tmp_path):
    folder, written = _exported(window, qtbot, tmp_path)
    image = Image.open(written["heatmaps_epoch_0002.png"])
    assert image.width == TWO_COLUMN.width * 150 and image.info["dpi"][0] == pytest.approx(150, abs=0.05)
    pixels = np.asarray(image.convert("RGB"))
    blank_rows = (pixels.min(axis=(1, 2)) > 245).mean()
    assert blank_rows < 0.35  # a figure, not a mostly empty screen grab
    # a selection on screen is not baked into the figure: the same file with or without it
    window.model.inspect(2)
    assert window.panels["grid"].selected == 2
    again = {p.name: p for p in window.export_to(tmp_path / "again", dpi=150)}
    assert again["heatmaps_epoch_0002.png"].read_bytes() == written["heatmaps_epoch_0002.png"].read_bytes()
    bigger = {p.name: p for p in window.export_to(tmp_path / "bigger", dpi=300)}
    assert Image.open(bigger["heatmaps_epoch_0002.png"]).width == 2 * image.width


def test_the_figure_follows_the_display_options(window, qtbot, tmp_path):
    window.panels["grid"].show_frame(make_frame(1, n=4))
    frame = make_frame(1, n=4)
    signed = heatmap_grid(frame, DisplayOptions(mode="signed", colormap="viridis"))
    plain = heatmap_grid(frame, DisplayOptions())
    assert signed.scale.ticks[0][1].startswith("−max") and "signed" in signed.scale.caption
    assert not np.array_equal(signed.cells[1][0], plain.cells[1][0])
    np.testing.assert_array_equal(signed.cells[0][0], plain.cells[0][0])  # the input row is the input


def test_plots_export_with_the_figure_and_a_manifest(window, qtbot, tmp_path):
    folder, written = _exported(window, qtbot, tmp_path)
    assert folder.is_dir()
    for stem in ("training_cross_entropy", "training_kd_loss", "training_accuracy", "metrics_fss_stage4"):
        for suffix in (".png", ".svg", ".pdf"):
            assert f"{stem}{suffix}" in written, stem
            assert written[f"{stem}{suffix}"].stat().st_size > 500
    png = Image.open(io.BytesIO(written["training_accuracy.png"].read_bytes()))
    assert png.size == (510, 390)  # 3.4 x 2.6 inches at 150 dpi
    assert "manifest.json" in written and "metrics.csv" in written


def test_exporting_before_any_heatmap_says_there_is_nothing_yet(window, tmp_path):
    assert window.export_to(tmp_path / "out") == []
    assert window.model.last_error.startswith("Nothing to export yet")
    assert not (tmp_path / "out").exists()


def test_an_export_shows_the_wait_cursor_and_gives_it_back_before_any_message(window, monkeypatch, tmp_path):
    """Drawing every figure takes seconds: the status bar says so and the cursor waits; a failed
    export restores the cursor before its message."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from gui.export import ExportError

    seen = {}

    def failing(folder, **_):
        seen["cursor"] = QApplication.overrideCursor().shape()
        seen["status"] = window.statusBar().currentMessage()
        raise ExportError(f"cannot create the export folder {folder}: Permission denied")

    def message(text):
        seen["cursor at the message"] = QApplication.overrideCursor()

    monkeypatch.setattr("gui.export.export_all", failing)
    monkeypatch.setattr(window, "_show_error", message)
    assert window.export_to(tmp_path / "out") == []
    assert seen["cursor"] == Qt.CursorShape.WaitCursor and seen["status"].startswith("Exporting")
    assert seen["cursor at the message"] is None and QApplication.overrideCursor() is None


def test_file_dialogs_start_at_the_last_folder_used(window, tmp_path, monkeypatch):
    seen = []
    folder = tmp_path / "pictures"
    folder.mkdir()

    def fake_open(parent, title, start, filters):
        seen.append(start)
        return str(folder / "missing.png"), ""

    monkeypatch.setattr("gui.dialogs.QFileDialog.getOpenFileName", fake_open)
    window.ask_open_image()
    window.ask_open_image()
    assert seen[1] == str(folder)


def test_empty_plots_show_a_hint_not_axes(qtbot):
    model = RunModel()
    training, metrics = TrainingPanel(model), MetricsPanel(model)
    for panel in (training, metrics):
        qtbot.addWidget(panel)
        panel.refresh(model.history)
        for box in panel.boxes:
            assert not box.has_data and box.currentWidget() is box.hint and box.hint.text()
    assert "appears" in training.loss_box.hint.text()


def test_losses_of_different_objectives_get_their_own_plots_with_legends_outside(qtbot):
    from engine.events import EpochSummary

    model = RunModel()
    panel = TrainingPanel(model)
    qtbot.addWidget(panel)
    history = model.history
    for epoch in (1, 2):
        history.add_summary(EpochSummary("teacher", epoch, 1.0 / epoch, 0.6, 0.5))
        history.add_summary(EpochSummary("base", epoch, 1.2 / epoch, 0.5, 0.4))
        history.add_summary(EpochSummary("student", epoch, 4.0 / epoch, 0.55, 0.45))
    panel.refresh(history)
    assert panel.loss_curves["student"] in panel.kd_plot.listDataItems()
    assert panel.loss_curves["teacher"] in panel.loss_plot.listDataItems()
    assert panel.loss_curves["base"] in panel.loss_plot.listDataItems()
    assert panel.loss_curves["student"] not in panel.loss_plot.listDataItems()
    for box in panel.boxes:
        assert box.has_data
        # the legend sits in its own row of the layout, below the plot: it never covers data
        assert box.legend.parentItem() is not box.plot.vb and box.legend not in box.plot.vb.addedItems
    (x_low, x_high), (y_low, y_high) = panel.loss_plot.viewRange()
    assert x_low <= 0 <= 2 <= x_high <= 2.5 and y_low <= 0 and 1.2 <= y_high <= 2.2  # no 'x0.001'


def test_the_metrics_caption_says_the_real_cadence():
    config = {"metrics_every": 10, "metrics_size": 128, "metrics_repeats": 10}
    text = cadence_text(config, [10, 20])
    assert "every 10 KD epochs and after the last one" in text and "128 held-out images" in text
    assert "after every KD epoch" in cadence_text({"metrics_every": 1}, [])


def test_colour_bars_show_the_scale_in_use(window):
    window.model.set_options(DisplayOptions(mode="signed"))
    for bar in (window.panels["grid"].colour_bar, window.panels["inspector"].colour_bar):
        assert bar.labels[0].startswith("signed") and bar.labels[2] == "0"
    window.model.set_options(DisplayOptions(scale="shared"))
    assert window.panels["grid"].colour_bar.labels[0] == "absolute, shared per map"


def test_at_1280_by_720_the_grid_fits_and_class_names_do_not_overlap(window, qtbot):
    window.resize(1280, 720)
    window.panels["grid"].show_frame(make_frame(1, n=16, size=32))
    qtbot.wait(100)
    window.panels["grid"]._elided_at = None
    window.panels["grid"]._elide_names()
    ticks = window.panels["grid"].plot.getAxis("top")._tickLevels[0]
    from PySide6.QtGui import QFontMetrics

    metrics = QFontMetrics(window.panels["grid"].plot.getAxis("top").font())
    (left, right), _ = window.panels["grid"].view.viewRange()
    column_px = (32 + 3) * window.panels["grid"].view.width() / (right - left)
    assert all(metrics.horizontalAdvance(text) <= column_px for _, text in ticks)
    # the whole grid is in view after a fit, its input row at the top
    window.panels["grid"].reset_zoom()
    (_, _), (top, _) = window.panels["grid"].view.viewRange()
    assert top == pytest.approx(window.panels["grid"].view.content.top())


def test_wheel_zoom_keeps_the_input_row_under_the_class_names(qtbot):
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    from gui.panels.grid import HeatmapGrid

    grid = HeatmapGrid(RunModel())
    qtbot.addWidget(grid)
    grid.resize(900, 500)
    grid.show()
    grid.show_frame(make_frame(1, n=16, size=32))
    qtbot.wait(50)
    viewport = grid.view_widget.viewport()
    where = QPointF(viewport.width() / 2, viewport.height() * 0.7)  # zoom in low in the grid
    wheel = QWheelEvent(
        where, viewport.mapToGlobal(where), QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    (x0, x1), _ = grid.view.viewRange()
    QApplication.sendEvent(viewport, wheel)
    (x2, x3), (top, _) = grid.view.viewRange()
    assert x3 - x2 < x1 - x0  # zoomed in
    assert top == pytest.approx(grid.view.content.top())  # the input row is still at the top
    grid.reset_zoom()
    assert grid.view.viewRange()[0] == pytest.approx([x0, x1])
