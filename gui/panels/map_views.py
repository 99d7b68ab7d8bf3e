"""The inspector's pictures: the input and every map of one image, two views to a row, each with
its title (and its colour scale's ends when they are not 0..1 of the image); a cross marks a
pinned pixel in every view at once. The views are built once (building costs a few hundred ms)
and rebuilt only when a frame brings other maps."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QPointF

from engine.events import ProbeFrame
from gui.model.options import SHARED, SIGNED, DisplayOptions
from gui.panels import display

__all__ = ["MapViews"]


def levels_text(levels: tuple[float, float], options: DisplayOptions) -> str:
    """The colour scale's ends when they are not simply 0..1 of the image (the bar says that)."""
    _low, high = levels
    if options.mode == SIGNED:
        return f"±{display.format_value(high)}"
    return "" if options.scale != SHARED else f"0–{display.format_value(high)}"


class MapViews(pg.GraphicsLayoutWidget):
    """One view box per map; ``overlays`` are the map image items by key."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.setMinimumHeight(240)
        self.views: dict[str, pg.ViewBox] = {}
        self.titles: dict[str, pg.LabelItem] = {}
        self.pictures: dict[str, pg.ImageItem] = {}
        self.overlays: dict[str, pg.ImageItem] = {}
        self.markers: dict[str, pg.ScatterPlotItem] = {}
        self.keys: tuple[str, ...] = ()
        self.build(list(display.MAP_COLUMNS))

    def build(self, columns: list[tuple[str, str]]) -> None:
        """One view per (key, title) of ``columns``, after the input's."""
        self.clear()
        self.views, self.titles, self.pictures, self.overlays, self.markers = {}, {}, {}, {}, {}
        titles = [("input", "Input"), *columns]
        self.keys = tuple(key for key, _ in titles)
        for position, (key, title) in enumerate(titles):
            row, col = 2 * (position // 2), position % 2
            view = self.addViewBox(row=row, col=col, lockAspect=True, invertY=True)
            view.setMenuEnabled(False)
            view.setMouseEnabled(False, False)
            label = self.addLabel(title, row=row + 1, col=col, size="8pt", color="#222")
            label.setMaximumHeight(32)  # two lines: the title, then its scale (never wider than a view)
            picture = pg.ImageItem()
            view.addItem(picture)
            marker = pg.ScatterPlotItem(symbol="+", size=14, pen=pg.mkPen((0, 200, 255), width=2), brush=None)
            marker.setZValue(5)
            marker.setVisible(False)
            view.addItem(marker)
            self.views[key], self.titles[key], self.pictures[key], self.markers[key] = (
                view,
                label,
                picture,
                marker,
            )
            if key != "input":
                overlay = pg.ImageItem()
                overlay.setZValue(1)
                view.addItem(overlay)
                self.overlays[key] = overlay

    def draw(self, frame: ProbeFrame, index: int, options: DisplayOptions) -> None:
        """Image ``index`` of ``frame`` under each of its maps, drawn with ``options``."""
        columns = display.columns_for(frame)
        if ("input", *(key for key, _ in columns)) != self.keys:
            self.build(columns)
        height, width = frame.images.shape[1:3]
        picture = display.input_image(frame, index)
        lut = display.lookup_table(display.colormap_for(options))
        for key, base in self.pictures.items():
            base.setImage(picture, autoLevels=False, levels=(0, 255))
            base.setRect(0, 0, width, height)
            self.views[key].setRange(xRange=(0, width), yRange=(0, height), padding=0.02)
        for key, item in self.overlays.items():
            image = display.map_image(frame, key, index, options)
            if image is None:
                item.clear()
                self.titles[key].setText(f"{display.map_title(key)} (not computed)")
                continue
            levels = display.map_levels(frame, key, index, options)
            item.setImage(image, autoLevels=False, levels=levels)
            item.setLookupTable(lut)
            item.setOpacity(options.opacity)
            item.setRect(0, 0, width, height)
            scale = levels_text(levels, options)
            self.titles[key].setText(f"{display.map_title(key)}{'<br>' + scale if scale else ''}")

    def pixel_at(self, scene_pos: QPointF, height: int, width: int) -> tuple[int, int] | None:
        """(row, col) of the image pixel under ``scene_pos`` in any view (None: none)."""
        for view in self.views.values():
            if view.sceneBoundingRect().contains(scene_pos):
                point = view.mapSceneToView(scene_pos)
                row, col = int(math.floor(point.y())), int(math.floor(point.x()))
                if 0 <= row < height and 0 <= col < width:
                    return row, col
        return None

    def mark(self, pixel: tuple[int, int] | None) -> None:
        """Cross ``pixel`` (row, col) in every view, or hide the crosses (None)."""
        for marker in self.markers.values():
            marker.setVisible(pixel is not None)
            if pixel is not None:
                marker.setData([pixel[1] + 0.5], [pixel[0] + 0.5])
