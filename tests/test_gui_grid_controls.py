"""Per-map controls in the heatmap grid (issue 21): show or hide each row, a map row's own contrast
limits set over its histogram, and every map's value under the pointer read in the grid itself."""

from __future__ import annotations

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import make_frame
from PySide6.QtCore import QPointF

from gui.model.options import SHARED, DisplayOptions
from gui.panels import display

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


@pytest.fixture
def grid(window, qtbot):
    window.resize(1280, 720)
    frame = make_frame(1, n=4, size=16)
    window.model.history.add_frame(frame)
    window.model.show_frame(frame)
    qtbot.wait(50)
    return window.panels["grid"]


def _titles(grid) -> list[str]:
    return [text for _, text in grid.plot.getAxis("left")._tickLevels[0]]


def test_each_row_can_be_hidden_and_shown_again(grid):
    assert _titles(grid)[0] == "Input" and len(grid.rows.keys) == 6
    grid.rows_menu.actions_by_key["gradcam_teacher"].trigger()  # untick it in the Maps menu
    assert "gradcam_teacher" not in grid.rows.keys and not grid.row_item("gradcam_teacher").isVisible()
    assert display.map_title("gradcam_teacher") not in _titles(grid) and grid.cells.rows == 5
    # the rows below moved up: the distilled row is now the fourth, and holds the distilled maps
    assert grid.rows.keys.index("distilled") == 3
    np.testing.assert_array_equal(grid.cell_image("distilled", 1), grid.frame.maps["distilled"][1])
    grid.rows_menu.actions_by_key["input"].trigger()
    assert grid.rows.keys[0] == "gradcam_student" and not grid.row_item("input").isVisible()
    grid.rows_menu.actions_by_key["gradcam_teacher"].trigger()
    grid.rows_menu.actions_by_key["input"].trigger()
    assert grid.rows.keys == [
        "input",
        "gradcam_teacher",
        "gradcam_student",
        "gradcam_base",
        "distilled",
        "residual",
    ]
    assert all(action.isChecked() for action in grid.rows_menu.actions_by_key.values())


def test_a_map_row_gets_its_own_contrast_over_its_histogram(grid, window):
    grid.contrast_button.setChecked(True)
    column = grid.contrast
    assert column.isVisible() and column.row.count() == 5
    column.row.setCurrentIndex(column.row.findData("distilled"))
    column.row.activated.emit(column.row.currentIndex())
    _, counts = column.histogram.item.plot.getData()
    assert counts.sum() == grid.frame.maps["distilled"].size  # every probe image's values
    column.histogram.item.region.setRegion((0.2, 0.6))  # the user drags the limits
    assert grid.row_item("distilled").levels == pytest.approx([0.2, 0.6])
    assert grid.row_item("residual").levels == pytest.approx([0.0, 1.0])  # other rows keep theirs
    assert "own limits" in column.limits.text()
    window.panels.reveal("log")  # a new frame keeps the row's limits
    window.model.history.add_frame(make_frame(2, n=4, size=16))
    window.model.show_frame(window.model.history.frames[2])
    assert grid.row_item("distilled").levels == pytest.approx([0.2, 0.6])
    column.levels_changed.emit("distilled", None)  # Auto
    assert grid.row_item("distilled").levels == pytest.approx([0.0, 1.0])
    # limits are in a scale's units: another scale forgets them
    grid.set_row_levels("distilled", (0.1, 0.3))
    window.model.set_options(DisplayOptions(scale=SHARED))
    top = float(np.nanmax(grid.frame.raw["distilled"]))
    assert grid.row_item("distilled").levels == pytest.approx([0.0, top])


def test_hovering_a_map_reads_every_map_there(grid):
    scene = grid.view.mapViewToScene(QPointF(grid.cells.left(2) + 7.5, grid.cells.top(4) + 5.5))
    grid.view_widget.scene().sigMouseMoved.emit(scene)
    text = grid.readout.text()
    assert "Pixel (row 5, col 7) of probe image #2" in text
    for key in ("gradcam_teacher", "distilled", "residual"):
        value = display.format_value(float(grid.frame.maps[key][2, 5, 7]))
        assert f"{display.map_title(key)} <b>{value}</b>" in text
