"""`kdlens-cli analyze` end to end on tiny random-init checkpoints and a generated ImageFolder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine import cli
from engine.checkpoints import ModelCard, save_checkpoint
from engine.evidence.registry import get_kind
from engine.frames import read_probe_frame
from engine.models import build_model
from engine.vocab import MAP_KEYS

CLASSES = ("apple", "pear", "plum")


def _image_folder(root: Path, per_class: int = 8, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
                pixels[..., c] = 230  # a class colour the models could pick up
                Image.fromarray(pixels).save(folder / f"{i}.png")
    (root / "test" / "pear" / "broken.jpg").write_bytes(b"not a jpeg at all")
    return root


def _checkpoint(path: Path, arch: str, seed: int, classes=CLASSES) -> Path:
    torch.manual_seed(seed)
    model = build_model(arch, len(classes))
    card = ModelCard(arch=arch, num_classes=len(classes), class_names=tuple(classes), input_size=32,
                     mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))  # fmt: skip
    save_checkpoint(model, path, card)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("analyze")
    data = _image_folder(root / "fruit")
    return {
        "data": data,
        "teacher": _checkpoint(root / "teacher.safetensors", "large_cnn", 1),
        "student": _checkpoint(root / "student.safetensors", "small_cnn", 2),
        "base": _checkpoint(root / "base.safetensors", "small_cnn", 3),
        "root": root,
    }


def _args(setup, out, *extra):
    return ["analyze", "--teacher", str(setup["teacher"]), "--student", str(setup["student"]),
            "--base", str(setup["base"]), "--data", str(setup["data"]), "--out", str(out),
            "--probe", "6", "--metrics-n", "18", "--repeats", "3", "--seed", "5", "--device", "cpu",
            "--faithfulness-n", "6", "--sanity-n", "6", *extra]  # fmt: skip


def test_analyze_writes_the_whole_report(setup, capsys):
    out = setup["root"] / "report"
    assert cli.main(_args(setup, out)) == 0
    assert "report written" in capsys.readouterr().out

    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    metric_names = {r["metric"] for r in rows}
    assert {
        "FSS(S,T)",
        "FSS(B,T)",
        "FSS(S,B)",
        "RS(T)",
        "RS(S)",
        "RS(B)",
        "RS(S|B)",
        "RS(B|S)",
    } <= metric_names
    layers = {r["layer"] for r in rows}
    assert len(layers) >= 2
    for r in rows:
        if r["mean"] != "n/a":
            assert float(r["p5"]) <= float(r["mean"]) + 1e-9 <= float(r["p95"]) + 2e-9

    report = json.loads((out / "metrics.json").read_text())
    assert len(report["metrics"]) == len(rows)

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 5
    assert manifest["embedding_source"]
    assert len(manifest["probe_indices"]) == 6
    assert manifest["context_batches"]["distilled"] == manifest["probe_indices"]
    assert manifest["versions"]["torch"] == torch.__version__

    maps = sorted((out / "maps").glob("*.npz"))
    overlays = sorted((out / "overlays").glob("*.png"))
    assert len(maps) == 6 and len(overlays) == 6
    probe = read_probe_frame(maps[0])  # the one frame codec, as run folders and exports use
    for name in MAP_KEYS:
        assert probe.maps[name].shape == (1, 32, 32)
        assert probe.maps[name].dtype == np.float32
        assert probe.maps[name].min() >= 0.0 and probe.maps[name].max() <= 1.0
    assert probe.flags["context_indices"] == manifest["probe_indices"]
    assert list(probe.indices) == manifest["probe_indices"][:1]
    with Image.open(overlays[0]) as picture:
        assert picture.width > 6 * 32  # input + five maps side by side


def test_analyze_is_deterministic_per_seed(setup):
    first, second = setup["root"] / "r1", setup["root"] / "r2"
    assert cli.main(_args(setup, first)) == 0
    assert cli.main(_args(setup, second)) == 0
    assert (first / "metrics.csv").read_text() == (second / "metrics.csv").read_text()
    a, b = (read_probe_frame(run / "maps" / "probe_000.npz") for run in (first, second))
    np.testing.assert_array_equal(a.maps["distilled"], b.maps["distilled"])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"--teacher": "missing.safetensors"}, "teacher checkpoint"),
        ({"--data": "no-such-folder"}, "no-such-folder"),
        ({"--probe": "2"}, "at least 4"),
    ],
)
def test_bad_input_exits_2_with_one_line(setup, tmp_path, capsys, change, words):
    args = _args(setup, tmp_path / "out")
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err[-1]) > 20 and "Traceback" not in "\n".join(err)
    assert words in err[-1]


def test_class_count_mismatch_is_an_input_error(setup, tmp_path, capsys):
    five = tuple(f"c{i}" for i in range(5))
    student = _checkpoint(tmp_path / "five.safetensors", "small_cnn", 2, classes=five)
    args = _args(setup, tmp_path / "out")
    args[args.index("--student") + 1] = str(student)
    assert cli.main(args) == 2
    assert "class count" in capsys.readouterr().err


def test_evidence_on_data_without_masks_says_localisation_needs_them(setup, capsys):
    out = setup["root"] / "evidence"
    assert cli.main(_args(setup, out, "--fss-v", "--teacher-maps")) == 0
    assert not (out / "localisation.csv").exists()  # an ImageFolder has no object masks
    assert (
        "needs object masks"
        in json.loads((out / "manifest.json").read_text())["evidence"]["notes"]["localisation"]
    )
    with open(out / "faithfulness.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["map", "model", "score", "ci_low", "ci_high", "n"]
    assert {(r["map"], r["model"]) for r in rows} >= {
        ("distilled", "student"),
        ("random", "base"),
        ("residual", "teacher"),
    }
    claims = json.loads((out / "faithfulness.json").read_text())["claims"]
    assert set(claims) == {"distilled", "residual"}
    assert all(c["verdict"] in ("supported", "not supported", "inconclusive") for c in claims.values())
    with open(out / "sanity.csv") as handle:
        sanity = list(csv.DictReader(handle))
    assert [r["randomised"] for r in sanity if r["map"] == "distilled"][:2] == ["none", "fc"]
    with open(out / "metrics.csv") as handle:
        names = {r["metric"] for r in csv.DictReader(handle)}
    assert {"RS(T|S)", "RS(S|T)", "LP(S)", "FSSv(S,T)"} <= names  # the authors' remaining metrics
    probe = read_probe_frame(out / "maps" / "probe_000.npz")
    assert {"teacher_given_student", "student_given_teacher"} <= set(probe.maps)
    assert "faithfulness distilled:" in capsys.readouterr().err


def test_localisation_on_the_shapes_with_masks(tmp_path):
    shapes = ("circle", "square", "triangle", "cross")
    paths = {role: _checkpoint(tmp_path / f"{role}.safetensors", "small_cnn", seed, classes=shapes)
             for seed, role in enumerate(("teacher", "student", "base"), start=1)}  # fmt: skip
    out = tmp_path / "report"
    args = ["analyze", *(f"--{role}={path}" for role, path in paths.items()), "--data", "shapes",
            "--out", str(out), "--probe", "8", "--metrics-n", "16", "--repeats", "2", "--device", "cpu",
            "--localisation-n", "32", "--faithfulness-n", "8"]  # fmt: skip
    assert cli.main(args) == 0
    with open(out / "localisation.csv") as handle:
        rows = {r["map"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {*MAP_KEYS, "distilled - residual", "gradcam_student - gradcam_base"}
    chance = float(rows["distilled"]["chance"])
    assert 0.05 < chance < 0.6 and int(rows["gradcam_teacher"]["n"]) == 32
    verdicts = json.loads((out / "localisation.json").read_text())["differences"]
    assert verdicts["distilled - residual"]["verdict"] in ("supported", "not supported", "inconclusive")
    # 3 images cannot make a context batch with two classes of two images each; 4 can
    assert cli.main([*args[:-4], "--out", str(tmp_path / "small"), "--faithfulness-n", "3"]) == 2


def test_teacher_prototypes_never_come_from_the_scored_images(setup, monkeypatch):
    """The prototypes' images and the scored sets (probe, metrics, evidence) never meet."""
    import engine.jobs.analyze as analyze_module

    seen = {}
    real = analyze_module.teacher_prototypes

    def spy(model, images, labels, k, cut, **kw):
        seen["images"] = images.detach().cpu().clone()
        return real(model, images, labels, k, cut, **kw)

    monkeypatch.setattr(analyze_module, "teacher_prototypes", spy)
    out = setup["root"] / "prototypes"
    assert cli.main(_args(setup, out, "--embeddings", "prototypes")) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert "'train' split" in manifest["embedding_source"]
    test_images = {tuple(np.round(x.numpy().ravel(), 4)) for x in _normalised_split(setup, "test")}
    used = {tuple(np.round(x.numpy().ravel(), 4)) for x in seen["images"]}
    assert used and not (used & test_images)  # from the train split: no scored image among them
    # without a train split, the unscored rest of the analysed split is used and said so...
    fallback = _args(setup, setup["root"] / "p2", "--embeddings", "prototypes", "--prototype-split", "none")
    fallback[fallback.index("--metrics-n") + 1] = "6"
    fallback[fallback.index("--faithfulness-n") + 1] = "0"  # at most 6 of each class's 8 are scored
    assert cli.main(fallback) == 0
    manifest = json.loads((setup["root"] / "p2" / "manifest.json").read_text())
    scored = {*manifest["probe_indices"], *manifest["metrics_indices"]}
    # the kinds that score images with class embeddings (predictions-only kinds, e.g. agreement, do not)
    embedded = {k: v for k, v in manifest["evidence"]["sets"].items() if get_kind(k).uses_embeddings}
    assert "agreement" in manifest["evidence"]["sets"] and "agreement" not in embedded
    scored |= {i for part in embedded.values() for i in part}
    assert f"{24 - len(scored)} analysed images outside every scored set" in manifest["embedding_source"]
    # ...and when every image of a class is scored, the analysis refuses to use scored images
    refused = _args(setup, setup["root"] / "p3", "--embeddings", "prototypes", "--prototype-split", "none")
    assert cli.main(refused) == 2


def _normalised_split(setup, split):
    from engine.data.imageset import normalize
    from engine.data.sources import open_dataset

    data = open_dataset(setup["data"], split, image_size=32)
    return normalize(data.images, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
