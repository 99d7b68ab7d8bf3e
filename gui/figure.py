"""The exported heatmap figure: one layout, drawn by one painter function into a PNG at a chosen
DPI and into an SVG, so both show the same thing (SPEC §8 "Export").

It is a figure, not a screen grab: tight around the grid, no selection box, a title saying what
is shown, every row labelled beside its row, every column's class name centred over its column,
and a colour bar with the scale in use. Sizes are in points (1/72 inch); fonts are sized in the
same units, so the layout does not depend on the screen's DPI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator

from engine.events import ProbeFrame
from gui.model.options import DisplayOptions
from gui.model.status import label_name
from gui.panels import display

__all__ = [
    "FigureLayout",
    "figure_layout",
    "paint_figure",
    "save_figure_png",
    "save_figure_svg",
    "white_page",
]

CELL_PT = 48.0
GAP_PT = 4.0
MARGIN_PT = 10.0
BAR_PT = 10.0
TITLE_PX, LABEL_PX, NOTE_PX = 10, 8, 7
SVG_MIN_CELL_PX = 128  # cells are embedded at least this large (nearest-neighbour), so stay sharp


def _font(pixels: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(pixels)  # pixels of the figure's own units (points), whatever the device
    font.setBold(bold)
    return font


@dataclass(frozen=True)
class FigureLayout:
    """Where everything goes, in points."""

    width: float
    height: float
    title: QRectF
    headers: list[QRectF]  # one per column, above the input row
    row_labels: list[QRectF]  # one per row (input first), left of the row
    cells: list[list[QRectF]]  # [row][column]
    bar: QRectF
    bar_labels: QRectF
    note: QRectF
    rows: list[str]  # map keys, "input" first


def figure_layout(frame: ProbeFrame) -> FigureLayout:
    count, height, width = frame.images.shape[:3]
    rows = ["input", *(key for key, _ in display.columns_for(frame) if key in frame.maps)]
    cell_w, cell_h = CELL_PT * width / max(height, width), CELL_PT * height / max(height, width)
    label_metrics, title_metrics = QFontMetricsF(_font(LABEL_PX)), QFontMetricsF(_font(TITLE_PX, True))
    label_w = max(label_metrics.horizontalAdvance(display.map_title(k)) for k in rows) + 8
    header_h = 2 * label_metrics.height() + 4
    title_h = title_metrics.height() + 6
    grid_left = MARGIN_PT + label_w
    grid_top = MARGIN_PT + title_h + header_h
    grid_w = count * (cell_w + GAP_PT) - GAP_PT
    grid_h = len(rows) * (cell_h + GAP_PT) - GAP_PT
    cells = [
        [
            QRectF(grid_left + c * (cell_w + GAP_PT), grid_top + r * (cell_h + GAP_PT), cell_w, cell_h)
            for c in range(count)
        ]
        for r in range(len(rows))
    ]
    headers = [
        QRectF(cell.left() - GAP_PT / 2, grid_top - header_h, cell_w + GAP_PT, header_h - 2)
        for cell in cells[0]
    ]
    row_labels = [QRectF(MARGIN_PT, row[0].top(), label_w - 6, cell_h) for row in cells]
    bar = QRectF(grid_left + grid_w + 12, grid_top + cell_h + GAP_PT, BAR_PT, grid_h - cell_h - GAP_PT)
    bar_labels = QRectF(bar.right() + 4, bar.top() - 4, 84, bar.height() + 8)
    total_w = bar_labels.right() + MARGIN_PT
    note_metrics = QFontMetricsF(_font(NOTE_PX))
    note = QRectF(MARGIN_PT, grid_top + grid_h + 6, total_w - 2 * MARGIN_PT, 3 * note_metrics.height())
    title = QRectF(MARGIN_PT, MARGIN_PT, total_w - 2 * MARGIN_PT, title_h)
    return FigureLayout(
        width=total_w,
        height=note.bottom() + MARGIN_PT,
        title=title,
        headers=headers,
        row_labels=row_labels,
        cells=cells,
        bar=bar,
        bar_labels=bar_labels,
        note=note,
        rows=rows,
    )


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def paint_figure(
    painter: QPainter, frame: ProbeFrame, options: DisplayOptions, layout: FigureLayout, min_cell_px: int = 0
) -> None:
    """Draw the figure in point units (the caller scales ``painter`` to its device)."""
    painter.fillRect(QRectF(0, 0, layout.width, layout.height), QColor("white"))
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
    title, top, middle, bottom = display.scale_labels(options)
    painter.setPen(QColor(20, 20, 20))
    painter.setFont(_font(TITLE_PX, True))
    painter.drawText(
        layout.title,
        Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
        f"Heatmaps at epoch {frame.epoch} — {title}, opacity {options.opacity:.0%}",
    )
    painter.setFont(_font(LABEL_PX))
    metrics = QFontMetricsF(painter.font())
    for rect, label in zip(layout.headers, np.asarray(frame.labels).tolist(), strict=True):
        name = label_name(int(label), frame.class_names)
        text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, rect.width() * 2 - 4)
        painter.drawText(
            rect,
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom | Qt.TextFlag.TextWrapAnywhere,
            text,
        )
    for rect, key in zip(layout.row_labels, layout.rows, strict=True):
        painter.drawText(
            rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, display.map_title(key)
        )
    lut = display.lookup_table(display.colormap_for(options))
    pictures = np.ascontiguousarray(frame.images, dtype=np.uint8)
    for row, key in zip(layout.cells, layout.rows, strict=True):
        drawn = None if key == "input" else display.map_stack(frame, key, options)
        for index, rect in enumerate(row):
            if drawn is None:
                rgb = pictures[index]
            else:
                stack, levels = drawn
                rgb = display.blend(pictures[index], stack[index], levels, lut, options.opacity)
            if min_cell_px and rgb.shape[0] < min_cell_px:
                factor = -(-min_cell_px // rgb.shape[0])
                rgb = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
            painter.drawImage(rect, _qimage(rgb))
    gradient = np.ascontiguousarray(np.repeat(lut[::-1, None, :3], 4, axis=1))
    painter.drawImage(layout.bar, _qimage(gradient))
    painter.setPen(QColor(120, 120, 120))
    painter.drawRect(layout.bar)
    painter.setPen(QColor(30, 30, 30))
    painter.setFont(_font(NOTE_PX))
    box = layout.bar_labels
    painter.drawText(QRectF(box.left(), box.top(), box.width(), 30), Qt.TextFlag.TextWordWrap, top)
    if middle:
        painter.drawText(QRectF(box.left(), box.center().y() - 6, box.width(), 12), 0, middle)
    painter.drawText(QRectF(box.left(), box.bottom() - 12, box.width(), 12), 0, bottom)
    context = frame.flags.get("context", "probe set")
    painter.setPen(QColor(90, 90, 90))
    painter.drawText(
        layout.note,
        Qt.TextFlag.TextWordWrap,
        f"Columns: {context} images, labelled with their true class. Grad-CAM: each model's "
        "predicted class. Distilled: UniCAM(student given base); residual: UniCAM(base given student). "
        f"Colours: {title}.",
    )


def white_page(width: int, height: int, dpi: int) -> QImage:
    """A white image of ``width`` x ``height`` pixels that says it is at ``dpi`` (a PNG written
    from it stores the DPI), for the figure and for the plots."""
    image = QImage(QSize(width, height), QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    dots_per_metre = int(round(dpi / 0.0254))
    image.setDotsPerMeterX(dots_per_metre)
    image.setDotsPerMeterY(dots_per_metre)
    return image


def save_figure_png(path: Path, frame: ProbeFrame, options: DisplayOptions, dpi: int) -> bool:
    """The figure as a PNG at ``dpi`` (its DPI is stored in the file)."""
    layout = figure_layout(frame)
    scale = dpi / 72.0
    image = white_page(int(np.ceil(layout.width * scale)), int(np.ceil(layout.height * scale)), dpi)
    painter = QPainter(image)
    try:
        painter.scale(scale, scale)
        paint_figure(painter, frame, options, layout)
    finally:
        painter.end()
    return image.save(str(path), "PNG")


def save_figure_svg(path: Path, frame: ProbeFrame, options: DisplayOptions) -> None:
    """The figure as an SVG (vectors and text; the heatmaps embedded as sharp images)."""
    layout = figure_layout(frame)
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setResolution(72)  # one unit = one point
    generator.setSize(QSize(int(np.ceil(layout.width)), int(np.ceil(layout.height))))
    generator.setViewBox(QRectF(0, 0, layout.width, layout.height))
    generator.setTitle(f"KD Lens heatmaps, epoch {frame.epoch}")
    painter = QPainter(generator)
    try:
        paint_figure(painter, frame, options, layout, min_cell_px=SVG_MIN_CELL_PX)
    finally:
        painter.end()
