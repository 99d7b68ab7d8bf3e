"""The window and analysis reports (issue 12, item 6), with the real engine: a report folder opens
like a run folder (grid, inspector with pixel readout, metrics, evidence); an image file is
explained with the report's checkpoints; the setup panel analyses a checkpoint pair into a report
that then stays open; a report whose models come from a model file asks before any of it runs
and refuses when the user declines."""

from __future__ import annotations

import gui_fixtures as fx
import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from report_fixtures import CLASSES, MODEL_FILE, analyze_args, card_checkpoints

from engine import cli
from engine.reports.folder import read_report
from engine.vocab import MAP_KEYS
from gui.panels import display
from gui.panels.setup import ANALYZE

pytestmark = pytest.mark.slow
ENGINE_TIMEOUT_MS = 240_000  # an analysis in a child process: seconds when the machine is idle

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("gui-report")
    out = root / "analysis"
    assert cli.main(analyze_args(card_checkpoints(root / "checkpoints"), out)) == 0
    return out


def _open(window, qtbot, folder) -> None:
    with qtbot.waitSignal(window.bridge.job_done, timeout=ENGINE_TIMEOUT_MS) as done:
        assert window.open_run(folder)
    assert done.args[0] is not None and done.args[0].out_dir == str(folder)
    qtbot.wait(200)  # the plots refresh on a short timer


def _click_pixel(qtbot, inspector, key: str, row: int, col: int) -> None:
    scene = inspector.plots.views[key].mapViewToScene(QPointF(col + 0.5, row + 0.5))
    point = inspector.plots.mapFromScene(scene)
    qtbot.mouseClick(inspector.plots.viewport(), Qt.MouseButton.LeftButton, pos=point)


def _save_image(path, pixels: np.ndarray):
    Image.fromarray(pixels).save(path)
    return path


def test_a_report_folder_opens_into_grid_inspector_metrics_and_evidence(window, qtbot, report):
    _open(window, qtbot, report)
    stored = read_report(report)
    frame = window.panels["grid"].frame
    assert window.model.last_error is None and frame.images.shape[0] == 8
    for key in MAP_KEYS:
        for i in range(8):
            np.testing.assert_array_equal(window.panels["grid"].cell_image(key, i), stored.frame.maps[key][i])
    np.testing.assert_array_equal(window.panels["grid"].cell_image("input", 5), stored.frame.images[5])
    # the inspector: probe image #2 with every map, and a pinned pixel's values
    window.model.inspect(2)
    qtbot.wait(50)
    inspector = window.panels["inspector"]
    np.testing.assert_array_equal(inspector.map_item("distilled").image, stored.frame.maps["distilled"][2])
    _click_pixel(qtbot, inspector, "distilled", 5, 7)
    text = inspector.readout.text()
    assert inspector.pixel == (5, 7) and "pinned" in text
    assert display.format_value(float(stored.frame.maps["residual"][2, 5, 7])) in text
    # the metrics: every row of the report, FSS/RS per layer tap (one epoch: nothing over epochs)
    assert len(window.model.history.metrics_rows()) == len(stored.rows) > 0
    taps = stored.manifest["layers"]["student"]
    metrics = window.panels["metrics"]
    assert [metrics.layer_box.itemText(i) for i in range(metrics.layer_box.count())] == taps
    expected = {r.layer: r.mean for r in stored.rows if r.metric == "FSS(S,T)"}
    x, y = metrics.series["FSS(S,T)"].mean.getData()
    np.testing.assert_array_equal(x, np.arange(len(taps)))
    np.testing.assert_allclose(y, [expected[tap] for tap in taps])
    ticks = metrics.plot_items["fss"].getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == taps
    # the evidence it holds, and the folder in Recent
    evidence = window.panels["evidence"]
    assert evidence.view("localisation").table.rowCount() == len(
        [t for t in stored.evidence if t.kind == "localisation"][0].rows
    )
    assert evidence.view("sanity").table.rowCount() > 0
    assert window.settings.recent()[0] == str(report)


