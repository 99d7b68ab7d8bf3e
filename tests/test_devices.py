"""engine.devices on the CPU (issue 12, item 7): the device by name with plain errors, autocast
that changes nothing on the CPU, pinned copies only towards a GPU, and what a manifest records.
The CUDA half is checked on a GPU machine by bench/gpu_check.py."""

from __future__ import annotations

import pytest
import torch

from engine import cli
from engine.devices import DeviceError, autocast, autocast_dtype, describe, resolve_device, to_device
from engine.errors import KDLensError


@pytest.fixture
def no_gpu(monkeypatch):
    """This machine as one without a usable GPU, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_devices_by_name(no_gpu):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) == resolve_device("auto") == torch.device("cpu")  # no GPU: the CPU


def test_cuda_without_a_gpu_is_a_plain_error(no_gpu):
    with pytest.raises(DeviceError) as caught:
        resolve_device("cuda")
    assert isinstance(caught.value, KDLensError)  # the CLI prints it on one line and exits 2
    assert "no CUDA GPU is usable here" in str(caught.value) and "--device cpu" in str(caught.value)


def test_an_unknown_device_names_the_choices():
    with pytest.raises(DeviceError, match=r"Unknown device 'tpu'; use cpu or cuda"):
        resolve_device("tpu")


@pytest.mark.parametrize("setting", ["1", "0"])
def test_autocast_is_a_no_op_on_the_cpu(monkeypatch, setting):
    monkeypatch.setenv("KDLENS_AUTOCAST", setting)
    assert autocast_dtype("cpu") is None and autocast_dtype(torch.device("cpu")) is None
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(8, 4), torch.randn(3, 8)
    expected = layer(x)
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        inside = layer(x)
    assert inside.dtype == torch.float32 and torch.equal(inside, expected)  # bit for bit


def test_autocast_turns_off_for_cuda_by_environment(monkeypatch):
    monkeypatch.setenv("KDLENS_AUTOCAST", "off")
    assert autocast_dtype("cuda") is None  # decided before any GPU is asked about


def test_to_device_and_describe_on_the_cpu():
    tensor = torch.arange(6.0)
    assert to_device(tensor, "cpu") is tensor  # nothing copied, nothing pinned
    assert not tensor.is_pinned()
    assert describe("cpu") == {"device": "cpu", "gpu": None, "autocast": None}


def test_analyze_with_cuda_on_a_machine_without_one_exits_2(no_gpu, tmp_path, capsys):
    out = tmp_path / "out"
    for role in "tsb":  # present, so the path checks (before any import) pass them
        (tmp_path / f"{role}.safetensors").write_bytes(b"")
    files = [str(tmp_path / f"{role}.safetensors") for role in "tsb"]
    argv = ["analyze", "--teacher", files[0], "--student", files[1], "--base", files[2],
            "--data", "shapes", "--out", str(out), "--device", "cuda"]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "no CUDA GPU is usable here" in err[-1] and "Traceback" not in "\n".join(err)
    assert not out.exists()
