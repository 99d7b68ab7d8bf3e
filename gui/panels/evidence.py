"""The Evidence view (SPEC §10): every claim with its 95 % interval and verdict, then one tab per
kind of evidence the run or report holds (localisation, faithfulness, sanity, ... as
:mod:`engine.evidence.registry` lists them), each with its claims, its plot and its table, at the
evidence epoch the slider shows (the latest at or before it). Nothing here is specific to one
kind: a new kind registered in the engine appears here with its own tab. Every number is what
the data gave; a verdict is "supported" / "not supported" only when its interval excludes zero,
else "inconclusive".

Made to be read at 1280 x 720: the line above the tabs counts the verdicts, the Claims tab lists
every claim with what it means and what each kind measures, and a kind's tab gives its plot and
table the rest of its height: side by side in a wide tab, stacked in a narrow one, neither below
readable (plot 180 px, table five rows; the tab scrolls instead).
"""

from __future__ import annotations

import html
from collections.abc import Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.events import Evidence
from engine.evidence.registry import Claim, claims_of, evidence_kinds, get_kind
from engine.reports.plot_specs import Plot, evidence_plots
from engine.vocab import VERDICT_COLOURS
from gui.model.run_model import RunModel
from gui.panels.evidence_plot import EvidencePlot

HINT = (
    "Evidence appears when a run computes it (at its last KD epoch by default) or when an analysis "
    "report is opened: one tab per kind of evidence, each claim with its 95 % interval and verdict."
)
TABLE_ROWS = 5  # rows a kind's table shows at least
SIDE_BY_SIDE = 1.6  # a tab this many times wider than tall puts its plot beside its table
COLUMN_PX = 170  # a table column at most this wide (longer texts elided, whole in their tooltip)
CLAIMS_TAB = "Claims"


def verdict_html(verdict: str) -> str:
    colour = VERDICT_COLOURS.get(verdict, "#333333")
    return f"<b style='color:{colour}'>{html.escape(verdict)}</b>"


def _table_height(table: QTableWidget, rows: int) -> int:
    """Pixels for the header and ``rows`` rows of ``table`` (and its frame)."""
    row = table.verticalHeader().defaultSectionSize()
    return table.horizontalHeader().sizeHint().height() + rows * row + 2 * table.frameWidth() + 2


def claim_line(claim: Claim) -> str:
    """One claim as rich text: its difference, interval, coloured verdict and what it means."""
    text = f"{html.escape(claim.difference)} = {claim.interval_text()} → {verdict_html(claim.verdict)}"
    return text + f" <span style='color:#666'>({html.escape(claim.meaning)})</span>"


class KindView(QScrollArea):
    """One kind's tab: its claims on top, then its plot and its table side by side or stacked."""

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.claims = QLabel("")
        self.claims.setTextFormat(Qt.TextFormat.RichText)
        self.claims.setWordWrap(True)
        self.plot = EvidencePlot()
        self.note = QLabel("")  # why a kind could not run here
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #555;")
        self.table = QTableWidget(0, 0)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.horizontalHeader().setMaximumSectionSize(COLUMN_PX)
        # a long column name starts at its column's left edge and ends in "…" (whole in its tooltip)
        self.table.horizontalHeader().setDefaultAlignment(
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        )
        self.table.horizontalHeader().setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setWordWrap(False)  # one line a row: a long text is elided, whole in its tooltip
        self.table.setMinimumHeight(_table_height(self.table, TABLE_ROWS))
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.plot)
        self.splitter.addWidget(self.table)
        inside = QWidget()
        layout = QVBoxLayout(inside)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.claims)
        layout.addWidget(self.note)
        layout.addWidget(self.splitter, 1)
        self.setWidget(inside)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._arrange(event.size().width(), event.size().height())

    def _arrange(self, width: int, height: int) -> None:
        """Plot beside table in a wide tab; over it in a narrow one."""
        wide = width > SIDE_BY_SIDE * height
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() != orientation:
            self.splitter.setOrientation(orientation)
            self.splitter.setStretchFactor(0, 3)
            self.splitter.setStretchFactor(1, 2)
            self.splitter.setSizes([3000, 2000])
        self.plot.setMinimumWidth(420 if wide else 0)

    def show_table(self, shown: Evidence) -> None:
        kind = get_kind(shown.kind)
        if kind is None or "note" in shown.summary:
            self.plot.show_spec(None)
            self.claims.setText("")
            self.note.setText(
                html.escape(str(shown.summary.get("note", "")) or "(a kind this version does not know)")
            )
            self.note.setVisible(True)
            self.table.setRowCount(0)
            return
        self.note.setVisible(False)
        claims = kind.claims(shown.summary)
        # one short line (each claim's name and verdict); the intervals in its tooltip and the Claims tab
        verdicts = " · ".join(f"{html.escape(c.name)} → {verdict_html(c.verdict)}" for c in claims)
        self.claims.setText(f"Claims: {verdicts}")
        self.claims.setToolTip(
            "\n".join(f"{c.difference} = {c.interval_text()}: {c.verdict}" for c in claims)
        )
        self.claims.setVisible(bool(claims))
        self.plot.show_spec(kind.plot(shown))
        self._fill(*kind.table(shown))

    def _fill(self, headers: list[str], rows: list[list]) -> None:
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        for c, header in enumerate(headers):
            self.table.horizontalHeaderItem(c).setToolTip(header)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                text = (
                    "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else str(value))
                )
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if headers[c] == "verdict" and text in VERDICT_COLOURS:
                    item.setForeground(QColor(VERDICT_COLOURS[text]))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)


