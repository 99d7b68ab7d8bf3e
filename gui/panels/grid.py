"""The heatmap grid: one column per probe image, one row per view (input, Grad-CAM T/S/B,
distilled, residual). All cells live in one ViewBox so drawing a frame is a few ``setImage``
calls on float32 arrays with fixed levels and a lookup table (STYLE.md "pyqtgraph, fast").

It draws the model's shown epoch with the model's display options; a click asks the model to
inspect that image."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QVBoxLayout, QWidget

from engine.events import ProbeFrame
from gui.model.options import DisplayOptions
from gui.model.run_model import RunModel
from gui.panels import display

GAP = 0.08  # gap between cells, as a share of the image size
EMPTY_TEXT = "Heatmaps appear here when the first epoch finishes.\nPress  Start  (Ctrl+R) to train the demo."


class HeatmapGrid(QWidget):
    """Probe images x (input + maps); clicking a cell inspects that image."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.view_widget = pg.GraphicsView()
        self.view_widget.setBackground("w")
        # a PlotItem only for its axes: the left axis names the rows, the top axis the classes
        self.plot = pg.PlotItem(enableMenu=False)
        self.plot.hideButtons()
        self.plot.hideAxis("bottom")
        self.plot.showAxis("top")
        for name in ("left", "top"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(None))
            axis.setTextPen(pg.mkPen((30, 30, 30)))
            axis.setStyle(tickLength=0)
            axis.setTicks([[], []])  # no numbers before the first frame
        self.plot.getAxis("top").setHeight(22)
        self.view = self.plot.getViewBox()
        self.view.invertY(True)
        self.view.setAspectLocked(True)
        self.view_widget.setCentralItem(self.plot)
        self.caption = QLabel(
            "Heatmaps of the probe images (columns). Rows: the input, each model's Grad-CAM, and the "
            "UniCAM maps of what the student distilled and what the base has that the student lacks. "
            "Click an image to inspect it; scroll to zoom."
        )
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.view_widget, 1)
        self.frame: ProbeFrame | None = None
        self.options = model.options
        self.selected: int | None = None
        self._shape: tuple | None = None
        self._inputs: list[pg.ImageItem] = []
        self._bases: dict[str, list[pg.ImageItem]] = {}
        self._maps: dict[str, list[pg.ImageItem]] = {}
        self._keys: list[str] = []
        self._cell = (1.0, 1.0)
        self._highlight = QGraphicsRectItem()
        self._highlight.setPen(QPen(QColor(0, 120, 215), 0))
        self._highlight.setZValue(10)
        self._highlight.setVisible(False)
        self._empty = pg.TextItem(EMPTY_TEXT, color=(90, 90, 90), anchor=(0.5, 0.5))
        self.view.addItem(self._empty)
        self.view.setRange(QRectF(-1, -1, 2, 2))
        self._content: QRectF | None = None
        self.view.sigResized.connect(self._fit)
        self.view_widget.scene().sigMouseClicked.connect(self._on_click)
        model.events.epoch.connect(lambda _epoch, frame: frame is not None and self.show_frame(frame))
        model.events.options.connect(self.set_options)
        model.events.inspected.connect(self.select)

    # -- public ----------------------------------------------------------------------------
    def input_item(self, index: int) -> pg.ImageItem:
        return self._inputs[index]

    def map_item(self, key: str, index: int) -> pg.ImageItem:
        return self._maps[key][index]

    def show_frame(self, frame: ProbeFrame, options: DisplayOptions | None = None) -> None:
        """Draw ``frame``; items are built once per layout and then only updated."""
        self.frame = frame
        if options is not None:
            self.options = options
        columns = display.columns_for(frame)
        shape = (frame.images.shape, tuple(k for k, _ in columns))
        if shape != self._shape:
            self._build(frame, columns)
            self._shape = shape
        self._update_labels(frame)
        lut = display.lookup_table(display.colormap_for(self.options))
        for index in range(frame.images.shape[0]):
            picture = display.input_image(frame, index)
            # setRect only after setImage: the rect is computed from the image's size
            self._inputs[index].setImage(picture, autoLevels=False, levels=(0, 255))
            self._inputs[index].setRect(self._rect(0, index))
            for row, key in enumerate(self._keys, start=1):
                base = self._bases[key][index]
                base.setImage(picture, autoLevels=False, levels=(0, 255))
                base.setRect(self._rect(row, index))
                item = self._maps[key][index]
                image = display.map_image(frame, key, index, self.options)
                item.setImage(
                    image, autoLevels=False, levels=display.map_levels(frame, key, index, self.options)
                )
                item.setLookupTable(lut)
                item.setOpacity(self.options.opacity)
                item.setRect(self._rect(row, index))

    def set_options(self, options: DisplayOptions) -> None:
        self.options = options
        if self.frame is not None:
            self.show_frame(self.frame)

    def select(self, index: int | None) -> None:
        self.selected = index
        if index is None or self.frame is None:
            self._highlight.setVisible(False)
            return
        w, h = self._cell
        rows = len(self._keys) + 1
        self._highlight.setRect(
            QRectF(index * w * (1 + GAP) - 1, -1, w + 2, rows * h * (1 + GAP) - h * GAP + 2)
        )
        self._highlight.setVisible(True)

    def cell_center(self, row: int, index: int) -> pg.Point:
        """Scene position of a cell's centre (tests and benchmarks click there)."""
        rect = self._rect(row, index)
        return self.view.mapViewToScene(pg.Point(rect.center()))

    # -- internals -------------------------------------------------------------------------
    def _rect(self, row: int, index: int) -> QRectF:
        w, h = self._cell
        return QRectF(index * w * (1 + GAP), row * h * (1 + GAP), w, h)

    def _build(self, frame: ProbeFrame, columns: list[tuple[str, str]]) -> None:
        for item in [*self._inputs, *sum(self._bases.values(), []), *sum(self._maps.values(), [])]:
            self.view.removeItem(item)
        if self._highlight.scene() is None:
            self.view.addItem(self._highlight)
        self._empty.setVisible(False)
        count, height, width = frame.images.shape[:3]
        self._cell = (float(width), float(height))
        self._keys = [key for key, _ in columns]
        self._inputs, self._bases, self._maps = [], {}, {}
        for _ in range(count):
            item = pg.ImageItem()
            self.view.addItem(item)
            self._inputs.append(item)
        for key in self._keys:  # positions are set with each image (setRect needs the image)
            self._bases[key], self._maps[key] = [], []
            for _ in range(count):
                base = pg.ImageItem()
                overlay = pg.ImageItem()
                overlay.setZValue(1)
                self.view.addItem(base)
                self.view.addItem(overlay)
                self._bases[key].append(base)
                self._maps[key].append(overlay)
        rows = [("input", "Input"), *columns]
        row_ticks = [(r * height * (1 + GAP) + height / 2, title) for r, (_, title) in enumerate(rows)]
        self.plot.getAxis("left").setTicks([row_ticks, []])
        total_w = count * width * (1 + GAP) - width * GAP
        total_h = len(rows) * height * (1 + GAP) - height * GAP
        self._content = QRectF(
            -GAP * width, -GAP * height, total_w + 2 * GAP * width, total_h + 2 * GAP * height
        )
        self._fit()

    def _fit(self) -> None:
        """Show the whole grid from its top-left corner, so the axes' labels sit next to it (the
        aspect lock would otherwise centre it and leave the labels floating)."""
        rect, size = self._content, self.view.size()
        if rect is None or size.width() <= 0 or size.height() <= 0:
            return
        units_per_pixel = max(rect.width() / size.width(), rect.height() / size.height())
        self.view.setRange(
            xRange=(rect.left(), rect.left() + size.width() * units_per_pixel),
            yRange=(rect.top(), rect.top() + size.height() * units_per_pixel),
            padding=0,
        )

    def _update_labels(self, frame: ProbeFrame) -> None:
        """Each column's true class on the top axis."""
        width = self._cell[0]
        names = frame.class_names
        ticks = []
        for index, label in enumerate(np.asarray(frame.labels).tolist()):
            name = names[label] if 0 <= label < len(names) else str(label)
            ticks.append((index * width * (1 + GAP) + width / 2, name))
        self.plot.getAxis("top").setTicks([ticks, []])

    def _on_click(self, event) -> None:
        if self.frame is None or event.button() != Qt.MouseButton.LeftButton:
            return
        point = self.view.mapSceneToView(event.scenePos())
        w, h = self._cell
        index = int(point.x() // (w * (1 + GAP)))
        row = int(point.y() // (h * (1 + GAP)))
        if 0 <= index < self.frame.images.shape[0] and 0 <= row <= len(self._keys):
            self.model.inspect(index)
