"""Image lists: a CSV or TSV file of ``path,label`` rows, so a data set never has to be copied into
class folders (SPEC §6).

- **One list** (``data.csv`` / ``data.tsv``): the whole data set; a run holds out a seeded,
  class-balanced fifth of it for testing.
- **A folder of lists**: ``train.csv`` and ``test.csv`` (or ``.tsv``; ``val``/``valid``/
  ``validation`` also stand for the test split) — the splits of one data set.

Rows: an image path (relative to the list's folder, or absolute) and a label, in the first two
columns, or in the columns named ``path``/``file``/``filename``/``image`` and ``label``/``class``/
``target`` of an optional header row. Blank rows and rows starting with ``#`` are skipped.
Labels are class names or integer indices. Class names come from ``classes.txt`` beside the list
(one per line; line i names class i) when it exists, else from the sorted labels (integer labels:
``0`` .. the largest). Images are resized and centre-cropped like image folders; unreadable or
missing files are skipped and counted.
"""

from __future__ import annotations

import csv
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from engine.data.errors import DataError
from engine.data.images import load_image
from engine.data.imageset import ImageSet

__all__ = ["CLASS_NAMES_FILE", "is_image_list", "list_has_test_split", "load_image_list", "open_image_list"]

LIST_SUFFIXES = {".csv": ",", ".tsv": "\t"}
CLASS_NAMES_FILE = "classes.txt"
_SPLIT_STEMS = {"train": ("train",), "test": ("test", "val", "valid", "validation")}
_PATH_HEADERS = ("path", "file", "filename", "file_name", "filepath", "image", "img", "image_path")
_LABEL_HEADERS = ("label", "class", "target", "category", "y")


def is_image_list(source: str) -> bool:
    """A ``.csv``/``.tsv`` file, or a folder holding a train or test list."""
    path = Path(source).expanduser()
    if path.is_file():
        return path.suffix.lower() in LIST_SUFFIXES
    return path.is_dir() and any(_split_list(path, split) for split in _SPLIT_STEMS)


def list_has_test_split(source: str) -> bool:
    path = Path(source).expanduser()
    return path.is_dir() and _split_list(path, "test") is not None


def open_image_list(source: str, split: str | None, image_size: int | None, _shapes=None) -> ImageSet:
    """One split of an image-list source (see the module docs); a single list is every split."""
    path = Path(source).expanduser()
    if path.is_dir():
        wanted = "test" if split == "test" else "train"
        found = _split_list(path, wanted)
        if found is None:
            names = " or ".join(f"{stem}.csv" for stem in _SPLIT_STEMS[wanted])
            raise DataError(f"{path} has no {wanted} list ({names}, or .tsv); add one, or give a list file")
        path = found
    return load_image_list(path, image_size or 64)


def _split_list(folder: Path, split: str) -> Path | None:
    for stem in _SPLIT_STEMS[split]:
        for suffix in LIST_SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def load_image_list(path: str | Path, image_size: int = 64) -> ImageSet:
    """The images of one list file in memory, each resized and centre-cropped to ``image_size``."""
    path = Path(path).expanduser()
    rows = _read_rows(path)
    names, labels = _classes(path, rows)
    files = [(path.parent / file).expanduser() for _, file, _ in rows]
    images = torch.empty(len(files), 3, image_size, image_size)
    readable = np.zeros(len(files), dtype=bool)

    def read(file: Path) -> torch.Tensor | None:
        try:
            return load_image(file, image_size)
        except DataError:
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:  # PIL decodes with the GIL released
        for i, tensor in enumerate(pool.map(read, files)):
            if tensor is not None:
                images[i], readable[i] = tensor, True
    kept = np.flatnonzero(readable)
    skipped = tuple(f"{files[i]} (line {rows[i][0]})" for i in np.flatnonzero(~readable))
    if not len(kept):
        raise DataError(
            f"none of the {len(files)} images listed in {path} could be read, e.g. {skipped[0]}; "
            "paths are relative to the list's folder"
        )
    if skipped:
        message = f"skipped {len(skipped)} unreadable image(s) listed in {path}, e.g. {skipped[0]}"
        warnings.warn(message, stacklevel=2)
        images = images[torch.from_numpy(kept)]
    label_tensor = torch.tensor([labels[i] for i in kept], dtype=torch.int64)
    if len(torch.unique(label_tensor)) < 2:
        raise DataError(f"the readable images listed in {path} belong to fewer than two classes")
    return ImageSet(images, label_tensor, names, source=str(path), skipped=skipped)


