"""The window's questions and messages: which run folder to open, which image file to explain,
where and at what DPI to export, whether to run a file's code, an error, the keyboard shortcuts.
Every file dialog starts in the last folder used (kept in the window's settings)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from gui.actions import shortcuts_text
from gui.export_dialog import ExportDialog
from gui.window_settings import WindowSettings

__all__ = [
    "IMAGE_SUFFIXES",
    "ask_compare_folder",
    "ask_export",
    "ask_image_file",
    "ask_run_folder",
    "ask_stop_and_quit",
    "confirm_code",
    "show_error",
    "show_shortcuts",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp", ".gif"}


def ask_run_folder(parent: QWidget, settings: WindowSettings) -> str | None:
    """A run (or study) folder the user picked, or None."""
    path = QFileDialog.getExistingDirectory(parent, "Open a KD Lens run folder", settings.last_dir())
    return _remember(settings, path)


def ask_compare_folder(parent: QWidget, settings: WindowSettings) -> str | None:
    """A run, a study or a folder of runs to compare, or None."""
    path = QFileDialog.getExistingDirectory(
        parent, "Compare runs: a run, a study or a folder of runs", settings.last_dir()
    )
    return _remember(settings, path)


def ask_image_file(parent: QWidget, settings: WindowSettings) -> str | None:
    """An image file to explain the user picked, or None."""
    filters = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ");;All files (*)"
    path, _ = QFileDialog.getOpenFileName(parent, "Explain an image", settings.last_dir(), filters)
    return _remember(settings, path)


def _remember(settings: WindowSettings, path: str) -> str | None:
    if not path:
        return None
    settings.set_last_dir(str(Path(path).parent))
    return path


def ask_export(parent: QWidget, settings: WindowSettings) -> tuple[str, int] | None:
    """(folder, DPI) the user chose to export to, remembered for the next export; None: cancelled."""
    dialog = ExportDialog(parent, settings.export_dir(), settings.export_dpi())
    if not dialog.exec():
        return None
    folder, dpi = dialog.chosen()
    if not folder:
        return None
    settings.set_export_dir(folder)
    settings.set_export_dpi(dpi)
    return folder, dpi


def confirm_code(parent: QWidget, what: str) -> bool:
    """Ask before KD Lens runs code from a file (a model file, a pickle); No is the default."""
    answer = QMessageBox.warning(
        parent,
        "Run this file's code?",
        f"{what}.\n\nThis file is Python: it runs with your permissions, like any program you start. "
        "Only continue if you trust where it came from.\n\nTrust this file and run it?",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def ask_stop_and_quit(parent: QWidget, doing: str) -> bool:
    """Closing while a job runs (``doing``: its status line): stop it and quit? Keep running is
    the default, so a stray Ctrl+Q or click never ends a long job."""
    box = QMessageBox(
        QMessageBox.Icon.Question,
        "Quit KD Lens?",
        f"A job is running ({doing}).\n\nQuitting stops it after the current step; the checkpoints of "
        "every complete epoch are kept, and Continue resumes it later.",
        QMessageBox.StandardButton.NoButton,
        parent,
    )
    stop = box.addButton("Stop and quit", QMessageBox.ButtonRole.AcceptRole)
    keep = box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is stop


def show_error(parent: QWidget, message: str) -> None:
    """A readable, non-blocking warning box; the app keeps running."""
    box = QMessageBox(QMessageBox.Icon.Warning, "KD Lens", message, QMessageBox.StandardButton.Ok, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()


def show_shortcuts(parent: QWidget) -> None:
    QMessageBox.information(parent, "Keyboard shortcuts", shortcuts_text())
