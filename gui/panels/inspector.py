"""The inspector: one image large with all its maps, every model's prediction, and the value of
every map under the pointer. It shows the image the model inspects at the shown epoch, or the
last explained image file, drawn with the model's display options (set by its controls row,
``view_controls``; the heatmap grid follows them too).

A clicked pixel is pinned: its readout follows the epoch slider, the image and the view mode
(it is recomputed from what is shown), and it is released when the new image has no such pixel.
An opened file has no label unless the user gives one, and the user picks the class to explain
(``file_choices``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from engine.events import ProbeFrame
from gui.model.history import is_teacher_phase
from gui.model.options import DisplayOptions
from gui.model.run_model import RunModel
from gui.model.status import label_name
from gui.panels import display
from gui.panels.colour_bar import ColourBar
from gui.panels.file_choices import EACH_PREDICTION, FileChoices
from gui.panels.map_views import MapViews
from gui.panels.pixel_readout import PixelReadout
from gui.panels.view_controls import ViewControls

IDLE_TITLE = "Click any image in the grid, or open an image file, to inspect it here."


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


class Inspector(QWidget):
    """Large view of one image of a frame, with the display controls; it asks to be shown
    (``reveal_requested``) when an image is inspected or a file explained."""

    reveal_requested = Signal()

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.options = model.options
        self.frame: ProbeFrame | None = None
        self.index = 0
        self.source = ""  # the explained file's name (empty: a probe image)
        self.pixel: tuple[int, int] | None = None  # the pinned pixel
        self.controls = ViewControls(model, actions)
        self.file_box = FileChoices(model)
        self.title = QLabel(IDLE_TITLE)
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.plots = MapViews()
        self.colour_bar = ColourBar(model.options)
        self.predictions = QLabel("")
        self.predictions.setTextFormat(Qt.TextFormat.RichText)
        self.predictions.setWordWrap(True)
        self.readout = PixelReadout()
        maps = QHBoxLayout()
        maps.addWidget(self.plots, 1)
        maps.addWidget(self.colour_bar)
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.file_box)
        layout.addWidget(self.title)
        layout.addLayout(maps, 1)
        layout.addWidget(self.predictions)
        layout.addWidget(self.readout)
        self.plots.scene().sigMouseMoved.connect(self._on_hover)
        self.plots.scene().sigMouseClicked.connect(self._on_click)
        self.set_options(model.options)
        events = model.events
        events.cleared.connect(self._on_cleared)
        events.epoch.connect(self._on_epoch)
        events.preview.connect(self._on_preview)
        events.inspected.connect(self._on_inspected)
        events.explained.connect(self._on_explained)
        events.options.connect(self.set_options)

    # -- public ----------------------------------------------------------------------------
    def map_item(self, key: str) -> pg.ImageItem:
        return self.plots.overlays[key]

    def set_options(self, options: DisplayOptions) -> None:
        """Redraw with ``options`` (the controls show them themselves)."""
        self.options = options
        self.colour_bar.set_options(options)
        self._redraw()
        self._refresh_readout()

    def show_image(self, frame: ProbeFrame, index: int, source: str = "", path: str | None = None) -> None:
        """Show image ``index`` of ``frame``; ``source`` names an opened file (empty: a probe image)
        and ``path`` is that file's path."""
        self.frame, self.index, self.source = frame, index, source
        self._redraw()
        self.title.setText(self._title_text())
        lines = []
        for role, top in display.top_predictions(frame, index).items():
            (best, p), rest = top[0], top[1:]
            then = ", ".join(f"{_escape(c)} {q:.0%}" for c, q in rest)
            lines.append(
                f"<b>{role}</b> predicted: {_escape(best)} {p:.0%}" + (f" (then {then})" if then else "")
            )
        self.predictions.setText("<br>".join(lines) or "No predictions in this frame.")
        self.file_box.show_file(frame if source else None, path)
        self._refresh_readout()

    def pixel_values(self, row: int, col: int) -> dict[str, float]:
        """Every map's drawn value at one input pixel of the shown image."""
        assert self.frame is not None
        return {
            key: display.value_at(self.frame, key, self.index, row, col, self.options)
            for key in self.plots.overlays
        }

    def pin(self, pixel: tuple[int, int] | None) -> None:
        """Pin the readout to ``pixel`` (row, col), or release it with None."""
        self.pixel = pixel if pixel is not None and self._inside(pixel) else None
        self._refresh_readout()

    # -- model events ----------------------------------------------------------------------
    def _on_cleared(self) -> None:
        self.frame, self.pixel = None, None
        self.title.setText(IDLE_TITLE)
        self.predictions.setText("")
        self.file_box.show_file(None, None)
        self._refresh_readout()

    def _on_epoch(self, _epoch: int, frame: ProbeFrame | None) -> None:
        if frame is None:
            return
        preview = self.frame is not None and is_teacher_phase(self.frame) and not self.source
        if (self.frame is None or preview) and self.model.inspected is None:
            self.model.inspect(0)  # an inspector with something in it shows what it is for
        elif self.model.inspected is not None and self.model.inspected < frame.images.shape[0]:
            self.show_image(frame, self.model.inspected)

    def _on_preview(self, frame: ProbeFrame) -> None:
        """The teacher phase: its input and the teacher's Grad-CAM, until the first KD frame (an
        explained file stays)."""
        if self.source or (self.frame is not None and not is_teacher_phase(self.frame)):
            return
        index = self.model.inspected
        self.show_image(frame, index if index is not None and index < frame.images.shape[0] else 0)

    def _on_inspected(self, index: int | None) -> None:
        frame = self.model.shown_frame()
        if index is not None and frame is not None and index < frame.images.shape[0]:
            self.show_image(frame, index)
        if index is not None:
            self.reveal_requested.emit()

    def _on_explained(self, name: str, frame: ProbeFrame) -> None:
        self.show_image(frame, 0, source=name, path=str(frame.flags.get("image_path", name)))
        self.reveal_requested.emit()

    # -- internals -------------------------------------------------------------------------
    def _title_text(self) -> str:
        frame, index = self.frame, self.index
        assert frame is not None
        label = int(frame.labels[index]) if len(frame.labels) > index else -1
        name = label_name(label, frame.class_names)
        if not self.source:
            teacher = frame.flags.get("teacher_epoch")
            when = f"teacher phase, after teacher epoch {teacher}" if teacher else f"epoch {frame.epoch}"
            return f"<b>probe image #{index}</b> — true label: {_escape(name)} — {when}"
        flags = frame.flags
        given = _escape(name) if label >= 0 else "none given"
        explained = _escape(str(flags.get("explained_class", EACH_PREDICTION)))
        height, width = frame.images.shape[1:3]
        size = flags.get("original_size")
        original = (
            f"; the file is {size[0]}×{size[1]} px" if isinstance(size, list) and len(size) == 2 else ""
        )
        return (
            f"<b>{_escape(self.source)}</b> — label: {given} — explains: {explained} — models of "
            f"epoch {frame.epoch}<br><i>Centre-cropped to the model's square input "
            f"({width}×{height} px{original}), as its preprocessing does.</i>"
        )

    def _redraw(self) -> None:
        if self.frame is not None:
            self.plots.draw(self.frame, self.index, self.options)

    def _inside(self, pixel: tuple[int, int]) -> bool:
        if self.frame is None:
            return False
        height, width = self.frame.images.shape[1:3]
        return 0 <= pixel[0] < height and 0 <= pixel[1] < width

    def _pixel_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        if self.frame is None:
            return None
        height, width = self.frame.images.shape[1:3]
        return self.plots.pixel_at(scene_pos, height, width)

    @Slot(object)
    def _on_hover(self, scene_pos: QPointF) -> None:
        if self.pixel is None:
            pixel = self._pixel_at(scene_pos)
            if pixel is not None:
                self._show_values(pixel)

    @Slot(object)
    def _on_click(self, event) -> None:
        pixel = self._pixel_at(event.scenePos())
        if pixel is not None or self.pixel is not None:
            self.pin(None if pixel == self.pixel else pixel)

    def _refresh_readout(self) -> None:
        """The pinned pixel's values for what is shown now, or the hint when nothing is pinned
        (a hover value from an earlier image or epoch would be stale)."""
        if self.pixel is not None and not self._inside(self.pixel):
            self.pixel = None  # the new image has no such pixel: release it
        self.plots.mark(self.pixel)
        if self.pixel is None or self.frame is None:
            self.readout.show_hint()
        else:
            self._show_values(self.pixel)

    def _show_values(self, pixel: tuple[int, int]) -> None:
        if self.frame is None:
            return
        what = self.source or f"probe image #{self.index}"
        values = self.pixel_values(*pixel)
        self.readout.show_values(pixel, values, what, self.frame.epoch, self.options, self.pixel == pixel)
