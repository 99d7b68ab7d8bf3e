"""The Evidence view (SPEC §10): every claim with its 95 % interval and verdict, then one tab per
kind of evidence the run or report holds (localisation, faithfulness, sanity, ... as
:mod:`engine.evidence.registry` lists them), each with its plot over its table, at the evidence
epoch the slider shows (the latest at or before it). Nothing here is specific to one kind: a new
kind registered in the engine appears here with its own tab. Every number is what the data gave;
a verdict is "supported" / "not supported" only when its interval excludes zero, else
"inconclusive".
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.events import Evidence
from engine.evidence.registry import IntervalPlot, LinePlot, claims_of, evidence_kinds, get_kind
from engine.vocab import FALLBACK_COLOURS, VERDICT_COLOURS, rgb
from gui.model.run_model import RunModel

HINT = (
    "Evidence appears when a run computes it (at its last KD epoch by default) or when an analysis "
    "report is opened: one tab per kind of evidence, each claim with its 95 % interval and verdict."
)
REFERENCE = (90, 90, 90)


def verdict_html(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#333333")
    return f"<b style='color:{colour}'>{html.escape(verdict)}</b>"


class EvidencePlot(pg.PlotWidget):
    """A kind's plot: means with 95 % error bars at categories (:class:`IntervalPlot`) or curves
    with bands (:class:`LinePlot`), redrawn whole when its table changes."""

    def __init__(self) -> None:
        super().__init__()
        self.setBackground("w")
        self.showGrid(y=True, alpha=0.25)
        self.getAxis("left").enableAutoSIPrefix(False)  # 0.5 stays 0.5, not "500 m"
        self.setMenuEnabled(False)
        self.hideButtons()
        self.setMouseEnabled(False, False)
        self.setMinimumHeight(150)
        self.legend = self.addLegend(offset=(-10, 10), labelTextSize="8pt")
        self.reference = pg.InfiniteLine(
            angle=0, pen=pg.mkPen(REFERENCE, width=1, style=Qt.PenStyle.DashLine)
        )
        self.addItem(self.reference, ignoreBounds=True)
        self._items: list = []

    def clear_items(self) -> None:
        for item in self._items:
            self.removeItem(item)
        self._items = []
        self.legend.clear()

    def _add(self, item, name: str | None = None) -> None:
        self.addItem(item)
        self._items.append(item)
        if name:
            self.legend.addItem(item, name)

    def show_spec(self, spec: IntervalPlot | LinePlot | None) -> None:
        self.clear_items()
        self.setVisible(spec is not None)
        if spec is None:
            return
        self.setTitle(spec.title, size="9pt")
        self.setLabel("left", spec.y_label)
        spare = iter(FALLBACK_COLOURS * 8)
        if isinstance(spec, IntervalPlot):
            self._intervals(spec, spare)
        else:
            self._lines(spec, spare)

    def _intervals(self, spec: IntervalPlot, spare) -> None:
        width = 0.7 / max(1, len(spec.series))
        for number, (name, values) in enumerate(spec.series.items()):
            x = np.arange(len(spec.categories)) + (number - (len(spec.series) - 1) / 2) * width
            mean, low, high = (
                np.array([np.nan if v[i] is None else v[i] for v in values], float) for i in range(3)
            )
            colour = rgb(spec.colours.get(name) or next(spare))
            ok = np.isfinite(mean) & np.isfinite(low) & np.isfinite(high)
            bars = pg.ErrorBarItem(
                x=x[ok], y=mean[ok], top=high[ok] - mean[ok], bottom=mean[ok] - low[ok], beam=width * 0.4,
                pen=pg.mkPen(colour, width=2),
            )  # fmt: skip
            self._add(bars)
            shown = np.isfinite(mean)
            self._add(pg.ScatterPlotItem(x=x[shown], y=mean[shown], brush=pg.mkBrush(colour), size=7), name)
        self.reference.setVisible(True)
        self.reference.setValue(spec.reference)
        labels = spec.short or spec.categories
        self.getAxis("bottom").setTicks([[(i, label) for i, label in enumerate(labels)], []])
        self.setLabel("bottom", "")
        self.setXRange(-0.6, len(labels) - 0.4, padding=0)
        if spec.y_range is not None:
            self.setYRange(*spec.y_range, padding=0)
        else:
            self.enableAutoRange(axis="y")

    def _lines(self, spec: LinePlot, spare) -> None:
        self.reference.setVisible(False)
        self.getAxis("bottom").setTicks(None)
        self.setLabel("bottom", spec.x_label)
        for name, (x, mean, low, high) in spec.series.items():
            colour = rgb(spec.colours.get(name) or next(spare))
            x = np.asarray(x, dtype=float)
            values = [
                np.array([np.nan if v is None else v for v in part], float) for part in (mean, low, high)
            ]
            line = pg.PlotDataItem(x, values[0], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5)
            self._add(line, name)
            lower, upper = pg.PlotDataItem(x, values[1]), pg.PlotDataItem(x, values[2])
            self._add(pg.FillBetweenItem(lower, upper, brush=pg.mkBrush(*colour, 50)))
        self.enableAutoRange()


class KindView(QSplitter):
    """One kind's tab: its plot above its table."""

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Vertical)
        self.plot = EvidencePlot()
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumHeight(90)
        lower = QWidget()
        layout = QVBoxLayout(lower)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        self.addWidget(self.plot)
        self.addWidget(lower)
        self.setStretchFactor(0, 3)
        self.setStretchFactor(1, 2)

    def show_table(self, shown: Evidence) -> None:
        kind = get_kind(shown.kind)
        if kind is None or "note" in shown.summary:
            self.plot.show_spec(None)
            self.note.setText(
                html.escape(str(shown.summary.get("note", "")) or "(a kind this version does not know)")
            )
            self.table.setRowCount(0)
            return
        self.note.setText(kind.description)
        self.plot.show_spec(kind.plot(shown))
        headers, rows = kind.table(shown)
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                text = (
                    "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
                )
                item = QTableWidgetItem(text)
                if headers[c] == "verdict" and text in VERDICT_COLOURS:
                    item.setForeground(QColor(VERDICT_COLOURS[text]))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)


