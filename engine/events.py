"""Events that engine jobs yield, and the stop token they check between steps (STYLE.md).

A job (train, analyse, explain one image) is a plain generator of these small immutable events.
They carry numpy arrays and plain Python values, never tensors, so the CLI, a test's ``for``
loop and the GUI's worker thread can all consume them the same way.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Progress:
    """A training or analysis step finished. ``eta_seconds`` is for the whole job and
    ``phase_eta_seconds`` for the current phase (e.g. the teacher's); None: not known yet."""

    role: str
    epoch: int
    step: int
    steps_per_epoch: int
    done: int
    total: int
    loss: float | None = None
    accuracy: float | None = None
    eta_seconds: float | None = None
    stage: str = "train"
    phase_eta_seconds: float | None = None


@dataclass(frozen=True)
class EpochSummary:
    """One role finished one epoch (accuracies in [0, 1]; held-out is on the clean test split).

    ``step_losses``: the loss curve inside the epoch as ``(step, mean loss of the epoch so far)``
    pairs, as its Progress events reported it (at most a few hundred steps, evenly spread, the
    last one included), so the curve survives a resume and a replay; () in run folders written
    before it was stored."""

    role: str
    epoch: int
    train_loss: float
    train_accuracy: float
    heldout_accuracy: float | None
    seconds: float = 0.0
    step_losses: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:  # JSON gives lists; a summary equals its round trip
        pairs = tuple((int(step), float(loss)) for step, loss in self.step_losses)
        object.__setattr__(self, "step_losses", pairs)


@dataclass(frozen=True)
class ProbeFrame:
    """Maps of the fixed probe set at one epoch.

    ``images``: (n, H, W, 3) uint8 as shown. ``maps``: name -> (n, H, W) float32 in [0, 1]
    (names: ``gradcam_teacher``, ``gradcam_student``, ``gradcam_base``, ``distilled``,
    ``residual``, ...). ``signed``: name -> (n, h, w) float32 before ReLU, at layer resolution.
    ``raw``: name -> (n, H, W) float32 unnormalised, for a shared absolute scale.
    ``predictions``: role -> (n, k) float32 class probabilities. ``masks``: (n, H, W) bool or None.
    """

    epoch: int
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    maps: dict[str, np.ndarray]
    signed: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    masks: np.ndarray | None = None
    indices: np.ndarray | None = None
    flags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsRow:
    """One metric at one layer tap and epoch, with its 5-95 % band over subsamples.

    ``metric``: e.g. ``FSS(S,T)``, ``RS(S)``, ``RS(S|B)``. Values are NaN when undefined.
    """

    epoch: int
    layer: str
    metric: str
    mean: float
    low: float
    high: float
    samples: int = 0


@dataclass(frozen=True)
class Evidence:
    """One table of evidence at an epoch (SPEC §10): ``kind`` is "localisation", "faithfulness"
    or "sanity"; ``summary`` holds intervals and verdicts as plain JSON values; ``rows`` the
    table's rows (dicts of plain values), as the report's CSV files hold them."""

    epoch: int
    kind: str
    summary: dict[str, Any]
    rows: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class CheckpointWritten:
    role: str
    epoch: int
    path: str


@dataclass(frozen=True)
class LogLine:
    message: str
    level: str = "info"


@dataclass(frozen=True)
class JobFinished:
    """The last event of a job that ran to its end (or stopped cleanly when ``stopped``)."""

    summary: dict[str, Any]
    stopped: bool = False
    out_dir: str | None = None


Event = (
    Progress | EpochSummary | ProbeFrame | MetricsRow | Evidence | CheckpointWritten | LogLine | JobFinished
)


class JobStopped(Exception):
    """Raised inside a job by :meth:`StopToken.check` when a stop was asked for."""


class StopToken:
    """Thread-safe stop and pause flags that a job checks between steps."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused job must wake up to see the stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self) -> None:
        """Block while paused; raise :class:`JobStopped` once a stop was asked for."""
        self._running.wait()
        if self._stop.is_set():
            raise JobStopped()
