"""`kdlens-cli analyze` end to end with the checkpoints people already have, none with a sidecar:
a timm pair, RepDistiller's resnet32x4 -> resnet8x4 as {"model": sd}, wrn_40_2 -> wrn_16_2 with
DataParallel's ``module.`` prefixes, TorchScript archives, and a pair from the user's model file;
each on CIFAR-format pickles and on a CSV image list. Tiny: 4 classes, 32 px."""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from report_fixtures import MODEL_FILE

from engine import cli
from engine.frames import read_probe_frame
from engine.models import build_model
from engine.vocab import MAP_KEYS

CLASSES = ("cat", "dog", "fox", "owl")


def _pixels(rng, label: int) -> np.ndarray:
    image = rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    image[8:24, 8:24] = [(240, 20, 20), (20, 240, 20), (20, 20, 240), (240, 240, 20)][label]
    return image


def _cifar(root: Path, rng) -> Path:
    """CIFAR-10's python files, in its real format (pickled dicts, uint8 rows), with 4 classes."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", 4) for i in range(1, 6)] + [("test_batch", 20)]:
        labels = [i % 4 for i in range(n)]
        data = np.stack([_pixels(rng, c).transpose(2, 0, 1).reshape(-1) for c in labels])
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CLASSES)}, protocol=2))
    return root


def _image_list(root: Path, rng) -> Path:
    """A folder with train.csv / test.csv pointing into one flat image folder, and classes.txt."""
    (root / "jpg").mkdir(parents=True)
    for split, n in (("train", 8), ("test", 20)):
        rows = ["path,label"]
        for i in range(n):
            Image.fromarray(_pixels(rng, i % 4)).save(root / "jpg" / f"{split}{i}.png")
            rows.append(f"jpg/{split}{i}.png,{CLASSES[i % 4]}")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def _state(arch: str, seed: int) -> dict:
    torch.manual_seed(seed)
    return build_model(arch, len(CLASSES)).state_dict()


def _torchscript(path: Path, arch: str, seed: int, trace: bool) -> Path:
    torch.manual_seed(seed)
    model = build_model(arch, len(CLASSES)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        archive = torch.jit.trace(model, torch.rand(1, 3, 32, 32)) if trace else torch.jit.script(model)
        torch.jit.save(archive, path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    rng = np.random.default_rng(0)
    data = {"cifar": _cifar(root / "cifar", rng), "list": _image_list(root / "list", rng)}

    def save(name: str, content) -> str:
        torch.save(content, root / name)
        return str(root / name)

    def prefixed(state: dict) -> dict:
        return {f"module.{key}": value for key, value in state.items()}

    (root / "my_models.py").write_text(MODEL_FILE)
    namespace: dict = {}
    exec(compile(MODEL_FILE, "my_models.py", "exec"), namespace)  # the test's own copy, to make weights

    def user_state(arch: str, seed: int) -> dict:
        torch.manual_seed(seed)
        return namespace["build"](arch, len(CLASSES)).state_dict()

    timm_args = argparse.Namespace(model="resnet26d", lr=0.05)
    pairs = {
        "timm": {
            "teacher": save("t.pth.tar", {"state_dict": _state("timm:resnet26d", 1), "args": timm_args}),
            "student": save("s.pth.tar", {"state_dict": _state("timm:mobilenetv3_small_100", 2), "epoch": 9}),
            "base": save("b.pth.tar", {"state_dict": _state("timm:mobilenetv3_small_100", 3)}),
            "flags": ["--arch-teacher", "timm:resnet26d", "--arch-student", "timm:mobilenetv3_small_100"],
        },
        "repdistiller": {
            "teacher": save("r32x4.pth", {"model": _state("resnet32x4", 1), "best_acc": torch.tensor(79.4)}),
            "student": save("r8x4_kd.pth", {"model": _state("resnet8x4", 2), "epoch": 240}),
            "base": save("r8x4.pth", {"model": _state("resnet8x4", 3)}),
            "flags": ["--arch-teacher", "resnet32x4", "--arch-student", "resnet8x4"],
        },
        "wrn-dataparallel": {
            "teacher": save("wrn40.pth", prefixed(_state("wrn_40_2", 1))),
            "student": save("wrn16_kd.pth", {"model": prefixed(_state("wrn_16_2", 2))}),
            "base": save("wrn16.pth", prefixed(_state("wrn_16_2", 3))),
            "flags": ["--arch-teacher", "wrn_40_2", "--arch-student", "wrn_16_2"],
        },
        "torchscript": {
            "teacher": str(_torchscript(root / "t.pt", "resnet20", 1, trace=False)),
            "student": str(_torchscript(root / "s.pt", "small_cnn", 2, trace=True)),
            "base": str(_torchscript(root / "b.pt", "small_cnn", 3, trace=False)),
            "flags": [],  # no architecture: the archives carry it
        },
        "model-file": {
            "teacher": save("big.pt", user_state("big_net", 1)),
            "student": save("small_kd.pt", {"state_dict": user_state("small_net", 2)}),
            "base": save("small.pt", user_state("small_net", 3)),
            "flags": [
                "--arch-teacher",
                "big_net",
                "--arch-student",
                "small_net",
                "--model-file",
                str(root / "my_models.py"),
                "--trust-code",
            ],  # fmt: skip
        },
    }
    return {"root": root, "data": data, "pairs": pairs}


def _size(pair: str) -> int:
    """ImageNet-style timm models end at 1/32 of the input: 64 px keeps a 2 x 2 last map."""
    return 64 if pair == "timm" else 32


def _args(world, pair: str, data: str, out: Path, *extra: str) -> list[str]:
    chosen = world["pairs"][pair]
    return ["analyze", "--teacher", chosen["teacher"], "--student", chosen["student"],
            "--base", chosen["base"], "--data", str(world["data"][data]), "--out", str(out),
            "--probe", "8", "--metrics-n", "16", "--repeats", "2", "--image-size", str(_size(pair)),
            "--device", "cpu", *chosen["flags"], *extra]  # fmt: skip


@pytest.mark.parametrize("data", ["cifar", "list"])
@pytest.mark.parametrize("pair", ["timm", "repdistiller", "wrn-dataparallel", "torchscript", "model-file"])
def test_analyze_runs_end_to_end(world, pair: str, data: str, capsys) -> None:
    out = world["root"] / f"report-{pair}-{data}"
    assert cli.main(_args(world, pair, data, out, "--no-evidence")) == 0
    assert "report written" in capsys.readouterr().out

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["classes"] == list(CLASSES)
    assert manifest["data"]["images"] == 20  # the test split of either source
    archs = {role: entry["arch"] for role, entry in manifest["checkpoints"].items()}
    if pair == "torchscript":
        assert all(arch.startswith("torchscript:") for arch in archs.values())
    else:
        expected = dict(zip(("teacher", "student"), world["pairs"][pair]["flags"][1:4:2], strict=True))
        assert archs == {**expected, "base": expected["student"]}
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    for name in ("FSS(S,T)", "FSS(S,B)", "RS(T)", "RS(S|B)", "RS(B|S)"):
        values = [r["mean"] for r in rows if r["metric"] == name]
        assert values and any(v != "n/a" for v in values), name
    assert {r["layer"] for r in rows} >= set(manifest["layers"]["student"])

    probe = read_probe_frame(sorted((out / "maps").glob("*.npz"))[0])
    for key in MAP_KEYS:
        assert probe.maps[key].shape == (1, _size(pair), _size(pair)) and np.isfinite(probe.maps[key]).all()
    assert any(probe.maps[key].max() > 0 for key in MAP_KEYS)
    page = (out / "index.html").read_text(encoding="utf-8")  # the page opens anywhere, for every pair
    assert 'alt="overlay grid"' in page and 'alt="FSS and RS per layer"' in page
    assert "http:" not in page and "https:" not in page and "<script" not in page  # (":" is not base64)


def test_torchscript_pair_with_the_sanity_check(world) -> None:
    """The evidence stage randomises layers of each model: TorchScript layers can be reset too."""
    out = world["root"] / "report-torchscript-sanity"
    assert cli.main(_args(world, "torchscript", "list", out, "--faithfulness-n", "0")) == 0
    with open(out / "sanity.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["map"] == "gradcam_student"]
    assert rows[0]["randomised"] == "none" and float(rows[0]["spearman"]) == 1.0
    # re-initialising the archive's layers really changes the student's maps
    assert len(rows) >= 3 and all(float(r["spearman"]) < 0.9 for r in rows[1:])


def test_model_file_needs_the_trust_flag_on_the_command_line(world, tmp_path, capsys) -> None:
    args = _args(world, "model-file", "list", tmp_path / "out", "--no-evidence")
    args.remove("--trust-code")
    assert cli.main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "runs that code" in error and "--trust-code" in error and "Traceback" not in error
    assert not (tmp_path / "out").exists()


def test_a_kd_trainer_checkpoint_serves_teacher_and_student(world, tmp_path, capsys) -> None:
    both = tmp_path / "kd_trainer.pth"
    torch.save({"student": _state("resnet8x4", 2), "teacher": _state("resnet32x4", 1)}, both)
    args = _args(world, "repdistiller", "cifar", tmp_path / "out", "--no-evidence")
    args[args.index("--teacher") + 1] = str(both)
    args[args.index("--student") + 1] = str(both)
    assert cli.main(args) == 0
    args[args.index("--base") + 1] = str(both)
    assert cli.main(args) == 2
    assert "holds several models (student, teacher)" in capsys.readouterr().err
