"""A data folder looked at the moment it is chosen, off the GUI thread.

:func:`engine.data.folder_layout.folder_problem` reads folder listings and a few image headers
(torch-free): fast on a local disk, but a network share or a folder of a million images may take
seconds, so it runs on a short-lived Python thread and its answer comes back as a Qt signal
(queued to the GUI thread). Only the answer for the folder asked for last is announced.
"""

from __future__ import annotations

import contextlib
import threading

from PySide6.QtCore import QObject, Signal

__all__ = ["FolderCheck"]


class FolderCheck(QObject):
    """``check(path)``; later ``checked(path, problem or None)``, for the latest path only."""

    checked = Signal(str, object)
    _answer = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._latest: str | None = None
        self._answer.connect(self._on_answer)

    def check(self, path: str) -> None:
        self._latest = path
        threading.Thread(target=self._look, args=(path,), name="data-folder-check", daemon=True).start()

    def _look(self, path: str) -> None:
        from engine.data.folder_layout import folder_problem

        try:
            problem = folder_problem(path)
        except OSError as exc:  # a listing the OS refused: say so, never crash the thread
            problem = f"the data folder {path} cannot be read ({exc})"
        with contextlib.suppress(RuntimeError):  # the form was closed meanwhile: nobody waits
            self._answer.emit(path, problem)

    def _on_answer(self, path: str, problem: str | None) -> None:
        if path == self._latest:
            self.checked.emit(path, problem)
