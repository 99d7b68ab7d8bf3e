"""Everything a run has streamed so far, by epoch, so the epoch slider can show any past epoch.

Plain Python (no Qt): the main window feeds it events from the bridge and the panels read it.
The same store serves a live run and the replay of a finished one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from engine.events import EpochSummary, Evidence, MetricsRow, ProbeFrame
from engine.runs.compare import epoch_curve

TEACHER_PHASE = "teacher"  # a frame's flags["phase"] while only the teacher trains


def is_teacher_phase(frame: ProbeFrame) -> bool:
    """A frame streamed while the teacher trains: it holds only the teacher's Grad-CAM and is
    kept apart from the base/student epochs the slider steps through."""
    return frame.flags.get("phase") == TEACHER_PHASE


@dataclass
class RoleCurves:
    """Per-role training curves (x in fractional epochs): the loss inside each epoch as its steps
    streamed it or as the run folder stored it, and the epoch-end figures."""

    steps: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)  # epoch -> (x, loss)
    epoch_x: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    heldout_accuracy: list[float] = field(default_factory=list)

    def loss_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, loss): each epoch's step losses where known, else its end-of-epoch loss, so a run
        resumed or replayed from an older folder keeps every epoch it has."""
        ends = dict(zip((int(x) for x in self.epoch_x), self.epoch_loss, strict=True))
        xs: list[float] = []
        ys: list[float] = []
        for epoch in sorted(set(self.steps) | set(ends)):
            x, y = self.steps.get(epoch, ([float(epoch)], [ends.get(epoch, float("nan"))]))
            xs.extend(x)
            ys.extend(y)
        return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


class RunHistory:
    """Frames, metrics rows and epoch summaries of one run, indexed for the panels."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.run_dir: str | None = None
        self.frames: dict[int, ProbeFrame] = {}
        self.teacher_frames: dict[int, ProbeFrame] = {}  # teacher-phase frames by teacher epoch
        self.explained: list[tuple[str, ProbeFrame]] = []  # (image path, frame) opened by the user
        self.summaries: list[EpochSummary] = []
        self.curves: dict[str, RoleCurves] = defaultdict(RoleCurves)
        # (metric, layer) -> epoch -> row; a later row for the same epoch replaces the earlier one
        self.metrics: dict[tuple[str, str], dict[int, MetricsRow]] = defaultdict(dict)
        self.evidence: dict[int, dict[str, Evidence]] = defaultdict(dict)  # epoch -> kind -> table

    # -- feeding ---------------------------------------------------------------------------
    def add_frame(self, frame: ProbeFrame) -> None:
        (self.teacher_frames if is_teacher_phase(frame) else self.frames)[frame.epoch] = frame

    def add_explained(self, image_path: str, frame: ProbeFrame) -> None:
        self.explained.append((image_path, frame))

    def add_evidence(self, table: Evidence) -> None:
        self.evidence[table.epoch][table.kind] = table

    def evidence_at(self, epoch: int | None) -> dict[str, Evidence]:
        """The evidence tables of the latest epoch at or before ``epoch`` (None: the latest)."""
        epochs = [e for e in self.evidence if epoch is None or e <= epoch]
        return dict(self.evidence[max(epochs)]) if epochs else {}

    def add_metrics_row(self, row: MetricsRow) -> None:
        self.metrics[(row.metric, row.layer)][row.epoch] = row

    def add_summary(self, summary: EpochSummary) -> None:
        self.summaries.append(summary)
        curves = self.curves[summary.role]
        if summary.step_losses:  # every stored step, where the live stream sent only some
            curves.steps[summary.epoch] = epoch_curve(summary)
        curves.epoch_x.append(float(summary.epoch))
        curves.epoch_loss.append(summary.train_loss)
        curves.train_accuracy.append(summary.train_accuracy)
        held = summary.heldout_accuracy
        curves.heldout_accuracy.append(float("nan") if held is None else held)

    def add_step_loss(self, role: str, x: float, loss: float) -> None:
        """A live step's loss at ``x`` = epoch - 1 + step / steps per epoch."""
        x_values, losses = self.curves[role].steps.setdefault(max(1, math.ceil(x - 1e-9)), ([], []))
        x_values.append(x)
        losses.append(loss)

    # -- reading ---------------------------------------------------------------------------
    def epochs(self) -> list[int]:
        """Every epoch that has something to show (frames or metrics), sorted."""
        found = set(self.frames)
        for by_epoch in self.metrics.values():
            found.update(by_epoch)
        return sorted(found)

    def frame_at(self, epoch: int) -> ProbeFrame | None:
        """The frame of this epoch, or the latest one before it (maps may be sparser than metrics)."""
        if epoch in self.frames:
            return self.frames[epoch]
        earlier = [e for e in self.frames if e <= epoch]
        return self.frames[max(earlier)] if earlier else None

    def layers(self) -> list[str]:
        seen: dict[str, None] = {}
        for _, layer in self.metrics:
            seen.setdefault(layer, None)
        return list(seen)

    def metric_names(self) -> list[str]:
        seen: dict[str, None] = {}
        for metric, _ in self.metrics:
            seen.setdefault(metric, None)
        return list(seen)

    def metric_series(self, metric: str, layer: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, mean, low, high) of one metric at one layer, sorted by epoch."""
        by_epoch = self.metrics.get((metric, layer), {})
        epochs = sorted(by_epoch)
        rows = [by_epoch[e] for e in epochs]
        as_array = np.asarray
        return (
            as_array(epochs, dtype=np.float64),
            as_array([r.mean for r in rows], dtype=np.float64),
            as_array([r.low for r in rows], dtype=np.float64),
            as_array([r.high for r in rows], dtype=np.float64),
        )

    def metrics_rows(self) -> list[MetricsRow]:
        rows = [row for by_epoch in self.metrics.values() for row in by_epoch.values()]
        return sorted(rows, key=lambda r: (r.epoch, r.layer, r.metric))
