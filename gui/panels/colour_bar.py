"""A small colour bar: the lookup table in use, top to bottom, with what its ends mean.

Painted by hand (one gradient image and three labels), so updating it costs nothing next to the
maps it explains. The grid and the inspector each show one next to their maps.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.model.options import DisplayOptions
from gui.panels import display

BAR_WIDTH = 12


class ColourBar(QWidget):
    """Vertical colour bar with a title and labels for its top, middle and bottom."""

    def __init__(self, options: DisplayOptions | None = None) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(120)
        self._image: QImage | None = None
        self._lut: np.ndarray | None = None
        self.labels: tuple[str, str, str, str] = ("", "", "", "")
        self.set_options(options or DisplayOptions())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        return QSize(78, 240)

    def set_options(self, options: DisplayOptions) -> None:
        """Show the colormap and the scale ``options`` draw with."""
        lut = display.lookup_table(display.colormap_for(options))
        gradient = np.ascontiguousarray(np.repeat(lut[::-1, None, :], BAR_WIDTH, axis=1))
        # QImage wants RGBA bytes; keep the array alive with the image
        self._lut = gradient
        self._image = QImage(
            gradient.data, BAR_WIDTH, gradient.shape[0], BAR_WIDTH * 4, QImage.Format.Format_RGBA8888
        )
        self.labels = display.scale_labels(options)
        self.setToolTip(f"Colour scale: {self.labels[0]}")
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt name)
        painter = QPainter(self)
        try:
            font = painter.font()
            font.setPointSizeF(max(font.pointSizeF() - 1.5, 6.5))
            painter.setFont(font)
            line = painter.fontMetrics().height()
            title, top, middle, bottom = self.labels
            title_rect = QRect(0, 0, self.width(), 2 * line + 4)
            painter.setPen(QColor(60, 60, 60))
            painter.drawText(title_rect, Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft, title)
            bar = QRectF(
                2, title_rect.bottom() + 6, BAR_WIDTH, self.height() - title_rect.bottom() - 6 - line
            )
            if self._image is not None and bar.height() > 10:
                painter.drawImage(bar, self._image)
                painter.setPen(QColor(120, 120, 120))
                painter.drawRect(bar)
                painter.setPen(QColor(40, 40, 40))
                left = int(bar.right()) + 5
                width = self.width() - left
                flags = Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignLeft
                painter.drawText(QRect(left, int(bar.top()) - 2, width, 3 * line), flags, top)
                if middle:
                    mid = int(bar.center().y() - line / 2)
                    painter.drawText(QRect(left, mid, width, line), flags, middle)
                painter.drawText(QRect(left, int(bar.bottom()) - line, width, line + 2), flags, bottom)
        finally:
            painter.end()
