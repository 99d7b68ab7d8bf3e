"""How a map is drawn: colormaps, view modes and colour levels (display only, numpy only).

A ``ProbeFrame`` carries three versions of every map (SPEC §3): normalised to [0, 1] per image,
raw (unnormalised, so images can share one absolute scale) and signed (before ReLU, at layer
resolution, for a diverging view). This module picks the array and the fixed levels to draw for
the user's choice, so every panel (grid, inspector, export) draws the same thing.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from engine.events import ProbeFrame
from engine.overlay import overlay_weight
from engine.vocab import MAP_KEYS, MAP_TITLES, OPTIONAL_MAP_KEYS
from gui.model.options import SHARED, SIGNED, DisplayOptions

# Arrays are (row, column) like numpy everywhere in the GUI.
pg.setConfigOptions(imageAxisOrder="row-major")

# Column order of the heatmap grid and the inspector: (map key, header shown to the user).
MAP_COLUMNS: tuple[tuple[str, str], ...] = tuple((key, MAP_TITLES[key]) for key in MAP_KEYS)
OPTIONAL_COLUMNS: tuple[tuple[str, str], ...] = tuple((key, MAP_TITLES[key]) for key in OPTIONAL_MAP_KEYS)

DIVERGING_COLORMAP = "CET-D1"  # blue - white - red, zero in the middle

_LUT_CACHE: dict[str, np.ndarray] = {}


def lookup_table(name: str) -> np.ndarray:
    """A 256 x 4 uint8 RGBA lookup table for a named pyqtgraph colormap (cached)."""
    if name not in _LUT_CACHE:
        _LUT_CACHE[name] = pg.colormap.get(name).getLookupTable(0.0, 1.0, 256, alpha=True)
    return _LUT_CACHE[name]


def columns_for(frame: ProbeFrame) -> list[tuple[str, str]]:
    """The map columns this frame can fill, in display order (assistant only when present)."""
    columns = list(MAP_COLUMNS)
    columns += [c for c in OPTIONAL_COLUMNS if c[0] in frame.maps]
    return columns


def map_image(frame: ProbeFrame, key: str, index: int, options: DisplayOptions) -> np.ndarray | None:
    """The float32 (H, W) or (h, w) array to draw for one image's map, or None if absent."""
    if key not in frame.maps:
        return None
    if options.mode == SIGNED and key in frame.signed:
        source = frame.signed[key]
    elif options.scale == SHARED and key in frame.raw:
        source = frame.raw[key]
    else:
        source = frame.maps[key]
    return np.ascontiguousarray(source[index], dtype=np.float32)


def map_levels(frame: ProbeFrame, key: str, index: int, options: DisplayOptions) -> tuple[float, float]:
    """Fixed colour levels for one map: [0, 1] per image, or one scale shared by all images."""
    if options.mode == SIGNED and key in frame.signed:
        stack = frame.signed[key] if options.scale == SHARED else frame.signed[key][index]
        bound = float(np.nanmax(np.abs(stack))) if stack.size else 0.0
        bound = bound if np.isfinite(bound) and bound > 0 else 1.0
        return -bound, bound
    if options.scale == SHARED and key in frame.raw:
        top = float(np.nanmax(frame.raw[key])) if frame.raw[key].size else 0.0
        return 0.0, top if np.isfinite(top) and top > 0 else 1.0
    return 0.0, 1.0


def colormap_for(options: DisplayOptions) -> str:
    """Signed maps always use the diverging map so that zero stays neutral."""
    return DIVERGING_COLORMAP if options.mode == SIGNED else options.colormap


def value_at(
    frame: ProbeFrame, key: str, index: int, row: float, col: float, options: DisplayOptions
) -> float:
    """The drawn map's value under an input-image pixel (signed maps are at layer resolution)."""
    image = map_image(frame, key, index, options)
    if image is None:
        return float("nan")
    height, width = frame.images.shape[1:3]
    r = int(np.clip(row * image.shape[0] / height, 0, image.shape[0] - 1))
    c = int(np.clip(col * image.shape[1] / width, 0, image.shape[1] - 1))
    return float(image[r, c])


def top_predictions(frame: ProbeFrame, index: int, k: int = 3) -> dict[str, list[tuple[str, float]]]:
    """Every model's top-k classes with probabilities for one image."""
    result: dict[str, list[tuple[str, float]]] = {}
    for role, probs in frame.predictions.items():
        row = np.asarray(probs[index], dtype=np.float64)
        order = np.argsort(-row)[:k]
        names = frame.class_names
        result[role] = [(names[i] if i < len(names) else str(i), float(row[i])) for i in order]
    return result


def input_image(frame: ProbeFrame, index: int) -> np.ndarray:
    """The probe image as shown: (H, W, 3) uint8, C-contiguous."""
    return np.ascontiguousarray(frame.images[index], dtype=np.uint8)