def _read_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line number, image path, label) of every data row."""
    delimiter = LIST_SUFFIXES.get(path.suffix.lower())
    if delimiter is None:
        raise DataError(f"{path} is not an image list: use a .csv (comma) or .tsv (tab) file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the image list {path} ({error})") from error
    lines = [
        (number, row)
        for number, row in enumerate(csv.reader(text.splitlines(), delimiter=delimiter), start=1)
        if row and any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
    ]
    columns = (0, 1)
    if lines and lines[0][1][0].strip().lower() in _PATH_HEADERS:
        header = [cell.strip().lower() for cell in lines.pop(0)[1]]
        columns = (_column(header, _PATH_HEADERS, 0), _column(header, _LABEL_HEADERS, 1))
    rows = []
    for number, row in lines:
        if len(row) <= max(columns):
            raise DataError(
                f"{path}, line {number}: expected an image path and a label separated by "
                f"{'a tab' if delimiter == chr(9) else 'a comma'}, got {delimiter.join(row)!r}"
            )
        file, label = row[columns[0]].strip(), row[columns[1]].strip()
        if not file or not label:
            raise DataError(f"{path}, line {number}: the image path or the label is empty")
        rows.append((number, file, label))
    if not rows:
        raise DataError(f"the image list {path} has no rows; expected lines of: path{delimiter}label")
    return rows


def _column(header: list[str], names: tuple[str, ...], default: int) -> int:
    return next((header.index(name) for name in names if name in header), default)


def _classes(path: Path, rows: list[tuple[int, str, str]]) -> tuple[tuple[str, ...], list[int]]:
    """Class names and each row's class index (see the module docs)."""
    names_file = path.parent / CLASS_NAMES_FILE
    names = _read_names(names_file) if names_file.is_file() else None
    numeric = all(label.lstrip("-").isdigit() for _, _, label in rows)
    if numeric:
        indices = [int(label) for _, _, label in rows]
        count = len(names) if names else max(indices) + 1
        bad = next(((n, i) for (n, _, _), i in zip(rows, indices, strict=True) if not 0 <= i < count), None)
        if bad:
            where = f"the {count} classes of {names_file}" if names else "0 or more"
            raise DataError(f"{path}, line {bad[0]}: label {bad[1]} must be a class index in {where}")
        return tuple(names or (str(i) for i in range(count))), indices
    names = names or tuple(sorted({label for _, _, label in rows}))
    lookup = {name: index for index, name in enumerate(names)}
    unknown = next(((n, label) for n, _, label in rows if label not in lookup), None)
    if unknown:
        raise DataError(
            f"{path}, line {unknown[0]}: label {unknown[1]!r} is not a class named in {names_file}; "
            "add it there, or fix the label"
        )
    return tuple(names), [lookup[label] for _, _, label in rows]


def _read_names(names_file: Path) -> tuple[str, ...]:
    try:
        lines = names_file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read the class names file {names_file} ({error})") from error
    while lines and not lines[-1].strip():
        lines.pop()
    names = [line.strip() for line in lines]
    empty = [number for number, name in enumerate(names, start=1) if not name]
    if empty or len(names) < 2 or len(set(names)) != len(names):
        raise DataError(
            f"{names_file} must name each class once, one per line (at least two); "
            f"{'line ' + str(empty[0]) + ' is empty' if empty else 'found duplicates or fewer than two'}"
        )
    return tuple(names)
