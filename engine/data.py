"""Data sets as in-memory tensors (SPEC §6): synthetic shapes, ImageFolder trees, CIFAR, single files.

Every loader returns an :class:`ImageSet` whose images stay in [0, 1] so they can be shown;
models get ``normalize(images, mean, std)``. Unreadable files in a folder are skipped and
counted, never a crash. :func:`balanced_indices` picks the class-balanced, seeded subsets that
the probe set, the metrics set and the context batches are made of.

The shapes generator lives in ``engine/shapes.py`` and the CIFAR reader in ``engine/cifar.py``;
their public names (``ShapesConfig``, ``make_shapes``, ``load_cifar``) are importable from here.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from engine.errors import KDLensError

__all__ = [
    "DataError",
    "ImageSet",
    "ShapesConfig",  # noqa: F822
    "balanced_indices",
    "load_cifar",  # noqa: F822
    "load_image",
    "load_image_folder",
    "make_shapes",  # noqa: F822
    "normalize",
    "open_dataset",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLIT_FOLDERS = ("train", "test", "val", "valid", "validation")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp", ".gif")


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


def load_image(path: str | Path, image_size: int | None) -> torch.Tensor:
    """One image file as a (3, H, W) float32 tensor in [0, 1]: any PIL mode turned into RGB
    (16-bit kept at full precision, transparency composited on white), EXIF orientation applied,
    then resized so the shorter side is ``image_size`` and centre-cropped to a square
    (``image_size=None`` keeps the file's own size)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Image file {path} does not exist.")
    try:
        with Image.open(path) as img:
            if image_size is not None:
                img.draft("RGB", (image_size, image_size))  # JPEG: decode at a reduced scale, fast
            rgb = _rgb_array(ImageOps.exif_transpose(img))
    except Exception as exc:  # PIL raises many kinds for damaged files; none may crash a folder load
        raise DataError(
            f"Cannot read image {path} ({type(exc).__name__}: {exc}); replace or remove it."
        ) from exc
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
    return tensor if image_size is None else _resize_and_crop(tensor, image_size)


def _rgb_array(img: Image.Image) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] from any mode."""
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        grey = np.asarray(img, dtype=np.float32)
        top = 255.0 if img.mode in ("I", "F") and grey.max() <= 255 else 65535.0  # 8- or 16-bit data
        if img.mode == "F" and grey.max() <= 1:
            top = 1.0  # float images already in [0, 1]
        grey = np.clip(grey / top, 0, 1)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[:, :, 3:]
        return rgba[:, :, :3] * alpha + (1.0 - alpha)  # on white
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _resize_and_crop(image: torch.Tensor, image_size: int) -> torch.Tensor:
    height, width = image.shape[1:]
    scale = image_size / min(height, width)
    new_h, new_w = max(image_size, round(height * scale)), max(image_size, round(width * scale))
    if (new_h, new_w) != (height, width):
        image = torch.nn.functional.interpolate(
            image[None], size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False
        )[0]
    top, left = (new_h - image_size) // 2, (new_w - image_size) // 2
    return image[:, top : top + image_size, left : left + image_size].clamp(0, 1).contiguous()


def load_image_folder(root: str | Path, split: str | None = None, image_size: int = 64) -> ImageSet:
    """An ImageFolder tree (``root/<split>/<class>/*.jpg``, or ``root/<class>/...`` when there are
    no split folders) loaded into memory, each image resized and centre-cropped to ``image_size``."""
    folder = _split_folder(Path(root), split)
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        files.extend((p, label) for p in sorted(class_dir.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS)
    classes_with_images = {label for _, label in files}
    if len(classes_with_images) < 2:
        raise DataError(
            f"{folder} holds images of {len(classes_with_images)} class(es) (class folders found: "
            f"{[d.name for d in class_dirs] or 'none'}); at least two are needed. Expected layout: "
            "<root>/<class>/<image files>, or <root>/train/<class>/... and <root>/test/<class>/..."
        )
    empty = [d.name for i, d in enumerate(class_dirs) if i not in classes_with_images]
    if empty:
        warnings.warn(f"class folders without images under {folder}: {empty}", stacklevel=2)

    def read(item: tuple[Path, int]) -> torch.Tensor | None:
        try:
            return load_image(item[0], image_size)
        except DataError:
            return None

    images = torch.empty(len(files), 3, image_size, image_size)  # filled in place: no second copy
    readable = np.zeros(len(files), dtype=bool)
    with ThreadPoolExecutor(max_workers=4) as pool:  # PIL decodes with the GIL released
        for i, tensor in enumerate(pool.map(read, files)):
            if tensor is not None:
                images[i], readable[i] = tensor, True
    kept = np.flatnonzero(readable)
    skipped = tuple(str(files[i][0]) for i in np.flatnonzero(~readable))
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} unreadable image file(s) under {folder}, e.g. {skipped[0]}", stacklevel=2
        )
    if len({files[i][1] for i in kept}) < 2:
        raise DataError(f"Fewer than two classes of {folder} hold readable images; check the files.")
    if skipped:
        images = images[torch.from_numpy(kept)]
    labels = torch.tensor([files[i][1] for i in kept], dtype=torch.int64)
    names = tuple(d.name for d in class_dirs)
    return ImageSet(images, labels, names, source=str(folder), skipped=skipped)


def _split_folder(root: Path, split: str | None) -> Path:
    if not root.is_dir():
        raise DataError(f"Data folder {root} does not exist or is not a folder.")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if split is None:
        splits = [name for name in found if name.lower() in SPLIT_FOLDERS]
        if splits:
            raise DataError(f"{root} holds split folders {splits}: choose one (e.g. split='train').")
        return root
    candidates = [split] + (["val", "valid", "validation"] if split == "test" else [])
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    raise DataError(
        f"{root} has no '{split}' folder (found: {found or 'nothing'}). "
        f"Expected <root>/{split}/<class>/<images>."
    )


def open_dataset(source: str | Path, split: str | None, image_size: int | None = None) -> ImageSet:
    """ "shapes" (the synthetic set with default settings), a CIFAR folder, or an ImageFolder tree.

    ``split``: "train"/"test" (shapes also "teacher"/"student"; "train" means the student split).
    For folders without split folders, ``split`` is ignored and the whole tree is read.
    """
    if str(source).lower() == "shapes":
        from engine.shapes import ShapesConfig, make_shapes

        shape_split = {"train": "student", None: "student"}.get(split, split)
        return make_shapes(shape_split, ShapesConfig(image_size=image_size or 32))
    from engine.cifar import find_cifar_folder, load_cifar

    root = Path(source).expanduser()
    if not root.exists():
        raise DataError(
            f"Data source {root} does not exist: give 'shapes', a CIFAR folder or an image folder."
        )
    if find_cifar_folder(root) is not None:
        data = load_cifar(root, split or "train")
        return data if image_size in (None, data.image_size) else _resized(data, image_size)
    has_splits = root.is_dir() and any((root / s).is_dir() for s in SPLIT_FOLDERS)
    return load_image_folder(root, split if has_splits else None, image_size or 64)


def _resized(data: ImageSet, image_size: int) -> ImageSet:
    images = torch.nn.functional.interpolate(
        data.images, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
    ).clamp_(0, 1)
    return replace(data, images=images, masks=None)


# Served from their own modules, which import this one (so they cannot be imported at the top).
_ELSEWHERE = {"ShapesConfig": "engine.shapes", "make_shapes": "engine.shapes", "load_cifar": "engine.cifar"}


def __getattr__(name: str) -> Any:
    if name in _ELSEWHERE:
        return getattr(importlib.import_module(_ELSEWHERE[name]), name)
    raise AttributeError(f"module 'engine.data' has no attribute {name!r}")