def test_an_image_file_is_explained_with_the_reports_checkpoints(window, qtbot, report, tmp_path):
    _open(window, qtbot, report)
    stored = read_report(report)
    image = _save_image(tmp_path / "opened.png", stored.frame.images[3])
    assert window.actions["open_image"].isEnabled()
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=ENGINE_TIMEOUT_MS):
        assert window.explain_image(image)
    assert window.model.last_error is None
    shown = window.panels["inspector"].frame
    assert shown.images.shape[0] == 1 and shown.flags["report"] == str(report)
    assert set(shown.predictions) == {"teacher", "student", "base"}
    assert list(shown.class_names) == list(CLASSES)
    for key in MAP_KEYS:
        assert shown.maps[key].shape == (1, 32, 32) and np.isfinite(shown.maps[key]).all()
    np.testing.assert_array_equal(
        window.panels["inspector"].map_item("residual").image, shown.maps["residual"][0]
    )
    assert "opened.png" in window.panels["inspector"].title.text()
    # the same image as probe image #3 gets the teacher map it had in the report (up to the
    # file's 8-bit pixels: the analysis saw the image before it was stored as uint8)
    np.testing.assert_allclose(
        shown.maps["gradcam_teacher"][0], stored.frame.maps["gradcam_teacher"][3], atol=0.03
    )


def test_the_setup_panel_analyses_a_model_file_pair_after_asking(window, qtbot, tmp_path, monkeypatch):
    """From the window: a pair built by the user's model file, analysed into a report that opens;
    declining the model file runs none of it, for the analysis and for explaining an image."""
    (tmp_path / "my_models.py").write_text(MODEL_FILE)
    namespace: dict = {}
    exec(compile(MODEL_FILE, "my_models.py", "exec"), namespace)  # the test's copy, to make weights
    paths = {}
    for seed, (role, arch) in enumerate(
        (("teacher", "big_net"), ("student", "small_net"), ("base", "small_net"))
    ):
        torch.manual_seed(seed)
        paths[role] = tmp_path / f"{role}.pt"
        torch.save({"state_dict": namespace["build"](arch, len(CLASSES)).state_dict()}, paths[role])
    answers, asked = [], []

    def confirm(_parent, what: str) -> bool:
        asked.append(what)
        return answers.pop(0)

    monkeypatch.setattr("gui.dialogs.confirm_code", confirm)
    setup, out = window.panels["setup"], tmp_path / "report"
    setup.set_preset(ANALYZE)
    assert setup.analysis.isVisibleTo(setup) and not setup.custom.isVisibleTo(setup)
    form = setup.analysis
    for role, path in paths.items():
        form.paths[role].setText(str(path))
    form.arch_teacher.setCurrentText("big_net")
    form.arch_student.setCurrentText("small_net")
    form.model_file.setText(str(tmp_path / "my_models.py"))
    form.probe.setValue(8)
    form.metrics_n.setValue(16)
    form.evidence.setChecked(False)
    setup.out_dir.setText(str(out))

    answers.append(False)
    window.start_training()
    assert not window.bridge.busy and len(asked) == 1 and "my_models.py" in asked[0]
    assert window.model.last_error == "Not analysed: the model file was not trusted, so none of it ran."
    assert not out.exists()

    answers.append(True)
    with qtbot.waitSignal(window.bridge.job_done, timeout=ENGINE_TIMEOUT_MS) as done:
        window.start_training()
    assert len(asked) == 2 and done.args[0] is not None and done.args[0].out_dir == str(out)
    qtbot.wait(200)
    assert window.model.last_error is None, window.model.last_error
    assert (out / "index.html").is_file() and window.model.run_dir == str(out)
    stored = read_report(out)
    assert {e["arch"] for e in stored.manifest["checkpoints"].values()} == {"big_net", "small_net"}
    np.testing.assert_array_equal(
        window.panels["grid"].cell_image("distilled", 1), stored.frame.maps["distilled"][1]
    )
    assert len(window.model.history.metrics_rows()) == len(stored.rows) > 0

    # explaining an image with this report's models runs the model file again: asked, refused
    image = _save_image(tmp_path / "opened.png", stored.frame.images[0])
    answers.append(False)
    assert not window.explain_image(image)
    assert len(asked) == 3 and "runs code" in asked[2]
    assert "not confirmed" in window.model.last_error and not window.explain_bridge.busy
    answers.append(True)
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=ENGINE_TIMEOUT_MS):
        assert window.explain_image(image)
    shown = window.panels["inspector"].frame
    assert shown.images.shape[0] == 1 and shown.flags["report"] == str(out) and len(asked) == 4
    # once trusted, the report explains again without asking; reopening it replays it
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=ENGINE_TIMEOUT_MS):
        assert window.explain_image(image, target=1)
    assert len(asked) == 4 and window.panels["inspector"].frame.flags["target"] == 1
    _open(window, qtbot, out)
    np.testing.assert_array_equal(
        window.panels["grid"].cell_image("residual", 7), stored.frame.maps["residual"][7]
    )
