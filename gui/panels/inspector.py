"""The inspector: one image large with all its maps, every model's top predictions, and the value
of every map under the pointer. Its controls (opacity, colormap, signed/normalised view, shared
or per-image scale) set the model's display options, which the heatmap grid follows too. It
shows the image the model inspects at the shown epoch, or the last explained image file."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.events import ProbeFrame
from gui.model.options import NORMALISED, PER_IMAGE, SEQUENTIAL_COLORMAPS, SHARED, SIGNED, DisplayOptions
from gui.model.run_model import RunModel
from gui.panels import display

IDLE_TITLE = "Click any image in the grid, or open an image file, to inspect it here."


class Inspector(QWidget):
    """Large view of one image of a frame, with the display controls."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.actions = dict(actions or {})
        self.options = model.options
        self.frame: ProbeFrame | None = None
        self.index = 0
        self.source = ""
        self.pixel: tuple[int, int] | None = None
        self.title = QLabel(IDLE_TITLE)
        self.title.setWordWrap(True)
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.plots.setMinimumHeight(260)
        self._views: dict[str, pg.ViewBox] = {}
        self._bases: dict[str, pg.ImageItem] = {}
        self._items: dict[str, pg.ImageItem] = {}
        self._keys: tuple[str, ...] = ()
        self.predictions = QLabel("")
        self.predictions.setTextFormat(Qt.TextFormat.RichText)
        self.predictions.setWordWrap(True)
        self.readout = QLabel("Hover over an image to read every map's value at that pixel; click to pin it.")
        self.readout.setWordWrap(True)
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        layout = QVBoxLayout(self)
        layout.addLayout(self._controls())
        layout.addWidget(self.title)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.predictions)
        layout.addWidget(self.readout)
        self._build(list(display.MAP_COLUMNS))
        self.plots.scene().sigMouseMoved.connect(self._on_hover)
        self.plots.scene().sigMouseClicked.connect(self._on_click)
        self.set_options(model.options)
        events = model.events
        events.cleared.connect(self._on_cleared)
        events.epoch.connect(self._on_epoch)
        events.inspected.connect(self._on_inspected)
        events.explained.connect(lambda name, frame: self.show_image(frame, 0, source=name))
        events.options.connect(self.set_options)

    def _controls(self) -> QFormLayout:
        form = QFormLayout()
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(self.options.opacity * 100))
        self.opacity.setToolTip("How strongly the heatmap covers the image (0: image only)")
        self.colormap = QComboBox()
        self.colormap.addItems(list(SEQUENTIAL_COLORMAPS))
        self.colormap.setToolTip("Colormap of normalised maps (signed maps always use blue-white-red)")
        self.mode = QComboBox()
        self.mode.addItem("Normalised (after ReLU)", NORMALISED)
        self.mode.addItem("Signed (before ReLU, diverging)", SIGNED)
        self.mode.setToolTip(
            "Signed shows where the map pushes against the score (blue) as well as for it (red)"
        )
        self.scale = QComboBox()
        self.scale.addItem("Per-image scale", PER_IMAGE)
        self.scale.addItem("Shared absolute scale", SHARED)
        self.scale.setToolTip("Shared: one colour scale for all images of a map, so strengths compare")
        self.open_button = QToolButton()
        self.open_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        if "open_image" in self.actions:  # text, tooltip and enabled state follow the action
            self.open_button.setDefaultAction(self.actions["open_image"])
        row = QHBoxLayout()
        row.addWidget(self.colormap)
        row.addWidget(self.mode)
        row.addWidget(self.scale)
        form.addRow("Opacity", self.opacity)
        form.addRow("View", row)
        form.addRow("", self.open_button)
        self.opacity.valueChanged.connect(self._on_controls)
        self.colormap.currentIndexChanged.connect(self._on_controls)
        self.mode.currentIndexChanged.connect(self._on_controls)
        self.scale.currentIndexChanged.connect(self._on_controls)
        return form

    # -- public ----------------------------------------------------------------------------
    def map_item(self, key: str) -> pg.ImageItem:
        return self._items[key]

    def set_options(self, options: DisplayOptions) -> None:
        """Show ``options`` in the controls (without re-emitting them) and redraw with them."""
        for widget in (self.opacity, self.colormap, self.mode, self.scale):
            widget.blockSignals(True)
        self.opacity.setValue(int(round(options.opacity * 100)))
        if options.colormap in SEQUENTIAL_COLORMAPS:
            self.colormap.setCurrentText(options.colormap)
        self.mode.setCurrentIndex(max(self.mode.findData(options.mode), 0))
        self.scale.setCurrentIndex(max(self.scale.findData(options.scale), 0))
        for widget in (self.opacity, self.colormap, self.mode, self.scale):
            widget.blockSignals(False)
        self.options = options
        self._redraw()

    def show_image(self, frame: ProbeFrame, index: int, source: str = "") -> None:
        """Show image ``index`` of ``frame``; ``source`` says where it came from (probe set / file)."""
        self.frame, self.index, self.source = frame, index, source
        columns = display.columns_for(frame)
        if ("input", *(key for key, _ in columns)) != self._keys:
            self._build(columns)
        self._redraw()
        label = int(frame.labels[index]) if len(frame.labels) > index else -1
        name = frame.class_names[label] if 0 <= label < len(frame.class_names) else "unknown"
        where = source or f"probe image #{index}"
        self.title.setText(f"<b>{html.escape(where)}</b> — label: {html.escape(name)} — epoch {frame.epoch}")
        lines = []
        for role, top in display.top_predictions(frame, index).items():
            guesses = ", ".join(f"{html.escape(c)} {p:.0%}" for c, p in top)
            lines.append(f"<b>{role}</b>: {guesses}")
        self.predictions.setText("<br>".join(lines) or "No predictions in this frame.")
        self.pixel = None
        self._show_values(None)

    # -- model events ----------------------------------------------------------------------
    def _on_cleared(self) -> None:
        self.frame, self.pixel = None, None
        self.title.setText(IDLE_TITLE)

    def _on_epoch(self, _epoch: int, frame: ProbeFrame | None) -> None:
        if frame is None:
            return
        if self.frame is None and self.model.inspected is None:
            self.model.inspect(0)  # an inspector with something in it shows what it is for
        elif self.model.inspected is not None and self.model.inspected < frame.images.shape[0]:
            self.show_image(frame, self.model.inspected)

    def _on_inspected(self, index: int | None) -> None:
        frame = self.model.frame()
        if index is not None and frame is not None and index < frame.images.shape[0]:
            self.show_image(frame, index)

    # -- internals -------------------------------------------------------------------------
    def _build(self, columns: list[tuple[str, str]]) -> None:
        """One view per map (built once at start: building views costs a few hundred ms)."""
        self.plots.clear()
        self._views, self._bases, self._items = {}, {}, {}
        titles = [("input", "Input"), *columns]
        self._keys = tuple(key for key, _ in titles)
        for position, (key, title) in enumerate(titles):
            view = self.plots.addViewBox(
                row=2 * (position // 2), col=position % 2, lockAspect=True, invertY=True
            )
            view.setMenuEnabled(False)
            view.setMouseEnabled(False, False)
            label = self.plots.addLabel(
                title, row=2 * (position // 2) + 1, col=position % 2, size="9pt", color="#222"
            )
            label.setMaximumHeight(18)
            base = pg.ImageItem()
            view.addItem(base)
            self._views[key], self._bases[key] = view, base
            if key != "input":
                item = pg.ImageItem()
                item.setZValue(1)
                view.addItem(item)
                self._items[key] = item

    def _redraw(self) -> None:
        frame, index = self.frame, self.index
        if frame is None:
            return
        height, width = frame.images.shape[1:3]
        picture = display.input_image(frame, index)
        lut = display.lookup_table(display.colormap_for(self.options))
        for key, base in self._bases.items():
            base.setImage(picture, autoLevels=False, levels=(0, 255))
            base.setRect(0, 0, width, height)
            self._views[key].setRange(xRange=(0, width), yRange=(0, height), padding=0.02)
        for key, item in self._items.items():
            image = display.map_image(frame, key, index, self.options)
            if image is None:
                item.clear()
                continue
            item.setImage(image, autoLevels=False, levels=display.map_levels(frame, key, index, self.options))
            item.setLookupTable(lut)
            item.setOpacity(self.options.opacity)
            item.setRect(0, 0, width, height)

    def _pixel_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        if self.frame is None:
            return None
        height, width = self.frame.images.shape[1:3]
        for view in self._views.values():
            if view.sceneBoundingRect().contains(scene_pos):
                point = view.mapSceneToView(scene_pos)
                row, col = int(math.floor(point.y())), int(math.floor(point.x()))
                if 0 <= row < height and 0 <= col < width:
                    return row, col
        return None

    @Slot(object)
    def _on_hover(self, scene_pos: QPointF) -> None:
        if self.pixel is None:
            self._show_values(self._pixel_at(scene_pos))

    @Slot(object)
    def _on_click(self, event) -> None:
        pixel = self._pixel_at(event.scenePos())
        self.pixel = None if pixel == self.pixel else pixel
        self._show_values(pixel)

    def pixel_values(self, row: int, col: int) -> dict[str, float]:
        """Every map's drawn value at one input pixel of the shown image."""
        assert self.frame is not None
        return {
            key: display.value_at(self.frame, key, self.index, row, col, self.options) for key in self._items
        }

    def _show_values(self, pixel: tuple[int, int] | None) -> None:
        if pixel is None or self.frame is None:
            return
        values = self.pixel_values(*pixel)
        pinned = " (pinned — click again to release)" if self.pixel else ""
        parts = [f"{key}: {'n/a' if math.isnan(v) else f'{v:.3f}'}" for key, v in values.items()]
        self.readout.setText(f"<b>pixel (row {pixel[0]}, col {pixel[1]})</b>{pinned}<br>" + " · ".join(parts))

    @Slot()
    def _on_controls(self) -> None:
        """The user changed a control: the model's options change, and every panel follows."""
        self.model.set_options(
            DisplayOptions(
                colormap=self.colormap.currentText(),
                opacity=self.opacity.value() / 100.0,
                mode=self.mode.currentData(),
                scale=self.scale.currentData(),
            )
        )
