"""Checkpoints as other projects save them: trainers' wrappers and prefixes, KD trainers holding a
student and a teacher, TorchScript archives (hookable, CAMs equal to the eager model's), and the
user's own model file behind a trust flag. No pickled code runs in any of them."""

from __future__ import annotations

import argparse
import copy
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.cam import grad_cam, unicam
from engine.checkpoints import (
    AmbiguousCheckpointError,
    CheckpointError,
    CheckpointMismatchError,
    UnsafeCheckpointError,
    UntrustedCodeError,
    load_checkpoint,
)
from engine.errors import KDLensError
from engine.models import ScriptedModel, build_model, get_layer, get_spec, layer_names


def _model(arch: str, seed: int, classes: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch, classes)
    with torch.no_grad():  # non-default BN statistics: a lost buffer changes the outputs
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.3, 0.3)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _outputs(model: nn.Module, size: int = 32) -> torch.Tensor:
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        return model.eval()(images)


def _prefixed(state: dict, prefix: str) -> dict:
    return {prefix + key: value for key, value in state.items()}


STUDENT = _model("resnet8x4", 1)
TEACHER = _model("resnet20", 2)


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd: {"model": sd, "epoch": 240, "best_acc": torch.tensor(72.5)}, id="repd"),
        pytest.param(
            lambda sd: {"state_dict": sd, "arch": "x", "args": argparse.Namespace(lr=0.1, model="x")},
            id="timm-train-with-argparse-namespace",
        ),
        pytest.param(lambda sd: {"net": sd, "acc": 0.9}, id="net"),
        pytest.param(lambda sd: {"model_state_dict": sd, "optimizer_state_dict": {}}, id="model_state_dict"),
        pytest.param(lambda sd: _prefixed(sd, "module."), id="dataparallel"),
        pytest.param(lambda sd: _prefixed(sd, "_orig_mod."), id="torch-compile"),
        pytest.param(lambda sd: {"model": _prefixed(sd, "module._orig_mod.")}, id="compiled-dataparallel"),
        pytest.param(
            lambda sd: {"state_dict": _prefixed(sd, "model."), "hyper_parameters": {"lr": 0.1}, "epoch": 3},
            id="lightning",
        ),
    ],
)
def test_wrapped_and_prefixed_state_dicts_load_unchanged(tmp_path: Path, wrap) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(STUDENT.state_dict()), path)
    loaded = load_checkpoint(path, arch="resnet8x4")
    assert loaded.card.num_classes == 4 and loaded.card.arch == "resnet8x4"
    assert torch.equal(_outputs(loaded.model), _outputs(STUDENT))
    assert loaded.spec == get_spec("resnet8x4")


def test_other_pickled_objects_are_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"model": STUDENT.state_dict(), "meta": nn.ReLU()}, path)
    with pytest.raises(UnsafeCheckpointError, match="run code"):
        load_checkpoint(path, arch="resnet8x4")


def test_kd_trainer_checkpoints_pick_the_role_or_the_key(tmp_path: Path) -> None:
    both = tmp_path / "kd.pth"
    torch.save({"student": STUDENT.state_dict(), "teacher": TEACHER.state_dict(), "epoch": 1}, both)
    student = load_checkpoint(both, arch="resnet8x4", role="student")
    teacher = load_checkpoint(both, arch="resnet20", role="teacher")
    assert torch.equal(_outputs(student.model), _outputs(STUDENT))
    assert torch.equal(_outputs(teacher.model), _outputs(TEACHER))
    by_key = load_checkpoint(both, arch="resnet8x4", key="student")
    assert torch.equal(_outputs(by_key.model), _outputs(STUDENT))

    with pytest.raises(AmbiguousCheckpointError) as caught:
        load_checkpoint(both, arch="resnet8x4", role="base")
    assert caught.value.choices == ["student", "teacher"]
    assert "student, teacher" in str(caught.value) and "--key-base" in str(caught.value)

    # mdistiller / Lightning: one state dict whose names start with student. / teacher.
    flat = tmp_path / "distiller.pth"
    state = _prefixed(STUDENT.state_dict(), "module.student.")
    state.update(_prefixed(TEACHER.state_dict(), "module.teacher."))
    state["module.conv_reg.weight"] = torch.zeros(3)  # a distiller's own extra layer
    torch.save({"model": state}, flat)
    teacher = load_checkpoint(flat, arch="resnet20", role="teacher")
    assert torch.equal(_outputs(teacher.model), _outputs(TEACHER))
    with pytest.raises(AmbiguousCheckpointError):
        load_checkpoint(flat, arch="resnet8x4")
    lightning = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": _prefixed(STUDENT.state_dict(), "student."), "epoch": 2}, lightning)
    loaded = load_checkpoint(lightning, arch="resnet8x4", key="state_dict.student")
    assert torch.equal(_outputs(loaded.model), _outputs(STUDENT))
    with pytest.raises(CheckpointError, match="no model under 'teacher'.*student"):
        load_checkpoint(lightning, arch="resnet8x4", key="teacher")


