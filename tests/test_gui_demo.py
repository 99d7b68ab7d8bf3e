"""End to end with the real engine: a tiny demo run through the real window reaches its first
heatmap frame, stops cleanly on cancel, then explains an opened image and replays the folder.
One quick demo run (a couple of steps per role) serves the whole scenario."""

from __future__ import annotations

from pathlib import Path

import gui_fixtures as fx
import numpy as np
import pytest
from PIL import Image

from engine.events import CheckpointWritten

pytestmark = pytest.mark.slow
ENGINE_TIMEOUT_MS = 240_000  # the machine may be busy; a quick demo takes seconds when idle

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def test_demo_run_streams_into_the_window_then_explains_and_replays(window, qtbot, tmp_path):
    out = tmp_path / "demo"
    checkpoints = []
    window.bridge.event.connect(lambda e: isinstance(e, CheckpointWritten) and checkpoints.append(e.role))
    window.start_demo("kd-gain", out_dir=out, quick=True)
    # while the teacher trains, its Grad-CAM is previewed (the slider has no epoch yet)
    qtbot.waitUntil(lambda: window.model.preview_frame is not None, timeout=ENGINE_TIMEOUT_MS)
    assert window.model.preview_frame.flags["phase"] == "teacher"
    qtbot.waitUntil(lambda: 1 in window.model.history.frames, timeout=ENGINE_TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.panels["grid"].frame.epoch == 1, timeout=ENGINE_TIMEOUT_MS)
    first = window.panels["grid"].frame
    assert first.epoch == 1 and window.panels["slider"].epoch == 1
    distilled = window.panels["grid"].cell_image("distilled", 0)
    assert distilled.dtype == np.float32 and np.isfinite(distilled).all()
    np.testing.assert_array_equal(distilled, first.maps["distilled"][0])
    np.testing.assert_array_equal(window.panels["grid"].cell_image("input", 0), first.images[0])
    # cancel once the first KD epoch is committed: the job stops after its current step
    qtbot.waitUntil(lambda: "student" in checkpoints, timeout=ENGINE_TIMEOUT_MS)
    with qtbot.waitSignal(window.bridge.job_done, timeout=ENGINE_TIMEOUT_MS) as done:
        window.bridge.cancel()
    result = done.args[0]
    assert result is not None and window.model.last_error is None
    assert (out / "checkpoints" / "student.safetensors").is_file()
    assert window.model.history.run_dir == str(out)

    # explain an image opened from disk with the run's models
    image_path = tmp_path / "opened.png"
    Image.fromarray(first.images[3]).save(image_path)
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=ENGINE_TIMEOUT_MS):
        window.explain_image(image_path)
    assert window.model.last_error is None
    shown = window.panels["inspector"].frame
    assert shown is not None and shown.images.shape[0] == 1
    assert Path(window.model.history.explained[-1][0]) == image_path
    np.testing.assert_array_equal(
        window.panels["inspector"].map_item("residual").image, shown.maps["residual"][0]
    )
    assert "opened.png" in window.panels["inspector"].title.text()
    assert set(shown.predictions) >= {"teacher", "student", "base"}
    # a file has no label unless the user gives one; the user picks the class to explain
    assert int(shown.labels[0]) == -1 and "label: none given" in window.panels["inspector"].title.text()
    assert shown.flags["target"] is None and "centre-cropped" in shown.flags["preprocessing"]
    with qtbot.waitSignal(window.explain_bridge.job_done, timeout=ENGINE_TIMEOUT_MS):
        window.explain_image(image_path, target=1, label=2)
    chosen = window.panels["inspector"].frame
    assert chosen.flags["target"] == 1 and int(chosen.labels[0]) == 2
    assert chosen.flags["explained_class"] == chosen.class_names[1]
    assert not np.array_equal(chosen.maps["gradcam_teacher"], shown.maps["gradcam_teacher"]) or (
        int(np.argmax(shown.predictions["teacher"][0])) == 1
    )
    assert window.model.status.startswith("Explained opened.png")
    # while training runs, explanations go to a child process (the window never imports torch
    # on a thread then); the same job, with its class and label, gives the same maps
    from gui.jobs import factories

    child = factories.explain_factory(out, image_path, chosen.epoch, target=1, label=2, in_child=True)
    with qtbot.waitSignal(window.explain_bridge.frame_recorded, timeout=ENGINE_TIMEOUT_MS) as recorded:
        window.explain_bridge.start(child)
    qtbot.waitUntil(lambda: not window.explain_bridge.busy, timeout=ENGINE_TIMEOUT_MS)
    in_child = recorded.args[0]
    assert in_child.flags["target"] == 1 and int(in_child.labels[0]) == 2
    np.testing.assert_allclose(in_child.maps["gradcam_student"], chosen.maps["gradcam_student"], atol=1e-5)

    # opening the folder replays what was streamed
    with qtbot.waitSignal(window.bridge.job_done, timeout=60_000):
        window.open_run(out)
    qtbot.wait(200)
    assert 1 in window.model.history.frames
    np.testing.assert_array_equal(window.model.history.frames[1].maps["distilled"], first.maps["distilled"])


def test_the_setup_lists_come_from_the_engine_in_a_child_process(qtbot):
    from gui.jobs.choices import ChoicesLoader

    loader = ChoicesLoader()
    with qtbot.waitSignal(loader.loaded, timeout=ENGINE_TIMEOUT_MS) as loaded:
        loader.start()
    choices = loaded.args[0]
    assert "small_cnn" in choices["architectures"] and choices["architectures"]["small_cnn"]["cam_layer"]
    assert choices["losses"]["hinton"]["hyperparameters"]["temperature"]["default"] == 4.0
