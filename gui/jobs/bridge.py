"""The one module that owns the worker thread (STYLE.md "One bridge").

An engine job is a generator of events that checks a :class:`StopToken`. The bridge runs one job
at a time on a ``QThread`` through the engine's one job driver (:func:`engine.jobs.driver.drive`,
which also decides what a failure means), turns its events into Qt signals, rate-limits what
crosses threads (each role's progress only when it moved, at most ~20/s; a held-back one is sent
before the next other event, so a role's last step is never lost) and coalesces heatmap frames:
every frame is recorded (``frame_recorded``) but only the latest is pushed for drawing
(``frame_ready``) by a ~30 Hz timer. Cancel and quit go through the stop token, so a training
job stops after its current step and keeps its checkpoints; ``shutdown`` waits for the thread.
A job that ends by itself without a ``JobFinished`` (an explanation) is reported as finished;
``job_done`` carries None only for a failed job.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from engine.events import JobFinished, ProbeFrame, Progress, StopToken
from engine.jobs.driver import JobFactory, drive

FRAME_INTERVAL_MS = 33  # ~30 Hz
PROGRESS_INTERVAL_S = 0.05


class _Worker(QObject):
    """Runs one job inside the worker thread and forwards its events."""

    event = Signal(object)
    failed = Signal(str, str)

    def __init__(self, factory: JobFactory, stop: StopToken) -> None:
        super().__init__()
        self._factory = factory
        self._stop = stop

    @Slot()
    def run(self) -> None:
        sent: dict[str, tuple[int, float]] = {}  # role -> (done, time) of its last progress sent
        held: dict[str, Progress] = {}  # role -> its latest progress not sent yet

        def send(event: Progress) -> None:
            sent[event.role] = (event.done, time.monotonic())
            self.event.emit(event)

        def forward(event: object) -> None:
            if isinstance(event, Progress):  # each role's progress when it moved, at most ~20/s
                done, when = sent.get(event.role, (None, 0.0))
                if event.done == done:
                    return
                if time.monotonic() - when < PROGRESS_INTERVAL_S and event.done < event.total:
                    held[event.role] = event
                    return
                held.pop(event.role, None)
                send(event)
                return
            for role in list(held):  # a role's latest step arrives before what follows it
                send(held.pop(role))
            self.event.emit(event)

        try:
            failure = drive(self._factory, self._stop, forward)
            if failure is not None:
                self.failed.emit(failure.message, failure.details)
        finally:
            QThread.currentThread().quit()


class JobBridge(QObject):
    """Starts one engine job at a time on a worker thread and re-emits its events as signals."""

    busy_changed = Signal(bool)
    paused_changed = Signal(bool)
    event = Signal(object)  # every event but frames (Progress rate-limited), in job order
    frame_recorded = Signal(object)  # ProbeFrame: every frame, for the history
    frame_ready = Signal(object)  # ProbeFrame: the latest only, ~30 Hz, for drawing
    failed = Signal(str, str)  # readable message, details (traceback for bugs, else "")
    job_done = Signal(object)  # JobFinished, or None when the job failed; the thread has ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: _Worker | None = None
        self._stop: StopToken | None = None
        self._result: JobFinished | None = None
        self._failed = False
        self._pending_frame: ProbeFrame | None = None
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(FRAME_INTERVAL_MS)
        self._frame_timer.timeout.connect(self._push_frames)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return self._stop is not None and self._stop.paused

    def start(self, factory: JobFactory) -> bool:
        """Run ``factory(stop_token)`` on the worker thread; False (nothing started) when busy."""
        if self.busy:
            return False
        self._stop = StopToken()
        self._result, self._failed = None, False
        thread = QThread()
        worker = _Worker(factory, self._stop)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.event.connect(self._on_event)
        worker.failed.connect(self._on_failed)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self._frame_timer.start()
        thread.start()
        self.busy_changed.emit(True)
        return True

    @Slot()
    def pause(self) -> None:
        if self._stop is not None and not self._stop.stopped:
            self._stop.pause()
            self.paused_changed.emit(True)

    @Slot()
    def resume(self) -> None:
        if self._stop is not None:
            self._stop.resume()
            self.paused_changed.emit(False)

    @Slot()
    def cancel(self) -> None:
        """Ask the job to stop after its current step (a paused job wakes up to stop)."""
        if self._stop is not None:
            self._stop.stop()
            self.paused_changed.emit(False)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the job and wait for the thread (used on quit). True when no thread is left."""
        thread = self._thread
        if thread is None:
            return True
        self.cancel()
        thread.quit()
        finished = thread.wait(timeout_ms)
        if finished:
            self._on_thread_finished()
        return finished

    # -- slots in the GUI thread -----------------------------------------------------------
    @Slot(object)
    def _on_event(self, event: object) -> None:
        if isinstance(event, ProbeFrame):
            self.frame_recorded.emit(event)
            self._pending_frame = event
            return
        if isinstance(event, JobFinished):
            self._result = event
        self.event.emit(event)

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self._failed = True
        self.failed.emit(message, details)

    @Slot()
    def _push_frames(self) -> None:
        pending, self._pending_frame = self._pending_frame, None
        if pending is not None:
            self.frame_ready.emit(pending)
        if self._thread is None:
            self._frame_timer.stop()

    @Slot()
    def _on_thread_finished(self) -> None:
        thread = self._thread
        sender = self.sender()
        if thread is None or (isinstance(sender, QThread) and sender is not thread):
            return  # an older thread's late signal, already handled by shutdown()
        thread.wait()
        self._thread, self._worker, self._stop = None, None, None
        self._push_frames()
        self.paused_changed.emit(False)
        self.busy_changed.emit(False)
        if self._result is None and not self._failed:  # ended by itself without a summary
            self._result = JobFinished(summary={})
        self.job_done.emit(self._result)
