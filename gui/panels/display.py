"""How a map is drawn: colormaps, view modes and colour levels (display only, numpy only).

A ``ProbeFrame`` carries three versions of every map (SPEC §3): normalised to [0, 1] per image,
raw (unnormalised, so images can share one absolute scale) and signed (before ReLU, at layer
resolution, for a diverging view). This module picks the array and the fixed levels to draw for
the user's choice, so every panel (grid, inspector, export) draws the same thing.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from engine.events import ProbeFrame
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
