"""The heatmap grid: one column per probe image, one row per view (input, Grad-CAM T/S/B,
distilled, residual), with a colour bar saying what the colours mean.

Fast by construction (STYLE.md "pyqtgraph, fast"): each row is ONE image item holding all probe
images side by side (gaps are NaN, drawn transparent), so a frame is a dozen ``setImage`` calls
on float32 rows with fixed levels and a lookup table, and the items exist before the first
frame arrives. Drawing 96 small items per frame used to stall the window for 100+ ms.

It draws the model's shown epoch with the model's display options; a click (or Left/Right once
an image is selected) asks the model to inspect that image. Zoom with the wheel; double-click,
the Fit button or Ctrl+0 resets it, and zooming keeps the input row in view under the class
names while the grid's top is in view. Where the cells lie is one :class:`CellGeometry`
(``grid_geometry``); how the view zooms and which keys step the selection is ``grid_view``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QFontMetrics, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from engine.events import ProbeFrame
from gui.model.history import is_teacher_phase
from gui.model.options import DisplayOptions
from gui.model.run_model import RunModel
from gui.model.status import IDLE_TEXT, label_name, waiting_text
from gui.panels import display
from gui.panels.axis import plain_axes
from gui.panels.colour_bar import ColourBar
from gui.panels.grid_geometry import CellGeometry
from gui.panels.grid_view import GridCanvas, GridView

CAPTION = (
    "Columns: probe images. Rows: each model's Grad-CAM, then UniCAM: what the student distilled "
    "(S given B) and what the base kept that the student lacks (B given S). Click to inspect, "
    "Left/Right for the next image; the wheel zooms, double-click or Ctrl+0 fits."
)
TEACHER_CAPTION = (
    "Teacher phase: only the teacher's Grad-CAM exists until the base and the student finish their "
    "first epoch."
)


class HeatmapGrid(QWidget):
    """Probe images x (input + maps); clicking a cell inspects that image."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.view_widget = GridCanvas()
        self.view = GridView()
        # a PlotItem only for its axes: the left axis names the rows, the top axis the classes
        self.plot = pg.PlotItem(viewBox=self.view, axisItems=plain_axes("left", "top"), enableMenu=False)
        self.plot.hideButtons()
        self.plot.hideAxis("bottom")
        self.plot.showAxis("top")
        for name in ("left", "top"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(None))
            axis.setTextPen(pg.mkPen((30, 30, 30)))
            axis.setStyle(tickLength=0, autoExpandTextSpace=True)
            axis.setTicks([[], []])  # no numbers before the first frame
        self.plot.getAxis("top").setHeight(22)
        self.view_widget.setCentralItem(self.plot)
        self.caption = QLabel(CAPTION)
        self.caption.setWordWrap(True)
        self.fit_button = QToolButton(text="Fit")
        self.fit_button.setToolTip("Show the whole grid (double-click the grid, or Ctrl+0)")
        self.fit_button.clicked.connect(self.reset_zoom)
        if actions and "reset_zoom" in actions:
            actions["reset_zoom"].triggered.connect(self.reset_zoom)
        self.colour_bar = ColourBar(model.options)
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.fit_button, 0, Qt.AlignmentFlag.AlignTop)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.view_widget, 1)
        body.addWidget(self.colour_bar)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addLayout(body, 1)
        self.frame: ProbeFrame | None = None
        self.options = model.options
        self.selected: int | None = None
        self._shape: tuple | None = None  # (count, height, width, map keys) the cells are laid out for
        self.cells = CellGeometry()
        self._names: list[str] = []
        self._elided_at: float | None = None
        self._inputs = pg.ImageItem()
        self.view.addItem(self._inputs)
        self._rows: dict[str, tuple[pg.ImageItem, pg.ImageItem]] = {}
        for key, _ in display.MAP_COLUMNS:  # built before the first frame: it only fills them
            self._add_row(key)
        self._highlight = QGraphicsRectItem()
        self._highlight.setPen(QPen(QColor(0, 120, 215), 0))
        self._highlight.setZValue(10)
        self._highlight.setVisible(False)
        self.view.addItem(self._highlight)
        self._empty = pg.TextItem(IDLE_TEXT, color=(90, 90, 90), anchor=(0.5, 0.5))
        self.view.addItem(self._empty)
        self.view.setRange(QRectF(-1, -1, 2, 2))
        self.view.sigResized.connect(self.view.fit)
        self.view.sigRangeChanged.connect(lambda *_: self._elide_names())
        self.view_widget.scene().sigMouseClicked.connect(self._on_click)
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

    # -- public ----------------------------------------------------------------------------
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
        return self._inputs if key == "input" else self._rows[key][1]

    def show_frame(self, frame: ProbeFrame, options: DisplayOptions | None = None) -> None:
        """Draw ``frame``: a few ``setImage`` calls on rows built before."""
        self.frame = frame
        if options is not None:
            self.options = options
        keys = [key for key, _ in display.columns_for(frame)]
        count, height, width = frame.images.shape[:3]
        shape = (count, height, width, tuple(keys))
        if shape != self._shape:
            self._layout(frame, keys)
            self._shape = shape
        self._update_names(frame)
        if is_teacher_phase(frame):
            teacher_epoch = frame.flags.get("teacher_epoch")
            at = f" (after teacher epoch {teacher_epoch})" if teacher_epoch is not None else ""
            self.caption.setText(TEACHER_CAPTION.replace("Teacher phase", f"Teacher phase{at}", 1))
        else:
            self.caption.setText(CAPTION)
        gap = self.cells.gap
        pictures = display.tile_row(np.ascontiguousarray(frame.images, dtype=np.uint8), gap, 255)
        self._inputs.setImage(pictures, autoLevels=False, levels=(0, 255))
        self._inputs.setRect(QRectF(0, 0, pictures.shape[1], height))
        lut = display.lookup_table(display.colormap_for(self.options))
        for row, key in enumerate(keys, start=1):
            base, overlay = self._rows[key]
            drawn = display.map_stack(frame, key, self.options)
            base.setVisible(drawn is not None)
            overlay.setVisible(drawn is not None)
            if drawn is None:  # e.g. a teacher-phase frame: no student or base maps yet
                continue
            rect = QRectF(0, self.cells.top(row), pictures.shape[1], height)
            base.setImage(pictures, autoLevels=False, levels=(0, 255))
            base.setRect(rect)
            stack, levels = drawn
            overlay.setImage(display.tile_row(stack, gap, np.nan), autoLevels=False, levels=levels)
            overlay.setLookupTable(lut)
            overlay.setOpacity(self.options.opacity)
            overlay.setRect(rect)
        for key, (base, overlay) in self._rows.items():
            if key not in keys:
                base.setVisible(False)
                overlay.setVisible(False)
        self._empty.setVisible(False)
        self.select(self.selected)

    def set_options(self, options: DisplayOptions) -> None:
        self.options = options
        self.colour_bar.set_options(options)
        if self.frame is not None:
            self.show_frame(self.frame)

    def clear(self) -> None:
        """Nothing to show: a new run starts or is opened."""
        self.frame, self.selected, self._shape = None, None, None
        self._inputs.clear()
        for base, overlay in self._rows.values():
            base.setVisible(False)
            overlay.setVisible(False)
        self._highlight.setVisible(False)
        self.plot.getAxis("left").setTicks([[], []])
        self.plot.getAxis("top").setTicks([[], []])
        self.view.content = None
        self.caption.setText(CAPTION)
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
    def _add_row(self, key: str) -> None:
        base, overlay = pg.ImageItem(), pg.ImageItem()
        overlay.setZValue(1)
        for item in (base, overlay):
            item.setVisible(False)
            self.view.addItem(item)
        self._rows[key] = (base, overlay)

    def _layout(self, frame: ProbeFrame, keys: list[str]) -> None:
        """Cell geometry, row titles and the content rectangle for this frame's shape."""
        for key in keys:
            if key not in self._rows:  # an optional map (the assistant's) appears
                self._add_row(key)
        count, height, width = frame.images.shape[:3]
        rows = [display.map_title("input"), *(display.map_title(key) for key in keys)]
        self.cells = CellGeometry.for_images(count, height, width, len(rows))
        self.plot.getAxis("left").setTicks([self.cells.row_ticks(rows), []])
        content = self.view.content = self.cells.content()
        self.view.setLimits(xMin=content.left() - self.cells.total_width, yMin=content.top())
        self.view.fit()

    def _update_names(self, frame: ProbeFrame) -> None:
        """Each column's true class (or '?' for an unknown label) on the top axis."""
        names = [label_name(int(label), frame.class_names) for label in np.asarray(frame.labels).tolist()]
        names = ["?" if name == "unknown" else name for name in names]
        if names != self._names:
            self._names = names
            self._elided_at = None
        self._elide_names()

    def _elide_names(self) -> None:
        """Class names shortened to their column's width on screen, so none overlaps another."""
        if not self._names:
            return
        (left, right), _ = self.view.viewRange()
        column_px = self.cells.column_pixels(right - left, max(self.view.width(), 1.0))
        if self._elided_at is not None and abs(column_px - self._elided_at) < 1:
            return
        self._elided_at = column_px
        metrics = QFontMetrics(self.plot.getAxis("top").font())
        room = max(int(column_px) - 4, 8)
        names = [metrics.elidedText(name, Qt.TextElideMode.ElideRight, room) for name in self._names]
        self.plot.getAxis("top").setTicks([self.cells.column_ticks(names), []])

    def _update_empty_text(self) -> None:
        if self.frame is not None:
            return
        model = self.model
        text = waiting_text(model.job, model.training_role, model.run_config(), model.run_dir)
        if text != self._empty.toPlainText():
            self._empty.setText(text)

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
