"""What the user chose for drawing maps (Qt-free, so the model can hold it)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NORMALISED", "PER_IMAGE", "SEQUENTIAL_COLORMAPS", "SHARED", "SIGNED", "DisplayOptions"]

SEQUENTIAL_COLORMAPS = ("inferno", "viridis", "magma", "plasma", "turbo", "cividis")
NORMALISED, SIGNED = "normalised", "signed"
PER_IMAGE, SHARED = "per-image", "shared"


@dataclass(frozen=True)
class DisplayOptions:
    """Colormap, opacity, view mode and colour scale; every panel that draws maps follows them."""

    colormap: str = "inferno"
    opacity: float = 0.6
    mode: str = NORMALISED  # NORMALISED (after ReLU) or SIGNED (before ReLU, diverging colours)
    scale: str = PER_IMAGE  # PER_IMAGE or SHARED (one absolute scale for all images of a map)