class EvidencePanel(QWidget):
    """The verdicts counted, then a Claims tab and one tab per kind of evidence, at the shown epoch."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setTextFormat(Qt.TextFormat.RichText)
        self.verdicts = QLabel("")
        self.verdicts.setTextFormat(Qt.TextFormat.RichText)
        self.verdicts.setWordWrap(True)
        self.verdicts.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.verdicts.setMargin(4)
        self.claims = QScrollArea()
        self.claims.setWidget(self.verdicts)
        self.claims.setWidgetResizable(True)
        self.claims.setFrameShape(QScrollArea.Shape.NoFrame)
        self.tabs = QTabWidget()
        self.views: dict[str, KindView] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.tabs, 1)
        self.shown: dict[str, Evidence] = {}
        model.events.cleared.connect(self.clear)
        model.events.evidence.connect(lambda _table: self.show_epoch(model.epoch))
        model.events.epoch.connect(lambda epoch, _frame: self.show_epoch(epoch))

    def view(self, kind: str) -> KindView | None:
        """The tab of a kind of evidence, once a table of it was shown."""
        return self.views.get(kind)

    def export_plots(self) -> dict[str, Plot]:
        """Each kind's plot at the shown evidence epoch, by file stem ``evidence_<kind>``."""
        return {f"evidence_{kind}": spec for kind, spec in evidence_plots(self.shown).items()}

    def clear(self) -> None:
        self.shown = {}
        self.hint.setText(HINT)
        self.verdicts.setText("")
        self.tabs.clear()
        self.views = {}

    def show_epoch(self, epoch: int | None) -> None:
        tables = {k: t for k, t in self.model.history.evidence_at(epoch).items() if _here(k)}
        if not tables:
            return
        self.shown = tables
        at = next(iter(tables.values())).epoch
        claims = claims_of(tables)
        where = f"Evidence at epoch {at} (the latest at or before the shown epoch)" if at else "Evidence"
        self.hint.setText(f"{where}: {_tally(claims)}" if claims else f"{where}.")
        self.verdicts.setText(_claims_page(claims, tables))
        if self.tabs.indexOf(self.claims) < 0:
            self.tabs.insertTab(0, self.claims, CLAIMS_TAB)
            self.tabs.setTabToolTip(
                0, "Every claim with its 95 % interval and verdict, and what each kind measures"
            )
        known = [k.name for k in evidence_kinds()]
        for name in sorted(tables, key=lambda n: known.index(n) if n in known else len(known)):
            self._view(name).show_table(tables[name])

    def _view(self, name: str) -> KindView:
        if name not in self.views:
            kind = get_kind(name)
            self.views[name] = KindView()
            # "Sanity check (cascading randomisation)" is "Sanity check" on its tab: all tabs in sight
            index = self.tabs.addTab(self.views[name], kind.title.split(" (")[0] if kind else name)
            if kind is not None:
                self.tabs.setTabToolTip(index, f"{kind.title}: {kind.description}")
        return self.views[name]


def _here(kind: str) -> bool:
    """Whether this tab shows the kind (the layer map and the classes live beside the metrics)."""
    record = get_kind(kind)
    return record is None or record.place == "evidence"


def _tally(claims: list[Claim]) -> str:
    """'4 claims: 1 supported, 3 inconclusive (Claims tab)', each verdict in its colour."""
    counts = {v: sum(c.verdict == v for c in claims) for v in ("supported", "not supported", "inconclusive")}
    parts = ", ".join(f"{n} {verdict_html(verdict)}" for verdict, n in counts.items() if n)
    return f"{len(claims)} claim{'s' if len(claims) != 1 else ''}: {parts} (details in the Claims tab)."


def _claims_page(claims: list[Claim], tables: Mapping[str, Evidence]) -> str:
    """The Claims tab: every claim, then what each kind of evidence shown measures."""
    lines = [
        f"<b>{html.escape(c.kind.capitalize())}</b> ({html.escape(c.name)}): {claim_line(c)}" for c in claims
    ]
    kinds = [kind for kind in evidence_kinds() if kind.name in tables]
    about = "".join(f"<p><b>{html.escape(k.title)}</b>: {html.escape(k.description)}</p>" for k in kinds)
    return "<br>".join(lines) + (f"<hr>{about}" if about else "")
