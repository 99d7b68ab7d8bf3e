"""What the window shows as the user moves between runs, studies and jobs (issue 21 items 4, 5, 8):
a study replaces the open run on screen and goes when another run trains; the inspector shows the
teacher phase; closing mid-training asks; a refused Start keeps what was open; the window's
messages never name command-line flags."""

from __future__ import annotations

import gui_fixtures as fx
from gui_fixtures import fake_training, make_frame, write_run_dir
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from engine.events import ProbeFrame
from engine.runs.study_folder import write_study
from gui.model.options import SHARED, SIGNED, DisplayOptions
from gui.model.status import TRAIN

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def _open(window, qtbot, run) -> None:
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        assert window.open_run(run)
    qtbot.wait(250)  # the plots refresh on a short timer


def write_study_dir(path, seeds=(0, 1), epochs: int = 2):
    """A study folder: ``study.json`` and one stored run per seed."""
    for seed in seeds:
        write_run_dir(path / f"seed_{seed}", epochs=epochs, n=4)
    row = {"quantity": "accuracy student", "seeds": {str(s): 0.5 + s / 10 for s in seeds}}
    row |= {"mean": 0.55, "ci_low": 0.4, "ci_high": 0.7, "n": len(seeds), "verdict": ""}
    document = {"name": path.name, "seeds": list(seeds), "runs": {str(s): f"seed_{s}" for s in seeds}}
    write_study(path, document | {"finished": True, "interval": "t over seeds", "quantities": [row]})
    return path


# -- item 4: a study replaces what was on screen, and goes when another run trains --------------
def test_opening_a_study_clears_the_previous_run_from_the_screen(window, qtbot, tmp_path):
    _open(window, qtbot, write_run_dir(tmp_path / "earlier", epochs=3, n=4))
    assert window.panels["grid"].frame is not None
    study = write_study_dir(tmp_path / "my-study")
    assert window.open_run(study)
    qtbot.wait(250)
    assert window.model.run_dir is None and window.panels["grid"].frame is None
    assert window.panels["slider"].epoch is None and not window.model.history.metrics_rows()
    assert "FSS(S,T)" not in window.panels["metrics"].series  # the metrics plots were emptied
    assert "earlier" not in window.windowTitle() and "my-study" in window.windowTitle()
    assert window.panels["study"].table.rowCount() == 1
    # a seed of the study opens below the table, which stays
    _open(window, qtbot, study / "seed_1")
    assert window.panels["study"].table.rowCount() == 1 and window.panels["grid"].frame is not None


def test_the_study_table_goes_when_another_run_trains(window, qtbot, tmp_path):
    assert window.open_run(write_study_dir(tmp_path / "study"))
    assert window.panels["study"].table.rowCount() == 1
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window._begin_run(str(tmp_path / "run"), fake_training(epochs=1, steps=1), "fake run")
    assert window.panels["study"].table.rowCount() == 0
    assert "Open a study folder" in window.panels["study"].title.text()
    # and a run that is not one of its seeds replaces it too
    assert window.open_run(write_study_dir(tmp_path / "study2"))
    _open(window, qtbot, write_run_dir(tmp_path / "other", epochs=1))
    assert window.panels["study"].table.rowCount() == 0


# -- item 8: around Start ------------------------------------------------------------------------
def answer_quit(stop: bool, asked: list[str]) -> None:
    """Answer the quit question once it is open: Stop and quit, or Keep running."""

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        asked.append(box.text())
        wanted = "Stop and quit" if stop else "Keep running"
        next(button for button in box.buttons() if button.text() == wanted).click()

    QTimer.singleShot(20, answer)


def test_closing_mid_training_asks_first(window, qtbot, tmp_path):
    window._begin_run(str(tmp_path / "run"), fake_training(epochs=100, steps=4, delay=0.01), "long run")
    qtbot.waitUntil(lambda: len(window.model.history.summaries) >= 1, timeout=10_000)
    asked: list[str] = []
    answer_quit(False, asked)
    window.close()
    assert asked and "A job is running" in asked[0]
    qtbot.wait(100)
    assert window.isVisible() and window.bridge.busy  # kept running
    answer_quit(True, asked)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert len(asked) == 2 and window.model.last_result.stopped


def _refused(stop):
    from engine.training.config import ConfigError

    stop.check()
    raise ConfigError(
        "/tmp/x is not empty; pick an empty or new folder for a new run, or resume the run there "
        "with --resume"
    )
    yield  # a generator that fails before its first event, as the engine's checks do


