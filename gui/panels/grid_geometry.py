"""Where every cell of the heatmap grid lies, in view units (one unit is one input pixel): the
probe images side by side in columns, the input and each map in rows, with small gaps between.

The grid draws, highlights, labels, hit-tests and fits with this one geometry, so a click, a
highlight and a column's class name always agree on where a cell is.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF

__all__ = ["GAP", "CellGeometry"]

GAP = 0.08  # gap between cells, as a share of the image size


@dataclass(frozen=True)
class CellGeometry:
    """``count`` columns and ``rows`` rows of ``width`` x ``height`` cells, ``gap`` / ``gap_y``
    apart (the default, before any frame: one unit cells, no columns)."""

    count: int = 0
    rows: int = 1
    width: float = 1.0
    height: float = 1.0
    gap: int = 1
    gap_y: int = 1

    @classmethod
    def for_images(cls, count: int, height: int, width: int, rows: int) -> CellGeometry:
        """The geometry of ``count`` images of ``height`` x ``width`` pixels in ``rows`` rows."""
        gap, gap_y = max(1, round(GAP * width)), max(1, round(GAP * height))
        return cls(count, rows, float(width), float(height), gap, gap_y)

    def left(self, index: int) -> float:
        return index * (self.width + self.gap)

    def top(self, row: int) -> float:
        return row * (self.height + self.gap_y)

    def centre(self, row: int, index: int) -> tuple[float, float]:
        return self.left(index) + self.width / 2, self.top(row) + self.height / 2

    @property
    def total_width(self) -> float:
        return self.count * (self.width + self.gap) - self.gap

    @property
    def total_height(self) -> float:
        return self.rows * (self.height + self.gap_y) - self.gap_y

    def content(self) -> QRectF:
        """The whole grid with a gap of margin around it."""
        return QRectF(
            -self.gap, -self.gap_y, self.total_width + 2 * self.gap, self.total_height + 2 * self.gap_y
        )

    def selection(self, index: int) -> QRectF:
        """The frame drawn around column ``index`` (every row of it)."""
        return QRectF(self.left(index) - 1, -1, self.width + 2, self.total_height + 2)

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """(row, column) of the cell under view point (x, y); None in a gap or outside."""
        index = int(x // (self.width + self.gap))
        row = int(y // (self.height + self.gap_y))
        inside = x - self.left(index) < self.width and y - self.top(row) < self.height
        if inside and 0 <= index < self.count and 0 <= row < self.rows:
            return row, index
        return None

    def row_ticks(self, titles: list[str]) -> list[tuple[float, str]]:
        """Each row's title at the height of its centre."""
        return [(self.top(row) + self.height / 2, title) for row, title in enumerate(titles)]

    def column_ticks(self, names: list[str]) -> list[tuple[float, str]]:
        """Each column's name at its centre."""
        return [(self.left(index) + self.width / 2, name) for index, name in enumerate(names)]

    def column_pixels(self, view_span: float, view_pixels: float) -> float:
        """How many screen pixels one column (with its gap) takes when ``view_span`` view units
        fill ``view_pixels`` pixels."""
        return (self.width + self.gap) * view_pixels / max(view_span, 1e-9)
