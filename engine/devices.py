"""Where the models run: the device by name, autocast on a GPU, pinned host memory.

On CUDA the forward passes (Grad-CAM, UniCAM, the FSS/RS feature pass, ROAD) run under autocast
in bfloat16 where the GPU has it (Ampere and later; float32 elsewhere: float16 gradients of the
UniCAM objective can underflow to zero). The statistics never do: they run in float64, which
autocast leaves alone, on features and gradients the CAM and metrics code casts up first. On the
CPU nothing changes (autocast on 'cpu' is bfloat16-only and would move every CPU figure).
``KDLENS_AUTOCAST=0`` turns autocast off, to compare a GPU's figures with and without it; the
forward passes are then float32 as a CPU computes them (TF32 shortcuts off for their length), so
FSS/RS match the CPU's to float64 tolerance.

Host-to-GPU copies go through pinned (page-locked) memory and do not block the host.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

from engine.errors import KDLensError

__all__ = ["DeviceError", "autocast", "autocast_dtype", "clock", "describe", "resolve_device", "to_device"]

DEVICES = ("cpu", "cuda")


class DeviceError(KDLensError):
    """A device that is not there (cuda without a usable GPU) or not known."""


def resolve_device(name: str | None) -> torch.device:
    """``cpu`` or ``cuda`` by name; None: cuda when a GPU is usable, else cpu."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in DEVICES:
        raise DeviceError(f"Unknown device {name!r}; use cpu or cuda.")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda was asked for but no CUDA GPU is usable here; use --device cpu.")
    return torch.device(name)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The dtype forward passes on ``device`` autocast to, or None (no autocast: the CPU, a GPU
    without bfloat16, or ``KDLENS_AUTOCAST=0``)."""
    device = torch.device(device)
    if device.type != "cuda" or os.environ.get("KDLENS_AUTOCAST", "1").strip().lower() in ("0", "off", "no"):
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else None


@contextlib.contextmanager
def autocast(device: torch.device | str) -> Iterator[None]:
    """Autocast for forward passes on ``device`` (see the module's note); a no-op on the CPU."""
    dtype = autocast_dtype(device)
    if dtype is None:
        with _plain_float32(torch.device(device)):
            yield
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield


@contextlib.contextmanager
def _plain_float32(device: torch.device) -> Iterator[None]:
    """On a GPU: float32 matrix products and convolutions without TF32 (10-bit mantissas), for
    the length of the block; nothing on the CPU."""
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``tensor`` on ``device``; a CPU tensor bound for a GPU is copied from pinned memory
    without blocking the host."""
    device = torch.device(device)
    if device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def clock(device: torch.device | str) -> float:
    """Seconds on a monotonic clock once ``device`` has finished its queued work (a GPU runs
    asynchronously: without waiting, a stage's time would land on the next one)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def describe(device: torch.device | str) -> dict[str, str | None]:
    """What the manifest records: the device, the GPU's name, the autocast dtype."""
    device = torch.device(device)
    dtype = autocast_dtype(device)
    return {
        "device": device.type,
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "autocast": None if dtype is None else str(dtype).removeprefix("torch."),
    }
