"""Panels a scientist can read (issue 21): an analysis report's Metrics tab shows FSS/RS per layer
tap, not one point at epoch 0, and a training run can switch to that view (item 6); the Evidence
tab at 1280 x 720 gives each kind's plot and table room, its labels do not overlap and its legend
stays off the data (item 9)."""

from __future__ import annotations

import gui_fixtures as fx
import numpy as np
from figure_fixtures import evidence_tables
from gui_fixtures import make_rows, metric_value, write_run_dir
from PySide6.QtGui import QFontMetricsF

from engine.events import MetricsRow
from gui.model.run_model import RunModel
from gui.panels.metrics import OVER_EPOCHS, PER_LAYER, MetricsPanel

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window

TAPS = ("layer1", "layer2", "layer3", "layer4.1")


def _report_rows() -> list[MetricsRow]:
    """An analysis's rows: one epoch (0), every metric at four layer taps."""
    return [
        MetricsRow(0, tap, metric, 0.1 * (i + 1) + 0.01 * t, 0.05 * (i + 1), 0.2 * (i + 1), samples=10)
        for t, tap in enumerate(TAPS)
        for i, metric in enumerate(("FSS(S,T)", "RS(S)", "RS(S|B)"))
    ]


def _bottom_ticks(panel: MetricsPanel, key: str) -> list[str] | None:
    levels = panel.plot_items[key].getAxis("bottom")._tickLevels
    return None if levels is None else [label for _, label in levels[0]]


def test_a_report_shows_fss_and_rs_per_layer_tap(qtbot):
    model = RunModel()
    panel = MetricsPanel(model)
    qtbot.addWidget(panel)
    for row in _report_rows():
        model.history.add_metrics_row(row)
    model.epoch = 0
    panel.refresh(model.history)
    assert panel.view == PER_LAYER and not panel.over_epochs.isEnabled()  # nothing to draw over epochs
    x, y = panel.series["FSS(S,T)"].mean.getData()
    np.testing.assert_array_equal(x, np.arange(len(TAPS)))
    np.testing.assert_allclose(y, [0.1 + 0.01 * t for t in range(len(TAPS))])
    _, low = panel.series["RS(S|B)"].low.getData()
    np.testing.assert_allclose(low, [0.15] * len(TAPS))
    for key in ("fss", "rs", "conditional"):
        assert _bottom_ticks(panel, key) == list(TAPS)
        assert panel.plot_items[key].getAxis("bottom").labelText == "layer tap"
    (x_low, x_high), _ = panel.plot_items["fss"].viewRange()
    assert x_low < 0 and len(TAPS) - 1 < x_high < len(TAPS)  # the taps, not epochs 0..0.8
    assert not panel.layer_box.isEnabled()
    exported = panel.file_plots()
    assert set(exported) == {
        "metrics_fss_per_layer",
        "metrics_rs_per_layer",
        "metrics_distilled_residual_per_layer",
    }
    assert exported["metrics_fss_per_layer"].categories == TAPS


def test_a_training_run_keeps_its_epochs_and_switches_to_the_layers_of_the_shown_epoch(qtbot):
    model = RunModel()
    panel = MetricsPanel(model)
    qtbot.addWidget(panel)
    for epoch in (1, 2, 3):
        for row in make_rows(epoch):
            model.history.add_metrics_row(row)
    model.epoch = 2
    panel.refresh(model.history)
    assert panel.view == OVER_EPOCHS and _bottom_ticks(panel, "fss") is None
    x, _ = panel.series["FSS(S,T)"].mean.getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    curve = panel.series["FSS(S,T)"].mean
    panel.per_layer.click()  # the toggle
    assert panel.view == PER_LAYER and panel.series["FSS(S,T)"].mean is curve  # the same item, new data
    x, y = curve.getData()
    np.testing.assert_array_equal(x, [0, 1])
    np.testing.assert_allclose(y, [metric_value("FSS(S,T)", layer, 2) for layer in ("stage3", "stage4")])
    assert _bottom_ticks(panel, "fss") == ["stage3", "stage4"]
    assert not panel.epoch_lines[0].isVisible()
    panel.over_epochs.click()
    x, _ = curve.getData()
    np.testing.assert_array_equal(x, [1, 2, 3])
    assert _bottom_ticks(panel, "fss") is None
    assert panel.plot_items["fss"].getAxis("bottom").labelText.startswith("epoch")


def test_the_evidence_tab_is_readable_at_1280_by_720(window, qtbot, tmp_path):
    window.resize(1280, 720)
    with qtbot.waitSignal(window.bridge.job_done, timeout=10_000):
        window.open_run(write_run_dir(tmp_path / "run", epochs=3, n=16))
    for table in evidence_tables(3):
        window.model.apply(table)
    evidence = window.panels["evidence"]
    for place, kind in (("evidence", "localisation"), ("evidence", "faithfulness"), ("evidence", "sanity"),
                        ("metric_views", "layers")):  # fmt: skip
        window.panels.reveal(place)
        view = window.panels[place].view(kind)
        window.panels[place].tabs.setCurrentWidget(view)
        qtbot.wait(100)
        plot, table = view.plot, view.table
        assert plot.height() >= 180, kind
        assert table.viewport().height() >= 5 * table.verticalHeader().defaultSectionSize(), kind
        assert plot.plot.getAxis("left").labelText == "", kind  # what y shows is in the title
        box = plot.plot.vb.sceneBoundingRect()
        assert plot.legend.sceneBoundingRect().top() >= box.bottom(), kind  # below the data
        labels = plot.tick_labels
        if labels:  # categories: each label within its share of the axis
            metrics = QFontMetricsF(plot.tick_font)
            share = box.width() / len(labels)
            widths = [max(metrics.horizontalAdvance(part) for part in label.split("\n")) for label in labels]
            assert max(widths) < share, (kind, labels, share)
    assert "2 claims" in evidence.hint.text() and "supported" in evidence.verdicts.text()  # counted on top
