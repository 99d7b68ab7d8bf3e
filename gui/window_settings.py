"""What the window remembers between launches (QSettings): geometry, docks, recent runs (only
folders that opened), the last preset and folders (every file dialog starts at the last one
used), the export folder and DPI, and the display options."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

from gui.model.options import DisplayOptions

MAX_RECENT = 8


class WindowSettings:
    """Typed access to the QSettings store (tests pass an .ini file in a temporary folder)."""

    def __init__(self, store: QSettings) -> None:
        self.store = store

    def recent(self) -> list[str]:
        value = self.store.value("recent_runs", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [str(p) for p in items if p]

    def add_recent(self, path: str) -> None:
        items = [str(Path(path))] + [p for p in self.recent() if Path(p) != Path(path)]
        self.store.setValue("recent_runs", items[:MAX_RECENT])

    def preset(self) -> str:
        return str(self.store.value("preset", "kd-gain"))

    def set_preset(self, preset: str) -> None:
        self.store.setValue("preset", preset)

    def last_dir(self) -> str:
        return str(self.store.value("last_dir", str(Path.home())))

    def set_last_dir(self, path: str) -> None:
        self.store.setValue("last_dir", path)

    def export_dir(self) -> str:
        """The folder of the last export (a new 'kdlens-export' folder next to the last one used
        on a first export)."""
        return str(self.store.value("export_dir", str(Path(self.last_dir()) / "kdlens-export")))

    def set_export_dir(self, path: str) -> None:
        self.store.setValue("export_dir", path)

    def export_dpi(self) -> int:
        try:
            return int(self.store.value("export_dpi", 200))
        except (TypeError, ValueError):
            return 200

    def set_export_dpi(self, dpi: int) -> None:
        self.store.setValue("export_dpi", int(dpi))

    def runs_root(self) -> str:
        from gui.jobs.factories import runs_root

        return str(self.store.value("runs_root", str(runs_root())))

    def display_options(self) -> DisplayOptions:
        defaults = asdict(DisplayOptions())
        values = {}
        for field in fields(DisplayOptions):
            raw = self.store.value(f"display/{field.name}", defaults[field.name])
            values[field.name] = float(raw) if field.name == "opacity" else str(raw)
        return DisplayOptions(**values)

    def set_display_options(self, options: DisplayOptions) -> None:
        for key, value in asdict(options).items():
            self.store.setValue(f"display/{key}", value)

    def restore_window(self, window: QMainWindow) -> bool:
        """Restore the saved geometry and dock layout; False on a first launch."""
        geometry = self.store.value("window/geometry")
        state = self.store.value("window/state")
        if isinstance(geometry, QByteArray):
            window.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            return bool(window.restoreState(state))
        return False

    def save_window(self, window: QMainWindow) -> None:
        self.store.setValue("window/geometry", window.saveGeometry())
        self.store.setValue("window/state", window.saveState())
        self.store.sync()
