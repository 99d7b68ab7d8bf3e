"""Data sets (SPEC §6): synthetic shapes, ImageFolder trees, single images, the balanced sampler."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import time
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.data.cifar import CifarFormatError, load_cifar, safe_unpickle
from engine.data.images import load_image, load_image_folder
from engine.data.imageset import DataError, ImageSet, balanced_indices, normalize
from engine.data.shapes import SHAPE_NAMES, ShapesConfig, make_shapes, render_shapes
from engine.data.sources import open_dataset


def _erode(mask: np.ndarray) -> np.ndarray:
    """Pixels whose eight neighbours are all in the mask."""
    padded = np.pad(mask, 1)
    h, w = mask.shape
    return np.logical_and.reduce([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])


SMALL = ShapesConfig(teacher_size=120, student_size=80, test_size=60, seed=3)


# --- synthetic shapes -------------------------------------------------------------------------


def test_shapes_are_deterministic_per_seed_and_differ_across_seeds_and_splits():
    a, b = make_shapes("student", SMALL), make_shapes("student", SMALL)
    assert torch.equal(a.images, b.images) and torch.equal(a.masks, b.masks)
    assert torch.equal(a.labels, b.labels) and torch.equal(a.clean_labels, b.clean_labels)
    other_seed = make_shapes("student", ShapesConfig(teacher_size=120, student_size=80, test_size=60, seed=4))
    assert not torch.equal(a.images, other_seed.images)
    test = make_shapes("test", ShapesConfig(teacher_size=120, student_size=80, test_size=80, seed=3))
    assert not torch.equal(a.images, test.images)


def test_shapes_imageset_fields():
    data = make_shapes("teacher", SMALL)
    assert data.images.shape == (120, 3, 32, 32) and data.images.dtype == torch.float32
    assert float(data.images.min()) >= 0.0 and float(data.images.max()) <= 1.0
    assert data.masks.shape == (120, 32, 32) and data.masks.dtype == torch.bool
    assert data.class_names == SHAPE_NAMES[:4] and data.num_classes == 4
    assert torch.bincount(data.clean_labels).tolist() == [30, 30, 30, 30]  # exactly balanced
    assert len(data) == 120 and data.skipped == ()


def test_masks_cover_exactly_the_object():
    arrays = render_shapes("teacher", ShapesConfig(num_classes=6, teacher_size=120, seed=1))
    for i in range(len(arrays.labels)):
        mask = arrays.masks[i]
        inner = _erode(mask)  # edge pixels are anti-aliased
        assert inner.sum() >= 1
        pixels = arrays.images[i][:, inner]
        np.testing.assert_allclose(pixels, arrays.colours[i][:, None].repeat(inner.sum(), 1), atol=1e-6)
        assert not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
        cy, cx = (int(round(c.mean())) for c in np.nonzero(mask))
        centre_inside = mask[cy - 1 : cy + 2, cx - 1 : cx + 2].any()
        shape = SHAPE_NAMES[arrays.clean_labels[i]]
        assert centre_inside == (shape != "ring"), shape  # the ring alone has a hole at its centre


def test_label_noise_rate_is_exact_and_only_in_noise_splits():
    config = ShapesConfig(label_noise=0.25, teacher_size=100, student_size=200, test_size=100)
    student = make_shapes("student", config)
    flipped = student.labels != student.clean_labels
    assert int(flipped.sum()) == 50
    assert int(student.labels.min()) >= 0 and int(student.labels.max()) < 4
    for split in ("teacher", "test"):
        data = make_shapes(split, config)
        assert torch.equal(data.labels, data.clean_labels)
    both = ShapesConfig(label_noise=0.1, noise_splits=("teacher", "student"), teacher_size=100)
    assert int((make_shapes("teacher", both).labels != make_shapes("teacher", both).clean_labels).sum()) == 10


def _class_background_spread(arrays) -> float:
    """Largest distance between two classes' mean background colours."""
    background = ~arrays.masks[:, None]
    means = np.stack(
        [
            (arrays.images[arrays.clean_labels == c] * background[arrays.clean_labels == c]).sum(
                axis=(0, 2, 3)
            )
            / background[arrays.clean_labels == c].sum()
            for c in range(4)
        ]
    )
    return float(max(np.linalg.norm(a - b) for a in means for b in means))


