"""Checkpoints and atomic writes: round trips, wrappers, unsafe pickles, mismatches, bad files."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from engine.atomic import FileWriteError, atomic_save, atomic_write_bytes, atomic_write_text
from engine.checkpoints import (
    CheckpointError,
    CheckpointMismatchError,
    ModelCard,
    UnsafeCheckpointError,
    load_checkpoint,
    save_checkpoint,
    sidecar_path,
)
from engine.errors import KDLensError
from engine.models import build_model


def _model(arch: str = "small_cnn", classes: int = 3, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch, classes)
    # Non-default BatchNorm statistics, so a lost buffer would change the outputs.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _same_outputs(first: nn.Module, second: nn.Module, size: int = 32) -> bool:
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return torch.equal(first.eval()(images), second.eval()(images))


CARD = ModelCard(
    "small_cnn", 3, ("circle", "square", "star"), 32, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2), {"role": "student"}
)


def test_round_trip_with_sidecar_needs_no_argument(tmp_path: Path) -> None:
    model = _model()
    path = save_checkpoint(model, tmp_path / "student.safetensors", CARD)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.json", "student.safetensors"]
    assert json.loads(sidecar_path(path).read_text())["arch"] == "small_cnn"
    loaded = load_checkpoint(path)
    assert loaded.card == CARD and loaded.path == path
    assert not loaded.model.training
    assert _same_outputs(model, loaded.model)
    assert not _same_outputs(_model(seed=1), loaded.model)


def test_card_in_safetensors_header_survives_a_lost_sidecar(tmp_path: Path) -> None:
    path = save_checkpoint(_model(), tmp_path / "student.safetensors", CARD)
    sidecar_path(path).unlink()
    assert load_checkpoint(path).card == CARD


def test_card_json_round_trip_and_validation() -> None:
    assert ModelCard.from_json(CARD.to_json()) == CARD
    with pytest.raises(CheckpointError, match="2 class names given for 3 classes"):
        ModelCard("small_cnn", 3, ("a", "b"))
    with pytest.raises(CheckpointError, match="not valid JSON"):
        ModelCard.from_json("{nope")
    with pytest.raises(CheckpointError, match="JSON-serialisable"):
        ModelCard("small_cnn", 3, extra={"x": object()}).to_json()


def _plain(state: dict) -> dict:
    return state


@pytest.mark.parametrize(
    "wrap",
    [
        _plain,
        lambda state: {"state_dict": state, "epoch": 3},
        lambda state: {"model": state, "optimizer": {"lr": 0.1}},
        lambda state: {f"module.{key}": value for key, value in state.items()},
        lambda state: {"state_dict": {f"module.{key}": value for key, value in state.items()}},
    ],
    ids=["plain", "state_dict", "model", "module-prefix", "state_dict+prefix"],
)
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_pytorch_state_dicts_in_wrappers_load(tmp_path: Path, wrap: Callable, legacy: bool) -> None:
    model = _model()
    path = tmp_path / "weights.pt"
    torch.save(wrap(model.state_dict()), path, _use_new_zipfile_serialization=not legacy)
    loaded = load_checkpoint(path, arch="small_cnn")
    assert loaded.card.num_classes == 3  # inferred from fc.weight
    assert loaded.card.input_size == 32 and loaded.card.class_names == ()
    assert _same_outputs(model, loaded.model)


def test_plain_safetensors_without_card_needs_arch(tmp_path: Path) -> None:
    model = _model("resnet18", classes=5)
    path = tmp_path / "teacher.safetensors"
    safetensors.torch.save_file(model.state_dict(), path)
    with pytest.raises(CheckpointError, match="pass arch \\(--arch\\)") as caught:
        load_checkpoint(path)
    assert "resnet18" in str(caught.value)
    loaded = load_checkpoint(path, arch="resnet18")
    assert loaded.card.num_classes == 5 and loaded.card.arch == "resnet18"
    assert _same_outputs(model, loaded.model, size=64)


def test_whole_module_pickle_is_refused_then_trusted(tmp_path: Path) -> None:
    model = _model()
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    with pytest.raises(UnsafeCheckpointError) as caught:
        load_checkpoint(path, arch="small_cnn")
    message = str(caught.value)
    assert "run code" in message and "StagedCNN" in message
    assert "torch.save(m.state_dict()" in message and "safetensors" in message and "trust=True" in message
    assert isinstance(caught.value, KDLensError)
    loaded = load_checkpoint(path, arch="small_cnn", trust=True)
    assert _same_outputs(model, loaded.model)


class _Custom:
    pass


def test_custom_class_in_a_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "custom.pt"
    torch.save({"state_dict": _model().state_dict(), "meta": _Custom()}, path)
    with pytest.raises(UnsafeCheckpointError, match="_Custom"):
        load_checkpoint(path, arch="small_cnn")
    assert load_checkpoint(path, arch="small_cnn", trust=True).card.num_classes == 3


def test_class_count_mismatch_comes_first(tmp_path: Path) -> None:
    path = tmp_path / "ten.pt"
    torch.save(_model("resnet18", classes=10).state_dict(), path)
    with pytest.raises(CheckpointMismatchError) as caught:
        load_checkpoint(path, arch="resnet18", num_classes=3)
    lines = str(caught.value).splitlines()
    assert "does not fit resnet18 with 3 classes" in lines[0]
    assert lines[1].strip() == "- checkpoint has 10 classes, model expects 3"
    assert "fc.weight: checkpoint (10, 512), model (3, 512)" in lines[2]
    assert caught.value.missing == [] and caught.value.unexpected == []


def test_missing_and_unexpected_keys_are_listed_and_truncated(tmp_path: Path) -> None:
    state = _model("resnet18", classes=3).state_dict()
    state["extra_head.weight"] = torch.zeros(2)
    path = tmp_path / "r18.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError) as caught:
        load_checkpoint(path, arch="resnet34")
    error = caught.value
    assert len(error.missing) == 80 and error.unexpected == ["extra_head.weight"]
    message = str(error)
    assert "80 missing keys" in message and "and 72 more" in message and "layer1.2.conv1.weight" in message
    assert "1 unexpected keys" in message and "extra_head.weight" in message
    assert "--arch" in message


def test_old_checkpoint_without_batchnorm_counters_loads(tmp_path: Path) -> None:
    model = _model()
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pt")
    assert _same_outputs(model, load_checkpoint(tmp_path / "old.pt", arch="small_cnn").model)


def test_bad_files_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere.pt", arch="small_cnn")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path, arch="small_cnn")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt", arch="small_cnn")
    (tmp_path / "notes.pt").write_bytes(b"just some text, not weights")
    with pytest.raises(CheckpointError, match="not a checkpoint KD Lens can read"):
        load_checkpoint(tmp_path / "notes.pt", arch="small_cnn")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "notensors.pt")
    with pytest.raises(CheckpointError, match="holds no tensors"):
        load_checkpoint(tmp_path / "notensors.pt", arch="small_cnn")


@pytest.mark.parametrize("kind", ["zip", "legacy", "safetensors"])
def test_truncated_files_are_reported_as_corrupt(tmp_path: Path, kind: str) -> None:
    state = _model().state_dict()
    path = tmp_path / f"model.{kind}"
    if kind == "safetensors":
        safetensors.torch.save_file(state, path)
    else:
        torch.save(state, path, _use_new_zipfile_serialization=kind == "zip")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 7, 20):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="corrupt|truncated") as caught:
            load_checkpoint(path, arch="small_cnn")
        assert not isinstance(caught.value, UnsafeCheckpointError)


def test_corrupt_sidecar_is_named(tmp_path: Path) -> None:
    path = save_checkpoint(_model(), tmp_path / "s.safetensors", CARD)
    sidecar_path(path).write_text("{broken")
    with pytest.raises(CheckpointError, match="sidecar .*s.json"):
        load_checkpoint(path)


def test_save_refuses_other_suffixes_and_wrong_cards(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=".safetensors"):
        save_checkpoint(_model(), tmp_path / "model.pt", CARD)
    with pytest.raises(CheckpointError, match="card says 4 classes, the model has 3"):
        save_checkpoint(_model(), tmp_path / "model.safetensors", ModelCard("small_cnn", 4))
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_replace_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "run.json"
    atomic_write_text(target, "first\n")
    atomic_write_text(target, "second\r\n")
    assert target.read_bytes() == b"second\r\n"
    atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in target.parent.iterdir()] == ["run.json"]


def test_failed_writer_leaves_no_half_written_file(tmp_path: Path) -> None:
    target = tmp_path / "teacher.safetensors"
    target.write_bytes(b"old complete checkpoint")

    def writer(temporary: Path) -> None:
        temporary.write_bytes(b"half of the new one")
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError, match="disk went away"):
        atomic_save(target, writer)
    assert target.read_bytes() == b"old complete checkpoint"
    with pytest.raises(RuntimeError):
        atomic_save(tmp_path / "new.safetensors", writer)
    assert [p.name for p in tmp_path.iterdir()] == ["teacher.safetensors"]


def test_os_errors_become_file_write_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FileWriteError, match="could not write") as caught:
        atomic_write_text(blocker / "inside.json", "{}")
    assert isinstance(caught.value, KDLensError)
