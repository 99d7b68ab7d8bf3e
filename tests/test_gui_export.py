"""Exports are figures (issue 13): the heatmap SVG rendered back has every row label beside its
row and every class name over its column; the PNG is tight, at the chosen DPI, with no selection
box; plots export too; the folder is created; nothing is exported before a heatmap exists. And
plots read well: a hint instead of empty axes, legends outside the data."""

from __future__ import annotations

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import CLASS_NAMES, make_frame, write_run_dir
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

from gui.figure import figure_layout
from gui.model.options import DisplayOptions
from gui.model.run_model import RunModel
from gui.panels import display
from gui.panels.metrics import MetricsPanel, cadence_text
from gui.panels.training import TrainingPanel

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window

SCALE = 4.0  # render the SVG back at 4 pixels per point


def _render_svg(path, layout) -> np.ndarray:
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    image = QImage(int(layout.width * SCALE), int(layout.height * SCALE), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    renderer.render(painter, QRectF(0, 0, image.width(), image.height()))
    painter.end()
    return _array(image)


def _array(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits(), dtype=np.uint8, count=stride * height)
    return data.reshape(height, stride)[:, : 3 * width].reshape(height, width, 3).copy()


def _ink(pixels: np.ndarray, rect: QRectF) -> np.ndarray:
    """Boolean mask of dark (text) pixels inside ``rect`` (in points)."""
    top, bottom = int(rect.top() * SCALE), int(np.ceil(rect.bottom() * SCALE))
    left, right = int(rect.left() * SCALE), int(np.ceil(rect.right() * SCALE))
    return pixels[top:bottom, left:right].max(axis=2) < 110


def _exported(window, qtbot, tmp_path, epochs=2):
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.open_run(write_run_dir(tmp_path / "run", epochs=epochs, n=6))
    qtbot.wait(300)
    folder = tmp_path / "deep" / "new" / "export"  # created, parents too
    written = {p.name: p for p in window.export_to(folder, dpi=150)}
    return folder, written


def test_the_svg_rendered_back_labels_every_row_and_column_where_they_belong(window, qtbot, tmp_path):
    folder, written = _exported(window, qtbot, tmp_path)
    frame = window.panels["grid"].frame
    layout = figure_layout(frame)
    pixels = _render_svg(written["heatmaps_epoch_0002.svg"], layout)
    assert len(layout.rows) == 6  # input and five maps: every row has its label
    for rect, cells in zip(layout.row_labels, layout.cells, strict=True):
        ink = _ink(pixels, rect)
        assert ink.sum() > 20, "a row without its label"
        rows = np.nonzero(ink.any(axis=1))[0]
        centre = rect.top() + (rows.min() + rows.max()) / 2 / SCALE
        assert abs(centre - cells[0].center().y()) < 3, "a row label drifted off its row"
    for rect, cell in zip(layout.headers, layout.cells[0], strict=True):
        ink = _ink(pixels, rect)
        assert ink.sum() > 10, "a column without its class name"
        cols = np.nonzero(ink.any(axis=0))[0]
        centre = rect.left() + (cols.min() + cols.max()) / 2 / SCALE
        assert abs(centre - cell.center().x()) < 3, "a class name not over its column"
    text = written["heatmaps_epoch_0002.svg"].read_text()
    for title in ("Input", *(display.map_title(k) for k in layout.rows[1:])):
        assert title in text
    for name in CLASS_NAMES:
        assert name in text
    # the distilled map of image 1 is drawn in its cell as the screen blends it
    cell = layout.cells[4][1]
    inner = pixels[int(cell.top() * SCALE) + 4 : int(cell.bottom() * SCALE) - 4, int(cell.left() * SCALE) + 4]
    assert inner.std() > 5  # a picture, not a blank


def test_the_png_is_a_tight_figure_at_the_chosen_dpi(window, qtbot, tmp_path):
    folder, written = _exported(window, qtbot, tmp_path)
    layout = figure_layout(window.panels["grid"].frame)
    image = QImage(str(written["heatmaps_epoch_0002.png"]))
    assert image.width() == pytest.approx(layout.width * 150 / 72, abs=2)
    assert image.height() == pytest.approx(layout.height * 150 / 72, abs=2)
    assert image.dotsPerMeterX() == pytest.approx(150 / 0.0254, rel=0.01)
    pixels = _array(image)
    blank_rows = (pixels.min(axis=(1, 2)) > 245).mean()
    assert blank_rows < 0.35  # a figure, not a mostly empty screen grab
    # a selection on screen is not baked into the figure: the same file with or without it
    window.model.inspect(2)
    assert window.panels["grid"].selected == 2
    again = {p.name: p for p in window.export_to(tmp_path / "again", dpi=150)}
    assert again["heatmaps_epoch_0002.png"].read_bytes() == written["heatmaps_epoch_0002.png"].read_bytes()
    bigger = {p.name: p for p in window.export_to(tmp_path / "bigger", dpi=300)}
    assert QImage(str(bigger["heatmaps_epoch_0002.png"])).width() == pytest.approx(2 * image.width(), abs=3)


def test_plots_export_with_the_figure_and_a_manifest(window, qtbot, tmp_path):
    folder, written = _exported(window, qtbot, tmp_path)
    assert folder.is_dir()
    for stem in ("training_cross_entropy", "training_kd_loss", "training_accuracy", "metrics_fss_stage4"):
        for suffix in (".png", ".svg"):
            assert f"{stem}{suffix}" in written, stem
            assert written[f"{stem}{suffix}"].stat().st_size > 500
    png = QImage(str(written["training_accuracy.png"]))
    assert png.width() > 300 and png.height() > 150
    assert "manifest.json" in written and "metrics.csv" in written


def test_exporting_before_any_heatmap_says_there_is_nothing_yet(window, tmp_path):
    assert window.export_to(tmp_path / "out") == []
    assert window.model.last_error.startswith("Nothing to export yet")
    assert not (tmp_path / "out").exists()


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
