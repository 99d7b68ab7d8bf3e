"""Heatmap overlays as PNG for reports, without Qt (PIL + numpy).

Colour maps are piecewise-linear lookup tables through a few anchor colours: ``heat`` (dark to
bright, for normalised maps) and ``diverging`` (blue-white-red, for signed maps).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.atomic import atomic_save
from engine.overlay import OVERLAY_OPACITY, overlay_weight

ANCHORS = {
    "heat": [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)],
    "diverging": [(59, 76, 192), (170, 199, 253), (240, 240, 240), (246, 167, 137), (180, 4, 38)],
}


def lookup_table(name: str = "heat", size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colours interpolated through the anchors of ``name``."""
    anchors = np.asarray(ANCHORS[name], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    steps = np.linspace(0.0, 1.0, size)
    channels = [np.interp(steps, positions, anchors[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=1)).astype(np.uint8)


def colorize(values: np.ndarray, name: str = "heat") -> np.ndarray:
    """Map values in [0, 1] (NaN shown as 0) to (H, W, 3) uint8 colours."""
    table = lookup_table(name)
    clean = np.nan_to_num(np.clip(values, 0.0, 1.0))
    return table[np.round(clean * (len(table) - 1)).astype(np.intp)]


def overlay(
    image: np.ndarray, heat: np.ndarray, alpha: float = OVERLAY_OPACITY, name: str = "heat"
) -> np.ndarray:
    """Blend a [0, 1] map over an (H, W, 3) uint8 image (:func:`engine.overlay.overlay_weight`)."""
    colours = colorize(heat, name).astype(np.float64)
    weight = overlay_weight(heat, alpha)[..., None]
    blended = image.astype(np.float64) * (1 - weight) + colours * weight
    return np.round(blended).astype(np.uint8)


def to_uint8_image(image: np.ndarray) -> np.ndarray:
    """(3, H, W) or (H, W, 3) float in [0, 1] -> (H, W, 3) uint8."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.dtype != np.uint8:
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255).astype(np.uint8)
    return arr


def figure_row(image: np.ndarray, maps: Mapping[str, np.ndarray], *, scale: int = 1, caption: str = ""):
    """One PIL image: the input, then each map overlaid, with a title above each panel."""
    base = to_uint8_image(image)
    panels = [("input", base)] + [(name, overlay(base, m)) for name, m in maps.items()]
    h, w = base.shape[:2]
    h, w = h * scale, w * scale
    pad, title_h = 4, 14
    width = len(panels) * (w + pad) + pad
    canvas = Image.new("RGB", (max(width, 8 * len(caption) + 2 * pad), h + 2 * title_h + 2 * pad), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (name, pixels) in enumerate(panels):
        x = pad + i * (w + pad)
        draw.text((x, pad), name[: max(4, w // 6)], fill="black")
        canvas.paste(Image.fromarray(pixels).resize((w, h), Image.NEAREST), (x, pad + title_h))
    if caption:
        draw.text((pad, h + pad + title_h + 1), caption, fill="black")
    return canvas


def save_png(picture: Image.Image, path: Path) -> None:
    """Write a PNG atomically."""
    atomic_save(Path(path), lambda tmp: picture.save(tmp, format="PNG"))