def test_a_refused_start_keeps_the_open_run_and_names_no_flags(window, qtbot, tmp_path):
    run = write_run_dir(tmp_path / "open", epochs=2, n=4)
    _open(window, qtbot, run)
    frame = window.panels["grid"].frame
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window._begin_run(str(tmp_path / "new"), _refused, "Training into new")
    assert window.model.run_dir == str(run) and window.panels["grid"].frame is frame
    assert sorted(window.model.history.frames) == [1, 2] and window.windowTitle() == "KD Lens — open"
    shown = [window.model.last_error, window.model.status, window.panels["log"].toPlainText()]
    assert "is not empty" in window.model.last_error
    assert not any("--" in text or "kdlens-cli" in text for text in shown), shown
    assert "Continue interrupted run" in window.model.last_error


def test_engine_messages_are_worded_for_the_window():
    from engine.reports.folder import ReportOutError  # noqa: F401 (its message is one of these)
    from engine.runs.folder import RunDir
    from gui.model.wording import for_window

    messages = [
        "stopped; resume with: kdlens-cli train --resume /tmp/run",
        "/r was started with another configuration; resume it without a config "
        "(kdlens-cli train --resume RUN_DIR) or start a new run in an empty folder",
        "/h line 3 is damaged (x); resume the run (kdlens-cli train --resume) to repair it",
        "/tmp/report is not empty. Give another --out folder.",
        "--device cuda was asked for but no CUDA GPU is usable here; use --device cpu.",
        "images (--metrics-n) or a GPU with more free memory keep it on the device",
    ]
    try:
        RunDir("/").require_run()
    except Exception as exc:  # the real message of a folder that is no run
        messages.append(str(exc))
    for message in messages:
        worded = for_window(message)
        assert "--" not in worded and "kdlens-cli" not in worded, worded
    assert for_window("plain words stay") == "plain words stay"


# -- item 5: the inspector in the teacher phase, and every map in view ---------------------------
def _teacher_frame(n: int = 4) -> ProbeFrame:
    frame = make_frame(0, n=n)
    return ProbeFrame(
        **{
            **frame.__dict__,
            "maps": {"gradcam_teacher": frame.maps["gradcam_teacher"]},
            "raw": {"gradcam_teacher": frame.raw["gradcam_teacher"]},
            "signed": {"gradcam_teacher": frame.signed["gradcam_teacher"]},
            "flags": {"phase": "teacher", "teacher_epoch": 2},
        }
    )


def test_the_inspector_shows_the_teacher_phase(window, qtbot):
    model, inspector = window.model, window.panels["inspector"]
    model.begin_job(TRAIN, None)
    teacher = _teacher_frame()
    model.apply(teacher)
    model.show_frame(teacher)
    assert inspector.frame is teacher
    assert (inspector.plots.pictures["input"].image == teacher.images[0]).all()
    assert (inspector.map_item("gradcam_teacher").image == teacher.maps["gradcam_teacher"][0]).all()
    assert "teacher" in inspector.title.text().lower()
    model.inspect(2)  # a click in the grid
    assert inspector.index == 2
    assert (inspector.map_item("gradcam_teacher").image == teacher.maps["gradcam_teacher"][2]).all()
    kd = make_frame(1, n=4)
    model.apply(kd)
    model.show_frame(kd)
    assert inspector.frame is kd and inspector.index == 2
    # with nothing clicked, the first KD frame replaces the teacher phase too
    model.begin_job(TRAIN, None)
    model.apply(teacher)
    model.show_frame(teacher)
    assert inspector.frame is teacher and model.inspected is None
    model.apply(kd)
    model.show_frame(kd)
    assert inspector.frame is kd and inspector.index == 0


def test_in_signed_shared_view_no_map_is_cut_off(qtbot):
    from gui.model.run_model import RunModel
    from gui.panels.inspector import Inspector

    model = RunModel()
    inspector = Inspector(model)
    qtbot.addWidget(inspector)
    inspector.resize(420, 800)
    inspector.show()
    frame = make_frame(1, n=2, size=32)
    for values in frame.signed.values():
        values *= 1e-3  # long scale labels: ±4.999e-04
    inspector.show_image(frame, 0)
    for options in (DisplayOptions(), DisplayOptions(mode=SIGNED, scale=SHARED)):
        model.set_options(options)
        qtbot.wait(50)
        plots = inspector.plots
        for key, view in plots.views.items():
            right = plots.mapFromScene(view.sceneBoundingRect().topRight()).x()
            assert right <= plots.viewport().width() + 1, (options, key, right, plots.viewport().width())