class EvidencePanel(QWidget):
    """The claims' verdicts over one tab per kind of evidence, at the shown epoch."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555;")
        self.verdicts = QLabel("")
        self.verdicts.setTextFormat(Qt.TextFormat.RichText)
        self.verdicts.setWordWrap(True)
        self.tabs = QTabWidget()
        self.views: dict[str, KindView] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.verdicts)
        layout.addWidget(self.tabs, 1)
        self.shown: dict[str, Evidence] = {}
        model.events.cleared.connect(self.clear)
        model.events.evidence.connect(lambda _table: self.show_epoch(model.epoch))
        model.events.epoch.connect(lambda epoch, _frame: self.show_epoch(epoch))

    def view(self, kind: str) -> KindView | None:
        """The tab of a kind of evidence, once a table of it was shown."""
        return self.views.get(kind)

    def clear(self) -> None:
        self.shown = {}
        self.hint.setText(HINT)
        self.verdicts.setText("")
        self.tabs.clear()
        self.views = {}

    def show_epoch(self, epoch: int | None) -> None:
        tables = self.model.history.evidence_at(epoch)
        if not tables:
            return
        self.shown = tables
        at = next(iter(tables.values())).epoch
        self.hint.setText(
            f"Evidence at epoch {at} (the latest at or before the shown epoch)." if at else "Evidence"
        )
        self.verdicts.setText(
            "<br>".join(
                f"{html.escape(c.kind.capitalize())} ({html.escape(c.name)}): {html.escape(c.difference)} = "
                f"{c.interval_text()} → {verdict_html(c.verdict)} "
                f"<span style='color:#666'>({html.escape(c.meaning)})</span>"
                for c in claims_of(tables)
            )
        )
        known = [k.name for k in evidence_kinds()]
        for name in sorted(tables, key=lambda n: known.index(n) if n in known else len(known)):
            self._view(name).show_table(tables[name])

    def _view(self, name: str) -> KindView:
        if name not in self.views:
            kind = get_kind(name)
            self.views[name] = KindView()
            self.tabs.addTab(self.views[name], kind.title if kind else name)
        return self.views[name]
