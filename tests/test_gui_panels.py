"""Each panel fed synthetic events shows exactly what it was given (ImageItem arrays, curve data)."""

from __future__ import annotations

import gui_fixtures as fx
import numpy as np
import pytest
from gui_fixtures import LAYERS, make_frame, make_rows, metric_value

from engine.events import EpochSummary
from gui.model.history import RunHistory
from gui.model.options import PER_IMAGE, SHARED, SIGNED, DisplayOptions
from gui.model.run_model import RunModel
from gui.panels import display
from gui.panels.grid import HeatmapGrid
from gui.panels.inspector import Inspector
from gui.panels.metrics import MetricsPanel
from gui.panels.slider import EpochSlider
from gui.panels.training import TrainingPanel

# the shared fixtures (autouse strict_qt fails a test that leaks a thread or a Qt warning)
strict_qt = fx.strict_qt


def test_grid_shows_every_map_of_the_frame(qtbot):
    grid = HeatmapGrid(RunModel())
    qtbot.addWidget(grid)
    rows = {key: grid.row_item(key) for key, _ in display.MAP_COLUMNS}  # built before any frame
    frame = make_frame(2, n=5)
    grid.show_frame(frame)
    for index in range(5):
        np.testing.assert_array_equal(grid.cell_image("input", index), frame.images[index])
        for key, _ in display.MAP_COLUMNS:
            item = grid.row_item(key)
            assert item is rows[key]
            assert item.image.dtype == np.float32 and item.image.flags.c_contiguous
            np.testing.assert_array_equal(grid.cell_image(key, index), frame.maps[key][index])
            assert tuple(item.getLevels()) == (0.0, 1.0)
    gap = grid.row_item("distilled").image[:, 16:17]  # between image 0 and image 1: drawn transparent
    assert gap.size and np.isnan(gap).all()
    # a new frame reuses the items and replaces their arrays
    first_item = grid.row_item("distilled")
    later = make_frame(3, n=5)
    grid.show_frame(later)
    assert grid.row_item("distilled") is first_item
    np.testing.assert_array_equal(grid.cell_image("distilled", 3), later.maps["distilled"][3])


def test_grid_signed_and_shared_scale_views(qtbot):
    grid = HeatmapGrid(RunModel())
    qtbot.addWidget(grid)
    frame = make_frame(1, n=3)
    grid.show_frame(frame, DisplayOptions(scale=SHARED))
    item = grid.row_item("residual")
    np.testing.assert_array_equal(grid.cell_image("residual", 1), frame.raw["residual"][1])
    assert item.getLevels()[1] == pytest.approx(float(frame.raw["residual"].max()))
    grid.set_options(DisplayOptions(mode=SIGNED, scale=PER_IMAGE))
    # signed maps are at layer resolution (4 x 4): each value covers a 4 x 4 block, and each image
    # is divided by its own largest magnitude so that one pair of levels (-1, 1) fits every image
    signed = frame.signed["residual"][1]
    expected = np.kron(signed, np.ones((4, 4), dtype=np.float32)) / np.abs(signed).max()
    np.testing.assert_allclose(grid.cell_image("residual", 1), expected, rtol=1e-6)
    assert tuple(item.getLevels()) == (-1.0, 1.0)


def test_inspector_shows_image_maps_predictions_and_pixel_values(qtbot):
    model = RunModel()
    inspector = Inspector(model)
    qtbot.addWidget(inspector)
    frame = make_frame(4, n=4, size=16)
    inspector.show_image(frame, 2)
    np.testing.assert_array_equal(inspector.map_item("distilled").image, frame.maps["distilled"][2])
    np.testing.assert_array_equal(
        inspector.map_item("gradcam_teacher").image, frame.maps["gradcam_teacher"][2]
    )
    best = int(np.argmax(frame.predictions["student"][2]))
    assert (
        f"{frame.class_names[best]} {frame.predictions['student'][2][best]:.0%}"
        in inspector.predictions.text()
    )
    assert "triangle" in inspector.title.text() and "epoch 4" in inspector.title.text()
    values = inspector.pixel_values(5, 7)
    assert values["residual"] == pytest.approx(float(frame.maps["residual"][2, 5, 7]))
    # signed maps are at layer resolution (4 x 4 here): pixel (5, 7) of 16 x 16 falls in cell (1, 1)
    inspector.controls.mode.setCurrentIndex(inspector.controls.mode.findData(SIGNED))
    assert model.options.mode == SIGNED  # the control sets the model's options, which every panel follows
    assert inspector.pixel_values(5, 7)["residual"] == pytest.approx(float(frame.signed["residual"][2, 1, 1]))
    inspector.controls.opacity.setValue(25)
    assert inspector.options.opacity == pytest.approx(0.25) and model.options.opacity == pytest.approx(0.25)
    assert inspector.map_item("distilled").opacity() == pytest.approx(0.25)


