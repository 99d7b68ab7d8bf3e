"""How the heatmap grid moves: its view box (wheel zoom that keeps the grid's top edge in place
while it is in view, so the input row never slides under the class names; a fit that shows the
whole grid from its top-left corner) and its canvas, whose Left/Right keys step the selection."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QFontMetrics, QKeyEvent

from gui.panels.axis import plain_axes

__all__ = ["ColumnNames", "GridCanvas", "GridView", "axes_plot"]

STEP_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}


class GridView(pg.ViewBox):
    """Aspect-locked, y down; ``content`` is the grid's rectangle (None before the first frame)."""

    def __init__(self) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.content: QRectF | None = None

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802 (Qt name)
        content = self.content
        (_, _), (top, _) = self.viewRange()
        if content is None or top > content.top() + 1e-6:
            super().wheelEvent(ev, axis)
            return
        factor = 1.02 ** (ev.delta() * self.state["wheelScaleFactor"])
        centre = pg.Point(self.mapToView(ev.pos()).x(), content.top())
        self.scaleBy((factor, factor), centre)
        ev.accept()
        self.sigRangeChangedManually.emit(self.state["mouseEnabled"])

    def fit(self) -> None:
        """Show the whole grid from its top-left corner, so the axes' labels sit next to it (the
        aspect lock would otherwise centre it and leave the labels floating)."""
        rect, size = self.content, self.size()
        if rect is None or size.width() <= 0 or size.height() <= 0:
            return
        units_per_pixel = max(rect.width() / size.width(), rect.height() / size.height())
        self.setRange(
            xRange=(rect.left(), rect.left() + size.width() * units_per_pixel),
            yRange=(rect.top(), rect.top() + size.height() * units_per_pixel),
            padding=0,
        )


class GridCanvas(pg.GraphicsView):
    """The grid's canvas on a white ground; once focused (a click), Left/Right without a modifier
    emit ``step_requested(-1 or +1)``: the neighbouring image is wanted."""

    step_requested = Signal(int)

    def __init__(self) -> None:
        super().__init__(background="w")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802 (Qt name)
        if ev.modifiers() == Qt.KeyboardModifier.NoModifier and ev.key() in STEP_KEYS:
            self.step_requested.emit(STEP_KEYS[Qt.Key(ev.key())])
            ev.accept()
            return
        super().keyPressEvent(ev)


def axes_plot(view: GridView) -> pg.PlotItem:
    """A PlotItem around ``view`` only for its axes: the left one names the rows, the top one the
    columns' classes; plain text, no ticks, no numbers before the first frame."""
    plot = pg.PlotItem(viewBox=view, axisItems=plain_axes("left", "top"), enableMenu=False)
    plot.hideButtons()
    plot.hideAxis("bottom")
    plot.showAxis("top")
    for name in ("left", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(None))
        axis.setTextPen(pg.mkPen((30, 30, 30)))
        axis.setStyle(tickLength=0, autoExpandTextSpace=True)
        axis.setTicks([[], []])
    plot.getAxis("top").setHeight(22)
    return plot


class ColumnNames:
    """Each column's true class on the grid's top axis ('?' for an unknown label), shortened to
    its column's width on screen so that none overlaps another."""

    def __init__(self, plot: pg.PlotItem, view: GridView) -> None:
        self.plot, self.view = plot, view
        self.names: list[str] = []
        self._elided_at: float | None = None

    def set(self, names: list[str], cells) -> None:
        names = ["?" if name == "unknown" else name for name in names]
        if names != self.names:
            self.names, self._elided_at = names, None
        self.elide(cells)

    def elide(self, cells, force: bool = False) -> None:
        """Shorten the names to ``cells``' column width at the view's zoom (when it changed)."""
        if force:
            self._elided_at = None
        if not self.names:
            return
        (left, right), _ = self.view.viewRange()
        column_px = cells.column_pixels(right - left, max(self.view.width(), 1.0))
        if self._elided_at is not None and abs(column_px - self._elided_at) < 1:
            return
        self._elided_at = column_px
        metrics = QFontMetrics(self.plot.getAxis("top").font())
        room = max(int(column_px) - 4, 8)
        names = [metrics.elidedText(name, Qt.TextElideMode.ElideRight, room) for name in self.names]
        self.plot.getAxis("top").setTicks([cells.column_ticks(names), []])

    def clear(self) -> None:
        self.names, self._elided_at = [], None
