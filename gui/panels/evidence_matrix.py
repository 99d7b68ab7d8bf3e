"""A :class:`MatrixPlot` of the evidence registry in the window: its blocks (e.g. the teacher's
layer taps against the student's and against the base's) side by side as one image on one colour
scale, a blank column between blocks, and a colour bar with the scale beside the plot. The image
and the bar are made once and fed new values (STYLE.md: fixed levels, set, not rebuilt)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from engine.evidence.registry import MatrixPlot

__all__ = ["MatrixView", "matrix_grid"]

COLOURMAP = "viridis"  # as the report draws a MatrixPlot


def matrix_grid(spec: MatrixPlot) -> tuple[np.ndarray, list[str], list[str], tuple[float, float]]:
    """(values as rows x columns with NaN gaps between blocks, column labels, row labels, (low,
    high) of the shared scale)."""
    blocks, columns = [], []
    rows = list(next(iter(spec.panels.values()))[0])
    for _rows, names, values in spec.panels.values():
        if blocks:
            blocks.append(np.full((len(rows), 1), np.nan))
            columns.append("")
        blocks.append(np.array([[np.nan if v is None else v for v in row] for row in values], float))
        columns += list(names)
    grid = np.hstack(blocks)
    finite = grid[np.isfinite(grid)]
    scale = spec.scale or ((float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0))
    if scale[1] <= scale[0]:
        scale = (scale[0], scale[0] + 1.0)
    return grid, columns, rows, scale


class MatrixView:
    """The image and colour bar of a matrix plot inside an evidence plot's layout."""

    def __init__(self, owner: pg.GraphicsLayoutWidget) -> None:
        self.owner = owner
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get(COLOURMAP).getLookupTable(0.0, 1.0, 256))
        self.bar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=COLOURMAP, interactive=False, width=12)
        self._shown = False

    def show(self, spec: MatrixPlot | None) -> tuple[list[str], list[str]]:
        """Draw ``spec`` (None: take the image and bar away); (column labels, row labels)."""
        plot = self.owner.plot
        if spec is None:
            if self._shown:
                plot.removeItem(self.image)
                self.owner.removeItem(self.bar)
                self._shown = False
            return [], []
        grid, columns, rows, (low, high) = matrix_grid(spec)
        if not self._shown:
            plot.addItem(self.image)
            self.owner.addItem(self.bar, row=0, col=1)
            self._shown = True
        # rows top to bottom as the table lists them; NaN (a gap, an undefined cell) stays blank
        self.image.setImage(
            np.ascontiguousarray(grid[::-1], np.float32), levels=(low, high), autoLevels=False
        )
        self.image.setRect(-0.5, -0.5, grid.shape[1], grid.shape[0])
        self.bar.setLevels((low, high))
        return columns, rows[::-1]
