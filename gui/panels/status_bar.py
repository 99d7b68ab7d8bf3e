"""The window's status bar as a panel: one line saying what the job does now, its time left and a
progress bar while a job runs, and the first line of every warning or error logged."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar

from engine.events import Progress
from gui.model.run_model import RunModel

__all__ = ["JobStatusBar"]

NOTICE_MS = 10_000  # how long a logged warning or error stays in the bar


class JobStatusBar(QStatusBar):
    """``state`` (the model's status line), ``eta`` and ``progress``; temporary messages over them."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.state = QLabel(model.status)
        # a label that changes 20 times a second must not re-layout the window each time
        self.state.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state.setMinimumWidth(120)
        self.progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.eta = QLabel("")
        self.addWidget(self.state, 1)
        self.addPermanentWidget(self.eta)
        self.addPermanentWidget(self.progress)
        events = model.events
        events.status.connect(self.state.setText)
        events.progress.connect(self._on_progress)
        events.busy.connect(self._on_busy)
        events.log.connect(self._on_log)

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        if not busy:
            self.progress.reset()
            self.eta.setText("")

    def _on_progress(self, event: Progress, eta: str) -> None:
        if event.stage == "explain":
            return
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.eta.setText(eta)

    def _on_log(self, message: str, level: str) -> None:
        if level != "info":
            self.showMessage(f"[{level}] {message.splitlines()[0]}", NOTICE_MS)