def map_title(key: str) -> str:
    """A map's name for people ('Grad-CAM teacher'), never its key."""
    return "Input" if key == "input" else MAP_TITLES.get(key, key.replace("_", " "))


def upsample_nearest(stack: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, h, w) -> (n, height, width) by nearest neighbour, as :func:`value_at` reads it."""
    h, w = stack.shape[1:3]
    if (h, w) == (height, width):
        return stack
    rows = np.minimum(np.arange(height) * h // height, h - 1)
    cols = np.minimum(np.arange(width) * w // width, w - 1)
    return stack[:, rows][:, :, cols]


def _bound(values: np.ndarray) -> float:
    top = float(np.nanmax(np.abs(values))) if values.size else 0.0
    return top if math.isfinite(top) and top > 0 else 1.0


def map_stack(
    frame: ProbeFrame, key: str, options: DisplayOptions
) -> tuple[np.ndarray, tuple[float, float]] | None:
    """Every image's map of ``key`` at input resolution, as (n, H, W) float32 with ONE pair of
    levels that fits all of them (per-image signed maps are divided by their own bound, so
    that -1..1 is each image's own scale); None when the frame has no such map."""
    if key not in frame.maps:
        return None
    height, width = frame.images.shape[1:3]
    if options.mode == SIGNED and key in frame.signed:
        stack = upsample_nearest(np.asarray(frame.signed[key], dtype=np.float32), height, width)
        if options.scale == SHARED:
            bound = _bound(stack)
            return stack, (-bound, bound)
        bounds = np.asarray([_bound(image) for image in stack], dtype=np.float32)
        return stack / bounds[:, None, None], (-1.0, 1.0)
    if options.scale == SHARED and key in frame.raw:
        raw = np.asarray(frame.raw[key], dtype=np.float32)
        top = float(np.nanmax(raw)) if raw.size else 0.0
        return raw, (0.0, top if math.isfinite(top) and top > 0 else 1.0)
    return np.asarray(frame.maps[key], dtype=np.float32), (0.0, 1.0)


def tile_row(stack: np.ndarray, gap: int, fill: float) -> np.ndarray:
    """(n, H, W[, 3]) images side by side with ``gap`` columns of ``fill`` between them:
    one C-contiguous row image (H, n*W + (n-1)*gap[, 3]) that one ImageItem draws."""
    n, height, width = stack.shape[:3]
    shape = (height, n * width + max(n - 1, 0) * gap, *stack.shape[3:])
    row = np.full(shape, fill, dtype=stack.dtype)
    for index in range(n):
        left = index * (width + gap)
        row[:, left : left + width] = stack[index]
    return row


def blend(
    picture: np.ndarray, values: np.ndarray, levels: tuple[float, float], lut: np.ndarray, opacity: float
) -> np.ndarray:
    """The map drawn over the image, as the screen shows it: (H, W, 3) uint8. ``values`` are at
    the picture's resolution; NaN draws nothing. The opacity follows the one overlay rule
    (:func:`engine.overlay.overlay_weight`) of the map's strength: its scaled value, or for signed
    levels its distance from zero."""
    low, high = levels
    scaled = np.clip((values - low) / ((high - low) or 1.0), 0.0, 1.0)
    index = np.nan_to_num(scaled * (len(lut) - 1), nan=0.0).astype(np.int64)
    colour = lut[index, :3].astype(np.float32)
    strength = np.abs(2.0 * scaled - 1.0) if low < 0 < high else scaled
    weight = overlay_weight(strength, opacity) * (lut[index, 3].astype(np.float64) / 255.0)
    alpha = (weight * np.isfinite(values))[..., None].astype(np.float32)
    mixed = picture.astype(np.float32) * (1.0 - alpha) + colour * alpha
    return np.ascontiguousarray(np.clip(np.round(mixed), 0, 255).astype(np.uint8))


def scale_labels(options: DisplayOptions) -> tuple[str, str, str, str]:
    """(title, top, middle, bottom) of the colour bar for the scale in use."""
    if options.mode == SIGNED:
        if options.scale == SHARED:
            return "signed, shared per map", "+max |v|", "0", "−max |v|"
        return "signed, per image", "+max |v|", "0", "−max |v|"
    if options.scale == SHARED:
        return "absolute, shared per map", "map max", "", "0"
    return "normalised, per image", "1 (max)", "0.5", "0 (min)"


def format_value(value: float, signed: bool = False) -> str:
    """A map value with enough digits: scientific notation for small or large magnitudes, a sign
    for signed maps; NaN is 'n/a'."""
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    sign = "+" if signed else ""
    if abs(value) < 1e-2 or abs(value) >= 1e4:
        return f"{value:{sign}.3e}"
    return f"{value:{sign}.4f}"
