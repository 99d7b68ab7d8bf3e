"""The KD Lens main window: builds the panels from one table, feeds the run model from the bridge,
and starts the jobs the user asks for.

Panels only know the Qt-free :class:`~gui.model.run_model.RunModel` (and the actions they put
buttons on); the window connects the bridge's signals to the model and the model's job events
to the status bar, actions and dialogs. A new panel is one widget file plus one line in
:data:`gui.layout.PANELS`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QWidget

from engine.events import Progress
from gui.actions import build_actions, shortcuts_text
from gui.jobs import factories
from gui.jobs.bridge import JobBridge
from gui.layout import build_layout
from gui.menus import build_menus
from gui.model.run_model import RunModel, format_eta
from gui.window_settings import WindowSettings

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp", ".gif"}


class MainWindow(QMainWindow):
    """Epoch slider and heatmap grid over training/metrics/log tabs; setup and inspector docked right."""

    def __init__(self, settings: QSettings | None = None, engine_choices: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("KD Lens — what did the student learn from the teacher?")
        self.setAcceptDrops(True)
        self.settings = WindowSettings(settings or QSettings("KD Lens", "kdlens"))
        self.model = RunModel(self.settings.display_options())
        self.bridge = JobBridge(self)
        self._close_when_idle = False
        self.actions = build_actions(self)
        self.panels = self._build_panels()
        self.recent_menu = build_menus(self, self.actions)
        self._connect()
        if not self.settings.restore_window(self):  # first launch: give the heatmaps the width
            QTimer.singleShot(
                0, lambda: self.resizeDocks([self.inspector_dock], [440], Qt.Orientation.Horizontal)
            )
        self.setup.set_preset(self.settings.preset())
        self._update_recent()
        self.model.set_busy(False)
        if engine_choices:  # tests skip the child process that reads the engine's registries
            from gui.jobs.choices import ChoicesLoader

            self._choices = ChoicesLoader(self)
            self._choices.loaded.connect(self.setup.set_choices)
            self._choices.failed.connect(lambda message: self.model.log(message, "warning"))
            QTimer.singleShot(0, self._choices.start)

    # -- construction ----------------------------------------------------------------------
    def _build_panels(self) -> dict[str, QWidget]:
        """Every panel of :data:`~gui.layout.PANELS`, placed; each is also an attribute by its name,
        and each dock ``<name>_dock``."""
        panels, docks, self.tabs = build_layout(self, self.model, self.actions)
        for name, widget in {**panels, **{f"{n}_dock": d for n, d in docks.items()}}.items():
            setattr(self, name, widget)
        # setup and inspector share the right side as tabs: the heatmaps and plots get the width
        self.tabifyDockWidget(self.setup_dock, self.inspector_dock)
        self.setup_dock.raise_()
        self.progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.eta = QLabel("")
        self.statusBar().addPermanentWidget(self.eta)
        self.statusBar().addPermanentWidget(self.progress)
        self.resize(1500, 950)
        return panels

    def _connect(self) -> None:
        a, b, m = self.actions, self.bridge, self.model
        a["start"].triggered.connect(self.start_training)
        a["pause"].triggered.connect(self.toggle_pause)
        a["cancel"].triggered.connect(b.cancel)
        a["continue_run"].triggered.connect(self.continue_run)
        a["open_run"].triggered.connect(self.ask_open_run)
        a["open_image"].triggered.connect(self.ask_open_image)
        a["export"].triggered.connect(self.ask_export)
        a["quit"].triggered.connect(self.close)
        a["prev_epoch"].triggered.connect(lambda _checked=False: self.slider.step(-1))
        a["next_epoch"].triggered.connect(lambda _checked=False: self.slider.step(1))
        a["shortcuts"].triggered.connect(self.show_shortcuts)
        b.event.connect(m.apply)
        b.frame_recorded.connect(self._on_frame_recorded)
        b.frame_ready.connect(lambda panel, frame: panel == "probe" and m.show_frame(frame))
        b.busy_changed.connect(m.set_busy)
        b.paused_changed.connect(m.set_paused)
        b.failed.connect(m.fail)
        b.job_done.connect(m.finish)
        m.events.busy.connect(self._on_busy)
        m.events.paused.connect(lambda paused: a["pause"].setText("&Resume" if paused else "&Pause"))
        m.events.progress.connect(self._on_progress)
        m.events.log.connect(self._on_log)
        m.events.failed.connect(lambda message, _details: self._show_error(message))
        m.events.finished.connect(self._on_finished)
        m.events.inspected.connect(lambda index: index is None or self._raise_inspector())
        m.events.explained.connect(lambda _name, _frame: self._raise_inspector())
        m.events.options.connect(self.settings.set_display_options)

    # -- user actions ----------------------------------------------------------------------
    @Slot()
    def start_training(self) -> None:
        """Start the chosen demo preset or custom setup."""
        if self.bridge.busy:
            return
        preset = self.setup.preset_key()
        chosen = self.setup.out_dir.text().strip()
        runs_root = self.settings.runs_root()
        out_dir = Path(chosen) if chosen else factories.new_run_dir(runs_root, preset or "custom")
        if preset:
            factory = factories.demo_factory(out_dir, preset)
        else:
            if self.setup.embedding_source() != "one-hot":
                self.model.log(
                    "The training engine has no class-embedding option yet: one-hot labels are used.",
                    "warning",
                )
            factory = factories.train_factory(self.setup.config_dict(), out_dir)
        self._begin_run(str(out_dir), factory, f"Training into {out_dir}")
        self.settings.set_preset(preset)

    def start_demo(
        self, preset: str = "kd-gain", out_dir: str | Path | None = None, quick: bool = False
    ) -> None:
        self.setup.set_preset(preset)
        target = Path(out_dir) if out_dir else factories.new_run_dir(self.settings.runs_root(), preset)
        factory = factories.demo_factory(target, preset, quick=quick)
        self._begin_run(str(target), factory, f"Demo '{preset}' into {target}")

    @Slot()
    def continue_run(self) -> None:
        """Resume the open, interrupted run (its history is replayed first)."""
        run_dir = self.model.run_dir
        if run_dir is None or self._refuse_when_busy("continue the run"):
            return
        self._begin_run(run_dir, factories.resume_factory(run_dir), f"Continuing {run_dir}")

    def open_run(self, run_dir: str | Path) -> None:
        """Replay a finished (or interrupted) run folder into every panel."""
        if self._refuse_when_busy("open a run"):
            return
        self._begin_run(str(run_dir), factories.replay_factory(run_dir), f"Replaying {run_dir}")
        self.settings.add_recent(str(run_dir))
        self._update_recent()

    def explain_image(self, image_path: str | Path) -> None:
        """Explain one image file with the current run's models, in its recorded context batch."""
        if self._refuse_when_busy("explain an image"):
            return
        if self.model.run_dir is None:
            self._show_error(
                "Open a run folder or train the demo first: an image is explained with a run's models."
            )
            return
        # the latest weights unless the user went back to an earlier epoch
        epoch = None if self.model.following else self.model.epoch
        self.bridge.start(factories.explain_factory(self.model.run_dir, image_path, epoch), panel="explain")
        self.model.set_status(f"Explaining {Path(image_path).name}…")

    @Slot()
    def toggle_pause(self) -> None:
        (self.bridge.resume if self.bridge.paused else self.bridge.pause)()

    @Slot()
    def ask_open_run(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a KD Lens run folder", self.settings.last_dir())
        if path:
            self.settings.set_last_dir(path)
            self.open_run(path)

    @Slot()
    def ask_open_image(self) -> None:
        filters = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ")"
        path, _ = QFileDialog.getOpenFileName(self, "Explain an image", self.settings.last_dir(), filters)
        if path:
            self.explain_image(path)

    @Slot()
    def ask_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export into folder", self.settings.last_dir())
        if folder:
            self.export_to(folder)

    def export_to(self, folder: str | Path) -> list[Path]:
        from gui.export import export_all

        try:
            written = export_all(
                folder,
                frame=self.grid.frame,
                rows=self.model.history.metrics_rows(),
                run_dir=self.model.run_dir,
                options=self.model.options,
                figure_widget=self.grid.view_widget,
            )
        except Exception as exc:  # the export error names the folder; anything else too
            self._show_error(f"Export failed: {exc}")
            return []
        self.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 8000)
        return written

    @Slot()
    def show_shortcuts(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", shortcuts_text())

    # -- the job's state -------------------------------------------------------------------
    def _begin_run(self, run_dir: str, factory, message: str) -> None:
        self.model.start(run_dir)
        self.bridge.start(factory, panel="probe")
        self.model.log(message)

    def _on_frame_recorded(self, panel: str, frame) -> None:
        if panel == "probe":
            self.model.apply(frame)
        else:
            self.model.add_explained(str(frame.flags.get("image_path", "opened image")), frame)

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        for name in ("start", "open_run", "open_image"):
            self.actions[name].setEnabled(not busy)
        for name in ("pause", "cancel"):
            self.actions[name].setEnabled(busy)
        self.actions["continue_run"].setEnabled(False)
        if not busy:
            self.progress.reset()
            self.eta.setText("")

    def _on_progress(self, event: Progress, eta: float | None) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.eta.setText(format_eta(eta))

    def _on_log(self, message: str, level: str) -> None:
        if level != "info":
            self.statusBar().showMessage(f"[{level}] {message.splitlines()[0]}", 10000)

    def _on_finished(self, result) -> None:
        if result is not None:
            self.statusBar().showMessage(self.model.status, 10000)
            self.actions["continue_run"].setEnabled(bool(result.stopped and result.out_dir))
            if result.out_dir and Path(result.out_dir).is_dir():
                self.settings.add_recent(result.out_dir)
                self._update_recent()
        if self._close_when_idle:
            self.close()

    def _raise_inspector(self) -> None:
        self.inspector_dock.show()
        self.inspector_dock.raise_()

    def _refuse_when_busy(self, what: str) -> bool:
        if self.bridge.busy:
            self._show_error(f"A job is running; cancel it (Ctrl+.) or wait for it to finish, then {what}.")
        return self.bridge.busy

    def _show_error(self, message: str) -> None:
        """A readable, non-blocking message; the app keeps running."""
        self.model.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "KD Lens", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_run(p))
        self.recent_menu.setEnabled(bool(self.settings.recent()))

    # -- Qt events -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.is_dir():
                self.open_run(path)
            elif path.suffix.lower() in IMAGE_SUFFIXES:
                self.explain_image(path)
            else:
                self._show_error(f"{path.name}: drop a run folder or an image file.")
            break

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """While a job runs: stop it after its current step, then close once the thread ended."""
        if self.bridge.busy:
            self._close_when_idle = True
            self.bridge.cancel()
            self.statusBar().showMessage("Stopping after the current step; checkpoints are kept…")
            event.ignore()
            return
        self.settings.save_window(self)
        event.accept()