def test_a_checkpoint_of_the_wrong_zoo_model_names_the_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "wrn.pth"
    torch.save({"model": _model("wrn_16_2", 0).state_dict()}, path)
    with pytest.raises(CheckpointMismatchError, match="does not fit wrn_40_2") as caught:
        load_checkpoint(path, arch="wrn_40_2")
    assert "block1.layer.2.conv1.weight" in caught.value.missing


def _torchscript(model: nn.Module, path: Path, trace: bool) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        archive = torch.jit.trace(model, torch.rand(1, 3, 32, 32)) if trace else torch.jit.script(model)
        torch.jit.save(archive, path)
    return path


@pytest.mark.parametrize("trace", [False, True], ids=["scripted", "traced"])
def test_torchscript_loads_without_an_architecture_and_cams_match_eager(tmp_path: Path, trace: bool) -> None:
    eager = _model("resnet20", 3)
    path = _torchscript(eager, tmp_path / "teacher.pt", trace)
    loaded = load_checkpoint(path)
    model = loaded.model
    assert isinstance(model, ScriptedModel) and not model.training
    assert loaded.card.arch == f"torchscript:{path.resolve()}" and loaded.card.num_classes == 4
    spec = get_spec(loaded.card.arch)
    assert spec == loaded.spec and spec.input_size == 32
    assert (spec.cam_layer, spec.feature_cut) == ("layer3", "fc")
    assert spec.metric_taps == ("layer1", "layer2", "layer3")
    assert {"layer3.2", "layer3.2.conv1", "fc"} <= set(layer_names(model))
    assert not any(name.startswith("_script") for name in layer_names(model))
    assert torch.allclose(_outputs(model), _outputs(eager), atol=1e-5)

    images = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    for layer in ("layer3", "layer2.0.conv2"):  # a stage; a leaf inside a block inside a stage
        ours, theirs = grad_cam(model, layer, images), grad_cam(eager, layer, images)
        np.testing.assert_allclose(ours.maps, theirs.maps, atol=1e-4)
        np.testing.assert_allclose(ours.raw, theirs.raw, rtol=1e-4, atol=1e-6)
    other = _model("resnet20", 4)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    ours = unicam(model, other, "layer3", images, labels)
    theirs = unicam(eager, other, "layer3", images, labels)
    np.testing.assert_allclose(ours.maps, theirs.maps, atol=1e-4)
    assert np.isclose(ours.objective, theirs.objective, atol=1e-5)
    assert all(not layer._forward_hooks for layer in model.modules())  # every hook released


def test_torchscript_copies_and_randomisation_behave_like_eager(tmp_path: Path) -> None:
    model = load_checkpoint(_torchscript(_model("resnet20", 3), tmp_path / "m.pt", False)).model
    model.get_submodule("layer3").register_forward_hook(lambda *_: None)
    clone = copy.deepcopy(model)
    assert all(p.is_leaf and p.requires_grad for p in clone.parameters())
    assert len(clone.get_submodule("layer3")._forward_hooks) == 1
    assert torch.equal(_outputs(clone), _outputs(model))
    for layer in get_layer(clone, "fc").modules():  # re-initialise as torch's reset_parameters would
        layer.reset_parameters()
    assert not torch.equal(_outputs(clone), _outputs(model))
    bn = get_layer(clone, "layer3.2.bn1")
    bn.reset_parameters()
    assert torch.equal(getattr(clone._script.layer3, "2").bn1.running_var, torch.ones(64))