def test_metrics_panel_plots_mean_and_band_per_layer(qtbot):
    panel = MetricsPanel(RunModel())
    qtbot.addWidget(panel)
    history = RunHistory()
    for epoch in (1, 2, 3):
        for row in make_rows(epoch):
            history.add_metrics_row(row)
    panel.refresh(history)
    assert panel.layer == LAYERS[-1]
    x, y = panel.series["RS(S|B)"].mean.getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    np.testing.assert_allclose(y, [metric_value("RS(S|B)", LAYERS[-1], e) for e in (1, 2, 3)])
    _, low = panel.series["RS(S|B)"].low.getData()
    np.testing.assert_allclose(low, y - 0.05)
    assert panel.series["FSS(S,T)"].mean in panel.plot_items["fss"].listDataItems()
    assert panel.series["RS(B|S)"].mean in panel.plot_items["conditional"].listDataItems()
    curve = panel.series["FSS(S,T)"].mean
    panel.layer_box.setCurrentText(LAYERS[0])
    assert panel.series["FSS(S,T)"].mean is curve  # created once, then setData
    _, y0 = curve.getData()
    np.testing.assert_allclose(y0, [metric_value("FSS(S,T)", LAYERS[0], e) for e in (1, 2, 3)])


def test_training_panel_plots_per_role_curves(qtbot):
    panel = TrainingPanel(RunModel())
    qtbot.addWidget(panel)
    history = RunHistory()
    for epoch in (1, 2):
        for role in ("teacher", "student"):
            history.add_summary(
                EpochSummary(role, epoch, 1.0 / epoch, 0.5 + 0.1 * epoch, None if role == "teacher" else 0.3)
            )
    history.add_step_loss("student", 0.5, 2.0)
    history.add_step_loss("student", 1.0, 1.5)
    panel.refresh(history)
    x, y = panel.loss_curves["student"].getData()
    np.testing.assert_allclose(x, [0.5, 1.0, 2.0])  # epoch 1's steps, then epoch 2's end
    np.testing.assert_allclose(y, [2.0, 1.5, 0.5])
    _, teacher_loss = panel.loss_curves["teacher"].getData()
    np.testing.assert_allclose(teacher_loss, [1.0, 0.5])  # no step losses: epoch means
    _, acc = panel.train_curves["teacher"].getData()
    np.testing.assert_allclose(acc, [0.6, 0.7])
    _, held = panel.heldout_curves["student"].getData()
    np.testing.assert_allclose(held, [0.3, 0.3])


def test_epoch_slider_follows_live_and_accepts_exact_entry(qtbot):
    model = RunModel()
    slider = EpochSlider(model)
    qtbot.addWidget(slider)
    seen = []
    model.events.epoch.connect(lambda epoch, frame: seen.append((epoch, frame.epoch)))

    def stream(epoch: int) -> None:  # a frame arrives, as the bridge delivers it
        frame = make_frame(epoch)
        model.apply(frame)
        model.show_frame(frame)

    stream(1)
    stream(2)
    assert slider.epoch == 2 and seen[-1] == (2, 2)
    stream(3)
    assert slider.epoch == 3 and seen[-1] == (3, 3)
    slider._spin.setValue(1)  # the user types an exact epoch: following stops
    assert slider.epoch == 1 and seen[-1] == (1, 1) and not slider.following and not model.following
    stream(4)
    assert slider.epoch == 1 and model.epoch == 1
    slider.step(1)
    assert slider.epoch == 2 and seen[-1] == (2, 2)
    slider.step(10)  # back at the last epoch: following again
    assert slider.epoch == 4 and model.following


def test_setup_panel_builds_a_valid_train_config(qtbot):
    from engine.training.config import TrainConfig
    from gui.panels.setup import SetupPanel

    panel = SetupPanel(RunModel())
    qtbot.addWidget(panel)
    assert panel.preset_key() == "kd-gain" and not panel.custom.isVisibleTo(panel)
    panel.set_preset("")
    assert panel.custom.isVisibleTo(panel)
    from gui.jobs.choices import read_choices

    panel.set_choices(read_choices())
    assert "resnet18" in [
        panel.roles["student"].arch.itemText(i) for i in range(panel.roles["student"].arch.count())
    ]
    assert set(panel.kd.params) == {"temperature", "alpha"}  # hinton's, from the registry
    panel.kd.loss.setCurrentText("authors")
    assert panel.kd.params["temperature"].value() == 20.0  # the loss's documented defaults are filled in
    panel.kd.params["alpha"].setValue(0.25)
    panel.roles["student"].epochs.setValue(3)
    panel.roles["base"].epochs.setValue(3)
    panel.roles["assistant"].enabled.setChecked(True)
    config = TrainConfig.from_dict(panel.config_dict())
    assert config.kd.loss == "authors" and config.kd.resolved() == {"temperature": 20.0, "alpha": 0.25}
    assert config.student.epochs == 3 and config.assistant is not None and config.dataset.source == "shapes"
