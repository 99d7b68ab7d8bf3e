"""What an image folder looks like to KD Lens, and a quick look at one before anything loads.

The names (split folders, image suffixes, entries that are never classes) are defined here once;
:mod:`engine.data.images` and :mod:`engine.data.sources` load by them. :func:`folder_problem` is
torch-free and reads only folder listings and a few image headers, so the window can name a data
folder's problems (missing splits, too few classes or images, unreadable classes, splits whose
classes differ) the moment the folder is chosen, not 15 s after Start. It finds what the loader
would refuse first; the loader still checks every file.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "IMAGE_EXTENSIONS",
    "MIN_TRAIN_IMAGES",
    "SPLIT_FOLDERS",
    "SYSTEM_FOLDERS",
    "TEST_FOLDERS",
    "folder_problem",
    "is_hidden",
]

SPLIT_FOLDERS = ("train", "test", "val", "valid", "validation")
TEST_FOLDERS = ("test", "val", "valid", "validation")
# folders that zip tools, file systems and NAS boxes add: never classes, never images
SYSTEM_FOLDERS = ("__MACOSX", "$RECYCLE.BIN", "System Volume Information", "@eaDir", "__pycache__")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp", ".gif")
MIN_TRAIN_IMAGES = 2  # per class: a batch, the balanced sets and the held-out fifth need some of each
_SAMPLE = 3  # image files per class whose headers are read
_OTHER_SOURCES = (".csv", ".tsv")  # image lists: the loader checks them at Start
_CIFAR_FILES = ("data_batch_1", "batches.meta", "cifar-10-batches-py", "cifar-100-python", "meta")


def is_hidden(name: str) -> bool:
    """A dot-file or dot-folder (``.DS_Store``, ``._photo.jpg``, ``.git``) or a system folder."""
    return name.startswith(".") or name in SYSTEM_FOLDERS


def folder_problem(source: str | Path) -> str | None:
    """What the loader would refuse about the image folder ``source``, or None (also for sources
    that are not image folders: image lists and CIFAR folders are checked when training starts)."""
    root = Path(source).expanduser()
    if not root.exists():
        return f"the data folder {root} does not exist; pick a folder with train/<class>/ and test/<class>/"
    if not root.is_dir():
        if root.suffix.lower() in _OTHER_SOURCES:
            return None
        return f"the data folder {root} is a file, not a folder; pick the folder that holds the class folders"
    names = {entry.name for entry in root.iterdir()}
    if any(Path(name).suffix.lower() in _OTHER_SOURCES for name in names) or names & set(_CIFAR_FILES):
        return None
    if not any((root / name).is_dir() for name in SPLIT_FOLDERS):
        return _split_problem(root, "images", held_out=True)
    if not (root / "train").is_dir():
        found = sorted(name for name in names if (root / name).is_dir() and not is_hidden(name))
        return (
            f"{root} has no 'train' folder (found: {found or 'nothing'}); "
            f"expected {root}/train/<class>/<images>"
        )
    test = next((root / name for name in TEST_FOLDERS if (root / name).is_dir()), None)
    problem = _split_problem(root / "train", "training", held_out=test is None)
    if problem is None and test is not None:
        problem = _split_problem(test, "test", held_out=False, least=1)
        train_classes, test_classes = _class_names(root / "train"), _class_names(test)
        if problem is None and train_classes != test_classes:
            return (
                f"the test split's classes {test_classes} differ from the training split's {train_classes}; "
                "give both splits the same class folders"
            )
    return problem


def _class_names(folder: Path) -> list[str]:
    return sorted(d.name for d in folder.iterdir() if d.is_dir() and not is_hidden(d.name))


def _split_problem(folder: Path, split: str, held_out: bool, least: int = MIN_TRAIN_IMAGES) -> str | None:
    """Two classes with images at least, each with ``least`` images, and some of each readable."""
    classes = _class_names(folder)
    counts = {name: _image_files(folder / name) for name in classes}
    with_images = [name for name, files in counts.items() if files]
    if len(with_images) < 2:
        return (
            f"{folder} holds images of {len(with_images)} class(es) (class folders found: "
            f"{classes or 'none'}); at least two are needed. Expected layout: "
            "<root>/train/<class>/<images> and <root>/test/<class>/…"
        )
    unreadable = [name for name in with_images if not any(_readable(path) for path in counts[name])]
    if unreadable:
        return (
            f"the class folder {folder / unreadable[0]} holds image files but none can be read; "
            f"{len(unreadable)} class folder(s) are like that ({', '.join(unreadable)}). Replace the damaged "
            "files or remove the folder."
        )
    short = [f"{name} ({len(files)})" for name, files in counts.items() if files and len(files) < least]
    if short:
        where = f"the {split} split of {folder}"
        where += " (a fifth of it is held out to test on)" if held_out else ""
        return (
            f"{where} has too few images of {len(short)} class(es): {', '.join(short[:8])}; each class "
            f"needs at least {least} image{'s' * (least > 1)} to train on. Add images of those classes, "
            "or remove their folders."
        )
    return None


def _image_files(folder: Path) -> list[Path]:
    """The first few image files under ``folder`` (hidden entries skipped), found without listing it all."""
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not is_hidden(d))
        for name in sorted(files):
            if not is_hidden(name) and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                found.append(Path(current) / name)
                if len(found) >= _SAMPLE:
                    return found
    return found


def _readable(path: Path) -> bool:
    """Whether PIL can read the file's header (the pixels are the loader's business)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # PIL raises many kinds for damaged files
        return False
    return True
