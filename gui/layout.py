"""Where each panel goes in the main window, in one table (a new panel is one widget file plus
one line in :data:`PANELS`). Every panel is built as ``Panel(model, actions)``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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

from gui.model.run_model import RunModel
from gui.panels.evidence import EvidencePanel
from gui.panels.grid import HeatmapGrid
from gui.panels.inspector import Inspector
from gui.panels.log import LogPanel
from gui.panels.metrics import MetricsPanel
from gui.panels.setup import SetupPanel
from gui.panels.slider import EpochSlider
from gui.panels.status_bar import JobStatusBar
from gui.panels.study import StudyPanel
from gui.panels.training import TrainingPanel

__all__ = ["PANELS", "PanelSpec", "build_layout"]


@dataclass(frozen=True)
class PanelSpec:
    """One panel: its name, its widget class, where it goes ("top", "center", "tab", "dock",
    "scroll-dock" for a long form, or "status" for the window's status bar) and its title."""

    name: str
    widget: type[QWidget]
    place: str
    title: str = ""


PANELS = (
    PanelSpec("slider", EpochSlider, "top"),
    PanelSpec("grid", HeatmapGrid, "center"),
    PanelSpec("training", TrainingPanel, "tab", "Training"),
    PanelSpec("metrics", MetricsPanel, "tab", "Metrics (FSS / RS)"),
    PanelSpec("evidence", EvidencePanel, "tab", "Evidence"),
    PanelSpec("study", StudyPanel, "tab", "Study"),
    PanelSpec("log", LogPanel, "tab", "Log"),
    PanelSpec("setup", SetupPanel, "scroll-dock", "Setup"),
    PanelSpec("inspector", Inspector, "dock", "Inspector"),
    PanelSpec("status_bar", JobStatusBar, "status"),
)


def build_layout(
    window: QMainWindow, model: RunModel, actions: Mapping[str, QAction]
) -> tuple[dict[str, QWidget], dict[str, QDockWidget], QTabWidget]:
    """Build every panel into ``window``: (panels by name, docks by panel name, the tab widget)."""
    panels: dict[str, QWidget] = {}
    docks: dict[str, QDockWidget] = {}
    tabs = QTabWidget()
    central = QWidget()
    layout = QVBoxLayout(central)
    layout.setContentsMargins(2, 2, 2, 2)
    splitter = QSplitter(Qt.Orientation.Vertical)
    for spec in PANELS:
        widget = panels[spec.name] = spec.widget(model, actions)
        if spec.place == "top":
            layout.addWidget(widget)
        elif spec.place == "center":
            splitter.addWidget(widget)
        elif spec.place == "tab":
            tabs.addTab(widget, spec.title)
        elif spec.place == "status":
            window.setStatusBar(widget)
        else:
            docks[spec.name] = _dock(window, spec.title, widget, scroll=spec.place == "scroll-dock")
    splitter.addWidget(tabs)
    splitter.setSizes([480, 400])  # the plots below need height to be read at 720 px too
    layout.addWidget(splitter, 1)
    window.setCentralWidget(central)
    return panels, docks, tabs


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
