"""The KD Lens main window: wires the panels to the bridge and to one shared epoch slider."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.events import JobFinished
from gui import jobs
from gui.actions import build_actions, shortcuts_text
from gui.bridge import JobBridge
from gui.display import DisplayOptions
from gui.epoch_slider import EpochSlider
from gui.heatmap_grid import HeatmapGrid
from gui.history import RunHistory
from gui.inspector import Inspector
from gui.menus import build_menus
from gui.metrics_panel import MetricsPanel
from gui.run_events import RunEvents
from gui.setup_panel import SetupPanel
from gui.training_panel import TrainingPanel
from gui.window_settings import WindowSettings

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp", ".gif"}


class MainWindow(RunEvents, QMainWindow):
    """Epoch slider and heatmap grid over training/metrics/log tabs; setup and inspector docked right."""

    def __init__(self, settings: QSettings | None = None, engine_choices: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("KD Lens — what did the student learn from the teacher?")
        self.setAcceptDrops(True)
        self.bridge = JobBridge(self)
        self.history = RunHistory()
        self.settings = WindowSettings(settings or QSettings("KD Lens", "kdlens"))
        self.options = self.settings.display_options()
        self.last_error: str | None = None
        self.last_result: JobFinished | None = None
        self._close_when_idle = False
        self._explaining: str | None = None
        self._inspected: int | None = None  # probe index shown in the inspector, None: a file
        self._pace_start: tuple[float, int] | None = None
        self.actions = build_actions(self)
        self._build_panels()
        self.recent_menu = build_menus(self, self.actions)
        self._connect()
        self._refresh_timer = QTimer(self, singleShot=True, interval=150)
        self._refresh_timer.timeout.connect(self._refresh_plots)
        if not self.settings.restore_window(self):  # first launch: give the heatmaps the width
            QTimer.singleShot(
                0, lambda: self.resizeDocks([self.inspector_dock], [440], Qt.Orientation.Horizontal)
            )
        self.setup.set_preset(self.settings.preset())
        self.inspector.set_options(self.options)
        self._update_recent()
        self._on_busy(False)
        if engine_choices:  # tests skip the child process that reads the engine's registries
            from gui.engine_choices import ChoicesLoader

            self._choices = ChoicesLoader(self)
            self._choices.loaded.connect(self.setup.set_choices)
            self._choices.failed.connect(lambda message: self._log(message, "warning"))
            QTimer.singleShot(0, self._choices.start)

    # -- construction ----------------------------------------------------------------------
    def _build_panels(self) -> None:
        self.slider = EpochSlider()
        self.grid = HeatmapGrid()
        self.training = TrainingPanel([self.actions[n] for n in ("start", "pause", "cancel")])
        self.metrics = MetricsPanel()
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(5000)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.training, "Training")
        self.tabs.addTab(self.metrics, "Metrics (FSS / RS)")
        self.tabs.addTab(self.log, "Log")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.grid)
        splitter.addWidget(self.tabs)
        splitter.setSizes([520, 320])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.slider)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.setup = SetupPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.setup)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        self.setup_dock = self._dock("Setup", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self.inspector = Inspector()
        self.inspector_dock = self._dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        # setup and inspector share the right side as tabs: the heatmaps and plots get the width
        self.tabifyDockWidget(self.setup_dock, self.inspector_dock)
        self.setup_dock.raise_()
        self.progress = QProgressBar(maximumWidth=220, textVisible=True)
        self.eta = QLabel("")
        self.statusBar().addPermanentWidget(self.eta)
        self.statusBar().addPermanentWidget(self.progress)
        self.resize(1500, 950)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}_dock")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        a, b = self.actions, self.bridge
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
        b.busy_changed.connect(self._on_busy)
        b.paused_changed.connect(self._on_paused)
        b.progress.connect(self._on_progress)
        b.epoch_summary.connect(self._on_summary)
        b.metrics_row.connect(self._on_metrics_row)
        b.log_line.connect(self._on_log)
        b.frame_recorded.connect(self._on_frame_recorded)
        b.frame_ready.connect(self._on_frame_ready)
        b.failed.connect(self._on_failed)
        b.job_done.connect(self._on_job_done)
        self.slider.epoch_changed.connect(self.show_epoch)
        self.tabs.currentChanged.connect(lambda _index: self._refresh_plots())
        self.grid.image_clicked.connect(self.inspect_probe)
        self.inspector.options_changed.connect(self._on_options)
        self.inspector.open_image_requested.connect(self.ask_open_image)

    # -- user actions ----------------------------------------------------------------------
    @Slot()
    def start_training(self) -> None:
        """Start the chosen demo preset or custom setup (or continue an interrupted run)."""
        if self.bridge.busy:
            return
        preset = self.setup.preset_key()
        chosen = self.setup.out_dir.text().strip()
        out_dir = Path(chosen) if chosen else jobs.new_run_dir(self.settings.runs_root(), preset or "custom")
        if preset:
            factory = jobs.demo_factory(out_dir, preset)
        else:
            if self.setup.embedding_source() != "one-hot":
                self._log(
                    "The training engine has no class-embedding option yet: one-hot labels are used.",
                    "warning",
                )
            factory = jobs.train_factory(self.setup.config_dict(), out_dir)
        self._begin_run(str(out_dir), factory, f"Training into {out_dir}")
        self.settings.set_preset(preset)

    def start_demo(
        self, preset: str = "kd-gain", out_dir: str | Path | None = None, quick: bool = False
    ) -> None:
        self.setup.set_preset(preset)
        target = Path(out_dir) if out_dir else jobs.new_run_dir(self.settings.runs_root(), preset)
        self._begin_run(
            str(target), jobs.demo_factory(target, preset, quick=quick), f"Demo '{preset}' into {target}"
        )

    @Slot()
    def continue_run(self) -> None:
        """Resume the open, interrupted run (its history is replayed first)."""
        run_dir = self.history.run_dir
        if run_dir is None or self._refuse_when_busy("continue the run"):
            return
        self._begin_run(run_dir, jobs.resume_factory(run_dir), f"Continuing {run_dir}")

    def open_run(self, run_dir: str | Path) -> None:
        """Replay a finished (or interrupted) run folder into every panel."""
        if self._refuse_when_busy("open a run"):
            return
        self._begin_run(str(run_dir), jobs.replay_factory(run_dir), f"Replaying {run_dir}")
        self.settings.add_recent(str(run_dir))
        self._update_recent()

    def explain_image(self, image_path: str | Path) -> None:
        """Explain one image file with the current run's models, in its recorded context batch."""
        if self._refuse_when_busy("explain an image"):
            return
        if self.history.run_dir is None:
            self._show_error(
                "Open a run folder or train the demo first: an image is explained with a run's models."
            )
            return
        self._explaining = str(image_path)
        # the latest weights unless the user went back to an earlier epoch (an epoch's frame can
        # arrive before its checkpoints are committed)
        epoch = None if self.slider.following else self.slider.epoch
        self.bridge.start(jobs.explain_factory(self.history.run_dir, image_path, epoch), panel="explain")
        self.statusBar().showMessage(f"Explaining {image_path}…")

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
                rows=self.history.metrics_rows(),
                run_dir=self.history.run_dir,
                options=self.options,
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

    @Slot(int)
    def show_epoch(self, epoch: int) -> None:
        """Show ``epoch`` in every panel (the slider's one receiver)."""
        frame = self.history.frame_at(epoch)
        if frame is not None:
            self.grid.show_frame(frame, self.options)
            if self._inspected is not None and self._inspected < frame.images.shape[0]:
                self.inspector.show_image(frame, self._inspected)
        self.training.set_epoch(epoch)
        self.metrics.set_epoch(epoch)

    @Slot(int)
    def inspect_probe(self, index: int) -> None:
        if self.grid.frame is None:
            return
        self._inspected = index
        self.grid.select(index)
        self.inspector.show_image(self.grid.frame, index)
        self.inspector_dock.show()
        self.inspector_dock.raise_()

    # -- bridge receivers ------------------------------------------------------------------
    def _begin_run(self, run_dir: str, factory, message: str) -> None:
        self.history.clear()
        self.history.run_dir = run_dir
        self.training.clear()
        self.metrics.clear()
        self.slider.set_epochs([])
        self._inspected = None
        self.last_error = None
        self._pace_start = None
        self.bridge.start(factory, panel="probe")
        self._log(message)

    @Slot(object)
    def _on_options(self, options: DisplayOptions) -> None:
        self.options = options
        self.grid.set_options(options)
        self.settings.set_display_options(options)

    def _refuse_when_busy(self, what: str) -> bool:
        if self.bridge.busy:
            self._show_error(f"A job is running; cancel it (Ctrl+.) or wait for it to finish, then {what}.")
        return self.bridge.busy

    def _show_error(self, message: str) -> None:
        """A readable, non-blocking message; the app keeps running."""
        self.last_error = message
        self.statusBar().showMessage(message, 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, "KD Lens", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _log(self, message: str, level: str = "info") -> None:
        prefix = "" if level == "info" else f"[{level}] "
        self.log.appendPlainText(prefix + message)
        if level != "info":
            self.statusBar().showMessage(prefix + message.splitlines()[0], 10000)

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
