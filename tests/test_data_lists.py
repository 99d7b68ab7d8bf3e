"""Image lists (CSV/TSV of path,label): a data set used where it lies, without copying it into
class folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.data.imageset import DataError
from engine.data.lists import load_image_list
from engine.data.sources import find_source, open_dataset, open_run_splits

COLOURS = {"cat": (250, 0, 0), "dog": (0, 250, 0), "fox": (0, 0, 250)}


def _image(path: Path, colour, size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _dataset(root: Path, per_class: int = 3) -> list[tuple[str, str]]:
    """Images scattered over nested folders, not one folder per class."""
    rows = []
    for c, (name, colour) in enumerate(COLOURS.items()):
        for i in range(per_class):
            relative = f"photos/batch{i}/{name}_{c}{i}.png"
            _image(root / relative, colour)
            rows.append((relative, name))
    return rows


def test_csv_with_header_and_class_names_file(tmp_path: Path) -> None:
    rows = _dataset(tmp_path)
    (tmp_path / "classes.txt").write_text("fox\ncat\ndog\n\n")  # line order = class index
    lines = ["image,label"] + [f"{path},{label}" for path, label in rows] + ["# a comment", ""]
    (tmp_path / "all.csv").write_text("\n".join(lines))
    data = open_dataset(tmp_path / "all.csv", "test", image_size=16)
    assert find_source(tmp_path / "all.csv").kind == "list"
    assert data.class_names == ("fox", "cat", "dog") and len(data) == 9
    assert data.images.shape == (9, 3, 16, 16) and data.source.endswith("all.csv")
    cat = data.images[data.labels == 1]
    assert torch.allclose(cat[:, 0], torch.full_like(cat[:, 0], 250 / 255), atol=0.02)  # red: cats
    assert torch.all(cat[:, 2] < 0.02)


def test_tsv_integer_labels_absolute_paths_and_unreadable_files(tmp_path: Path) -> None:
    rows = _dataset(tmp_path / "images")
    lines = [f"{tmp_path / 'images' / path}\t{list(COLOURS).index(label)}" for path, label in rows]
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "broken.png").write_bytes(b"not a png")
    lines += ["broken.png\t0", "missing.png\t1"]
    (tmp_path / "lists" / "data.tsv").write_text("\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        data = load_image_list(tmp_path / "lists" / "data.tsv", image_size=8)
    assert data.class_names == ("0", "1", "2") and len(data) == 9
    assert len(data.skipped) == 2 and "(line 10)" in data.skipped[0] and "missing.png" in data.skipped[1]
    assert np.bincount(data.labels.numpy()).tolist() == [3, 3, 3]


def test_a_folder_of_train_and_test_lists_is_a_split_data_set(tmp_path: Path) -> None:
    rows = _dataset(tmp_path, per_class=6)
    (tmp_path / "train.csv").write_text("".join(f"{p},{label}\n" for p, label in rows[::2]))
    (tmp_path / "val.tsv").write_text("".join(f"{p}\t{label}\n" for p, label in rows[1::2]))
    assert find_source(tmp_path).kind == "list"
    train = open_dataset(tmp_path, "train", image_size=8)
    test = open_dataset(tmp_path, "test", image_size=8)
    assert len(train) == len(test) == 9 and train.class_names == test.class_names == ("cat", "dog", "fox")
    splits = open_run_splits(tmp_path, 8, seed=0)
    assert len(splits.train) == 9 and len(splits.test) == 9 and splits.teacher is splits.train

    single = tmp_path / "train.csv"  # one list alone: a run holds out a fifth of it
    held = open_run_splits(single, 8, seed=0)
    assert len(held.train) + len(held.test) == 9 and len(held.test) >= 1


@pytest.mark.parametrize(
    ("content", "names", "message"),
    [
        ("a.png,cat\nb.png\n", None, r"data.csv, line 2: expected an image path and a label"),
        ("a.png,cat\n,dog\n", None, r"line 2: the image path or the label is empty"),
        ("a.png,cat\nb.png,wolf\n", "cat\ndog\n", r"line 2: label 'wolf' is not a class named in .*classes"),
        ("a.png,0\nb.png,7\n", "cat\ndog\n", r"line 2: label 7 must be a class index in the 2 classes"),
        ("a.png,0\nb.png,1\n", "cat\ncat\n", r"classes.txt must name each class once"),
        ("path,label\n", None, r"has no rows"),
        ("nowhere.png,cat\ngone.png,dog\n", None, r"none of the 2 images listed in .*data.csv could be read"),
    ],
)
def test_list_errors_name_the_file_and_line(tmp_path: Path, content: str, names, message: str) -> None:
    for name in ("a.png", "b.png"):
        _image(tmp_path / name, (9, 9, 9))
    if names is not None:
        (tmp_path / "classes.txt").write_text(names)
    (tmp_path / "data.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        load_image_list(tmp_path / "data.csv", image_size=8)


def test_one_class_and_missing_split_lists_are_errors(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        _image(tmp_path / name, (9, 9, 9))
    (tmp_path / "train.csv").write_text("a.png,cat\nb.png,cat\n")
    with pytest.raises(DataError, match="fewer than two classes"):
        open_dataset(tmp_path, "train", image_size=8)
    with pytest.raises(DataError, match=r"has no test list \(test.csv or val.csv"):
        open_dataset(tmp_path, "test", image_size=8)
    with pytest.raises(DataError, match="not an image list"):
        load_image_list(tmp_path / "a.png")
