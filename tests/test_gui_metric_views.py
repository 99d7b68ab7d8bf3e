"""The layer x layer map and the per-class table in the Metrics tab (issue 19): their tab there holds
both kinds from the registry (not the Evidence tab), names the classes KD helped and hurt, and a
click on a class shows only that class's images in the heatmap grid."""

from __future__ import annotations

import gui_fixtures as fx

from engine.events import Evidence
from engine.evidence.classes import COLUMNS

strict_qt = fx.strict_qt
settings = fx.settings
window = fx.window


def _classes_table(epoch: int) -> Evidence:
    rows = []
    for number, name in enumerate(fx.CLASS_NAMES):
        row = dict.fromkeys(COLUMNS)
        row |= {"class": name, "n": 8, "kd_effect": 0.1 * (3 - number), "ci_low": -0.2, "ci_high": 0.4,
                "verdict": "inconclusive", "metrics_n": 4}  # fmt: skip
        rows.append(row)
    rows[0] |= {"ci_low": 0.05, "verdict": "supported"}
    summary = {"helped": [fx.CLASS_NAMES[0]], "hurt": [], "too_few": [], "minimum": 4}
    return Evidence(epoch, "classes", summary, tuple(rows))


def _layers_table(epoch: int) -> Evidence:
    rows = tuple(
        {"pair": pair, "row": a, "column": b, "measure": m, "mean": 0.5, "p5": 0.4, "p95": 0.6, "n": 12}
        for pair in ("T x S", "T x B") for a in ("l1", "l2") for b in ("l1", "l2") for m in ("R*", "CKA")
    )  # fmt: skip
    return Evidence(epoch, "layers", {}, rows)


def test_layers_and_classes_live_beside_the_metrics_and_a_class_click_filters_the_grid(window, qtbot):
    model = window.model
    model.start(None)
    for event in (fx.make_frame(1, n=8), _layers_table(1), _classes_table(1)):
        model.apply(event)
    model.show_frame(fx.make_frame(1, n=8))
    views, evidence = window.panels["metric_views"], window.panels["evidence"]
    assert views.view("layers") is not None and views.view("classes") is not None
    assert evidence.view("layers") is None and evidence.view("classes") is None  # not in the Evidence tab
    inner = views.parentWidget().parentWidget()  # the Metrics tab's own tabs (a stack inside them)
    assert inner.indexOf(window.panels["metrics"]) == 0
    assert inner.tabText(inner.indexOf(views)) == "Layers && classes"
    window.panels.reveal("metric_views")
    outer = inner.parentWidget().parentWidget()
    assert inner.currentWidget() is views and outer.tabText(outer.currentIndex()) == "Metrics"
    assert f"KD helped: {fx.CLASS_NAMES[0]}" in views.hint.text()
    assert views.view("layers").plot.isVisibleTo(views.view("layers"))  # the two heatmaps
    assert window.panels["grid"].frame.images.shape[0] == 8
    table = views.view("classes").table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == fx.CLASS_NAMES[1])
    table.cellClicked.emit(row, 0)
    shown = window.panels["grid"].frame
    assert model.class_filter == fx.CLASS_NAMES[1]
    assert {shown.class_names[int(label)] for label in shown.labels} == {fx.CLASS_NAMES[1]}
    assert views.all_classes.isVisibleTo(views)
    views.all_classes.click()
    assert model.class_filter is None and window.panels["grid"].frame.images.shape[0] == 8


def test_a_layer_maps_column_names_never_run_into_each_other(window):
    """Column names wider than their column lose the prefix they share, which goes to the axis
    title (a transformer's blocks.0 .. blocks.3); names that fit stay whole."""
    from PySide6.QtGui import QFont, QFontMetricsF

    from gui.panels.evidence_plot import column_labels

    metrics = QFontMetricsF(QFont())
    names = ["blocks.0", "blocks.1", "", "blocks.0", "blocks.1"]  # two blocks and the gap between
    assert column_labels(names, 2000.0, metrics) == (tuple(names), "")
    labels, title = column_labels(names, 5 * metrics.horizontalAdvance("blocks"), metrics)
    assert labels == ("0", "1", "", "0", "1") and title == "blocks.…"
    assert column_labels(["conv", "fc"], 10.0, metrics) == (("conv", "fc"), "")  # nothing shared
