"""The open run as the window sees it, without Qt (napari's ``ViewerModel`` idea).

:class:`RunModel` applies the engine's events to its :class:`RunHistory`, keeps what the user
looks at (the shown epoch, the inspected image, the display options) and the job's state, and
announces every change through its :class:`~gui.model.run_events.RunEvents`. What it says about
the job in words comes from :mod:`gui.model.status`. Panels subscribe to the events they
need and read the model; they never reach into each other or into the window.

The job state is honest: what runs (training, opening a run, explaining an image), whether it
is paused, and what happened when it ended. Opening a run or starting one replaces the open run
(or report, or study) only once the new job's first event arrives, so a folder that fails to
open, or a Start the engine refuses, leaves what was open intact. A study on screen goes when a
run that is not one of its seeds replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.events import (
    CheckpointWritten,
    EpochSummary,
    Evidence,
    JobFinished,
    LogLine,
    MetricsRow,
    ProbeFrame,
    Progress,
)
from engine.vocab import KD_ROLES
from gui.model.history import RunHistory, is_teacher_phase
from gui.model.options import DisplayOptions
from gui.model.run_events import RunEvents
from gui.model.status import (
    REPLAY,
    TRAIN,
    eta_text,
    explained_text,
    finished_text,
    paused_text,
    progress_text,
    run_name,
    summary_text,
)
from gui.model.wording import for_window

__all__ = ["RunModel"]

NO_RUN = "Open a run folder or train the demo first: an image is explained with a run's models."


class RunModel:
    """Run history, view state and job state of the window, with events for every change."""

    def __init__(self, options: DisplayOptions | None = None) -> None:
        self.events = RunEvents()
        self.history = RunHistory()
        self.options = options or DisplayOptions()
        self.epoch: int | None = None
        self.following = True
        self.inspected: int | None = None
        self.busy = False
        self.paused = False
        self.job: str | None = None
        self.explaining: str | None = None  # the file name being explained
        self.committed_epoch: int | None = None  # latest epoch whose base and student are on disk
        self.preview_frame: ProbeFrame | None = None
        self.training_role: str | None = None  # the role whose steps the job reported last
        self.status = "Idle"
        self.last_error: str | None = None
        self.last_result: JobFinished | None = None
        self._pending: tuple[str | None] | None = None  # (run folder,) of the job not adopted yet
        self.study: str | None = None  # the study folder on screen
        self._committed: dict[str, int] = {}
        self._progress: str | None = None
        self._config: dict[str, Any] | None = None

    # -- the run ---------------------------------------------------------------------------
    @property
    def run_dir(self) -> str | None:
        return self.history.run_dir

    def start(self, run_dir: str | None) -> None:
        """Forget the previous run; ``run_dir`` is where the new one lives."""
        if self.study is not None and (run_dir is None or Path(run_dir).parent != Path(self.study)):
            self.study = None
            self.events.study.emit(None, None)
        self.history.clear()
        self.history.run_dir = run_dir
        self.epoch, self.inspected, self.preview_frame = None, None, None
        self.committed_epoch, self._committed, self._config = None, {}, None
        self.last_error = None
        self.events.cleared.emit()
        self.events.epochs.emit([])
        self.events.run.emit(run_dir)
        self._explainable_changed()

    def run_config(self) -> dict[str, Any] | None:
        """The open run's ``config.json`` as plain data (None until it is on disk)."""
        if self._config is None and self.run_dir is not None:
            try:
                loaded = json.loads((Path(self.run_dir) / "config.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            self._config = loaded if isinstance(loaded, dict) else None
        return self._config

    def begin_job(self, kind: str, run_dir: str | None) -> None:
        """A job starts on the main bridge; it replaces the open run with its first event (a
        training run's first event comes once the engine has accepted its configuration)."""
        self.job = kind
        self._progress, self.training_role = None, None
        self._pending = (run_dir,)
        starting = "Starting: preparing the data and the models…"
        self.set_status(f"Opening {run_name(run_dir)}…" if kind == REPLAY else starting)
        self.events.job.emit(kind)
        self._explainable_changed()

    def _adopt_pending(self) -> None:
        if self._pending is not None:
            (run_dir,), self._pending = self._pending, None
            self.start(run_dir)

    def apply(self, event: object) -> None:
        """Fold one engine event into the model (frames are only recorded: see show_frame)."""
        self._adopt_pending()
        if isinstance(event, Progress):
            self._apply_progress(event)
        elif isinstance(event, EpochSummary):
            self.history.add_summary(event)
            self.log(summary_text(event))
            self.events.curves.emit()
        elif isinstance(event, MetricsRow):
            self.history.add_metrics_row(event)
            self.events.metrics.emit()
        elif isinstance(event, LogLine):
            self.log(event.message, event.level)
        elif isinstance(event, ProbeFrame):
            self.history.add_frame(event)
            if not is_teacher_phase(event):
                self._commit(event.epoch)
        elif isinstance(event, CheckpointWritten):
            if event.role in KD_ROLES:
                self._committed[event.role] = event.epoch
                if set(self._committed) >= set(KD_ROLES):
                    self._commit(min(self._committed.values()))
        elif isinstance(event, Evidence):
            self.history.add_evidence(event)
            self.events.evidence.emit(event)
        elif isinstance(event, JobFinished):
            self.last_result = event

    def _commit(self, epoch: int) -> None:
        if self.committed_epoch is None or epoch > self.committed_epoch:
            self.committed_epoch = epoch
            self._explainable_changed()

    def _apply_progress(self, event: Progress) -> None:
        text = progress_text(event, self.run_config())
        if event.stage == "train":
            self.training_role = event.role
        if event.loss is not None and event.stage == "train":
            x = event.epoch - 1 + event.step / max(event.steps_per_epoch, 1)
            self.history.add_step_loss(event.role, x, event.loss)
            self.events.curves.emit()
        self._progress = text
        self.events.progress.emit(event, eta_text(event))
        if not self.paused:
            self.set_status(text)

    def log(self, message: str, level: str = "info") -> None:
        self.events.log.emit(for_window(message), level)

    def set_status(self, text: str) -> None:
        if text != self.status:
            self.status = text
            self.events.status.emit(text)

    # -- what is shown ---------------------------------------------------------------------
    def show_frame(self, frame: ProbeFrame) -> None:
        """A newly streamed frame may be drawn (the bridge calls this at most ~30 times a second):
        offer its epoch and move to it when following the live run. A teacher-phase frame (only
        the teacher's Grad-CAM) is a preview until the first frame of the base and student."""
        if is_teacher_phase(frame):
            if not self.history.frames:
                self.preview_frame = frame
                self.events.preview.emit(frame)
            return
        self.events.epochs.emit(self.history.epochs())
        if self.following or self.epoch is None:
            self.select_epoch(frame.epoch)

    def select_epoch(self, epoch: int) -> None:
        """Show ``epoch`` (or the nearest epoch with data) in every panel."""
        epochs = self.history.epochs()
        if not epochs:
            return
        self.epoch = min(epochs, key=lambda e: abs(e - epoch))
        self.events.epoch.emit(self.epoch, self.frame())

    def set_following(self, following: bool) -> None:
        self.following = following

    def frame(self) -> ProbeFrame | None:
        """The frame of the shown epoch (or the latest one before it)."""
        return None if self.epoch is None else self.history.frame_at(self.epoch)

    def shown_frame(self) -> ProbeFrame | None:
        """What the heatmap grid draws (and an export writes): the shown epoch's frame, else the
        teacher-phase preview, else None."""
        frame = self.frame()
        return frame if frame is not None else self.preview_frame

    def inspect(self, index: int | None) -> None:
        """Open probe image ``index`` of the shown frame in the inspector."""
        self.inspected = index
        self.events.inspected.emit(index)

    def add_explained(self, image_path: str, frame: ProbeFrame) -> None:
        self.history.add_explained(image_path, frame)
        self.inspected = None
        self.events.explained.emit(Path(image_path).name, frame)

    def request_open(self, run_dir: str) -> None:
        """Ask whoever runs jobs to open ``run_dir`` (e.g. one seed's run of a study)."""
        self.events.open_requested.emit(run_dir)

    def show_study(self, folder: str, document: dict[str, Any]) -> None:
        """A study (several seeds) replaces the open run on screen; its seeds open below it."""
        self.start(None)
        self.study = folder
        self.events.study.emit(folder, document)

    def set_options(self, options: DisplayOptions) -> None:
        if options != self.options:
            self.options = options
            self.events.options.emit(options)

    # -- explaining an image file ----------------------------------------------------------
    def explain_block_reason(self) -> str | None:
        """None when an image file can be explained now, else why not (for a tooltip)."""
        if self.run_dir is None:
            return NO_RUN
        if self.explaining is not None:
            return f"{self.explaining} is being explained; wait for it to finish."
        if self.job == REPLAY:
            return "Wait until the run has opened."
        if self.job == TRAIN and self.committed_epoch is None:
            return (
                "An image can be explained once the base and the student have finished their first "
                "epoch (the teacher trains first)."
            )
        return None

    def explain_epoch(self) -> int | None:
        """The epoch whose models explain an opened image: the shown one when the user went back,
        the last committed one while training runs, else None (the latest weights)."""
        if not self.following and self.epoch is not None:
            return self.epoch
        return self.committed_epoch if self.job == TRAIN else None

    def request_explain(self, image_path: str, target: int | None = None, label: int | None = None) -> None:
        """Ask whoever runs jobs to explain ``image_path`` (for class ``target``, with the user's
        ``label``; None: each model's prediction / no label)."""
        self.events.explain_requested.emit(image_path, target, label)

    def begin_explain(self, name: str) -> None:
        self.explaining = name
        if self.job is None:
            self.set_status(f"Explaining {name}…")
        self._explainable_changed()

    def end_explain(self, ok: bool, epoch: int | None = None) -> None:
        name, self.explaining = self.explaining, None
        if self.job is None and name is not None:
            self.set_status(explained_text(name, ok, epoch, self.last_error))
        self._explainable_changed()

    def _explainable_changed(self) -> None:
        self.events.explainable.emit(self.explain_block_reason())

    # -- the job ---------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.events.busy.emit(busy)

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self.set_status(paused_text(self._progress))
        elif self.job is not None:
            self.set_status(self._progress or "Resuming…")
        self.events.paused.emit(paused)

    def fail(self, message: str, details: str = "") -> None:
        message = for_window(message)
        self.last_error = message
        self.log(message + (f"\n{details}" if details else ""), "error")
        self.events.failed.emit(message, details)

    def finish(self, result: JobFinished | None) -> None:
        """The main job ended: ``result`` is None when it failed."""
        kind, pending = self.job, self._pending
        self.job, self.training_role = None, None
        self.last_result = result
        if result is None:
            self._pending = None  # what was open stays open
            self.set_status(finished_text(kind, None, pending and pending[0], [], self.last_error))
        else:
            self._adopt_pending()  # a run with nothing stored yet still opens
            if result.out_dir and Path(result.out_dir).is_dir() and result.out_dir != self.run_dir:
                self.history.run_dir = result.out_dir
                self.events.run.emit(result.out_dir)
            self.set_status(finished_text(kind, result, self.run_dir, self.history.epochs(), None))
        self.events.job.emit(None)
        self._explainable_changed()
        self.events.finished.emit(result)
