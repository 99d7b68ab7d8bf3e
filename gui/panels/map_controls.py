"""The heatmap grid's per-map controls: a "Maps" menu that shows or hides each row (the input and
every map), and a contrast column: one map row's values as a histogram (a pyqtgraph
``HistogramLUTItem``) whose region sets that row's own colour limits, drawn in the colormap in use;
"Auto" gives the row back the display options' levels. The grid keeps the choices in a Qt-free
:class:`~gui.model.map_rows.MapRows`."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QLabel, QMenu, QPushButton, QToolButton, QVBoxLayout, QWidget

from gui.panels import display
from gui.panels.wheel_guard import guard_wheel

__all__ = ["ContrastColumn", "RowsMenu"]

BINS = 64


class RowsMenu(QToolButton):
    """ "Maps ▾" with a tick per row; ``row_toggled(key, shown)`` when the user changes one."""

    row_toggled = Signal(str, bool)

    def __init__(self) -> None:
        super().__init__(text="Maps")
        self.setToolTip("Show or hide each row of the grid (the input and every map)")
        self.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.setMenu(QMenu(self))
        self.actions_by_key: dict[str, QAction] = {}

    def set_rows(self, keys: list[str], hidden: frozenset[str]) -> None:
        """Offer ``keys`` (every row a frame can fill), ticked unless hidden."""
        if list(self.actions_by_key) != keys:
            self.menu().clear()
            self.actions_by_key = {}
            for key in keys:
                action = self.menu().addAction(display.map_title(key))
                action.setCheckable(True)
                action.toggled.connect(lambda shown, k=key: self.row_toggled.emit(k, shown))
                self.actions_by_key[key] = action
        for key, action in self.actions_by_key.items():
            action.blockSignals(True)
            action.setChecked(key not in hidden)
            action.blockSignals(False)


class ContrastColumn(QWidget):
    """A map row's histogram and contrast limits; ``levels_changed(key, (low, high) or None)``
    when the user drags them (or asks for Auto), ``row_chosen(key)`` when another row is chosen."""

    levels_changed = Signal(str, object)
    row_chosen = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.row = QComboBox()
        self.row.setToolTip("The map row whose contrast the histogram sets")
        self.row.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.row.setMinimumContentsLength(8)
        self.histogram = pg.HistogramLUTWidget(gradientPosition="right")
        self.histogram.setBackground("w")
        self.histogram.item.gradient.showTicks(False)
        self.histogram.item.gradient.setEnabled(False)  # the colormap is the display options'
        self.histogram.setMinimumWidth(96)
        self.limits = QLabel("")
        self.limits.setWordWrap(True)
        auto = QPushButton("Auto")
        auto.setToolTip("Back to the colour scale of the view options (per image or shared)")
        auto.clicked.connect(lambda _checked=False: self.levels_changed.emit(self.key(), None))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 0, 0, 0)
        layout.addWidget(QLabel("Contrast of"))
        layout.addWidget(self.row)
        layout.addWidget(self.histogram, 1)
        layout.addWidget(self.limits)
        layout.addWidget(auto)
        self.setMaximumWidth(150)
        self._updating = False
        self.histogram.item.sigLevelsChanged.connect(self._on_levels)
        self.row.activated.connect(lambda _index: self.row_chosen.emit(self.key()))
        guard_wheel(self)

    def key(self) -> str:
        return str(self.row.currentData() or "")

    def set_rows(self, keys: list[str]) -> None:
        """The map rows on screen (the chosen one kept when it still is)."""
        current = self.key()
        self.row.blockSignals(True)
        self.row.clear()
        for key in keys:
            self.row.addItem(display.map_title(key), key)
        index = self.row.findData(current)
        self.row.setCurrentIndex(index if index >= 0 else 0)
        self.row.blockSignals(False)

    def show_values(self, values: np.ndarray, levels: tuple[float, float], colormap: str, own: bool) -> None:
        """The chosen row's drawn values as a histogram, its limits ``levels`` (``own``: set by the
        user) over the colormap in use."""
        finite = values[np.isfinite(values)]
        self._updating = True
        try:
            item = self.histogram.item
            if finite.size:
                low, high = min(float(finite.min()), levels[0]), max(float(finite.max()), levels[1])
                counts, edges = np.histogram(finite, bins=BINS, range=(low, high if high > low else low + 1))
                item.plot.setData((edges[:-1] + edges[1:]) / 2, counts.astype(np.float64))
                item.setHistogramRange(low, high if high > low else low + 1, padding=0.02)
            else:
                item.plot.setData([], [])
            item.gradient.setColorMap(pg.colormap.get(colormap))
            item.setLevels(*levels)
        finally:
            self._updating = False
        which = "its own limits" if own else "the view's scale"
        self.limits.setText(
            f"{display.format_value(levels[0])} – {display.format_value(levels[1])} ({which})"
        )

    def _on_levels(self, item: pg.HistogramLUTItem) -> None:
        if not self._updating and self.key():
            self.levels_changed.emit(self.key(), tuple(float(v) for v in item.getLevels()))
