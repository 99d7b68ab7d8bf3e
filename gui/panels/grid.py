"""The heatmap grid: one column per probe image, one row per view (input, Grad-CAM T/S/B,
distilled, residual), with a colour bar saying what the colours mean.

Fast by construction (STYLE.md "pyqtgraph, fast"): each row is ONE image item holding all probe
images side by side (``grid_rows``); a frame is a dozen ``setImage`` calls.

It draws the model's shown epoch with the model's display options; a click (or Left/Right once
an image is selected) asks the model to inspect that image. Zoom with the wheel; double-click,
the Fit button or Ctrl+0 resets it, and zooming keeps the input row in view under the class
names while the grid's top is in view. Where the cells lie is one :class:`CellGeometry`
(``grid_geometry``); how the view zooms and which keys step the selection is ``grid_view``.

Per-map controls (``map_controls``): "Maps" shows or hides each row; "Contrast" opens a column
with one map row's histogram, whose region sets that row's own colour limits. Hovering a map
reads every map's value at that pixel under the grid (the inspector's readout).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from engine.events import ProbeFrame
from gui.model.history import is_teacher_phase
from gui.model.map_rows import MapRows
from gui.model.options import DisplayOptions
from gui.model.run_model import RunModel
from gui.model.status import IDLE_TEXT, label_name, waiting_text
from gui.panels import display
from gui.panels.colour_bar import ColourBar
from gui.panels.grid_geometry import CellGeometry
from gui.panels.grid_rows import GridRows
from gui.panels.grid_view import ColumnNames, GridCanvas, GridView, axes_plot
from gui.panels.map_controls import ContrastColumn, RowsMenu
from gui.panels.pixel_readout import PixelReadout

CAPTION = (
    "Columns: probe images. Rows: each model's Grad-CAM, then UniCAM: what the student distilled "
    "(S given B) and what the base kept that the student lacks (B given S). Click to inspect, "
    "Left/Right for the next image; the wheel zooms, double-click or Ctrl+0 fits."
)
TEACHER_CAPTION = (
    "Teacher phase: only the teacher's Grad-CAM exists until the base and the student finish their "
    "first epoch."
)
HOVER_TEXT = "Hover over a map to read every map's value at that pixel here."


class HeatmapGrid(QWidget):
    """Probe images x (input + maps); clicking a cell inspects that image."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.view_widget = GridCanvas()
        self.view = GridView()
        self.plot = axes_plot(self.view)
        self.view_widget.setCentralItem(self.plot)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.fit_button = QToolButton(text="Fit")
        self.fit_button.setToolTip("Show the whole grid (double-click the grid, or Ctrl+0)")
        self.fit_button.clicked.connect(self.reset_zoom)
        if actions and "reset_zoom" in actions:
            actions["reset_zoom"].triggered.connect(self.reset_zoom)
        self.colour_bar = ColourBar(model.options)
        self.map_rows = MapRows()
        self.rows_menu = RowsMenu()
        self.rows_menu.row_toggled.connect(self.set_row_shown)
        self.contrast = ContrastColumn()
        self.contrast.setVisible(False)
        self.contrast.levels_changed.connect(self.set_row_levels)
        self.contrast.row_chosen.connect(lambda _key: self._show_contrast())
        self.contrast_button = QToolButton(text="Contrast", checkable=True)
        self.contrast_button.setToolTip("Set a map row's own colour limits over its histogram")
        self.contrast_button.toggled.connect(self._toggle_contrast)
        self.readout = PixelReadout()
        self.readout.setText(HOVER_TEXT)
        self._build_layout()
        self.frame: ProbeFrame | None = None
        self.options = model.options
        self.selected: int | None = None
        self._shape: tuple | None = None  # (count, height, width, rows) the cells are laid out for
        self._hovered: tuple | None = None
        self.rows = GridRows(self.view)
        self.names = ColumnNames(self.plot, self.view)
        self._highlight = QGraphicsRectItem()
        self._highlight.setPen(QPen(QColor(0, 120, 215), 0))
        self._highlight.setZValue(10)
        self._highlight.setVisible(False)
        self.view.addItem(self._highlight)
        self._empty = pg.TextItem(IDLE_TEXT, color=(90, 90, 90), anchor=(0.5, 0.5))
        self.view.addItem(self._empty)
        self.view.setRange(QRectF(-1, -1, 2, 2))
        self.view.sigResized.connect(self.view.fit)
        self.view.sigRangeChanged.connect(lambda *_: self.names.elide(self.cells))
        scene = self.view_widget.scene()
        scene.sigMouseClicked.connect(self._on_click)
        scene.sigMouseMoved.connect(self._on_hover)
        self.view_widget.step_requested.connect(self.step_selection)
        events = model.events
        events.epoch.connect(lambda _epoch, frame: frame is not None and self.show_frame(frame))
        events.preview.connect(self.show_frame)
        events.options.connect(self.set_options)
        events.inspected.connect(self.select)
        events.cleared.connect(self.clear)
        events.job.connect(lambda _kind: self._update_empty_text())
        events.progress.connect(lambda _event, _eta: self._update_empty_text())
        events.run.connect(lambda _run: self._update_empty_text())

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        for button in (self.rows_menu, self.contrast_button, self.fit_button):
            top.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.view_widget, 1)
        body.addWidget(self.colour_bar)
        body.addWidget(self.contrast)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        layout.addWidget(self.readout)

    # -- public ----------------------------------------------------------------------------
    @property
    def cells(self) -> CellGeometry:
        """Where every cell lies."""
        return self.rows.cells

    def cell_image(self, key: str, index: int) -> np.ndarray | None:
        """What the grid holds for one cell: the input picture or the map values drawn there
        (None when that row shows nothing, e.g. a student map during the teacher's phase)."""
        left, width = int(self.cells.left(index)), int(self.cells.width)
        item = self.row_item(key)
        if item.image is None or not item.isVisible():
            return None
        return item.image[:, left : left + width]

    def row_item(self, key: str) -> pg.ImageItem:
        """The one image item that draws every probe image's map of ``key``."""
        return self.rows.item(key)

    def show_frame(self, frame: ProbeFrame, options: DisplayOptions | None = None) -> None:
        """Draw ``frame`` into the rows on screen (a few ``setImage`` calls)."""
        self.frame = frame
        if options is not None:
            self.options = options
        keys = ["input", *(key for key, _ in display.columns_for(frame))]
        self.rows_menu.set_rows(keys, self.map_rows.hidden)
        rows = self.map_rows.shown(keys)
        shape = (*frame.images.shape[:3], tuple(rows))
        if shape != self._shape:
            self._lay_out(frame, rows)
            self._shape = shape
        labels = np.asarray(frame.labels).tolist()
        self.names.set([label_name(int(label), frame.class_names) for label in labels], self.cells)
        if is_teacher_phase(frame):
            teacher_epoch = frame.flags.get("teacher_epoch")
            at = f" (after teacher epoch {teacher_epoch})" if teacher_epoch is not None else ""
            self.caption.setText(TEACHER_CAPTION.replace("Teacher phase", f"Teacher phase{at}", 1))
        else:
            self.caption.setText(CAPTION)
        self.rows.draw(frame, rows, self.options, self.map_rows)
        self._empty.setVisible(False)
        self.select(self.selected)
        self._show_contrast()

    def set_options(self, options: DisplayOptions) -> None:
        if (options.mode, options.scale) != (self.options.mode, self.options.scale):
            self.map_rows = self.map_rows.without_levels()  # limits were in the old scale's units
        self.options = options
        self.colour_bar.set_options(options)
        if self.frame is not None:
            self.show_frame(self.frame)

    def set_row_shown(self, key: str, shown: bool) -> None:
        """Show or hide the row of ``key`` ("input" or a map key)."""
        self.map_rows = self.map_rows.with_hidden(key, not shown)
        if self.frame is not None:
            self.show_frame(self.frame)

    def set_row_levels(self, key: str, levels: tuple[float, float] | None) -> None:
        """A map row's own contrast limits (None: the display options' levels again)."""
        self.map_rows = self.map_rows.with_levels(key, levels)
        if self.frame is not None:
            self.show_frame(self.frame)

    def clear(self) -> None:
        """Nothing to show: a new run starts or is opened."""
        self.frame, self.selected, self._shape, self._hovered = None, None, None, None
        self.rows.hide()
        self.names.clear()
        self._highlight.setVisible(False)
        self.plot.getAxis("left").setTicks([[], []])
        self.plot.getAxis("top").setTicks([[], []])
        self.view.content = None
        self.caption.setText(CAPTION)
        self.readout.setText(HOVER_TEXT)
        self._update_empty_text()
        self._empty.setVisible(True)
        self.view.setRange(QRectF(-1, -1, 2, 2), padding=0)

    def select(self, index: int | None) -> None:
        self.selected = index
        if index is None or self.frame is None or not 0 <= index < self.frame.images.shape[0]:
            self._highlight.setVisible(False)
            return
        self._highlight.setRect(self.cells.selection(index))
        self._highlight.setVisible(True)

    def reset_zoom(self) -> None:
        """Show the whole grid again."""
        self.view.fit()

    def cell_center(self, row: int, index: int) -> pg.Point:
        """Scene position of a cell's centre (tests and benchmarks click there)."""
        return self.view.mapViewToScene(pg.Point(*self.cells.centre(row, index)))

    # -- internals -------------------------------------------------------------------------
    def _elide_names(self) -> None:  # the class names shortened to the columns' width now
        self.names.elide(self.cells, force=True)

    def _lay_out(self, frame: ProbeFrame, rows: list[str]) -> None:
        """Cell geometry, row titles and the content rectangle for this frame's shape and rows."""
        self.rows.lay_out(frame, rows)
        titles = [display.map_title(key) for key in rows]
        self.plot.getAxis("left").setTicks([self.cells.row_ticks(titles), []])
        content = self.view.content = self.cells.content()
        self.view.setLimits(xMin=content.left() - self.cells.total_width, yMin=content.top())
        self.view.fit()

    def _toggle_contrast(self, shown: bool) -> None:
        self.contrast.setVisible(shown)
        self._show_contrast()

    def _show_contrast(self) -> None:
        """The contrast column follows the map rows on screen and the chosen row's values."""
        if not self.contrast.isVisibleTo(self):
            return
        self.contrast.set_rows([key for key in self.rows.keys if key in self.rows.stacks])
        key = self.contrast.key()
        if key in self.rows.stacks:
            colormap = display.colormap_for(self.options)
            own = key in self.map_rows.levels
            self.contrast.show_values(self.rows.stacks[key], self.rows.levels[key], colormap, own)

    def _update_empty_text(self) -> None:
        if self.frame is not None:
            return
        model = self.model
        text = waiting_text(model.job, model.training_role, model.run_config(), model.run_dir)
        if text != self._empty.toPlainText():
            self._empty.setText(text)

    def _on_hover(self, scene_pos: QPointF) -> None:
        """Every map's value at the pixel under the pointer, in the readout under the grid."""
        if self.frame is None:
            return
        point = self.view.mapSceneToView(scene_pos)
        cell = self.cells.cell_at(point.x(), point.y())
        if cell is None or cell[0] >= len(self.rows.keys) or self.rows.keys[cell[0]] == "input":
            return
        row, index = cell
        pixel = (int(point.y() - self.cells.top(row)), int(point.x() - self.cells.left(index)))
        if (index, pixel, self.frame.epoch, self.options) == self._hovered:
            return
        self._hovered = (index, pixel, self.frame.epoch, self.options)
        frame, options = self.frame, self.options
        values = {key: display.value_at(frame, key, index, *pixel, options) for key in self.rows.stacks}
        self.readout.show_values(pixel, values, f"probe image #{index}", frame.epoch, options, False)

    def _on_click(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.reset_zoom()
            return
        if self.frame is None:
            return
        self.view_widget.setFocus()
        point = self.view.mapSceneToView(event.scenePos())
        cell = self.cells.cell_at(point.x(), point.y())
        if cell is not None:
            self.model.inspect(cell[1])

    def step_selection(self, delta: int) -> None:
        """Inspect the image ``delta`` columns away from the selected one (the first if none)."""
        if self.frame is None:
            return
        count = self.frame.images.shape[0]
        index = 0 if self.selected is None else max(0, min(count - 1, self.selected + delta))
        self.model.inspect(index)
