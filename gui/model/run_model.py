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

from pathlib import Path

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
from gui.model.history import is_teacher_phase
from gui.model.options import DisplayOptions
from gui.model.run_view import RunView
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


class RunModel(RunView):
    """Run history, view state (:class:`RunView`) and job state of the window, with events for
    every change."""

    def __init__(self, options: DisplayOptions | None = None) -> None:
        super().__init__(options)
        self.busy = False
        self.paused = False
        self.job: str | None = None
        self.explaining: str | None = None  # the file name being explained
        self.committed_epoch: int | None = None  # latest epoch whose base and student are on disk
        self.training_role: str | None = None  # the role whose steps the job reported last
        self.status = "Idle"
        self.last_error: str | None = None
        self.last_result: JobFinished | None = None
        self._pending: tuple[str | None] | None = None  # (run folder,) of the job not adopted yet
        self._committed: dict[str, int] = {}
        self._progress: str | None = None
        self._logged: set[str] = set()  # the warnings the job logged (a notice is logged once)

    # -- the run ---------------------------------------------------------------------------
    def start(self, run_dir: str | None) -> None:
        """Forget the previous run; ``run_dir`` is where the new one lives."""
        self.committed_epoch, self._committed, self._logged = None, {}, set()
        self.last_error = None
        super().start(run_dir)
        self._explainable_changed()

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
            if event.level == "warning":
                self._logged.add(event.message)
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
            self._finished_notices([str(n) for n in event.summary.get("notices") or []])

    def _finished_notices(self, notices: list[str]) -> None:
        """The run's notices on screen, and in the log once (training logged them already)."""
        for notice in notices:
            if notice not in self._logged:
                self.log(notice, "warning")
        self.set_notices(notices)

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
