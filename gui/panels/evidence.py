"""The Evidence view (SPEC §10): localisation and ROAD faithfulness of the maps with their 95 %
intervals, UniCAM's two claims with their verdicts, and the sanity check, at the evidence epoch
the slider shows (the latest at or before it). Every number is what the data gave; a verdict is
"supported" / "not supported" only when its interval excludes zero, else "inconclusive".
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.events import Evidence
from engine.vocab import MAP_TITLES
from gui.model.run_model import RunModel

HINT = (
    "Evidence appears when a run computes it (at its last KD epoch by default) or when an analysis "
    "report is opened: where each map lies on the object, whether removing what it points at "
    "hurts the model that should use it (ROAD), and whether the map changes when the weights are "
    "destroyed."
)
VERDICT_COLOURS = {"supported": "#1a7f37", "not supported": "#b42318", "inconclusive": "#6b6b6b"}
MODEL_COLOURS = {"teacher": (31, 119, 180), "student": (214, 39, 40), "base": (127, 127, 127)}
CHANCE = (90, 90, 90)


def title(key: str) -> str:
    return MAP_TITLES.get(key, key.replace("gradcam_", "Grad-CAM ").replace("_", " "))


SHORT = {"gradcam_teacher": "Grad-CAM T", "gradcam_student": "Grad-CAM S", "gradcam_base": "Grad-CAM B"}


def short(key: str) -> str:
    """A plot tick's label: short enough that neighbours never overlap."""
    return SHORT.get(key, key.split(" (")[0].replace("_", " "))


