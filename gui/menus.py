"""The main window's menu bar and toolbar, built from the action table."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu


def build_menus(
    window: QMainWindow, actions: dict[str, QAction], docks: dict[str, QDockWidget] | None = None
) -> QMenu:
    """File / Run / View / Help menus and the toolbar; returns the (empty) recent-runs menu. The
    View menu brings back every dock (and the toolbar) once closed."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    file_menu.addAction(actions["open_run"])
    recent = file_menu.addMenu("Open &recent run")
    file_menu.addAction(actions["compare_runs"])
    file_menu.addAction(actions["open_image"])
    file_menu.addSeparator()
    file_menu.addAction(actions["export"])
    file_menu.addSeparator()
    file_menu.addAction(actions["quit"])
    run_menu = bar.addMenu("&Run")
    for name in ("start", "pause", "cancel", "continue_run"):
        run_menu.addAction(actions[name])
    view_menu = bar.addMenu("&View")
    view_menu.addAction(actions["prev_epoch"])
    view_menu.addAction(actions["next_epoch"])
    view_menu.addAction(actions["reset_zoom"])
    view_menu.addSeparator()
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(actions["shortcuts"])
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("main_toolbar")
    toolbar.setIconSize(QSize(18, 18))
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for name in (
        "start",
        "pause",
        "cancel",
        None,
        "open_run",
        "open_image",
        "export",
        None,
        "prev_epoch",
        "next_epoch",
    ):
        if name is None:
            toolbar.addSeparator()
        else:
            toolbar.addAction(actions[name])
    for dock in (docks or {}).values():
        view_menu.addAction(dock.toggleViewAction())
    view_menu.addAction(toolbar.toggleViewAction())
    return recent
