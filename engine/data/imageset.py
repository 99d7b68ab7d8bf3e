"""The in-memory image set every data source returns (SPEC §6), and normalisation.

Images stay in [0, 1] so they can be shown; models get ``normalize(images, mean, std)``. The
class-balanced subsets drawn from a set (probe set, metrics set, context batches) are
:mod:`engine.data.sampling`'s; ``balanced_indices``, ``context_batches`` and ``DataError`` are
also importable from here, where callers have always found them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from engine.data.errors import DataError
from engine.data.sampling import balanced_indices, context_batches

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