def test_cue_is_present_only_in_cue_splits_and_tracks_the_class():
    config = ShapesConfig(
        cue_fraction=1.0, cue_strength=0.6, teacher_size=400, student_size=200, test_size=400
    )
    student, teacher, test = (render_shapes(s, config) for s in ("student", "teacher", "test"))
    assert student.has_cue.all() and not teacher.has_cue.any() and not test.has_cue.any()
    assert _class_background_spread(student) > 0.4
    assert _class_background_spread(test) < 0.15 and _class_background_spread(teacher) < 0.15
    half = render_shapes("student", ShapesConfig(cue_fraction=0.5, student_size=200))
    assert half.has_cue.sum() == 100
    with pytest.raises(DataError, match="test"):
        ShapesConfig(cue_splits=("student", "test"))


def test_object_colour_does_not_name_the_class():
    arrays = render_shapes("teacher", ShapesConfig(teacher_size=800))
    means = np.stack([arrays.colours[arrays.clean_labels == c].mean(axis=0) for c in range(4)])
    assert np.abs(means - means.mean(axis=0)).max() < 0.08


def test_generating_the_default_splits_is_fast():
    make_shapes("test", ShapesConfig(test_size=10))  # warm-up
    start = time.perf_counter()
    sizes = [len(make_shapes(split, ShapesConfig())) for split in ("teacher", "student", "test")]
    elapsed = time.perf_counter() - start
    assert sum(sizes) == 3000
    assert elapsed < 4.0, f"3000 shapes images took {elapsed:.2f} s"  # ~0.5 s on one idle core


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 7},
        {"num_classes": 1},
        {"label_noise": 1.5},
        {"image_size": 4},
        {"student_size": 0},
        {"object_size": (0.3, 0.2)},
        {"noise_splits": ("teachers",)},
    ],
)
def test_invalid_shapes_config_is_a_data_error(kwargs):
    with pytest.raises(DataError, match="Invalid shapes configuration"):
        ShapesConfig(**kwargs)


def test_shapes_config_from_json_lists():
    config = ShapesConfig(**json.loads(json.dumps(dataclasses.asdict(ShapesConfig(cue_splits=("teacher",))))))
    assert config == ShapesConfig(cue_splits=("teacher",)) and isinstance(config.object_size, tuple)


def test_unknown_shapes_split():
    with pytest.raises(DataError, match="teacher, student, test"):
        make_shapes("validation", SMALL)


# --- ImageSet, normalize ----------------------------------------------------------------------


def test_imageset_subset_keeps_fields_aligned():
    data = make_shapes("student", SMALL)
    part = data.subset([5, 0, 7])
    assert torch.equal(part.images, data.images[[5, 0, 7]])
    assert torch.equal(part.masks, data.masks[[5, 0, 7]])
    assert part.labels.tolist() == [int(data.labels[i]) for i in (5, 0, 7)]
    assert part.clean_labels.tolist() == [int(data.clean_labels[i]) for i in (5, 0, 7)]
    assert part.class_names == data.class_names and part.mean == data.mean
    with pytest.raises(DataError, match="indices"):
        data.subset([80])


def test_imageset_validates_and_defaults_clean_labels():
    images, labels = torch.rand(3, 3, 8, 8), torch.tensor([0, 1, 1])
    data = ImageSet(images, labels, ("a", "b"))
    assert data.clean_labels is labels and data.masks is None
    with pytest.raises(DataError, match="labels must lie"):
        ImageSet(images, torch.tensor([0, 1, 2]), ("a", "b"))
    with pytest.raises(DataError, match="float32"):
        ImageSet(images[:, :1], labels, ("a", "b"))


def test_normalize_per_channel():
    images = torch.rand(2, 3, 4, 4)
    out = normalize(images, (0.1, 0.2, 0.3), (0.5, 0.25, 2.0))
    assert torch.allclose(out[:, 1], (images[:, 1] - 0.2) / 0.25)
    assert torch.allclose(normalize(images[0], (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)), out[0])


