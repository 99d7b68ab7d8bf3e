"""Issue 11, bad data and the engine API: data that cannot train is refused with the folder named
(item 6), the API raises KD Lens's own errors (item 9), and messages say the true cause (item 10).
The command-line side is in test_bad_input.py."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from bad_input_fixtures import fingerprint, image_folder, run_cli, tiny_train_config
from PIL import Image

from engine import stats
from engine.cam import CamError, distilled_and_residual, grad_cam
from engine.data.images import load_image_folder
from engine.data.imageset import DataError
from engine.embeddings import EmbeddingsError, load_embeddings
from engine.jobs.analyze import AnalyzeConfig, analyze_job
from engine.jobs.analyze_config import AnalyzeInputError
from engine.models import build_model
from engine.training.config import ConfigError, TrainConfig


def _train(tmp_path, capsys, data, **fields):
    config = dict(tiny_train_config().to_dict(), **fields)
    config["dataset"] = {"source": str(data), "image_size": 16, "shapes": {}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "run"
    before = fingerprint(data)
    code, err = run_cli(["train", "--config", path, "--out", out], capsys)
    assert fingerprint(data) == before
    return code, err, out


# --- item 6: data that cannot train -------------------------------------------------------------


def test_one_image_per_class_is_refused_naming_the_split(tmp_path, capsys):
    data = image_folder(tmp_path / "data", per_class=1, splits=("train",))
    image_folder(tmp_path / "data", per_class=6, splits=("test",))
    code, err, out = _train(tmp_path, capsys, data)
    assert code == 2 and "Traceback" not in err
    assert "the training split of" in err and "apple (1)" in err and "at least 2 images" in err
    assert not out.exists()


def test_one_image_per_class_without_split_folders_is_refused(tmp_path, capsys):
    data = image_folder(tmp_path / "data", per_class=1, splits=(None,))
    code, err, _ = _train(tmp_path, capsys, data)
    assert code == 2 and "apple (1)" in err


def test_a_class_folder_of_unreadable_files_is_refused(tmp_path, capsys):
    data = image_folder(tmp_path / "data")
    for image in (data / "train" / "plum").iterdir():
        image.write_bytes(b"not an image")
    code, err, out = _train(tmp_path, capsys, data)
    assert code == 2 and str(data / "train" / "plum") in err and "none can be read" in err
    assert not out.exists()
    with pytest.raises(DataError, match="plum"):
        load_image_folder(data, "train", 16)


def test_hidden_and_system_folders_are_never_classes(tmp_path):
    data = image_folder(tmp_path / "data", splits=(None,))
    black = Image.fromarray(np.zeros((16, 16, 3), np.uint8))
    for hidden in ("__MACOSX", ".thumbnails", "@eaDir"):
        (data / hidden).mkdir()
        black.save(data / hidden / "x.png")
    (data / "apple" / "._0.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS resource fork
    (data / "apple" / ".cache").mkdir()
    black.save(data / "apple" / ".cache" / "y.png")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_image_folder(data, None, 16)
    assert loaded.class_names == ("apple", "pear", "plum")
    assert len(loaded) == 18 and loaded.skipped == ()
    assert [str(w.message) for w in caught] == []  # nothing skipped as unreadable either


def test_a_probe_set_smaller_than_the_class_count_takes_pairs_of_some_classes(tmp_path, capsys):
    data = image_folder(tmp_path / "data", classes=tuple("abcdef"))
    code, err, out = _train(tmp_path, capsys, data, probe_size=6)
    assert code == 0, err
    assert "probe set: 6 images of 3 of the 6 classes" in err  # said once, in the log
    probe = json.loads((out / "sets.json").read_text())["probe"]
    assert len(probe) == 6


def test_four_classes_of_six_images_train_with_what_had_to_shrink_said_once(tmp_path, capsys):
    """No test split: two images of each class are held out (a fifth would leave one each), and
    the probe and metrics sets shrink to the 8 held-out images."""
    data = image_folder(tmp_path / "data", per_class=6, classes=tuple("abcd"), splits=(None,))
    code, err, out = _train(tmp_path, capsys, data, probe_size=16, metrics_size=256)
    assert code == 0, err
    sets = json.loads((out / "sets.json").read_text())
    assert len(sets["probe"]) == 8 and len(sets["metrics"]) == 8
    assert err.count("probe set: 8 images (probe_size 16; 8 held-out images)") == 1
    assert err.count("metrics set: 8 images (metrics_size 256; 8 held-out images)") == 1


def test_a_context_batch_of_distinct_classes_says_so():
    torch.manual_seed(0)
    student, base = build_model("small_cnn", 4).eval(), build_model("small_cnn", 4).eval()
    images = torch.randn(4, 3, 32, 32)
    with pytest.raises(CamError, match="4 different classes") as distinct:
        distilled_and_residual(student, base, images, torch.tensor([0, 1, 2, 3]))
    assert "one class" not in str(distinct.value)
    with pytest.raises(CamError, match="one class"):
        distilled_and_residual(student, base, images, torch.tensor([2, 2, 2, 2]))


def test_a_huge_image_is_reduced_on_load_without_a_memory_spike(tmp_path):
    """12000 x 12000 px: float32 at full size alone would be 1.7 GB."""
    path = tmp_path / "huge.png"
    Image.MAX_IMAGE_PIXELS = None
    picture = Image.new("RGB", (12000, 12000), (120, 30, 200))
    picture.paste((10, 200, 10), (3000, 3000, 9000, 9000))
    picture.save(path)
    del picture
    probe = (
        "import json, resource, warnings; warnings.simplefilter('ignore'); "
        "from engine.data.images import load_image; "
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        f"x = load_image({str(path)!r}, 32); "
        "print(json.dumps({'shape': list(x.shape), 'green': float(x[1].max()), "
        "'grown_mb': (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024}))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert result["shape"] == [3, 32, 32] and result["green"] > 0.7  # the centre square survived
    assert result["grown_mb"] < 1200, result  # was ~4400 MB before the 8-bit reduction


# --- item 9: the engine API raises its own errors -------------------------------------------------


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return build_model("small_cnn", 4).eval(), build_model("small_cnn", 4).eval()


LABELS = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])


@pytest.mark.parametrize("channels", [1, 4])
def test_wrong_channel_count(models, channels):
    images = torch.randn(8, channels, 32, 32)
    with pytest.raises(CamError, match=f"{channels} channel"):
        grad_cam(models[0], "stage4", images)
    with pytest.raises(CamError, match=f"{channels} channel"):
        distilled_and_residual(*models, images, LABELS)


def test_integer_images_are_refused_and_other_float_types_give_the_same_maps(models):
    images = torch.randn(8, 3, 32, 32)
    with pytest.raises(CamError, match="floating point"):
        grad_cam(models[0], "stage4", (images * 50).to(torch.uint8))
    reference = grad_cam(models[0], "stage4", images).maps
    for dtype in (torch.float64, torch.float16):
        maps = grad_cam(models[0], "stage4", images.to(dtype)).maps
        assert np.allclose(maps, reference, atol=2e-2), dtype  # the model's own dtype, not a crash


def test_images_too_small_for_the_layer_are_flagged_not_zero(models):
    tiny = torch.randn(8, 3, 4, 4)
    with pytest.raises(CamError, match="too small for the target layer"):
        grad_cam(models[0], "stage4", tiny)
    with pytest.raises(CamError, match="too small for the target layer"):
        distilled_and_residual(*models, tiny, LABELS)


@pytest.mark.parametrize(
    "bad",
    [np.array([["a", "b"]] * 6), np.array([[1, None]] * 6, dtype=object), ["x"] * 6],
    ids=["strings", "objects", "list of strings"],
)
def test_non_numeric_arrays_to_the_statistics(bad):
    with pytest.raises(stats.StatsInputError, match="must hold numbers"):
        stats.dcor_u(bad, np.random.default_rng(0).random((6, 2)))


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300])
def test_tiny_and_huge_magnitudes_give_the_same_statistics(scale):
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(20, 5)), rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    assert float(stats.dcor_u(x * scale, y)) == pytest.approx(float(stats.dcor_u(x, y)), abs=1e-12)
    assert float(stats.partial_dcor(x * scale, y, z * scale)) == pytest.approx(
        float(stats.partial_dcor(x, y, z)), abs=1e-12
    )
    assert float(stats.semi_partial_dcor(x * scale, y * scale, z)) == pytest.approx(
        float(stats.semi_partial_dcor(x, y, z)), abs=1e-12
    )
    # ordinary magnitudes are left exactly as they were
    assert torch.equal(stats.pairwise_distances(x), stats.pairwise_distances(torch.as_tensor(x)))


# --- item 10: messages say the true cause ---------------------------------------------------------


@pytest.mark.parametrize("where", ["x", "y", "z"])
def test_a_nan_is_named_where_it_is(where):
    rng = np.random.default_rng(2)
    sets = {name: rng.normal(size=(10, 3)) for name in "xyz"}
    sets[where][4, 1] = np.nan
    with pytest.raises(stats.NonFiniteInputError, match=rf"^{where} holds 1 NaN"):
        stats.semi_partial_dcor(sets["x"], sets["y"], sets["z"])


def test_nan_embeddings_are_named_as_the_embeddings(models):
    with pytest.raises(stats.NonFiniteInputError, match="class embeddings"):
        distilled_and_residual(*models, torch.randn(8, 3, 32, 32), LABELS, embeddings=np.full((4, 4), np.nan))


def test_a_file_where_a_folder_is_needed_says_so(tmp_path, capsys):
    data = image_folder(tmp_path / "data")
    image = next((data / "train" / "apple").iterdir())
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_image_folder(image)
    code, err, _ = _train(tmp_path, capsys, image)
    assert code == 2 and "is a file, not a folder" in err and "does not exist" not in err


def test_a_folder_where_a_file_is_needed_says_so(tmp_path, capsys):
    data = image_folder(tmp_path / "data")
    with pytest.raises(EmbeddingsError, match="is a folder, not a file"):
        load_embeddings(data, 3)
    config = tiny_train_config().to_dict()
    config["teacher"]["load"] = str(data)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    code, err = run_cli(["train", "--config", path, "--out", tmp_path / "run"], capsys)
    assert code == 2 and "teacher checkpoint" in err and "is a folder, not a file" in err
    checkpoints = [tmp_path / f"{role}.pt" for role in "tsb"]  # present: the path checks pass them
    for file in checkpoints:
        file.write_bytes(b"")
    for flag in ("model_file", "embeddings"):
        config = AnalyzeConfig(*map(str, checkpoints), str(data), str(tmp_path / "r"), **{flag: str(data)})
        with pytest.raises(AnalyzeInputError, match="is a folder, not a file"):
            next(iter(analyze_job(config)))


def test_train_never_suggests_a_trust_flag_it_does_not_have(tmp_path, capsys):
    class RunsCode:
        def __reduce__(self):
            return (print, ("this would run",))

    pickled = tmp_path / "teacher.pt"
    torch.save({"model": build_model("large_cnn", 4).state_dict(), "note": RunsCode()}, pickled)
    config = tiny_train_config().to_dict()
    config["teacher"]["load"] = str(pickled)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(config))
    code, err = run_cli(["train", "--config", path, "--out", tmp_path / "run"], capsys)
    assert code == 2 and "would run code" in err and "this would run" not in err
    assert "(--trust)" not in err and "train --trust" not in err and "training loads weights only" in err


def test_config_errors_name_the_field_through_the_api():
    data = tiny_train_config().to_dict()
    data["optimizer"]["momentum"] = "fast"
    with pytest.raises(ConfigError, match="optimizer.momentum must be a number, got 'fast'"):
        TrainConfig.from_dict(data)
