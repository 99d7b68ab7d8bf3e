"""The heatmap grid's rows as image items: ONE item for the input row and a base picture plus a
map overlay per map key, each holding every probe image side by side (gaps are NaN, drawn
transparent), so a frame is a dozen ``setImage`` calls on float32 rows with fixed levels and a
lookup table (drawing 96 small items per frame used to stall the window for 100+ ms). The items
exist before the first frame arrives; hidden rows are left out of the layout and of the drawing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from engine.events import ProbeFrame
from gui.model.map_rows import MapRows
from gui.model.options import DisplayOptions
from gui.panels import display
from gui.panels.grid_geometry import CellGeometry

__all__ = ["GridRows"]


class GridRows:
    """The rows drawn into ``view``; ``keys`` are the rows on screen, top to bottom."""

    def __init__(self, view: pg.ViewBox) -> None:
        self.view = view
        self.cells = CellGeometry()
        self.keys: list[str] = []
        self.levels: dict[str, tuple[float, float]] = {}  # each map row's levels as drawn
        self.stacks: dict[str, np.ndarray] = {}  # each map row's values as drawn (n, H, W)
        self.inputs = pg.ImageItem()
        view.addItem(self.inputs)
        self.maps: dict[str, tuple[pg.ImageItem, pg.ImageItem]] = {}
        for key, _ in display.MAP_COLUMNS:  # built before the first frame: it only fills them
            self._add(key)

    def item(self, key: str) -> pg.ImageItem:
        """The one image item that draws every probe image's map (or picture) of ``key``."""
        return self.inputs if key == "input" else self.maps[key][1]

    def lay_out(self, frame: ProbeFrame, rows: list[str]) -> None:
        """The cells for this frame's images and these rows."""
        for key in rows:
            if key != "input" and key not in self.maps:  # an optional map (the assistant's) appears
                self._add(key)
        count, height, width = frame.images.shape[:3]
        self.cells = CellGeometry.for_images(count, height, width, max(len(rows), 1))

    def draw(self, frame: ProbeFrame, rows: list[str], options: DisplayOptions, chosen: MapRows) -> None:
        """Fill the rows on screen from ``frame`` (each map row with its own limits where the
        user set them); every other row is hidden."""
        self.keys, self.levels, self.stacks = rows, {}, {}
        height = frame.images.shape[1]
        pictures = display.tile_row(np.ascontiguousarray(frame.images, dtype=np.uint8), self.cells.gap, 255)
        self.inputs.setVisible("input" in rows)
        if "input" in rows:
            self.inputs.setImage(pictures, autoLevels=False, levels=(0, 255))
            self.inputs.setRect(QRectF(0, self.cells.top(rows.index("input")), pictures.shape[1], height))
        lut = display.lookup_table(display.colormap_for(options))
        for key, (base, overlay) in self.maps.items():
            drawn = display.map_stack(frame, key, options) if key in rows else None
            base.setVisible(drawn is not None)
            overlay.setVisible(drawn is not None)
            if drawn is None:  # hidden, or e.g. a teacher-phase frame: no student or base maps yet
                continue
            rect = QRectF(0, self.cells.top(rows.index(key)), pictures.shape[1], height)
            base.setImage(pictures, autoLevels=False, levels=(0, 255))
            base.setRect(rect)
            stack, levels = drawn
            self.stacks[key], self.levels[key] = stack, chosen.levels_for(key, levels)
            overlay.setImage(
                display.tile_row(stack, self.cells.gap, np.nan), autoLevels=False, levels=self.levels[key]
            )
            overlay.setLookupTable(lut)
            overlay.setOpacity(options.opacity)
            overlay.setRect(rect)

    def hide(self) -> None:
        """Nothing to show."""
        self.inputs.clear()
        for base, overlay in self.maps.values():
            base.setVisible(False)
            overlay.setVisible(False)
        self.keys, self.levels, self.stacks = [], {}, {}

    def _add(self, key: str) -> None:
        base, overlay = pg.ImageItem(), pg.ImageItem()
        overlay.setZValue(1)
        for item in (base, overlay):
            item.setVisible(False)
            self.view.addItem(item)
        self.maps[key] = (base, overlay)
