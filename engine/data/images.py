"""Image files: one file as a tensor, and an ImageFolder tree (``<class>/<files>``, optionally under
``train/`` and ``test/``) loaded into memory. Unreadable files in a folder are skipped and
counted, never a crash.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from engine.data.errors import DataError
from engine.data.folder_layout import IMAGE_EXTENSIONS, SPLIT_FOLDERS, is_hidden
from engine.data.imageset import ImageSet
from engine.errors import require_path

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLIT_FOLDERS",
    "is_hidden",
    "load_image",
    "load_image_folder",
    "split_folder",
]


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
            img.load()
            ImageOps.exif_transpose(img, in_place=True)  # no copy of an already upright image
            rgb = _rgb_array(img if image_size is None else _reduced(img, image_size))
    except Exception as exc:  # PIL raises many kinds for damaged files; none may crash a folder load
        raise DataError(
            f"Cannot read image {path} ({type(exc).__name__}: {exc}); replace or remove it."
        ) from exc
    tensor = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
    return tensor if image_size is None else _resize_and_crop(tensor, image_size)


def _reduced(img: Image.Image, image_size: int) -> Image.Image:
    """A large image box-averaged by a whole factor to at least twice ``image_size`` while it is
    still 8-bit: a 12000 x 12000 photo becomes float32 at a few hundred pixels, not 1.7 GB."""
    factor = min(img.size) // (2 * image_size)
    if factor < 2:
        return img
    if img.mode in ("1", "P"):
        img = img.convert("L" if img.mode == "1" else "RGBA" if "transparency" in img.info else "RGB")
    try:
        return img.reduce(factor)
    except ValueError:  # a mode reduce does not take (16-bit grey): resized at full size below
        return img


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


def _class_folders(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and not is_hidden(d.name))


def load_image_folder(root: str | Path, split: str | None = None, image_size: int = 64) -> ImageSet:
    """An ImageFolder tree (``root/<split>/<class>/*.jpg``, or ``root/<class>/...`` when there are
    no split folders) loaded into memory, each image resized and centre-cropped to ``image_size``."""
    folder = split_folder(Path(root), split)
    class_dirs = _class_folders(folder)
    files: list[tuple[Path, int]] = []
    for label, class_dir in enumerate(class_dirs):
        files.extend(
            (p, label)
            for p in sorted(class_dir.rglob("*"))
            if p.suffix.lower() in IMAGE_EXTENSIONS
            and not any(is_hidden(part) for part in p.relative_to(class_dir).parts)
        )
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
    # classes whose every image file failed to load
    unreadable = sorted({label for _, label in files} - {files[i][1] for i in kept})
    if unreadable:
        first = class_dirs[unreadable[0]]
        example = next(str(p) for p, label in files if label == unreadable[0])
        names = ", ".join(class_dirs[i].name for i in unreadable)
        raise DataError(
            f"the class folder {first} holds image files but none can be read (e.g. {example}); "
            f"{len(unreadable)} class folder(s) are like that ({names}). "
            "Replace the damaged files or remove the folder, so that it is not a class without images."
        )
    if skipped:
        images = images[torch.from_numpy(kept)]
    labels = torch.tensor([files[i][1] for i in kept], dtype=torch.int64)
    names = tuple(d.name for d in class_dirs)
    return ImageSet(images, labels, names, source=str(folder), skipped=skipped)


def split_folder(root: Path, split: str | None) -> Path:
    require_path(
        root,
        what="Data folder",
        error=DataError,
        instead="give the folder that holds the class folders (or a CSV/TSV image list).",
        missing=".",
        folder=True,
    )
    found = [d.name for d in _class_folders(root)]
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
