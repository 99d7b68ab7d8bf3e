"""What the metrics' own matrices say beyond FSS/RS per layer (SPEC §11), the Metrics tab's second tab:
the layer x layer map (R* of every teacher tap with every student and base tap, two heatmaps on
one scale, CKA in the table) and the per-class table (the classes KD helped and hurt named first;
a click on a class shows only its images in the heatmap grid, a click on "all classes" every
image again). Both are evidence kinds whose registry record says ``place="metrics"``: a new such
kind appears here with its own tab and no change to this file."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from engine.events import Evidence
from engine.evidence.registry import evidence_kinds, get_kind
from engine.reports.plot_specs import Plot
from gui.model.run_model import RunModel
from gui.panels.evidence import KindView

HINT = (
    "The layer x layer map and the per-class table appear with a run's evidence (its last KD epoch) "
    "or an analysis report: which student layer carries which teacher layer, and which classes KD "
    "helped or hurt. Click a class to show only its images in the grid."
)
CLASSES = "classes"  # the kind whose rows are classes: a click filters the grid


def metric_kinds() -> list[str]:
    """The registered kinds shown here, in registry order."""
    return [kind.name for kind in evidence_kinds() if kind.place == "metrics"]


class MetricViewsPanel(QWidget):
    """One tab per metrics-place kind at the shown epoch's evidence."""

    def __init__(self, model: RunModel, actions: Mapping[str, QAction] | None = None) -> None:
        super().__init__()
        self.model = model
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #555;")
        self.all_classes = QPushButton("All classes")
        self.all_classes.setToolTip("Show every probe image in the grid again")
        self.all_classes.clicked.connect(lambda: model.set_class_filter(None))
        self.all_classes.setVisible(False)
        self.tabs = QTabWidget()
        self.views: dict[str, KindView] = {}
        self.shown: dict[str, Evidence] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addWidget(self.all_classes)
        layout.addWidget(self.tabs, 1)
        model.events.cleared.connect(self.clear)
        model.events.evidence.connect(lambda _table: self.show_epoch(model.epoch))
        model.events.epoch.connect(lambda epoch, _frame: self.show_epoch(epoch))
        model.events.class_filter.connect(self._on_filter)

    def view(self, kind: str) -> KindView | None:
        return self.views.get(kind)

    def export_plots(self) -> dict[str, Plot]:
        """Each kind's plot here, by file stem ``metrics_<kind>`` (the layer map's heatmaps)."""
        out = {}
        for name, table in self.shown.items():
            kind = get_kind(name)
            spec = None if kind is None or "note" in table.summary else kind.plot(table)
            if spec is not None:
                out[f"metrics_{name}"] = spec
        return out

    def clear(self) -> None:
        self.shown = {}
        self.tabs.clear()
        self.views = {}
        self.hint.setText(HINT)
        self.all_classes.setVisible(False)

    def show_epoch(self, epoch: int | None) -> None:
        wanted = metric_kinds()
        tables = {k: t for k, t in self.model.history.evidence_at(epoch).items() if k in wanted}
        if not tables:
            return
        self.shown = tables
        for name in sorted(tables, key=wanted.index):
            self._view(name).show_table(tables[name])
        kind = get_kind(CLASSES)
        if CLASSES in tables and kind is not None and kind.headline and "note" not in tables[CLASSES].summary:
            self.hint.setText(kind.headline(tables[CLASSES].summary) + " Click a class to show its images.")

    def _view(self, name: str) -> KindView:
        if name not in self.views:
            kind = get_kind(name)
            view = self.views[name] = KindView()
            index = self.tabs.addTab(view, kind.title if kind else name)
            if kind is not None:
                self.tabs.setTabToolTip(index, f"{kind.title}: {kind.description}")
            if name == CLASSES:
                view.table.cellClicked.connect(lambda row, _column, v=view: self._pick_class(v, row))
                view.table.setToolTip("Click a class to show only its images in the heatmap grid")
        return self.views[name]

    def _pick_class(self, view: KindView, row: int) -> None:
        item = view.table.item(row, 0)
        if item is not None:
            self.model.set_class_filter(item.text())

    def _on_filter(self, name: str | None) -> None:
        self.all_classes.setVisible(name is not None)
        self.all_classes.setText(f"All classes (showing {name} only)" if name else "All classes")