def test_torchscript_class_count_is_checked(tmp_path: Path) -> None:
    path = _torchscript(_model("small_cnn", 0), tmp_path / "m.pt", True)
    with pytest.raises(CheckpointError, match="4 classes, not 10"):
        load_checkpoint(path, num_classes=10)


MODEL_FILE = """
from pathlib import Path
import torch
from torch import nn

Path(__file__).with_suffix(".ran").write_text("the file ran")


class Net(nn.Module):
    def __init__(self, width, num_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def build(arch, num_classes):
    if arch == "broken":
        raise ValueError("no such net")
    return Net({"wide": 16, "thin": 4}[arch], num_classes)


def layers(arch):
    return {"cam_layer": "body.2"} if arch == "thin" else {}
"""


def test_model_file_runs_only_when_trusted(tmp_path: Path) -> None:
    file = tmp_path / "my_models.py"
    file.write_text(MODEL_FILE)
    weights = tmp_path / "wide.pt"
    torch.manual_seed(0)
    reference = _load_module(file).build("wide", 5).eval()
    torch.save(reference.state_dict(), weights)
    (tmp_path / "my_models.ran").unlink()

    with pytest.raises(UntrustedCodeError) as caught:
        load_checkpoint(weights, arch="wide", model_file=file)
    assert "--trust-code" in str(caught.value) and isinstance(caught.value, KDLensError)
    assert not (tmp_path / "my_models.ran").exists()  # refused before any of its code ran

    loaded = load_checkpoint(weights, arch="wide", model_file=file, trust_code=True)
    assert (tmp_path / "my_models.ran").exists()
    assert loaded.card.num_classes == 5 and loaded.card.arch == "wide"
    assert torch.equal(_outputs(loaded.model), _outputs(reference))
    spec = get_spec("wide")
    assert (spec.cam_layer, spec.feature_cut) == ("body", "head")
    torch.save({"model": _prefixed(reference.state_dict(), "module.")}, weights)
    thin = tmp_path / "thin.pt"
    torch.save(_load_module(file).build("thin", 5).state_dict(), thin)
    thin_card = load_checkpoint(thin, arch="thin", model_file=file, trust_code=True).card
    assert get_spec(thin_card.arch).cam_layer == "body.2"  # from the file's layers("thin")

    with pytest.raises(CheckpointError, match=r"build\('broken', 5\).*no such net"):
        load_checkpoint(weights, arch="broken", num_classes=5, model_file=file, trust_code=True)
    with pytest.raises(CheckpointMismatchError, match="does not fit thin"):
        load_checkpoint(weights, arch="thin", num_classes=5, model_file=file, trust_code=True)
    # names KD Lens knows are built by KD Lens, whatever the model file says
    known = load_checkpoint(_save(tmp_path, STUDENT), arch="resnet8x4", model_file=file)
    assert known.card.arch == "resnet8x4"


def test_model_file_errors_are_clear(tmp_path: Path) -> None:
    weights = _save(tmp_path, STUDENT)
    empty = tmp_path / "empty_models.py"
    empty.write_text("x = 1\n")
    with pytest.raises(CheckpointError, match=r"defines no build\(arch, num_classes\)"):
        load_checkpoint(weights, arch="mine", model_file=empty, trust_code=True)
    crashing = tmp_path / "crashing_models.py"
    crashing.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(CheckpointError, match="running the model file .* failed: RuntimeError: boom"):
        load_checkpoint(weights, arch="mine", model_file=crashing, trust_code=True)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(weights, arch="mine", model_file=tmp_path / "nowhere.py", trust_code=True)
    with pytest.raises(KDLensError, match=r"unknown architecture 'mine'.*--model-file"):
        load_checkpoint(weights, arch="mine")


def _save(folder: Path, model: nn.Module) -> Path:
    path = folder / "weights.pth"
    torch.save({"model": model.state_dict()}, path)
    return path


def _load_module(file: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"reference_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