def verdict_html(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#333")
    return f"<b style='color:{colour}'>{html.escape(verdict)}</b>"


def interval_text(mean, low, high) -> str:
    if mean is None:
        return "n/a"
    if low is None or high is None:
        return f"{mean:+.3f} (no interval)"
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


class _IntervalPlot(pg.PlotWidget):
    """Means with 95 % error bars at categorical x positions, a reference line."""

    def __init__(self, y_label: str) -> None:
        super().__init__()
        self.setBackground("w")
        self.showGrid(y=True, alpha=0.25)
        self.setLabel("left", y_label)
        self.getAxis("left").enableAutoSIPrefix(False)  # 0.5 stays 0.5, not "500 m"
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(False, False)
        self.reference = pg.InfiniteLine(angle=0, pen=pg.mkPen(CHANCE, width=1, style=Qt.PenStyle.DashLine))
        self.addItem(self.reference, ignoreBounds=True)
        self._items: list = []

    def show_groups(
        self, labels: list[str], series: dict[str, list[tuple]], reference: float, colours, y_range=None
    ) -> None:
        """``series``: name -> [(mean, low, high) per label]; offsets the series side by side."""
        for item in self._items:
            self.removeItem(item)
        self._items = []
        width = 0.7 / max(1, len(series))
        for number, (name, values) in enumerate(series.items()):
            x = np.arange(len(labels)) + (number - (len(series) - 1) / 2) * width
            mean = np.array([np.nan if v[0] is None else v[0] for v in values], dtype=float)
            low = np.array([np.nan if v[1] is None else v[1] for v in values], dtype=float)
            high = np.array([np.nan if v[2] is None else v[2] for v in values], dtype=float)
            colour = colours.get(name, (44, 160, 44))
            ok = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
            bars = pg.ErrorBarItem(
                x=x[ok],
                y=mean[ok],
                top=high[ok] - mean[ok],
                bottom=mean[ok] - low[ok],
                beam=width * 0.4,
                pen=pg.mkPen(colour, width=2),
            )
            shown = np.isfinite(mean)
            dots = pg.ScatterPlotItem(x=x[shown], y=mean[shown], brush=pg.mkBrush(colour), size=7, name=name)
            for item in (bars, dots):
                self.addItem(item)
                self._items.append(item)
        self.reference.setValue(reference)
        self.getAxis("bottom").setTicks([[(i, label) for i, label in enumerate(labels)], []])
        self.setXRange(-0.6, len(labels) - 0.4, padding=0)
        if y_range is not None:
            self.setYRange(*y_range, padding=0)
        else:
            self.enableAutoRange(axis="y")


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _fill(table: QTableWidget, rows: list[list]) -> None:
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            text = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
            item = QTableWidgetItem(text)
            if text in VERDICT_COLOURS:
                item.setForeground(QColor(VERDICT_COLOURS[text]))
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


class EvidencePanel(QWidget):
    """Plots, verdicts and tables of the evidence at the shown epoch."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555;")
        self.verdicts = QLabel("")
        self.verdicts.setTextFormat(Qt.TextFormat.RichText)
        self.verdicts.setWordWrap(True)
        self.localisation_plot = _IntervalPlot("share on the object")
        self.faithfulness_plot = _IntervalPlot("ROAD score (p LeRF − p MoRF)")
        self.localisation_plot.setToolTip(
            "Mean share of each map's mass inside the object mask with its 95 % bootstrap interval over "
            "images; dashed: chance (the mask's area share)"
        )
        self.faithfulness_plot.setToolTip(
            "ROAD per map and model with 95 % bootstrap intervals; higher: removing what the map points at "
            "costs that model more. Dashed: zero"
        )
        self.faithfulness_plot.addLegend(offset=(-10, 10), labelTextSize="8pt")
        plots = QHBoxLayout()
        plots.addWidget(self.localisation_plot)
        plots.addWidget(self.faithfulness_plot)
        self.tables = QTabWidget()
        self.localisation_table = _table(["map", "mean", "95 % low", "95 % high", "chance", "n", "verdict"])
        self.faithfulness_table = _table(["map", "model", "ROAD", "95 % low", "95 % high", "n"])
        self.sanity_table = _table(["step", "randomised", "map", "Spearman", "95 % low", "95 % high", "n"])
        self.tables.addTab(self.localisation_table, "Localisation")
        self.tables.addTab(self.faithfulness_table, "Faithfulness (ROAD)")
        self.tables.addTab(self.sanity_table, "Sanity check")
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.verdicts)
        layout.addLayout(plots, 2)
        layout.addWidget(self.tables, 1)
        self.shown: dict[str, Evidence] = {}
        model.events.cleared.connect(self.clear)
        model.events.evidence.connect(lambda _table: self.show_epoch(model.epoch))
        model.events.epoch.connect(lambda epoch, _frame: self.show_epoch(epoch))

    def clear(self) -> None:
        self.shown = {}
        self.hint.setText(HINT)
        self.verdicts.setText("")
        for table in (self.localisation_table, self.faithfulness_table, self.sanity_table):
            table.setRowCount(0)
        self.localisation_plot.show_groups([], {}, 0.0, {})
        self.faithfulness_plot.show_groups([], {}, 0.0, {})

    def show_epoch(self, epoch: int | None) -> None:
        tables = self.model.history.evidence_at(epoch)
        if not tables:
            return
        self.shown = tables
        at = next(iter(tables.values())).epoch
        self.hint.setText(
            f"Evidence at epoch {at} (the latest at or before the shown epoch)." if at else "Evidence"
        )
        lines = []
        if "localisation" in tables:
            lines += self._localisation(tables["localisation"])
        if "faithfulness" in tables:
            lines += self._faithfulness(tables["faithfulness"])
        if "sanity" in tables:
            self._sanity(tables["sanity"])
        self.verdicts.setText("<br>".join(lines))

    def _localisation(self, table: Evidence) -> list[str]:
        if "note" in table.summary:
            self.localisation_table.setRowCount(0)
            return [f"Localisation: {html.escape(table.summary['note'])}."]
        maps = [row for row in table.rows if " - " not in row["map"]]
        labels = [short(row["map"]) for row in maps]
        values = [(row["mean"], row["ci_low"], row["ci_high"]) for row in maps]
        self.localisation_plot.show_groups(
            labels, {"share": values}, table.summary["chance"], {"share": (31, 119, 180)}, (0.0, 1.0)
        )
        differences = table.summary.get("differences", {})
        rows = [
            [
                title(r["map"]),
                r["mean"],
                r["ci_low"],
                r["ci_high"],
                r["chance"],
                r["n"],
                differences.get(r["map"], {}).get("verdict", ""),
            ]
            for r in table.rows
        ]
        _fill(self.localisation_table, rows)
        return [
            f"Localisation {html.escape(name)}: {interval_text(d['mean'], d['ci_low'], d['ci_high'])} → "
            f"{verdict_html(d['verdict'])} <span style='color:#666'>({html.escape(d['claim'])})</span>"
            for name, d in differences.items()
        ]

    def _faithfulness(self, table: Evidence) -> list[str]:
        maps = list(dict.fromkeys(row["map"] for row in table.rows))
        models = list(dict.fromkeys(row["model"] for row in table.rows))
        cell = {
            (row["map"], row["model"]): (row["score"], row["ci_low"], row["ci_high"]) for row in table.rows
        }
        series = {m: [cell.get((key, m), (None, None, None)) for key in maps] for m in models}
        self.faithfulness_plot.show_groups([short(k) for k in maps], series, 0.0, MODEL_COLOURS)
        rows = [
            [title(r["map"]), r["model"], r["score"], r["ci_low"], r["ci_high"], r["n"]] for r in table.rows
        ]
        _fill(self.faithfulness_table, rows)
        return [
            f"Claim ({html.escape(name)}): {html.escape(c['difference'])} = "
            f"{interval_text(c['mean'], c['ci_low'], c['ci_high'])} → {verdict_html(c['verdict'])}"
            for name, c in table.summary.get("claims", {}).items()
        ]

    def _sanity(self, table: Evidence) -> None:
        rows = [
            [r["step"], r["randomised"], title(r["map"]), r["spearman"], r["ci_low"], r["ci_high"], r["n"]]
            for r in table.rows
        ]
        _fill(self.sanity_table, rows)
