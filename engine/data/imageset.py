"""The in-memory image set every data source returns, and the class-balanced, seeded subsets
(probe set, metrics set, context batches) drawn from it (SPEC §6).

Images stay in [0, 1] so they can be shown; models get ``normalize(images, mean, std)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.errors import KDLensError

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DataError",
    "ImageSet",
    "balanced_indices",
    "context_batches",
    "normalize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DataError(KDLensError, ValueError):
    """A data set that cannot be read or used as asked; the message says what to do."""


@dataclass(frozen=True)
class ImageSet:
    """Images with labels, in memory. ``labels`` are the ones trained on (possibly noisy),
    ``clean_labels`` the true ones (the same tensor when there is no noise)."""

    images: torch.Tensor  # (n, 3, H, W) float32 in [0, 1]
    labels: torch.Tensor  # (n,) int64
    class_names: tuple[str, ...]
    masks: torch.Tensor | None = None  # (n, H, W) bool: object pixels, where known
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    source: str = ""
    skipped: tuple[str, ...] = ()  # files that could not be read
    clean_labels: torch.Tensor | None = None

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[1] != 3 or self.images.dtype != torch.float32:
            raise DataError(f"ImageSet images must be float32 (n, 3, H, W), got {tuple(self.images.shape)}.")
        if self.labels.shape != (n,) or self.labels.dtype != torch.int64:
            raise DataError(f"ImageSet labels must be int64 of shape ({n},), got {tuple(self.labels.shape)}.")
        if self.clean_labels is None:
            object.__setattr__(self, "clean_labels", self.labels)
        elif self.clean_labels.shape != (n,):
            raise DataError(f"ImageSet clean_labels must have shape ({n},).")
        if self.masks is not None and self.masks.shape != (n, *self.images.shape[2:]):
            raise DataError(f"ImageSet masks must be (n, H, W) bool, got {tuple(self.masks.shape)}.")
        if n and (int(self.labels.min()) < 0 or int(self.labels.max()) >= len(self.class_names)):
            raise DataError(f"ImageSet labels must lie in 0..{len(self.class_names) - 1}.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> ImageSet:
        """The images at ``indices``, in that order, with every per-image field cut alike."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        if idx.numel() and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise DataError(f"subset indices must lie in 0..{len(self) - 1}.")
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            clean_labels=self.clean_labels[idx],
            masks=None if self.masks is None else self.masks[idx],
        )


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(images - mean) / std per channel, for (3, H, W) or (n, 3, H, W) images; a new tensor."""
    shape = (3, 1, 1) if images.ndim == 3 else (1, 3, 1, 1)
    m = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    s = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return (images - m) / s


def balanced_indices(
    labels: Sequence[int] | np.ndarray | torch.Tensor, n: int, seed: int, exclude: Sequence[int] = ()
) -> np.ndarray:
    """``n`` distinct indices, as evenly spread over the classes as their sizes allow.

    Drawn without replacement (duplicated images would create zero distances in the statistics).
    A class with too few images gives all it has and the rest is spread over the others. The
    result is interleaved class by class, so any prefix is balanced too. Seeded: same inputs,
    same indices.
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64).ravel()
    exclude = np.asarray(exclude, dtype=np.int64).ravel()
    if exclude.size and (exclude.min() < 0 or exclude.max() >= labels.size):
        raise DataError(f"Excluded indices must lie in 0..{labels.size - 1}.")
    available = np.ones(labels.size, dtype=bool)
    available[exclude] = False
    classes = np.unique(labels[available])
    if classes.size < 2:
        raise DataError(
            f"A class-balanced sample needs images of at least two classes; found {classes.size} "
            "among the images available. Use a data set with two or more classes."
        )
    if n < 0 or n > int(available.sum()):
        raise DataError(f"Cannot pick {n} distinct images: only {int(available.sum())} are available.")
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(available & (labels == c))) for c in classes]
    quota = _water_fill(np.array([p.size for p in pools]), n, rng)
    picked = [pool[:q] for pool, q in zip(pools, quota, strict=True)]
    ranks = np.concatenate([np.arange(p.size) for p in picked])
    order = np.lexsort((np.repeat(np.arange(len(picked)), [p.size for p in picked]), ranks))
    return np.concatenate(picked)[order].astype(np.int64)


def _water_fill(capacity: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Per-class counts summing to n: equal shares, capped by each class's size."""
    quota = np.zeros_like(capacity)
    open_classes = np.arange(capacity.size)
    remaining = n
    while remaining > 0:
        share = remaining // open_classes.size
        full = open_classes[capacity[open_classes] <= share]
        if full.size:  # these classes give everything; their shortfall goes to the others
            quota[full] = capacity[full]
            remaining -= int(capacity[full].sum())
            open_classes = np.setdiff1d(open_classes, full)
            continue
        quota[open_classes] = share
        extra = rng.choice(open_classes, remaining - share * open_classes.size, replace=False)
        quota[extra] += 1
        remaining = 0
    return quota


def context_batches(
    labels: Sequence[int] | np.ndarray | torch.Tensor, size: int = 16, seed: int = 0
) -> list[np.ndarray]:
    """Split positions ``0..n-1`` of a set into class-balanced UniCAM context batches of about
    ``size`` images, every image in exactly one batch.

    Images are paired within their class and the pairs dealt out class by class, so a batch holds
    two or more images of each class it contains: its label geometry is never constant (a batch of
    all-different classes would make the one-hot objective undefined). A left-over single image
    joins a batch of its own class where one exists, and a short last batch joins the one before.
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels, dtype=np.int64).ravel()
    if size < 4:
        raise DataError(f"A UniCAM context batch needs at least 4 images, got size={size}.")
    rng = np.random.default_rng(seed)
    by_class: list[list[np.ndarray]] = []
    singles: list[int] = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        by_class.append([members[i : i + 2] for i in range(0, len(members) - 1, 2)])
        if len(members) % 2:
            singles.append(int(members[-1]))
    longest = max((len(p) for p in by_class), default=0)
    pairs = [
        by_class[c][depth]
        for depth in range(longest)
        for c in range(len(by_class))
        if depth < len(by_class[c])
    ]
    per_batch = max(2, size // 2)
    batches = [list(np.concatenate(pairs[i : i + per_batch])) for i in range(0, len(pairs), per_batch)]
    if len(batches) > 1 and len(batches[-1]) < max(4, size // 2):
        batches[-2].extend(batches.pop())
    for single in singles:
        home = next((b for b in batches if labels[single] in labels[b]), batches[-1] if batches else None)
        if home is None:
            batches.append([single])
        else:
            home.append(single)
    return [np.asarray(sorted(b), dtype=np.int64) for b in batches]
