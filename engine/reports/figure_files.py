"""A figure as files: a PNG at a chosen DPI (stored in the file), an SVG and a PDF of the same
size, byte-for-byte reproducible (no dates, fixed ids).

Text is drawn as outlines in the SVG (it looks the same in every viewer, with or without the
font) and embedded as a TrueType font in the PDF (journals refuse Type 3 fonts).

The SVG is also made readable by ImageMagick's built-in SVG renderer, which misreads two things
matplotlib writes: a glyph without outline (a space) drawn by reference, and a transform that
rotates a flipped glyph group. The first is dropped, the second written as the one matrix it
stands for; browsers, Inkscape, cairo and rsvg draw the result exactly as before.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from PIL import Image

from engine.atomic import atomic_write_bytes

__all__ = ["FIGURE_FORMATS", "figure_bytes", "portable_svg", "save_figure"]

FIGURE_FORMATS = ("png", "svg", "pdf")
_RC = {"svg.fonttype": "path", "svg.hashsalt": "kdlens", "pdf.fonttype": 42}
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}


_NUMBER = r"(-?[\d.]+(?:e-?\d+)?)"
_ROTATED = re.compile(rf"translate\({_NUMBER} {_NUMBER}\) rotate\({_NUMBER}\) scale\({_NUMBER} {_NUMBER}\)")
_EMPTY_GLYPH = re.compile(r'<path id="([^"]+)" transform="[^"]*"/>')


def _matrix(found: re.Match) -> str:
    """``translate(x y) rotate(a) scale(sx sy)`` as one ``matrix(...)``."""
    x, y, angle, sx, sy = (float(v) for v in found.groups())
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    return f"matrix({cos * sx:.6g} {sin * sx:.6g} {-sin * sy:.6g} {cos * sy:.6g} {x:.6g} {y:.6g})"


def portable_svg(text: str) -> str:
    """matplotlib's SVG as ImageMagick's renderer reads it too (see the module's docstring)."""
    for glyph in set(_EMPTY_GLYPH.findall(text)):
        text = re.sub(rf'\s*<use xlink:href="#{re.escape(glyph)}"[^>]*/>', "", text)
    return _ROTATED.sub(_matrix, text)


def figure_bytes(figure: Figure, fmt: str, dpi: int) -> bytes:
    """One format's file contents (``dpi`` sets the PNG's pixels; SVG and PDF are in points)."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format=fmt, dpi=dpi, facecolor="white", metadata=_METADATA.get(fmt))
    if fmt == "svg":
        return portable_svg(buffer.getvalue().decode("utf-8")).encode("utf-8")
    if fmt == "png":  # opaque anyway: RGB, a quarter smaller than matplotlib's RGBA
        rgb = io.BytesIO()
        Image.open(buffer).convert("RGB").save(rgb, format="PNG", dpi=(dpi, dpi))
        return rgb.getvalue()
    return buffer.getvalue()


def save_figure(figure: Figure, folder: str | Path, stem: str, dpi: int) -> list[Path]:
    """Write ``stem.png``, ``stem.svg`` and ``stem.pdf`` into ``folder``; returns their paths.
    The PNG is ``width x height`` inches times ``dpi`` pixels, whatever drew the figure."""
    figure.draw_without_rendering()  # lay it out once, so every format places things alike
    figure.set_layout_engine("none")
    written = []
    for fmt in FIGURE_FORMATS:
        path = Path(folder) / f"{stem}.{fmt}"
        atomic_write_bytes(path, figure_bytes(figure, fmt, dpi))
        written.append(path)
    return written
