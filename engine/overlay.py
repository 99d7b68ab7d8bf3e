"""How a map is drawn over its image, in one rule for the window, the exported figures, the report
and the overlay PNGs: the opacity at a pixel grows with the square root of the map's strength
there, so mid-level evidence stays visible while cold regions stay clear. Plain numpy; the window
imports it too."""

from __future__ import annotations

import numpy as np

__all__ = ["OVERLAY_OPACITY", "overlay_weight"]

#: The opacity of a map at its strongest, in the report and the overlay PNGs (the window's slider
#: sets its own).
OVERLAY_OPACITY = 0.75


def overlay_weight(strength: np.ndarray, opacity: float = OVERLAY_OPACITY) -> np.ndarray:
    """Per pixel, how much of the map's colour covers the image: ``opacity * sqrt(strength)``,
    ``strength`` in [0, 1] (clipped); NaN (no value) draws nothing."""
    clean = np.clip(np.nan_to_num(np.asarray(strength), nan=0.0), 0.0, 1.0)
    return opacity * np.sqrt(clean)  # in the map's own precision: the same pixels everywhere
