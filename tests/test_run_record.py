"""What a run folder records about itself (issue 21 items 3, 7): a teacher weaker than the base is
said plainly (the log, state.json's summary, a replay, the report's facts), and each epoch's loss
curve is stored with its summary, so a resumed or replayed run keeps its step-level history while
an older folder without it still opens."""

from __future__ import annotations

import json
from dataclasses import replace

from bad_input_fixtures import tiny_train_config

from engine.events import EpochSummary, JobFinished, LogLine, StopToken
from engine.jobs.train import train_job
from engine.reports.facts import run_facts
from engine.runs import RunDir, replay
from engine.runs.notices import WEAK_TEACHER, run_notices, teacher_notice
from engine.training import session as session_module
from engine.training.config import TrainConfig
from engine.training.loop import thin_curve


def _two_epochs():
    config = tiny_train_config()
    return replace(
        config,
        teacher=replace(config.teacher, max_steps=3),
        base=replace(config.base, epochs=2, max_steps=3),
        student=replace(config.student, epochs=2, max_steps=3),
        batch_size=8,
    )


def _teacher_below_base(monkeypatch) -> None:
    """Held-out accuracy 0.30 for the (larger) teacher, 0.60 for the small base and student."""
    real = session_module.evaluate_accuracy

    def accuracy(model, images, labels, batch_size: int = 256) -> float:
        real(model, images, labels, batch_size)
        return 0.30 if sum(p.numel() for p in model.parameters()) > 100_000 else 0.60

    monkeypatch.setattr(session_module, "evaluate_accuracy", accuracy)


# -- item 3: a weak teacher is said plainly --------------------------------------------------------
def test_a_teacher_below_the_base_is_said_plainly(tmp_path, monkeypatch):
    _teacher_below_base(monkeypatch)
    out = tmp_path / "run"
    events = list(train_job(tiny_train_config(), out))
    finished = events[-1]
    assert isinstance(finished, JobFinished) and finished.summary["heldout_accuracy"]["teacher"] == 0.30
    notice = finished.summary["notices"][0]
    assert notice.startswith(WEAK_TEACHER) and "teacher 30.0%, base 60.0%" in notice
    assert any(isinstance(e, LogLine) and e.level == "warning" and e.message == notice for e in events)
    run = RunDir(out)
    assert run.read_state()["summary"]["notices"] == [notice] and run_notices(run) == [notice]
    replayed = list(replay(out))
    assert replayed[-1].summary["notices"] == [notice]
    assert ("notice", notice) in run_facts(run)  # the report states it too


def test_an_older_run_is_judged_from_its_history(tmp_path, monkeypatch):
    _teacher_below_base(monkeypatch)
    out = tmp_path / "run"
    list(train_job(tiny_train_config(), out))
    state = json.loads((out / "state.json").read_text())
    del state["summary"]["notices"]  # written before notices were stored
    (out / "state.json").write_text(json.dumps(state))
    history = RunDir(out).read_history()
    assert history[0].role == "teacher"
    notices = replay(out)
    finished = [e for e in notices if isinstance(e, JobFinished)][0]
    expected = teacher_notice({e.role: e.heldout_accuracy for e in history})
    assert finished.summary["notices"] == [expected] and expected.startswith(WEAK_TEACHER)


def test_no_notice_when_the_teacher_is_as_good_as_the_base():
    assert teacher_notice({"teacher": 0.8, "base": 0.8, "student": 0.9}) is None
    assert teacher_notice({"teacher": None, "base": 0.8}) is None
    assert teacher_notice({"base": 0.8}) is None


def test_the_custom_defaults_train_the_teacher_at_least_as_long_as_its_students(qtbot):
    config = TrainConfig()
    assert config.teacher.epochs >= max(config.base.epochs, config.student.epochs)
    from gui.model.run_model import RunModel
    from gui.panels.setup import SetupPanel

    panel = SetupPanel(RunModel())
    qtbot.addWidget(panel)
    custom = panel.config_dict()
    assert custom["teacher"]["epochs"] >= max(custom["base"]["epochs"], custom["student"]["epochs"])


# -- item 7: the loss curve inside each epoch is stored ----------------------------------------------
def test_each_epoch_stores_its_loss_curve_and_a_resume_keeps_it(tmp_path):
    out = tmp_path / "run"
    stop = StopToken()
    live = []
    for event in train_job(_two_epochs(), out, stop=stop):
        if isinstance(event, EpochSummary):
            live.append(event)
            if event.role == "student" and event.epoch == 1:
                stop.stop()
    for summary in live:
        steps = [step for step, _loss in summary.step_losses]
        assert steps == [1, 2, 3] and summary.step_losses[-1][1] == summary.train_loss
    assert RunDir(out).read_history() == live  # JSON round trip: equal, pairs and all
    resumed = [e for e in train_job(None, out, resume=True) if isinstance(e, EpochSummary)]
    assert [(e.role, e.epoch) for e in resumed] == [("base", 2), ("student", 2)]
    history = RunDir(out).read_history()
    assert history[: len(live)] == live and all(len(e.step_losses) == 3 for e in history)
    replayed = [e for e in replay(out) if isinstance(e, EpochSummary)]
    assert replayed == history


def test_an_older_history_without_curves_still_opens(tmp_path):
    out = tmp_path / "run"
    list(train_job(tiny_train_config(), out))
    lines = (out / "history.jsonl").read_text().splitlines()
    old = []
    for line in lines:
        row = json.loads(line)
        del row["step_losses"]
        old.append(json.dumps(row))
    (out / "history.jsonl").write_text("\n".join(old) + "\n")
    summaries = [e for e in replay(out) if isinstance(e, EpochSummary)]
    assert summaries and all(e.step_losses == () for e in summaries)


def test_a_long_epoch_keeps_a_few_hundred_points_and_its_last():
    points = [(step, 1.0 / step) for step in range(1, 1001)]
    kept = thin_curve(points, most=256)
    assert len(kept) <= 257 and kept[-1] == points[-1] and kept[0][0] <= 4
    assert thin_curve([]) == () and thin_curve(points[:3]) == tuple(points[:3])
