"""Where each panel goes in the main window, in one table (a new panel is one widget file plus
one line in :data:`PANELS`), and the one place that holds the built panels.

Every panel is built as ``Panel(model, actions)``. The window never keeps a panel as its
attribute: it reaches panels through :class:`PanelLayout` and only by what a panel offers:
``export_plots()`` (:class:`ExportsPlots`, every such panel's plots are exported), the Start
choice (:class:`ChoosesJob`, the setup panel) and a ``reveal_requested`` signal (a panel asking
to be brought to the front: its dock raised or its tab made current).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.model.job_choice import JobChoice
from gui.model.run_model import RunModel
from gui.panels.compare import ComparePanel
from gui.panels.evidence import EvidencePanel
from gui.panels.grid import HeatmapGrid
from gui.panels.inspector import Inspector
from gui.panels.log import LogPanel
from gui.panels.metric_views import MetricViewsPanel
from gui.panels.metrics import MetricsPanel
from gui.panels.notices import NoticeBar
from gui.panels.setup import SetupPanel
from gui.panels.slider import EpochSlider
from gui.panels.status_bar import JobStatusBar
from gui.panels.study import StudyPanel
from gui.panels.training import TrainingPanel

__all__ = ["PANELS", "ChoosesJob", "ExportsPlots", "PanelLayout", "PanelSpec"]


@dataclass(frozen=True)
class PanelSpec:
    """One panel: its name, its widget class, where it goes ("top", "center", "tab", "dock",
    "scroll-dock" for a long form, or "status" for the window's status bar) and its title. Tabs
    with a ``group`` share one tab of that title, as tabs of their own inside it."""

    name: str
    widget: type[QWidget]
    place: str
    title: str = ""
    group: str = ""


PANELS = (
    PanelSpec("slider", EpochSlider, "top"),
    PanelSpec("notices", NoticeBar, "top"),
    PanelSpec("grid", HeatmapGrid, "center"),
    PanelSpec("training", TrainingPanel, "tab", "Training"),
    PanelSpec("metrics", MetricsPanel, "tab", "FSS / RS", group="Metrics"),
    PanelSpec("metric_views", MetricViewsPanel, "tab", "Layers && classes", group="Metrics"),
    PanelSpec("evidence", EvidencePanel, "tab", "Evidence"),
    PanelSpec("study", StudyPanel, "tab", "Study"),
    PanelSpec("compare", ComparePanel, "tab", "Compare runs"),
    PanelSpec("log", LogPanel, "tab", "Log"),
    PanelSpec("setup", SetupPanel, "scroll-dock", "Setup"),
    PanelSpec("inspector", Inspector, "dock", "Inspector"),
    PanelSpec("status_bar", JobStatusBar, "status"),
)


@runtime_checkable
class ExportsPlots(Protocol):
    """A panel whose plots go into an export, by file stem."""

    def export_plots(self) -> dict[str, Any]: ...


@runtime_checkable
class ChoosesJob(Protocol):
    """The panel that says what Start starts (the setup panel)."""

    def chosen_job(self, confirm: Callable[[str], bool]) -> JobChoice: ...

    def set_preset(self, key: str) -> None: ...

    def set_choices(self, choices: dict[str, Any]) -> None: ...


class PanelLayout(Mapping[str, QWidget]):
    """Every panel of :data:`PANELS`, built into ``window`` and held here by name; the docks
    share the right side as tabs (the first one in front), so the heatmaps get the width."""

    def __init__(self, window: QMainWindow, model: RunModel, actions: Mapping[str, QAction]) -> None:
        self._window = window
        self._panels: dict[str, QWidget] = {}
        self._docks: dict[str, QDockWidget] = {}
        self._tabs = QTabWidget()
        self._groups: dict[str, QTabWidget] = {}
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(2, 2, 2, 2)
        splitter = QSplitter(Qt.Orientation.Vertical)
        for spec in PANELS:
            widget = self._panels[spec.name] = spec.widget(model, actions)
            if spec.place == "top":
                layout.addWidget(widget)
            elif spec.place == "center":
                splitter.addWidget(widget)
            elif spec.place == "tab":
                self._tab_bar(spec.group).addTab(widget, spec.title)
            elif spec.place == "status":
                window.setStatusBar(widget)
            else:
                self._docks[spec.name] = _dock(window, spec.title, widget, spec.place == "scroll-dock")
            reveal = getattr(widget, "reveal_requested", None)
            if reveal is not None:
                reveal.connect(lambda name=spec.name: self.reveal(name))
        splitter.addWidget(self._tabs)
        splitter.setSizes([400, 480])  # the plots and tables below need height to be read at 720 px too
        layout.addWidget(splitter, 1)
        window.setCentralWidget(central)
        docks = list(self._docks.values())
        for first, other in zip(docks, docks[1:], strict=False):
            window.tabifyDockWidget(first, other)
        if docks:
            docks[0].raise_()

    def _tab_bar(self, group: str) -> QTabWidget:
        """The tabs a panel of ``group`` joins: the window's, or its group's inside them."""
        if not group:
            return self._tabs
        if group not in self._groups:
            self._groups[group] = QTabWidget()
            self._groups[group].setDocumentMode(True)
            self._tabs.addTab(self._groups[group], group)
        return self._groups[group]

    # -- the panels by name ----------------------------------------------------------------
    def __getitem__(self, name: str) -> QWidget:
        return self._panels[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._panels)

    def __len__(self) -> int:
        return len(self._panels)

    @property
    def docks(self) -> Mapping[str, QDockWidget]:
        """The docks by their panel's name (the View menu brings each back once closed)."""
        return dict(self._docks)

    def dock(self, name: str) -> QDockWidget:
        return self._docks[name]

    # -- what the window asks of them ------------------------------------------------------
    def reveal(self, name: str) -> None:
        """Bring panel ``name`` to the front: its dock shown and raised, or its tab made current."""
        if name in self._docks:
            self._docks[name].show()
            self._docks[name].raise_()
        else:
            widget = self._panels[name]
            for tabs in self._groups.values():  # a panel in a group: its inner tab, then the group's
                if tabs.indexOf(widget) >= 0:
                    tabs.setCurrentWidget(widget)
                    widget = tabs
            if self._tabs.indexOf(widget) >= 0:
                self._tabs.setCurrentWidget(widget)

    def fit_docks(self, width: int) -> None:
        """Give the docks ``width`` pixels (a first launch: the heatmaps keep the rest)."""
        docks = list(self._docks.values())
        self._window.resizeDocks(docks, [width] * len(docks), Qt.Orientation.Horizontal)

    def job_chooser(self) -> ChoosesJob:
        """The panel that says what Start starts."""
        return next(panel for panel in self._panels.values() if isinstance(panel, ChoosesJob))

    def export_plots(self) -> dict[str, Any]:
        """Every panel's plots to export, by file stem, in :data:`PANELS` order."""
        plots: dict[str, Any] = {}
        for panel in self._panels.values():
            if isinstance(panel, ExportsPlots):
                plots.update(panel.export_plots())
        return plots


def _dock(window: QMainWindow, title: str, widget: QWidget, scroll: bool) -> QDockWidget:
    if scroll:  # a long form: scroll rather than squeeze
        area = QScrollArea()
        area.setWidget(widget)
        area.setWidgetResizable(True)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        area.setMinimumWidth(300)
        widget = area
    dock = QDockWidget(title, window)
    dock.setObjectName(f"{title.lower()}_dock")
    dock.setWidget(widget)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock
