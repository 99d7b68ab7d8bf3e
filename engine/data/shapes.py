"""The synthetic shapes data set (SPEC §6): one shape per class on textured, cluttered backgrounds.

Shape is the only thing that names the class; colour, position, size and rotation are random and
the background is textured and strewn with small distractors, so a small CNN has to read the
outline. Every image comes with its object mask, so heatmaps can be scored against ground truth.

Knobs that let the demo show KD effects: ``label_noise`` (a fraction of training labels replaced
by a different class) and a spurious background cue (``cue_fraction`` of the images get a
background tint that depends on the class). Both apply only to the splits named in
``noise_splits`` / ``cue_splits`` (default: the student split); the test split never has either.

Everything is vectorised numpy on a coordinate grid (shapes are signed-distance functions), so
3000 images of 32 px take a fraction of a second, and the same seed gives identical arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from engine.data.errors import DataError
from engine.data.imageset import ImageSet

__all__ = [
    "CUE_PALETTE",
    "HELD_OUT",
    "SHAPE_NAMES",
    "SPLITS",
    "ShapesArrays",
    "ShapesConfig",
    "make_shapes",
    "render_shapes",
]

SHAPE_NAMES = ("circle", "square", "triangle", "cross", "ring", "bar")
SPLITS = ("teacher", "student", "test", "cue-flipped")
#: Held out: never noisy, never given the class's cue. "cue-flipped" holds the test split's very
#: images, each with the background tint of a wrong class: how much a model leans on the cue.
HELD_OUT = ("test", "cue-flipped")
# One clearly different tint per class for the spurious background cue.
CUE_PALETTE = np.array(
    [
        [0.95, 0.15, 0.15],
        [0.15, 0.85, 0.2],
        [0.2, 0.3, 0.95],
        [0.95, 0.85, 0.1],
        [0.8, 0.2, 0.9],
        [0.1, 0.85, 0.9],
    ],
    dtype=np.float32,
)
# Shared normalisation constants for every split (measured on the default teacher split, rounded).
SHAPES_MEAN = (0.5, 0.5, 0.5)
SHAPES_STD = (0.25, 0.25, 0.25)


@dataclass(frozen=True)
class ShapesConfig:
    """How the synthetic shapes are generated. Sizes are image counts per split."""

    image_size: int = 32
    num_classes: int = 4
    clutter: float = 0.5  # 0: plain background; 1: strong texture and ~6 distractors per image
    label_noise: float = 0.2  # fraction of labels replaced by another class, in noise_splits only
    cue_fraction: float = 0.0  # fraction of images whose background is tinted by class, in cue_splits
    cue_strength: float = 0.5  # how strongly the tint replaces the background colour (0..1)
    object_size: tuple[float, float] = (0.18, 0.32)  # range of the object's radius / image size
    noise_splits: tuple[str, ...] = ("student",)
    cue_splits: tuple[str, ...] = ("student",)
    teacher_size: int = 2000
    student_size: int = 600
    test_size: int = 400
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("object_size", "noise_splits", "cue_splits"):  # lists, e.g. from JSON, become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        problems = []
        if not 8 <= self.image_size <= 512:
            problems.append(f"image_size must be 8..512 pixels, got {self.image_size}")
        if not 2 <= self.num_classes <= len(SHAPE_NAMES):
            problems.append(
                f"num_classes must be 2..{len(SHAPE_NAMES)} (one per shape), got {self.num_classes}"
            )
        for name in ("clutter", "label_noise", "cue_fraction", "cue_strength"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must lie in [0, 1], got {value}")
        low, high = self.object_size
        if not 0.05 <= low <= high <= 0.45:
            problems.append(f"object_size must satisfy 0.05 <= low <= high <= 0.45, got {self.object_size}")
        for name in ("teacher_size", "student_size", "test_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("noise_splits", "cue_splits"):
            splits = getattr(self, name)
            unknown = [s for s in splits if s not in SPLITS]
            if unknown:
                problems.append(f"{name} may only name {SPLITS}, got {unknown}")
            if any(s in HELD_OUT for s in splits):
                held = " or ".join(HELD_OUT)
                problems.append(f"{name} must not include {held}: held-out splits stay clean")
        if problems:
            raise DataError("Invalid shapes configuration: " + "; ".join(problems) + ".")

    def size_of(self, split: str) -> int:
        sizes = {"teacher": self.teacher_size, "student": self.student_size}
        return sizes.get(split, self.test_size)


class ShapesArrays(NamedTuple):
    """Raw output of :func:`render_shapes` (numpy), with the generator's ground truth."""

    images: np.ndarray  # (n, 3, S, S) float32 in [0, 1]
    masks: np.ndarray  # (n, S, S) bool: the object's pixels
    labels: np.ndarray  # (n,) int64, possibly noisy
    clean_labels: np.ndarray  # (n,) int64
    has_cue: np.ndarray  # (n,) bool: background tinted by class
    colours: np.ndarray  # (n, 3) float32: the object's colour


def make_shapes(split: str, config: ShapesConfig | None = None) -> ImageSet:
    """One split ("teacher", "student", "test" or "cue-flipped") of the synthetic shapes set."""
    config = ShapesConfig() if config is None else config
    arrays = render_shapes(split, config)
    return ImageSet(
        images=torch.from_numpy(arrays.images),
        labels=torch.from_numpy(arrays.labels),
        class_names=SHAPE_NAMES[: config.num_classes],
        masks=torch.from_numpy(arrays.masks),
        mean=SHAPES_MEAN,
        std=SHAPES_STD,
        source=f"shapes:{split} (seed {config.seed})",
        clean_labels=torch.from_numpy(arrays.clean_labels),
    )


def render_shapes(split: str, config: ShapesConfig) -> ShapesArrays:
    """Generate one split. Deterministic: the seed and the split name fix every random draw."""
    if split not in SPLITS:
        raise DataError(f"Unknown shapes split {split!r}: choose one of {', '.join(SPLITS)}.")
    n, k, size = config.size_of(split), config.num_classes, config.image_size
    stream = "test" if split == "cue-flipped" else split  # the same images as the test split
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, SPLITS.index(stream) + 1]))
    clean = rng.permutation(np.arange(n) % k).astype(np.int64)  # exactly balanced classes
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5

    images = _background(rng, n, size, config.clutter, xs, ys)
    _draw_distractors(rng, images, config.clutter, xs, ys)
    has_cue = np.zeros(n, dtype=bool)
    if split in config.cue_splits and config.cue_fraction > 0:
        has_cue[rng.choice(n, int(round(config.cue_fraction * n)), replace=False)] = True
        tint = CUE_PALETTE[clean[has_cue]][:, :, None, None]
        images[has_cue] = (1 - config.cue_strength) * images[has_cue] + config.cue_strength * tint

    colours = _contrasting_colours(rng, images.mean(axis=(2, 3)))
    radius = rng.uniform(*config.object_size, n).astype(np.float32) * size
    margin = radius + 1.0
    room = np.maximum(size - 2 * margin, 0)
    cx = margin + rng.random(n, dtype=np.float32) * room
    cy = margin + rng.random(n, dtype=np.float32) * room
    angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    sdf = np.empty((n, size, size), dtype=np.float32)
    for c in range(k):
        idx = np.flatnonzero(clean == c)
        u, v = _local_coords(xs, ys, cx[idx], cy[idx], angle[idx])
        sdf[idx] = _SHAPE_SDF[SHAPE_NAMES[c]](u, v, radius[idx, None, None])
    if split == "cue-flipped":  # after every draw of the test split, so its images stay the same
        flips = np.random.default_rng(np.random.SeedSequence([config.seed, len(SPLITS) + 1]))
        wrong = (clean + flips.integers(1, k, n)) % k
        has_cue[:] = True
        tint = CUE_PALETTE[wrong][:, :, None, None]
        images = (1 - config.cue_strength) * images + config.cue_strength * tint
    alpha = np.clip(0.5 - sdf, 0.0, 1.0)[:, None]
    images = images * (1 - alpha) + colours[:, :, None, None] * alpha
    np.clip(images, 0.0, 1.0, out=images)

    labels = clean.copy()
    if split in config.noise_splits and config.label_noise > 0:
        flipped = rng.choice(n, int(round(config.label_noise * n)), replace=False)
        labels[flipped] = (clean[flipped] + rng.integers(1, k, flipped.size)) % k  # always another class
    return ShapesArrays(images.astype(np.float32), sdf <= 0, labels, clean, has_cue, colours)


def _background(rng: np.random.Generator, n: int, size: int, clutter: float, xs, ys) -> np.ndarray:
    """A random base colour plus two coloured gratings and pixel noise, scaled by clutter."""
    base = rng.uniform(0.1, 0.9, (n, 3)).astype(np.float32)
    images = np.broadcast_to(base[:, :, None, None], (n, 3, size, size)).copy()
    if clutter <= 0:
        return images
    x, y = xs[0], ys[:, 0]
    for _ in range(2):
        cycles = rng.uniform(1.0, 5.0, n).astype(np.float32) * 2 * np.pi / size
        theta = rng.uniform(0, np.pi, n).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
        along_x = (cycles * np.cos(theta))[:, None] * x + phase[:, None]  # (n, S)
        along_y = (cycles * np.sin(theta))[:, None] * y
        # sin(a + b) = sin a cos b + cos a sin b: a separable grating without an (n, S, S) sine
        wave = np.sin(along_y)[:, :, None] * np.cos(along_x)[:, None, :]
        wave += np.cos(along_y)[:, :, None] * np.sin(along_x)[:, None, :]
        amp = rng.uniform(-0.2, 0.2, (n, 3)).astype(np.float32) * clutter
        images += amp[:, :, None, None] * wave[:, None]
    noise = rng.random(images.shape, dtype=np.float32) - 0.5
    images += noise * (0.04 * clutter * np.sqrt(12.0, dtype=np.float32))  # uniform noise, std 0.04 * clutter
    return images


def _draw_distractors(rng: np.random.Generator, images: np.ndarray, clutter: float, xs, ys) -> None:
    """Small elongated blobs and thin line segments, all smaller than any object."""
    n, _, size, _ = images.shape
    for slot in range(int(round(6 * clutter))):
        present = rng.random(n) < 0.7
        colour = rng.random((n, 3), dtype=np.float32)
        cx, cy = rng.random(n, dtype=np.float32) * size, rng.random(n, dtype=np.float32) * size
        angle = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
        u, v = _local_coords(xs, ys, cx, cy, angle)
        if slot % 2 == 0:  # a small ellipse (0.04..0.09 of the image size)
            a = rng.uniform(0.04, 0.09, n).astype(np.float32)[:, None, None] * size
            sdf = (np.sqrt((u / a) ** 2 + (v / (0.5 * a)) ** 2) - 1.0) * 0.5 * a
        else:  # a thin segment
            half = rng.uniform(0.1, 0.25, n).astype(np.float32)[:, None, None] * size
            sdf = np.sqrt(np.maximum(np.abs(u) - half, 0) ** 2 + v**2) - max(0.5, size / 64)
        alpha = (np.clip(0.5 - sdf, 0.0, 1.0) * present[:, None, None])[:, None]
        images *= 1 - alpha
        images += colour[:, :, None, None] * alpha


def _contrasting_colours(rng: np.random.Generator, background_mean: np.ndarray) -> np.ndarray:
    """Random object colours at least 0.4 (RGB distance) from each image's mean background."""
    n = background_mean.shape[0]
    colours = rng.random((n, 3), dtype=np.float32)
    for _ in range(8):
        close = np.linalg.norm(colours - background_mean, axis=1) < 0.4
        if not close.any():
            return colours
        colours[close] = rng.random((int(close.sum()), 3), dtype=np.float32)
    close = np.linalg.norm(colours - background_mean, axis=1) < 0.4
    colours[close] = (background_mean[close] < 0.5).astype(np.float32)  # the far corner of the cube
    return colours


def _local_coords(xs, ys, cx, cy, angle) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in each shape's rotated frame: (n, S, S) each."""
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y, cx, cy = xs[0], ys[:, 0], cx[:, None], cy[:, None]
    # u = cos (x - cx) + sin (y - cy), v = cos (y - cy) - sin (x - cx), built from (n, S) pieces
    u = (cos * (x - cx))[:, None, :] + (sin * (y - cy))[:, :, None]
    v = (cos * (y - cy))[:, :, None] - (sin * (x - cx))[:, None, :]
    return u, v


def _box(u, v, half_u, half_v) -> np.ndarray:
    """Exact signed distance to an axis-aligned box (negative inside)."""
    qu, qv = np.abs(u) - half_u, np.abs(v) - half_v
    outside = np.sqrt(np.maximum(qu, 0) ** 2 + np.maximum(qv, 0) ** 2)
    return outside + np.minimum(np.maximum(qu, qv), 0)


def _triangle(u, v, r) -> np.ndarray:
    """Equilateral triangle with circumradius r: the largest of its three edge distances."""
    edges = [
        (np.cos(a) * u + np.sin(a) * v)
        for a in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 - 2 * np.pi / 3)
    ]
    return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.5 * r


# Every shape fits inside a circle of radius r, so no rotation pushes it out of the image.
_SHAPE_SDF = {
    "circle": lambda u, v, r: np.sqrt(u**2 + v**2) - 0.8 * r,
    "square": lambda u, v, r: _box(u, v, 0.7 * r, 0.7 * r),
    "triangle": _triangle,
    "cross": lambda u, v, r: np.minimum(_box(u, v, 0.95 * r, 0.28 * r), _box(u, v, 0.28 * r, 0.95 * r)),
    "ring": lambda u, v, r: np.abs(np.sqrt(u**2 + v**2) - 0.7 * r) - 0.22 * r,
    "bar": lambda u, v, r: _box(u, v, 0.95 * r, 0.28 * r),
}
