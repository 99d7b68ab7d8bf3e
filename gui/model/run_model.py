"""The open run as the window sees it, without Qt (napari's ``ViewerModel`` idea).

:class:`RunModel` applies the engine's events to its :class:`RunHistory`, keeps what the user
looks at (the shown epoch, the inspected image, the display options) and the job's state, and
announces every change through its :class:`RunEvents`. Panels subscribe to the events they
need and read the model; they never reach into each other or into the window.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.events import (
    CheckpointWritten,
    EpochSummary,
    JobFinished,
    LogLine,
    MetricsRow,
    ProbeFrame,
    Progress,
)
from gui.model.evented import Emitter
from gui.model.history import RunHistory
from gui.model.options import DisplayOptions

__all__ = ["RunEvents", "RunModel", "format_eta"]


class RunEvents:
    """The model's emitters; each comment says what its callbacks receive."""

    def __init__(self) -> None:
        self.cleared = Emitter()  # (): a new run starts or is opened; everything was emptied
        self.status = Emitter()  # (text): one line saying what the job does now
        self.progress = Emitter()  # (Progress, eta_seconds or None)
        self.curves = Emitter()  # (): losses or accuracies changed
        self.metrics = Emitter()  # (): FSS / RS rows changed
        self.log = Emitter()  # (message, level)
        self.epochs = Emitter()  # (list of epochs with something to show)
        self.epoch = Emitter()  # (epoch, frame or None): the shown epoch changed
        self.explained = Emitter()  # (name, frame): an opened image file was explained
        self.inspected = Emitter()  # (index or None): the probe image in the inspector
        self.options = Emitter()  # (DisplayOptions)
        self.busy = Emitter()  # (bool): a job runs
        self.paused = Emitter()  # (bool)
        self.finished = Emitter()  # (JobFinished or None when the job failed)
        self.failed = Emitter()  # (message, details)


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
        self.status = "Idle"
        self.last_error: str | None = None
        self.last_result: JobFinished | None = None
        self._pace: tuple[float, int] | None = None

    # -- the run ---------------------------------------------------------------------------
    @property
    def run_dir(self) -> str | None:
        return self.history.run_dir

    def start(self, run_dir: str | None) -> None:
        """Forget the previous run; ``run_dir`` is where the new one lives."""
        self.history.clear()
        self.history.run_dir = run_dir
        self.epoch, self.inspected, self._pace = None, None, None
        self.last_error = None
        self.events.cleared.emit()
        self.events.epochs.emit([])

    def apply(self, event: object) -> None:
        """Fold one engine event into the model (frames are only recorded: see show_frame)."""
        if isinstance(event, Progress):
            self._apply_progress(event)
        elif isinstance(event, EpochSummary):
            self.history.add_summary(event)
            held = "n/a" if event.heldout_accuracy is None else f"{event.heldout_accuracy:.1%}"
            self.log(
                f"{event.role} epoch {event.epoch}: loss {event.train_loss:.3f}, held-out accuracy {held}"
            )
            self.events.curves.emit()
        elif isinstance(event, MetricsRow):
            self.history.add_metrics_row(event)
            self.events.metrics.emit()
        elif isinstance(event, LogLine):
            self.log(event.message, event.level)
        elif isinstance(event, ProbeFrame):
            self.history.add_frame(event)
        elif isinstance(event, JobFinished):
            self.last_result = event
        elif not isinstance(event, CheckpointWritten):
            raise TypeError(f"the run model does not know the event {type(event).__name__}")

    def _apply_progress(self, event: Progress) -> None:
        what = event.stage if event.stage == event.role else f"{event.stage} {event.role}"
        text = f"{what} — epoch {event.epoch}, step {event.step}/{event.steps_per_epoch}"
        if event.loss is not None:
            text += f" — loss {event.loss:.3f}"
            x = event.epoch - 1 + event.step / max(event.steps_per_epoch, 1)
            self.history.add_step_loss(event.role, x, event.loss)
            self.events.curves.emit()
        self.events.progress.emit(event, self._eta(event))
        self.set_status(text)

    def _eta(self, event: Progress) -> float | None:
        """The engine's estimate, else one from the job's pace so far (display only)."""
        if event.eta_seconds is not None:
            return event.eta_seconds
        now = time.monotonic()
        if self._pace is None or event.done < self._pace[1]:
            self._pace = (now, event.done)
            return None
        started, done0 = self._pace
        moved = event.done - done0
        return None if moved <= 0 else (now - started) / moved * (event.total - event.done)

    def log(self, message: str, level: str = "info") -> None:
        self.events.log.emit(message, level)

    def set_status(self, text: str) -> None:
        self.status = text
        self.events.status.emit(text)

    # -- what is shown ---------------------------------------------------------------------
    def show_frame(self, frame: ProbeFrame) -> None:
        """A newly streamed frame may be drawn (the bridge calls this at most ~30 times a second):
        offer its epoch and move to it when following the live run."""
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

    def inspect(self, index: int | None) -> None:
        """Open probe image ``index`` of the shown frame in the inspector."""
        self.inspected = index
        self.events.inspected.emit(index)

    def add_explained(self, image_path: str, frame: ProbeFrame) -> None:
        self.history.add_explained(image_path, frame)
        self.inspected = None
        self.events.explained.emit(Path(image_path).name, frame)

    def set_options(self, options: DisplayOptions) -> None:
        if options != self.options:
            self.options = options
            self.events.options.emit(options)

    # -- the job ---------------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.events.busy.emit(busy)

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        self.events.paused.emit(paused)

    def fail(self, message: str, details: str = "") -> None:
        self.last_error = message
        self.log(message + (f"\n{details}" if details else ""), "error")
        self.events.failed.emit(message, details)

    def finish(self, result: JobFinished | None) -> None:
        self.last_result = result
        if result is not None:
            stopped = "Stopped — checkpoints up to the last complete epoch are kept."
            self.set_status(stopped if result.stopped else "Finished.")
            if result.out_dir and Path(result.out_dir).is_dir():
                self.history.run_dir = result.out_dir
        self.events.finished.emit(result)


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "ETA —"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}h {minutes:02d}m" if hours else f"ETA {minutes}m {secs:02d}s"
