"""The setup panel's choice lists, read from the engine's explicit registries in a child process.

Importing the registries imports torch (seconds); doing that on the GUI thread, or on any thread
of the GUI's interpreter, would freeze the window while it holds the GIL. A spawned process
reads them and the answer comes back as a queued Qt signal.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal


def read_choices() -> dict[str, Any]:
    """Architectures (with their default CAM layer and metric taps), every ``timm:<name>`` (their
    layers are read off the model when it is built; first a few small transformers for 32 px
    images, with timm's options after a ``?``), KD losses (with their hyper-parameters:
    default, range and meaning) and the devices this machine can use, as plain data. Runs
    wherever torch may be imported."""
    from dataclasses import asdict

    import torch

    from engine.losses import KD_LOSSES
    from engine.models import TIMM_EXAMPLES, get_spec, list_architectures, timm_architectures

    archs = {}
    for name in list_architectures():
        spec = get_spec(name)
        archs[name] = {"cam_layer": spec.cam_layer, "metric_taps": list(spec.metric_taps)}
    losses = {
        name: {
            "description": loss.description,
            "hyperparameters": {key: asdict(value) for key, value in loss.hyperparameters.items()},
        }
        for name, loss in KD_LOSSES.items()
    }
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    timm_names = [*TIMM_EXAMPLES, *timm_architectures()]
    return {"architectures": archs, "timm": timm_names, "losses": losses, "devices": devices}


class ChoicesLoader(QObject):
    """Reads :func:`read_choices` in a child process; ``loaded(dict)`` or ``failed(str)``."""

    loaded = Signal(object)
    failed = Signal(str)

    def start(self) -> None:
        executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        future = executor.submit(read_choices)
        future.add_done_callback(self._done)  # runs on the executor's thread: signals are queued
        executor.shutdown(wait=False)

    def _done(self, future: Future) -> None:
        try:
            self.loaded.emit(future.result())
        except Exception as exc:  # the lists keep their built-in defaults
            self.failed.emit(f"could not read the engine's architecture list: {exc}")
