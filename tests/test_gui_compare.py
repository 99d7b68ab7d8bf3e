"""Compare runs (issue 21): several run folders or a study's seeds overlaid, one colour per run and
a legend, optional smoothing and log scale, the teacher's epochs and the KD epochs on their own
axes; read torch-free with the run folder's readers."""

from __future__ import annotations

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import write_run_dir
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton
from test_gui_flow import _with_step_losses, write_study_dir

from engine.runs import NotARunError
from engine.runs.compare import compared_runs, read_run_curves, smoothed

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def test_a_folder_stands_for_a_run_a_study_or_the_runs_inside_it(tmp_path):
    run = write_run_dir(tmp_path / "runs" / "a", epochs=2)
    write_run_dir(tmp_path / "runs" / "b", epochs=1)
    (tmp_path / "runs" / "not-a-run").mkdir()
    study = write_study_dir(tmp_path / "study", seeds=(0, 1, 2))
    assert compared_runs(run) == [run]
    assert compared_runs(study) == [study / "seed_0", study / "seed_1", study / "seed_2"]
    assert [p.name for p in compared_runs(tmp_path / "runs")] == ["a", "b"]
    with pytest.raises(NotARunError, match="holds no KD Lens run"):
        compared_runs(tmp_path / "runs" / "not-a-run")


def test_a_runs_curves_are_read_with_its_steps_and_smoothed_as_tensorboard_does(tmp_path):
    run = _with_step_losses(write_run_dir(tmp_path / "run", epochs=2))
    curves = read_run_curves(run)
    x, y = curves.losses["student"]
    np.testing.assert_allclose(x, [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert y[3] == pytest.approx(1.0) and y[-1] == pytest.approx(0.5)  # each epoch ends at its loss
    np.testing.assert_allclose(curves.heldout["teacher"][1], [0.5, 0.6])
    epochs, mean = curves.metrics[("FSS(S,T)", "stage4")]
    np.testing.assert_allclose(epochs, [1, 2]) and mean.size == 2
    values = np.array([1.0, np.nan, 3.0, 2.0])
    expected, average = [], 0.0
    for count, value in enumerate([1.0, 3.0, 2.0], start=1):
        average = 0.6 * average + 0.4 * value
        expected.append(average / (1 - 0.6**count))
    np.testing.assert_allclose(smoothed(values, 0.6), [expected[0], np.nan, expected[1], expected[2]])
    np.testing.assert_array_equal(smoothed(values, 0.0), values)


def test_a_studys_seeds_are_overlaid_one_colour_each(window, qtbot, tmp_path):
    study = write_study_dir(tmp_path / "study", seeds=(0, 1), epochs=3)
    _with_step_losses(study / "seed_0")
    assert window.open_run(study)
    study_panel = window.panels["study"]
    button = next(b for b in study_panel.findChildren(QPushButton) if b.text() == "Compare these seeds")
    button.click()
    panel = window.panels["compare"]
    assert panel.isVisible() and panel.runs.count() == 2
    assert [panel.runs.item(i).text() for i in range(2)] == ["study/seed_0", "study/seed_1"]
    plots = panel.plots
    kd = {
        name[1]: curve
        for name, curve in plots.curves.items()
        if name[0] == "student_loss" and name[2] == "student"
    }
    assert len(kd) == 2
    colours = {curve.opts["pen"].color().name() for curve in kd.values()}
    assert len(colours) == 2  # one colour per run
    legend = [label.text for _sample, label in plots.legend.items]
    assert "study/seed_0" in legend and "study/seed_1" in legend and "base" in legend
    # the teacher on its own epochs, the KD roles on theirs
    x_teacher, _ = plots.curves[("teacher_loss", str(study / "seed_0"), "teacher")].getData()
    x_student, _ = kd[str(study / "seed_0")].getData()
    assert x_teacher.max() == pytest.approx(3.0) and x_student[0] == pytest.approx(0.25)
    assert ("base_loss", str(study / "seed_1"), "base") in plots.curves  # not on the KD loss's axis
    base = plots.curves[("kd_accuracy", str(study / "seed_1"), "base")]
    assert base.opts["pen"].style() == Qt.PenStyle.DashLine
    # smoothing and a log scale
    _, raw = kd[str(study / "seed_0")].getData()
    panel.smoothing.setValue(0.9)
    _, smooth = plots.curves[("student_loss", str(study / "seed_0"), "student")].getData()
    assert not np.allclose(raw, smooth) and smooth[0] == pytest.approx(raw[0])
    panel.log_scale.setChecked(True)
    assert plots.plots["student_loss"].ctrl.logYCheck.isChecked()
    assert not plots.plots["kd_accuracy"].ctrl.logYCheck.isChecked()
    # the metric chosen, at the last layer
    assert panel.metric.currentText() == "FSS(S,T)" and panel.layer.currentText() == "stage4"
    assert ("metric", str(study / "seed_1"), "FSS(S,T)") in plots.curves
    # a run switched off loses its curves; a double-click opens it in the main view
    item = panel.runs.item(1)
    item.setCheckState(Qt.CheckState.Unchecked)
    assert not any(name[1] == str(study / "seed_1") for name in plots.curves)
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        panel.runs.itemDoubleClicked.emit(panel.runs.item(0))
    assert window.model.run_dir == str(study / "seed_0")


def test_the_file_menu_compares_a_folder_of_runs(window, qtbot, tmp_path, monkeypatch):
    write_run_dir(tmp_path / "runs" / "first", epochs=2)
    write_run_dir(tmp_path / "runs" / "second", epochs=2)
    monkeypatch.setattr("gui.dialogs.ask_compare_folder", lambda *_args: str(tmp_path / "runs"))
    window.actions["compare_runs"].trigger()
    panel = window.panels["compare"]
    assert [panel.runs.item(i).text() for i in range(panel.runs.count())] == ["first", "second"]
    window.model.request_compare([str(tmp_path / "runs" / "first"), str(tmp_path / "nothing")])
    assert panel.runs.count() == 2 and "nothing" in panel.note.text()  # added once; a bad folder named
