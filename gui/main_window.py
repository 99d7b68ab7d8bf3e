"""The KD Lens main window: builds the panels from one table, feeds the run model from the bridges,
and starts the jobs the user asks for.

Panels only know the Qt-free :class:`~gui.model.run_model.RunModel` (and the actions they put
buttons on); the status bar is one of them. The layout (:class:`gui.layout.PanelLayout`) builds
and holds them; the window reads none of their widgets: what to start comes from the panel that
chooses jobs, what to export from the model and from the panels that export plots. The window
connects the bridges' signals to the model, the actions to the jobs and dialogs
(``gui.dialogs``), and lets the actions follow the model's job state (``gui.actions.follow_job``).
A new panel is one widget file plus one line in :data:`gui.layout.PANELS`.

Two bridges: the main one runs training or opening a run; the explain bridge explains image
files (``gui.jobs.explainer``), so an image can be explained while training runs (then in a
child process, with the run's last committed epoch).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMainWindow

from engine.errors import KDLensError
from engine.events import JobFinished
from engine.reports.folder import is_report, report_problem
from engine.runs.study_folder import is_study, read_study
from gui import dialogs
from gui.actions import build_actions, follow_job
from gui.epoch_keys import EpochKeys
from gui.jobs import factories
from gui.jobs.bridge import JobBridge
from gui.jobs.choices import ChoicesLoader
from gui.jobs.explainer import ImageExplainer
from gui.layout import PanelLayout
from gui.menus import build_menus
from gui.model.run_model import RunModel
from gui.model.status import REPLAY, TRAIN
from gui.model.wording import for_window
from gui.window_settings import WindowSettings

TITLE = "KD Lens"
TAGLINE = "what did the student learn from the teacher?"
ERROR_MS = 15_000  # how long an error stays in the status bar
NO_EMBEDDINGS = "The training engine has no class-embedding option yet: one-hot labels are used."


class MainWindow(QMainWindow):
    """Epoch slider and heatmap grid over training/metrics/log tabs; setup and inspector docked right."""

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle(f"{TITLE} — {TAGLINE}")
        self.setAcceptDrops(True)
        self.settings = WindowSettings(settings or QSettings("KD Lens", "kdlens"))
        self.model = RunModel(self.settings.display_options())
        self.bridge = JobBridge(self)
        self.explain_bridge = JobBridge(self)
        self.explainer = ImageExplainer(self.model, self.explain_bridge, confirm=self.confirm_code)
        self._close_when_idle = False
        self.actions = build_actions(self)
        self.panels = PanelLayout(self, self.model, self.actions)
        self.resize(1500, 950)
        self.recent_menu = build_menus(self, self.actions, self.panels.docks)
        self._connect()
        self.epoch_keys = EpochKeys(self._step_epoch, self)
        self.epoch_keys.watch(self)
        if not self.settings.restore_window(self):  # first launch: give the heatmaps the width
            QTimer.singleShot(0, lambda: self.panels.fit_docks(440))
        chooser = self.panels.job_chooser()
        chooser.set_preset(self.settings.preset())
        self._update_recent()
        self.model.set_busy(False)
        self._choices = ChoicesLoader(self)  # the engine's lists, read in a child process
        self._choices.loaded.connect(chooser.set_choices)
        self._choices.failed.connect(lambda message: self.model.log(message, "warning"))
        QTimer.singleShot(0, self._choices.start)

    # -- construction ----------------------------------------------------------------------
    def _connect(self) -> None:
        a, b, m, x = self.actions, self.bridge, self.model, self.explain_bridge
        a["start"].triggered.connect(self.start_training)
        a["pause"].triggered.connect(self.toggle_pause)
        a["cancel"].triggered.connect(b.cancel)
        a["continue_run"].triggered.connect(self.continue_run)
        a["open_run"].triggered.connect(lambda: self._asked(dialogs.ask_run_folder, self.open_run))
        a["compare_runs"].triggered.connect(  # a run, a study's seeds or a folder of runs, overlaid
            lambda: self._asked(dialogs.ask_compare_folder, lambda path: m.request_compare([path]))
        )
        a["open_image"].triggered.connect(self.ask_open_image)
        a["export"].triggered.connect(self.ask_export)
        a["quit"].triggered.connect(self.close)
        a["shortcuts"].triggered.connect(lambda _checked=False: dialogs.show_shortcuts(self))
        b.event.connect(m.apply)
        b.frame_recorded.connect(m.apply)
        b.frame_ready.connect(m.show_frame)
        b.busy_changed.connect(m.set_busy)
        b.paused_changed.connect(m.set_paused)
        b.failed.connect(m.fail)
        b.job_done.connect(m.finish)
        x.job_done.connect(lambda _result: self._close_when_idle and not b.busy and self.close())
        follow_job(a, m, self)
        m.events.failed.connect(lambda message, _details: self._show_error(message))
        m.events.finished.connect(self._on_finished)
        m.events.explain_requested.connect(self.explain_image)
        m.events.open_requested.connect(self.open_run)
        m.events.run.connect(self._on_run)
        m.events.study.connect(lambda folder, _document: folder and self._on_run(folder))
        m.events.options.connect(self.settings.set_display_options)

    # -- user actions ----------------------------------------------------------------------
    @Slot()
    def start_training(self) -> None:
        """Start the chosen demo preset or custom setup, or analyse the chosen checkpoints (into a
        report folder that then stays open)."""
        if self.bridge.busy:
            return
        choice = self.panels.job_chooser().chosen_job(self.confirm_code)
        preset = choice.preset
        out_dir = Path(choice.out_dir or factories.new_run_dir(self.settings.runs_root(), preset or "custom"))
        if choice.problem is not None:
            self._show_error(choice.problem)
            return
        if not preset and choice.embedding != "one-hot":
            self.model.log(NO_EMBEDDINGS, "warning")
        self._begin_run(str(out_dir), *factories.chosen_factory(choice, out_dir))
        self.settings.set_preset(preset)

    def start_demo(
        self, preset: str = "kd-gain", out_dir: str | Path | None = None, quick: bool = False
    ) -> None:
        self.panels.job_chooser().set_preset(preset)
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

    def open_run(self, run_dir: str | Path) -> bool:
        """Replay a run folder, or an analysis report, into every panel. The folder is checked
        first: one that is neither is refused with a message and leaves the open run, the slider
        and Recent untouched; Recent lists it once it has opened."""
        if self._refuse_when_busy("open a run"):
            return False
        if is_study(run_dir):
            return self.open_study(run_dir)
        report = is_report(run_dir)
        problem = report_problem(run_dir) if report else factories.run_folder_problem(run_dir)
        if problem is not None:
            self._show_error(problem)
            return False
        self.model.begin_job(REPLAY, str(run_dir))
        factory = factories.report_factory(run_dir) if report else factories.replay_factory(run_dir)
        self.bridge.start(factory)
        self.model.log(f"Opening {run_dir}")
        return True

    def open_study(self, folder: str | Path) -> bool:
        """Show a study folder's table (several seeds); each seed's run opens from it."""
        try:
            document = read_study(folder)
        except KDLensError as exc:
            self._show_error(str(exc))
            return False
        self.model.show_study(str(folder), document)  # the study panel asks to be shown
        self.settings.add_recent(str(folder))
        self._update_recent()
        return True

    def explain_image(
        self, image_path: str | Path, target: int | None = None, label: int | None = None
    ) -> bool:
        """Explain one image file with the run's models, in its recorded context batch: for class
        ``target`` (None: each model's prediction), with the user's ``label`` (None: unknown).
        While training runs it uses the last committed epoch, in a child process."""
        problem = self.explainer.explain(image_path, target, label, in_child=self.bridge.busy)
        if problem is not None:
            self._show_error(problem)
        return problem is None

    def confirm_code(self, what: str) -> bool:
        """Ask the user before a file's code runs (a model file, a pickle)."""
        return dialogs.confirm_code(self, what)

    @Slot()
    def toggle_pause(self) -> None:
        (self.bridge.resume if self.bridge.paused else self.bridge.pause)()

    def _asked(self, ask, then) -> None:
        """``then(path)`` with the path the dialog ``ask`` returned, unless it was cancelled."""
        path = ask(self, self.settings)
        if path:
            then(path)

    @Slot()
    def ask_open_image(self) -> None:
        self._asked(dialogs.ask_image_file, self.explain_image)

    @Slot()
    def ask_export(self) -> None:
        from gui.export import NOTHING_TO_EXPORT

        if self.model.shown_frame() is None:
            self._show_error(NOTHING_TO_EXPORT)
            return
        chosen = dialogs.ask_export(self, self.settings)
        if chosen is not None:
            self.export_to(*chosen)

    def export_to(self, folder: str | Path, dpi: int | None = None) -> list[Path]:
        from gui.export import ExportError, export_all

        # drawing every figure at a paper's size takes seconds: say so, and show the wait cursor
        self.statusBar().showMessage(f"Exporting the figures, maps and metrics to {folder}…")
        self.statusBar().repaint()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            written = export_all(
                folder,
                frame=self.model.shown_frame(),
                rows=self.model.history.metrics_rows(),
                run_dir=self.model.run_dir,
                config=self.model.run_config(),
                options=self.model.options,
                plots=self.panels.export_plots(),
                dpi=dpi or self.settings.export_dpi(),
            )
        except ExportError as exc:  # names the folder, or says there is nothing to export
            failure = str(exc)
        except Exception as exc:  # anything else: still a message, never a crash
            failure = f"Export failed: {exc}"
        else:
            failure = None
        finally:
            QApplication.restoreOverrideCursor()  # before any message: the wait is over
        if failure is not None:
            self.statusBar().clearMessage()
            self._show_error(failure)
            return []
        self.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 8000)
        return written

    # -- the job's state -------------------------------------------------------------------
    def _begin_run(self, run_dir: str, factory, message: str) -> None:
        self.model.begin_job(TRAIN, run_dir)
        self.bridge.start(factory)
        self.model.log(message)

    def _on_run(self, run_dir: str | None) -> None:
        self.setWindowTitle(f"{TITLE} — {Path(run_dir).name}" if run_dir else f"{TITLE} — {TAGLINE}")
        self.setWindowFilePath(run_dir or "")

    def _on_finished(self, result: JobFinished | None) -> None:
        if result is not None and result.out_dir and Path(result.out_dir).is_dir():
            self.settings.add_recent(result.out_dir)
            self._update_recent()
        if self._close_when_idle and not self.explain_bridge.busy:
            self.close()

    def _step_epoch(self, delta: int) -> None:
        """Ctrl+Left / Right inside a spin box: the same as the previous / next epoch actions."""
        self.actions["prev_epoch" if delta < 0 else "next_epoch"].trigger()

    def _refuse_when_busy(self, what: str) -> bool:
        if self.bridge.busy:
            self._show_error(f"A job is running; cancel it (Ctrl+.) or wait for it to finish, then {what}.")
        elif self.explain_bridge.busy:
            self._show_error(f"An image is being explained; wait a moment, then {what}.")
        return self.bridge.busy or self.explain_bridge.busy

    def _show_error(self, message: str) -> None:
        """A readable, non-blocking message, in the window's words; the app keeps running."""
        message = for_window(message)
        self.model.last_error = message
        self.statusBar().showMessage(message, ERROR_MS)
        dialogs.show_error(self, message)

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_run(p))
        self.recent_menu.setEnabled(bool(self.settings.recent()))

    def shutdown_jobs(self, timeout_ms: int = 60_000) -> bool:
        """Stop both bridges' jobs and wait for their threads (on quit, and in tests)."""
        return all([self.explain_bridge.shutdown(timeout_ms), self.bridge.shutdown(timeout_ms)])

    # -- Qt events -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            path = Path(url.toLocalFile())
            if path.is_dir():
                self.open_run(path)
            elif path.suffix.lower() in dialogs.IMAGE_SUFFIXES:
                self.explain_image(path)
            else:
                self._show_error(f"{path.name}: drop a run folder or an image file.")
            break

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """While training or an analysis runs, ask first; then stop the jobs after their current
        step, and close once their threads ended."""
        asking = self.bridge.busy and self.model.job == TRAIN and not self._close_when_idle
        if asking and not dialogs.ask_stop_and_quit(self, self.model.status):
            event.ignore()
            return
        if self.bridge.busy or self.explain_bridge.busy:
            self._close_when_idle = True
            self.bridge.cancel()
            self.explain_bridge.cancel()
            self.statusBar().showMessage("Stopping after the current step; checkpoints are kept…")
            event.ignore()
            return
        self.settings.save_window(self)
        event.accept()
