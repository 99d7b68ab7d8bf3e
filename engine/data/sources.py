"""Where images come from, in one table (SPEC §6): the synthetic shapes, CIFAR pickles and
ImageFolder trees. Analysis, training and explanation all open data here.

Splits are named by purpose: ``train`` (what base and student learn from), ``teacher`` (what
the teacher learns from: the same images as ``train``, except for the shapes, whose teacher
split is larger and clean) and ``test`` (held out). :func:`open_dataset` opens one split;
:func:`open_run_splits` opens the three a training run needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from engine.data.cifar import find_cifar_folder, load_cifar
from engine.data.errors import DataError
from engine.data.folder_layout import MIN_TRAIN_IMAGES, SPLIT_FOLDERS, TEST_FOLDERS
from engine.data.images import load_image_folder
from engine.data.imageset import ImageSet
from engine.data.lists import is_image_list, list_has_test_split, open_image_list
from engine.data.sampling import balanced_indices
from engine.data.shapes import ShapesConfig, make_shapes

__all__ = ["SOURCES", "DataSource", "RunSplits", "find_source", "open_dataset", "open_run_splits"]

SPLITS = ("train", "teacher", "test")


@dataclass(frozen=True)
class DataSource:
    """One kind of data: how to recognise it, open a split, and tell whether it has a test split.

    ``open(location, split, image_size, shapes)``: ``split`` is one of :data:`SPLITS` or None
    (the source's default), ``image_size`` None keeps the source's own size.
    """

    kind: str
    description: str
    recognises: Callable[[str], bool]
    open: Callable[[str, str | None, int | None, ShapesConfig | None], ImageSet]
    has_test_split: Callable[[str], bool]


def _is_shapes(source: str) -> bool:
    return source.lower() == "shapes"


def _open_shapes(source: str, split: str | None, image_size: int | None, shapes: ShapesConfig | None):
    config = shapes or ShapesConfig(image_size=image_size or 32)
    if image_size is not None and config.image_size != image_size:
        config = replace(config, image_size=image_size)
    shape_split = {None: "student", "train": "student"}.get(split, split)
    return make_shapes(shape_split, config)


def _is_cifar(source: str) -> bool:
    return find_cifar_folder(Path(source).expanduser()) is not None


def _open_cifar(source: str, split: str | None, image_size: int | None, _shapes) -> ImageSet:
    data = load_cifar(Path(source).expanduser(), {None: "train", "teacher": "train"}.get(split, split))
    return data if image_size in (None, data.image_size) else _resized(data, image_size)


def _has_split_folders(root: Path) -> bool:
    return root.is_dir() and any((root / name).is_dir() for name in SPLIT_FOLDERS)


def _open_folder(source: str, split: str | None, image_size: int | None, _shapes) -> ImageSet:
    root = Path(source).expanduser()
    if not root.exists():
        raise DataError(
            f"Data source {root} does not exist: give 'shapes', a CIFAR folder or an image folder."
        )
    folder_split = {"teacher": "train"}.get(split, split)
    return load_image_folder(root, folder_split if _has_split_folders(root) else None, image_size or 64)


def _folder_has_test(source: str) -> bool:
    root = Path(source).expanduser()
    return any((root / name).is_dir() for name in TEST_FOLDERS)


#: Every kind of data KD Lens reads, tried in this order; the last one takes any folder.
SOURCES: tuple[DataSource, ...] = (
    DataSource("shapes", "the built-in synthetic shapes", _is_shapes, _open_shapes, lambda _s: True),
    DataSource("cifar", "CIFAR-10/100 python pickles", _is_cifar, _open_cifar, lambda _s: True),
    DataSource(
        "list",
        "a CSV/TSV image list (path,label), or a folder of train/test lists",
        is_image_list,
        open_image_list,
        list_has_test_split,
    ),
    DataSource(
        "folder", "an ImageFolder tree (<class>/<images>)", lambda _s: True, _open_folder, _folder_has_test
    ),
)


def find_source(source: str | Path) -> DataSource:
    """The table entry that reads ``source``."""
    text = str(source)
    return next(entry for entry in SOURCES if entry.recognises(text))


def open_dataset(
    source: str | Path,
    split: str | None,
    image_size: int | None = None,
    *,
    shapes: ShapesConfig | None = None,
) -> ImageSet:
    """One split of ``source``: "shapes", a CIFAR folder, or an ImageFolder tree.

    ``split``: "train", "teacher" or "test" (the shapes also take their own split names
    "student"); for a folder without split folders the whole tree is read. ``shapes`` sets the
    synthetic set's generator (default settings otherwise).
    """
    return find_source(source).open(str(source), split, image_size, shapes)


@dataclass(frozen=True)
class RunSplits:
    """The splits of a training run: teacher training data, base/student data, the clean
    held-out split, and further held-out splits to report accuracy on (by name)."""

    teacher: ImageSet
    train: ImageSet
    test: ImageSet
    extra: dict[str, ImageSet] = field(default_factory=dict)


def open_run_splits(
    source: str | Path, image_size: int, seed: int, *, shapes: ShapesConfig | None = None
) -> RunSplits:
    """Teacher, train and held-out splits of ``source`` for a training run. A source without a
    test split holds out a seeded, class-balanced fifth of its training images."""
    entry = find_source(source)
    text = str(source)
    if entry.kind == "folder" and Path(text).expanduser().is_file():
        raise DataError(
            f"the data folder {Path(text).expanduser()} is a file, not a folder; give 'shapes', a CSV/TSV "
            "image list, or a folder with train/<class>/ and test/<class>/ image folders"
        )
    if entry.kind == "folder" and not Path(text).expanduser().is_dir():
        raise DataError(
            f"the data folder {Path(text).expanduser()} does not exist; give 'shapes' or a folder "
            "with train/<class>/ and test/<class>/ image folders"
        )
    train = entry.open(text, "train", image_size, shapes)
    teacher = entry.open(text, "teacher", image_size, shapes) if entry.kind == "shapes" else train
    least = MIN_TRAIN_IMAGES  # per class; once a fifth is held out below, one left is enough
    if entry.has_test_split(text):
        test = entry.open(text, "test", image_size, shapes)
    else:
        _require_images_per_class(train, "training", MIN_TRAIN_IMAGES)  # before a fifth is held out
        held = balanced_indices(train.labels, _held_out_size(train), seed)
        rest = np.setdiff1d(np.arange(len(train)), held)
        train, test = train.subset(rest), train.subset(held)
        teacher, least = train, 1
    if test.class_names != train.class_names:
        raise DataError(
            f"the test split's classes {test.class_names} differ from the training split's "
            f"{train.class_names}; give both splits the same class folders"
        )
    for name, split in {"training": train, "teacher's training": teacher}.items():
        _require_images_per_class(split, name, least)
    extra = {}
    if entry.kind == "shapes" and shapes is not None and shapes.cue_fraction > 0:
        extra["cue-flipped"] = entry.open(text, "cue-flipped", image_size, shapes)
    return RunSplits(teacher, train, test, extra)


def _held_out_size(train: ImageSet) -> int:
    """A fifth of the images (4 at least); two of each class when a fifth gives fewer and every
    class keeps two for training, so the probe set has pairs of a class for UniCAM."""
    fifth = max(4, len(train) // 5)
    counts = np.bincount(train.labels.numpy(), minlength=train.num_classes)
    pairs = 2 * train.num_classes
    return pairs if fifth < pairs and counts.min() >= 2 + MIN_TRAIN_IMAGES else fifth


def _require_images_per_class(data: ImageSet, split: str, least: int) -> None:
    counts = np.bincount(data.labels.numpy(), minlength=data.num_classes)
    short = [f"{data.class_names[c]} ({counts[c]})" for c in np.flatnonzero(counts < least)]
    if short:
        raise DataError(
            f"the {split} split of {data.source} has too few images of {len(short)} class(es): "
            f"{', '.join(short[:8])}; each class needs at least {least} image{'s' * (least > 1)} to train "
            "on. Add images of those classes, or remove their folders."
        )


def _resized(data: ImageSet, image_size: int) -> ImageSet:
    images = torch.nn.functional.interpolate(
        data.images, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
    ).clamp_(0, 1)
    return replace(data, images=images, masks=None)
