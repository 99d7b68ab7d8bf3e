"""The main window's receivers of the bridge's signals: they feed the run history and refresh
the panels (plots on a short timer, heatmaps when the bridge pushes a frame)."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Slot

from engine.events import EpochSummary, JobFinished, LogLine, MetricsRow, ProbeFrame, Progress


def format_eta(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "ETA —"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}h {minutes:02d}m" if hours else f"ETA {minutes}m {secs:02d}s"


class RunEvents:
    """Mixin of :class:`gui.main_window.MainWindow` (uses its panels, history and bridge)."""

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self.actions["start"].setEnabled(not busy)
        self.actions["pause"].setEnabled(busy)
        self.actions["cancel"].setEnabled(busy)
        self.actions["open_run"].setEnabled(not busy)
        self.actions["open_image"].setEnabled(not busy)
        self.actions["continue_run"].setEnabled(False)
        self.setup.set_locked(busy)
        if not busy:
            self.progress.reset()
            self.eta.setText("")

    @Slot(bool)
    def _on_paused(self, paused: bool) -> None:
        self.actions["pause"].setText("&Resume" if paused else "&Pause")
        self.training.state.setText(
            "Paused — press Resume (Ctrl+P) to continue." if paused else self.training.state.text()
        )

    @Slot(object)
    def _on_progress(self, event: Progress) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.eta.setText(format_eta(self._eta(event)))
        what = event.stage if event.stage == event.role else f"{event.stage} {event.role}"
        text = f"{what} — epoch {event.epoch}, step {event.step}/{event.steps_per_epoch}"
        if event.loss is not None:
            text += f" — loss {event.loss:.3f}"
            x = event.epoch - 1 + event.step / max(event.steps_per_epoch, 1)
            self.history.add_step_loss(event.role, x, event.loss)
            self._schedule_refresh()
        self.training.state.setText(text)

    def _eta(self, event: Progress) -> float | None:
        """The engine's estimate, else one from the job's pace so far (display only)."""
        if event.eta_seconds is not None:
            return event.eta_seconds
        now = time.monotonic()
        if self._pace_start is None or event.done < self._pace_start[1]:
            self._pace_start = (now, event.done)
            return None
        started, done0 = self._pace_start
        moved = event.done - done0
        return None if moved <= 0 else (now - started) / moved * (event.total - event.done)

    @Slot(object)
    def _on_summary(self, event: EpochSummary) -> None:
        self.history.add_summary(event)
        held = "n/a" if event.heldout_accuracy is None else f"{event.heldout_accuracy:.1%}"
        self._log(f"{event.role} epoch {event.epoch}: loss {event.train_loss:.3f}, held-out accuracy {held}")
        self._schedule_refresh()

    @Slot(object)
    def _on_metrics_row(self, row: MetricsRow) -> None:
        self.history.add_metrics_row(row)
        self._schedule_refresh()

    @Slot(object)
    def _on_log(self, line: LogLine) -> None:
        self._log(line.message, line.level)

    @Slot(str, object)
    def _on_frame_recorded(self, panel: str, frame: ProbeFrame) -> None:
        if panel == "probe":
            self.history.add_frame(frame)
        elif self._explaining is not None:
            self.history.add_explained(self._explaining, frame)

    @Slot(str, object)
    def _on_frame_ready(self, panel: str, frame: ProbeFrame) -> None:
        if panel == "explain":
            self._inspected = None
            self.inspector.show_image(frame, 0, source=Path(self._explaining or "opened image").name)
            self.inspector_dock.show()
            self.inspector_dock.raise_()
            return
        first = self.grid.frame is None
        self.slider.set_epochs(self.history.epochs())
        if first or self.slider.following:
            self.show_epoch(frame.epoch)
        if first and self.inspector.frame is None:
            self.inspect_probe(0)  # an inspector with something in it shows what it is for

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self._log(message + (f"\n{details}" if details else ""), "error")
        self._show_error(message)

    @Slot(object)
    def _on_job_done(self, result: JobFinished | None) -> None:
        self.last_result = result
        self._explaining = None
        self._refresh_plots()
        if result is not None:
            state = (
                "Stopped — checkpoints up to the last complete epoch are kept."
                if result.stopped
                else "Finished."
            )
            self.training.state.setText(state)
            self.statusBar().showMessage(state, 10000)
            self.actions["continue_run"].setEnabled(bool(result.stopped and result.out_dir))
            if result.out_dir and Path(result.out_dir).is_dir():
                self.history.run_dir = result.out_dir
                self.settings.add_recent(result.out_dir)
                self._update_recent()
        if self._close_when_idle:
            self.close()

    def _schedule_refresh(self) -> None:
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    @Slot()
    def _refresh_plots(self) -> None:
        """Redraw the visible plot tab only; the other one catches up when it is shown."""
        current = self.tabs.currentWidget()
        if current is self.training or not self.bridge.busy:
            self.training.refresh(self.history)
        if current is self.metrics or not self.bridge.busy:
            self.metrics.refresh(self.history)
        if self.history.epochs() != [] and self.grid.frame is None:
            self.slider.set_epochs(self.history.epochs())
