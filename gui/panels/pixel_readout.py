"""The inspector's readout: every map's value at one pixel of the inspected image, saying which
image, epoch, view mode and scale the values are of (a value from another image or epoch would
be stale), or a hint on how to get one."""

from __future__ import annotations

import html
from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from gui.model.options import SHARED, SIGNED, DisplayOptions
from gui.panels import display

__all__ = ["HOVER_HINT", "PixelReadout"]

HOVER_HINT = "Hover over an image to read every map's value at that pixel; click to pin it."


class PixelReadout(QLabel):
    """A rich-text line: the pixel, what it is of, then each map's title and value."""

    def __init__(self) -> None:
        super().__init__(HOVER_HINT)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)

    def show_hint(self) -> None:
        self.setText(HOVER_HINT)

    def show_values(
        self,
        pixel: tuple[int, int],
        values: Mapping[str, float],
        what: str,
        epoch: int,
        options: DisplayOptions,
        pinned: bool,
    ) -> None:
        """``values`` by map key at ``pixel`` (row, col) of ``what`` (plain text) at ``epoch``."""
        signed = options.mode == SIGNED
        mode = "signed" if signed else "normalised"
        scale = "shared scale" if options.scale == SHARED else "per-image scale"
        pin = " — <b>pinned</b>: click it again to release" if pinned else ""
        parts = [
            f"{html.escape(display.map_title(key), quote=False)} <b>{display.format_value(value, signed)}</b>"
            for key, value in values.items()
        ]
        self.setText(
            f"Pixel (row {pixel[0]}, col {pixel[1]}) of {html.escape(what, quote=False)}, epoch {epoch}, "
            f"{mode}, {scale}{pin}<br>" + " · ".join(parts)
        )