# --- the class-balanced sampler ---------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=2, max_size=60),
    fraction=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
    exclude_seed=st.integers(0, 1000),
)
def test_balanced_indices_properties(labels, fraction, seed, exclude_seed):
    labels = np.array(labels)
    exclude = np.random.default_rng(exclude_seed).choice(labels.size, labels.size // 4, replace=False)
    available = np.setdiff1d(np.arange(labels.size), exclude)
    if np.unique(labels[available]).size < 2:
        with pytest.raises(DataError, match="two classes"):
            balanced_indices(labels, 1, seed, exclude)
        return
    n = int(round(fraction * available.size))
    picked = balanced_indices(labels, n, seed, exclude)
    assert picked.dtype == np.int64 and picked.size == n
    assert np.unique(picked).size == n  # without replacement
    assert not np.isin(picked, exclude).any()
    np.testing.assert_array_equal(picked, balanced_indices(labels, n, seed, exclude))
    classes = np.unique(labels[available])
    taken = np.array([(labels[picked] == c).sum() for c in classes])
    capacity = np.array([(labels[available] == c).sum() for c in classes])
    for a in range(classes.size):  # a class is short of the largest share only when it is exhausted
        if taken[a] < taken.max() - 1:
            assert taken[a] == capacity[a]


def test_balanced_indices_spreads_a_small_class_and_interleaves():
    labels = np.array([0] * 2 + [1] * 20 + [2] * 20)
    picked = balanced_indices(labels, 12, seed=0)
    assert np.bincount(labels[picked]).tolist() == [2, 5, 5]
    assert sorted(labels[picked[:3]].tolist()) == [0, 1, 2]  # any prefix is balanced
    assert not np.array_equal(picked, balanced_indices(labels, 12, seed=1))


def test_balanced_indices_errors():
    with pytest.raises(DataError, match="only 4 are available"):
        balanced_indices([0, 0, 1, 1], 5, seed=0)
    with pytest.raises(DataError, match="two classes"):
        balanced_indices([3, 3, 3], 2, seed=0)
    with pytest.raises(DataError, match="two classes"):
        balanced_indices([0, 0, 1], 1, seed=0, exclude=[2])
    assert balanced_indices(torch.tensor([0, 1, 0, 1]), 4, seed=0).size == 4
    with pytest.raises(DataError, match="Excluded indices"):
        balanced_indices([0, 1, 0, 1], 2, seed=0, exclude=[4])


# --- single image files -----------------------------------------------------------------------


def _save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_exif_orientation_is_honoured(tmp_path):
    pixels = np.zeros((10, 20, 3), dtype=np.uint8)
    pixels[:, :10] = (255, 0, 0)  # left half red
    pixels[:, 10:] = (0, 0, 255)  # right half blue
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored column 0 becomes the top row
    path = _save(tmp_path, "rotated.jpg", image, exif=exif, quality=95)
    tensor = load_image(path, None)
    assert tensor.shape == (3, 20, 10)
    assert tensor[0, 2, 5] > 0.8 and tensor[2, 2, 5] < 0.2  # top: red
    assert tensor[2, 17, 5] > 0.8 and tensor[0, 17, 5] < 0.2  # bottom: blue


def test_any_mode_becomes_rgb(tmp_path):
    grey = Image.fromarray(np.full((12, 12), 128, dtype=np.uint8), "L")
    rgba = Image.fromarray(np.array([[[255, 0, 0, 255], [0, 255, 0, 0]]], dtype=np.uint8), "RGBA")
    palette = grey.convert("P")
    deep = Image.fromarray(np.array([[1000, 65535], [0, 32768]], dtype=np.uint16))
    cases = {
        "grey.png": (grey, {}),
        "alpha.png": (rgba, {}),
        "palette.gif": (palette, {}),
        "cmyk.jpg": (Image.new("CMYK", (8, 8), (0, 255, 255, 0)), {}),
        "deep.png": (deep, {}),
        "bits.bmp": (grey.convert("1"), {}),
    }
    loaded = {name: load_image(_save(tmp_path, name, img, **kw), None) for name, (img, kw) in cases.items()}
    for name, tensor in loaded.items():
        assert tensor.shape[0] == 3 and tensor.dtype == torch.float32, name
        assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0, name
    assert torch.allclose(loaded["grey.png"], torch.full((3, 12, 12), 128 / 255))
    assert torch.allclose(loaded["alpha.png"][:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(loaded["alpha.png"][:, 0, 1], torch.ones(3))  # transparent: white
    assert loaded["cmyk.jpg"][0].mean() > 0.8 and loaded["cmyk.jpg"][1].mean() < 0.2  # red
    assert torch.allclose(loaded["deep.png"][:, 0, 0], torch.full((3,), 1000 / 65535))  # 16 bits kept
    assert torch.allclose(loaded["deep.png"][:, 1, 1], torch.full((3,), 32768 / 65535))


def test_load_image_resizes_and_centre_crops(tmp_path):
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, 6:34] = 255  # the centre is white, the outer columns black
    tensor = load_image(_save(tmp_path, "wide.png", Image.fromarray(pixels)), 8)
    assert tensor.shape == (3, 8, 8)
    assert float(tensor.min()) > 0.9  # only the white centre survives the crop


def test_missing_or_corrupt_image_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image(tmp_path / "nope.png", 16)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(DataError, match="Cannot read image"):
        load_image(broken, 16)


# --- ImageFolder trees ------------------------------------------------------------------------


def _tree(root, classes=("cat", "dog"), per_class=3, size=(24, 18)):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.{'png' if c % 2 else 'jpg'}")
    return root


def test_image_folder_skips_unreadable_files_with_a_warning(tmp_path):
    _tree(tmp_path / "train")
    (tmp_path / "train" / "dog" / "corrupt.jpg").write_bytes(b"not an image")
    (tmp_path / "train" / "dog" / "notes.txt").write_text("ignored: not an image file")
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        data = load_image_folder(tmp_path, "train", image_size=16)
    assert len(data) == 6 and data.images.shape == (6, 3, 16, 16)
    assert data.class_names == ("cat", "dog") and data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(data.skipped) == 1 and data.skipped[0].endswith("corrupt.jpg")
    assert torch.equal(data.clean_labels, data.labels) and data.masks is None


def test_image_folder_without_split_folders(tmp_path):
    _tree(tmp_path, classes=("a", "b", "c"), per_class=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_image_folder(tmp_path, None, image_size=8)
    assert data.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert len(open_dataset(tmp_path, "train", image_size=8)) == 6


def test_image_folder_layout_errors(tmp_path):
    _tree(tmp_path / "one" / "only_class")
    with pytest.raises(DataError, match="1 class.*at least two.*Expected layout"):
        load_image_folder(tmp_path / "one")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="0 class"):
        load_image_folder(tmp_path / "empty")
    _tree(tmp_path / "split" / "train")
    with pytest.raises(DataError, match=r"no 'test' folder \(found: \['train'\]\)"):
        load_image_folder(tmp_path / "split", "test")
    with pytest.raises(DataError, match="choose one"):
        load_image_folder(tmp_path / "split", None)
    with pytest.raises(DataError, match="does not exist"):
        open_dataset(tmp_path / "missing", "train")


def test_open_dataset_picks_the_split_folder_and_shapes(tmp_path):
    _tree(tmp_path / "train")
    _tree(tmp_path / "val", per_class=1)
    assert len(open_dataset(tmp_path, "test", image_size=8)) == 2  # "test" falls back to val/
    shapes = open_dataset("shapes", "test", image_size=16)
    assert shapes.images.shape == (400, 3, 16, 16) and shapes.masks is not None


# --- CIFAR python-pickle files ----------------------------------------------------------------


def _write_cifar10(folder, per_batch=2, test_size=3):
    """Tiny files in the real CIFAR-10 layout: dicts of a uint8 (n, 3072) array and label lists."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test_size)]:
        batch = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        }
        # the real files name numpy 1.x's module, which numpy 2 renamed: the loader must map it
        raw = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(raw)
        batches[name] = batch
    meta = {
        "num_cases_per_batch": per_batch,
        "label_names": [f"class{c}" for c in range(10)],
        "num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


def test_cifar10_round_trip(tmp_path):
    batches = _write_cifar10(tmp_path / "cifar-10-batches-py")
    train = load_cifar(tmp_path, "train")  # the standard subfolder is found
    assert train.images.shape == (10, 3, 32, 32) and train.class_names[3] == "class3"
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    labels = sum((batches[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert train.labels.tolist() == labels
    # row layout: 1024 red values, then green, then blue, each row-major 32 x 32
    assert float(train.images[4, 1, 2, 7]) == pytest.approx(data[4, 1024 + 2 * 32 + 7] / 255)
    assert train.mean == pytest.approx((0.4914, 0.4822, 0.4465))
    test = load_cifar(tmp_path / "cifar-10-batches-py", "test")
    assert len(test) == 3 and test.labels.tolist() == batches["test_batch"][b"labels"]
    resized = open_dataset(tmp_path, "test", image_size=16)
    assert resized.images.shape == (3, 3, 16, 16)


def test_cifar100_uses_fine_labels(tmp_path):
    folder = tmp_path / "c100"
    folder.mkdir()
    data = np.arange(4 * 3072, dtype=np.int64).reshape(4, 3072).astype(np.uint8)
    for split in ("train", "test"):
        record = {"data": data, "fine_labels": [5, 99, 0, 7], "coarse_labels": [1, 2, 3, 4], "filenames": []}
        (folder / split).write_bytes(pickle.dumps(record, protocol=4))
    meta = {"fine_label_names": [f"fine{c}" for c in range(100)], "coarse_label_names": ["x"] * 20}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    train = load_cifar(folder, "train")
    assert train.labels.tolist() == [5, 99, 0, 7] and train.num_classes == 100
    assert train.class_names[99] == "fine99" and train.source.startswith("cifar100")
    assert torch.equal((train.images * 255).round().to(torch.uint8).reshape(4, -1), torch.from_numpy(data))


class _Payload:
    """Pickles as a call to os.system: what a booby-trapped 'data_batch_1' would hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_cifar_pickle_is_refused_without_running_code(tmp_path):
    """The restricted unpickler allows only containers and numpy arrays: os.system is never called."""
    _write_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    evil = {b"labels": [0, 1], b"data": np.zeros((2, 3072), np.uint8), b"x": _Payload(marker)}
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(CifarFormatError, match="refused to load posix.system|refused to load os.system"):
        load_cifar(tmp_path, "train")
    assert not marker.exists()
    live = tmp_path / "payload_is_live"
    pickle.loads(pickle.dumps(_Payload(live)))  # the plain unpickler does run it (a harmless touch)
    assert live.exists()
    with pytest.raises(CifarFormatError, match="refused"):
        safe_unpickle(pickle.dumps(eval))


def test_cifar_format_errors(tmp_path):
    _write_cifar10(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(CifarFormatError, match="data_batch_3 is missing"):
        load_cifar(tmp_path, "train")
    (tmp_path / "test_batch").write_bytes(pickle.dumps({"labels": [0], "data": np.zeros((1, 10), np.uint8)}))
    with pytest.raises(CifarFormatError, match=r"shape \(n, 3072\)"):
        load_cifar(tmp_path, "test")
    with pytest.raises(DataError, match="no CIFAR files"):
        load_cifar(tmp_path / "data_batch_1")
    with pytest.raises(DataError, match="'train' or 'test'"):
        load_cifar(tmp_path, "val")


def test_cue_flipped_split_is_the_test_images_with_a_wrong_class_tint():
    config = ShapesConfig(num_classes=4, cue_fraction=0.8, cue_strength=0.7, test_size=40)
    test, flipped = render_shapes("test", config), render_shapes("cue-flipped", config)
    np.testing.assert_array_equal(flipped.masks, test.masks)
    np.testing.assert_array_equal(flipped.clean_labels, test.clean_labels)
    np.testing.assert_array_equal(flipped.labels, test.labels)  # held out: never noisy
    assert flipped.has_cue.all() and not test.has_cue.any()
    from engine.data.shapes import CUE_PALETTE

    background = ~test.masks  # there: flipped = (1 - s) test + s tint, exactly (before clipping)
    tint = (flipped.images - 0.3 * test.images) / 0.7
    for i in range(40):
        colour = np.median(tint[i][:, background[i]], axis=1)
        nearest = int(np.argmin(np.linalg.norm(CUE_PALETTE[:4] - colour, axis=1)))
        assert nearest != test.clean_labels[i]  # the cue of a wrong class
        assert np.linalg.norm(CUE_PALETTE[nearest] - colour) < 0.05
    assert make_shapes("cue-flipped", config).source.startswith("shapes:cue-flipped")
