"""An axis that paints straight onto the painter it is given.

pyqtgraph's ``AxisItem`` records its ticks and labels into a ``QPicture`` and replays it; the
replay lands at the wrong place and scale in an SVG (exported tick labels drifted away from
their ticks). This axis draws directly; on screen it is cached as a pixmap by Qt instead
(``DeviceCoordinateCache``), so a plot whose range did not change repaints without redrawing
its ticks, labels and grid lines (which cost tens of milliseconds per repaint otherwise).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

__all__ = ["PlainAxis", "plain_axes"]


class PlainAxis(pg.AxisItem):
    """``AxisItem`` without the QPicture: correct in SVG, cached as pixels on screen."""

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def paint(self, p, opt, widget) -> None:  # noqa: D102 (Qt's signature)
        p.save()
        try:
            if self.style["tickFont"]:
                p.setFont(self.style["tickFont"])
            specs = self.generateDrawSpecs(p)
            if specs is not None:
                self.drawPicture(p, *specs)
        finally:
            p.restore()


def plain_axes(*orientations: str) -> dict[str, PlainAxis]:
    """``axisItems=`` for a PlotItem: one PlainAxis per side named."""
    return {side: PlainAxis(side) for side in orientations or ("left", "bottom", "top", "right")}