# -- item 7: curves keep their history through a resume ----------------------------------------------
def _with_step_losses(run, steps: int = 4):
    """Store each epoch's loss curve in the run's history, as training now does."""
    import json

    lines = []
    for line in (run / "history.jsonl").read_text().splitlines():
        row = json.loads(line)
        row["step_losses"] = [[s, row["train_loss"] + (steps - s) * 0.1] for s in range(1, steps + 1)]
        lines.append(json.dumps(row))
    (run / "history.jsonl").write_text("\n".join(lines) + "\n")
    return run


def _resumed(run):
    """A resume as the window runs it: the stored history replayed, then epoch 3's live steps."""
    from engine.events import JobFinished, Progress
    from engine.runs import replay

    def job(stop):
        for event in replay(run):
            if not isinstance(event, JobFinished):
                yield event
        for step in range(1, 5):
            stop.check()
            yield Progress("student", 3, step, 4, step, 4, loss=0.3 - 0.01 * step)
        yield JobFinished(summary={}, stopped=False, out_dir=str(run))

    return job


def test_the_loss_curves_keep_their_history_through_a_resume(window, qtbot, tmp_path, monkeypatch):
    for stored_steps in (True, False):  # a run written now, and an older one without step curves
        run = write_run_dir(tmp_path / f"interrupted-{stored_steps}", epochs=2, finished=False)
        if stored_steps:
            _with_step_losses(run)
        _open(window, qtbot, run)
        monkeypatch.setattr("gui.jobs.factories.resume_factory", _resumed)
        with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
            window.actions["continue_run"].trigger()
        qtbot.wait(300)
        x, y = window.panels["training"].loss_curves["student"].getData()
        assert x[-1] == 3.0 and set(x[x > 2.0]) <= {2.25, 2.5, 2.75, 3.0}  # epoch 3's live steps
        before = x[x <= 2.0]
        if stored_steps:  # every stored step of epochs 1 and 2
            assert list(before) == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
        else:  # their epoch ends, never lost
            assert list(before) == [1.0, 2.0]


# -- item 3: the window says plainly when the teacher is weaker than the base -------------------------
def test_a_weak_teacher_is_shown_in_the_window(window, qtbot, tmp_path):
    import json

    from engine.runs.notices import WEAK_TEACHER

    run = write_run_dir(tmp_path / "weak", epochs=2)
    lines = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    for row in lines:  # an older folder: no notices stored, the history tells
        row["heldout_accuracy"] = 0.66 if row["role"] == "teacher" else 0.81
    (run / "history.jsonl").write_text("\n".join(json.dumps(row) for row in lines) + "\n")
    _open(window, qtbot, run)
    bar = window.panels["notices"]
    assert bar.isVisible() and "The teacher is weaker than the base" in bar.text()
    assert "teacher 66.0%, base 81.0%" in bar.text()
    assert f"[warning] {WEAK_TEACHER}" in window.panels["log"].toPlainText()
    _open(window, qtbot, write_run_dir(tmp_path / "sound", epochs=1))
    assert not bar.isVisible() and window.model.notices == []


# -- item 10: a time left within the teacher's first epoch ---------------------------------------------
def test_the_teacher_phase_has_a_time_left_after_a_few_steps(window, qtbot, tmp_path):
    """The engine's own Progress events of a tiny run, each shown in the window's status bar."""
    from dataclasses import replace

    from bad_input_fixtures import tiny_train_config

    from engine.events import Progress
    from engine.jobs.train import train_job

    config = tiny_train_config()
    config = replace(config, teacher=replace(config.teacher, epochs=1, max_steps=8), batch_size=4)
    window.model.begin_job(TRAIN, str(tmp_path / "run"))
    shown: list[tuple[int, str]] = []
    for event in train_job(config, tmp_path / "run"):
        window.model.apply(event)
        if isinstance(event, Progress) and event.role == "teacher":
            shown.append((event.step, window.panels["status_bar"].eta.text()))
    assert [step for step, _ in shown] == list(range(1, 9))  # the teacher's one epoch
    known = [step for step, text in shown if "left" in text]
    assert known and min(known) <= 5, shown  # not "estimating…" for the whole epoch
